-- sessions_device: app.sessions.device_token_hash, the device cookie of the browser a session was
-- issued to (sql/schema/020_auth.sql). A login ends the account's sessions that earlier sign-ins
-- from the same browser started (sql/functions/auth/login.sql): two logins at once from one browser
-- left, besides the session its cookie kept, another valid one that no cookie held. Sessions issued
-- before this have none, and are ended only as before (the cookie presented, a sign-out, a
-- password change or reset).
-- Runs as blossom_owner in one transaction. The column is null, without a default: no rewrite; its
-- check is added not valid (no row read under the lock the column takes) and validated by
-- 0031.sessions_device_check.

set local lock_timeout = '500ms';
set local statement_timeout = '1min';

alter table app.sessions add column device_token_hash bytea;
alter table app.sessions add constraint sessions_device_token_hash_length
  check (octet_length(device_token_hash) = 32) not valid;
comment on column app.sessions.device_token_hash is
  'SHA-256 of the device cookie of the browser it was issued to (app.devices); a later sign-in of the account from that browser ends it.';
