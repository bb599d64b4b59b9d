-- devices_per_browser: one device cookie per browser, whichever accounts sign in from it
-- (sql/schema/020_auth.sql): a row per (device, account) instead of one account per device, so
-- that signing in to a second account does not take the first one's device away.
alter table app.devices drop constraint devices_pkey;
alter table app.devices add constraint devices_pkey primary key (token_hash, user_id);
comment on table app.devices is
  'Browsers that signed in to an account (the device cookie), a row per account; forgotten a year after their last sign-in.';
comment on column app.devices.user_id is 'An account that signed in from it.';
