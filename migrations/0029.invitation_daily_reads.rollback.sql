-- rollback of invitation_daily_reads
-- transactional: false
-- Dropped concurrently, as they were made: invitations are sent and accepted meanwhile.

set lock_timeout = '1min';
set statement_timeout = '1min';
drop index concurrently if exists app.invitations_accepted_at_idx;
drop index concurrently if exists app.invitations_created_at_idx;
reset statement_timeout;
reset lock_timeout;
