-- sessions_device_check: validates app.sessions.device_token_hash's check, added not valid by
-- 0030.sessions_device. Validating reads the table under a SHARE UPDATE EXCLUSIVE lock, in a
-- transaction of its own: sessions are issued, used and revoked meanwhile.

set local lock_timeout = '500ms';
set local statement_timeout = '1min';

alter table app.sessions validate constraint sessions_device_token_hash_length;
