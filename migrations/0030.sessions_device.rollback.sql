-- rollback of sessions_device: sessions no longer name their browser's device (its check goes
-- with the column); a login again ends only the session its browser presents.
-- Runs as blossom_owner in one transaction.

set local lock_timeout = '500ms';
set local statement_timeout = '1min';

alter table app.sessions drop column device_token_hash;
