-- rollback of sessions_device_check: the check goes back to not valid, as 0030.sessions_device
-- left it (a constraint cannot be marked so again: it is made anew, which checks no row).

set local lock_timeout = '500ms';
set local statement_timeout = '1min';

alter table app.sessions drop constraint sessions_device_token_hash_length;
alter table app.sessions add constraint sessions_device_token_hash_length
  check (octet_length(device_token_hash) = 32) not valid;
