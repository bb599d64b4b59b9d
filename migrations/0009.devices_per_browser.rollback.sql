-- rollback of devices_per_browser
-- A browser's rows for its later accounts go: one account per device again.
set local lock_timeout = '5s';
set local statement_timeout = '1min';
delete from app.devices d
 where exists (select from app.devices e where e.token_hash = d.token_hash and e.created_at < d.created_at);
alter table app.devices drop constraint devices_pkey;
alter table app.devices add constraint devices_pkey primary key (token_hash);
comment on table app.devices is
  'Browsers that signed in to an account (the device cookie); forgotten a year after their last sign-in.';
comment on column app.devices.user_id is 'The account that signed in from it.';
