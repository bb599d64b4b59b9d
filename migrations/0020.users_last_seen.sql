-- users_last_seen: when an account was last seen, kept on the account as the pipeline's
-- housekeeping deletes its dead sessions, which alone said it (admin.users showed never).
-- A column without a default: no rewrite of the table.
set local lock_timeout = '5s';
set local statement_timeout = '1min';
alter table app.users add column last_seen_at timestamptz;
comment on column app.users.last_seen_at is
  'When a session of the account deleted by the housekeeping was last used (pipeline.purge_auth); its live sessions say since.';
