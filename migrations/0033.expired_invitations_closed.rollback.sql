-- rollback of expired_invitations_closed
-- transactional: false
-- Dropped concurrently, as it was made: invitations are sent and answered meanwhile. The
-- invitations the housekeeping closed stay closed (revoked): none of them could be accepted.

set lock_timeout = '1min';
set statement_timeout = '1min';
drop index concurrently if exists app.invitations_open_expires_at_idx;
reset statement_timeout;
reset lock_timeout;
