-- invitation_daily_reads: indexes of the invitations for a day's metrics.
-- pipeline.org_daily_counts reads, for one UTC day, the invitations sent that day (by created_at)
-- and those accepted that day (by accepted_at); app.invitations had no index leading with either
-- (only org_id, token_hash and the open invitations' ones), so every daily refresh read every
-- invitation ever sent, which the table keeps: a day's refresh read 1,443 pages more once the
-- table held 90 days more (sql/tests/pipeline_invitation_reads.sql). Each arm of the query's OR
-- is served by one of these (a BitmapOr), in a custom plan and in the generic one. The accepted
-- ones' index leaves out those never accepted, which no day counts as accepted.
-- transactional: false
-- Made concurrently, outside a transaction: invitations are sent and accepted while they are
-- built. A build that failed (a timeout, a cancel) leaves an invalid index of the name; as the
-- migration runs only while it is not recorded as applied, an index of the name is such a
-- leftover, dropped before the build. The timeouts are the session's, set back when it is done.

set lock_timeout = '1min';
set statement_timeout = '30min';
drop index concurrently if exists app.invitations_created_at_idx;
create index concurrently if not exists invitations_created_at_idx on app.invitations using btree (created_at);
drop index concurrently if exists app.invitations_accepted_at_idx;
create index concurrently if not exists invitations_accepted_at_idx on app.invitations using btree (accepted_at)
  where accepted_at is not null;
reset statement_timeout;
reset lock_timeout;
