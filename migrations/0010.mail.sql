-- mail: what the worker needs to deliver the outbox's mail, and email verification
-- (sql/schema/000_database.sql, 020_auth.sql). The job queue's own schema (jobs) is made by
-- migrate itself, before the migrations (deploy/migrate.py, bootstrap).
set local lock_timeout = '5s';
set local statement_timeout = '60s';

create schema delivery;
comment on schema delivery is 'What the worker calls to deliver the outbox''s messages.';

alter table app.users add column email_verified_at timestamptz;
comment on column app.users.email_verified_at is
  'When the account proved it reads its email (a verification link, or an accepted invitation); null until then.';

alter table app.outbox add column given_up_at timestamptz;
comment on column app.outbox.given_up_at is
  'When delivery was given up (a permanent refusal, or too many attempts); it is never tried again.';

create table app.email_verifications (
  token_hash bytea primary key
    constraint email_verifications_token_hash_length check (octet_length(token_hash) = 32),
  user_id app.user_id not null references app.users (id) on delete cascade,
  created_at timestamptz not null default now(),
  expires_at timestamptz not null,
  used_at timestamptz
);
create index email_verifications_user_id_idx on app.email_verifications (user_id);
alter table app.email_verifications enable row level security;
alter table app.email_verifications force row level security;
comment on table app.email_verifications is 'Email-verification tokens: valid 24 hours, spent on first use.';
comment on column app.email_verifications.token_hash is 'SHA-256 of the token sent by mail.';
comment on column app.email_verifications.user_id is 'The account whose email it verifies.';
comment on column app.email_verifications.created_at is 'When it was sent.';
comment on column app.email_verifications.expires_at is 'The token is refused from this time on.';
comment on column app.email_verifications.used_at is 'When the token was spent.';

alter type api.user_profile add attribute email_verified boolean;
comment on column api.user_profile.email_verified is 'Whether the account proved it reads its email. @notnull';
