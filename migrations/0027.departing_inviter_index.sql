-- departing_inviter_index: an index of each sender's open invitations in an organization.
-- app.revoke_invitations_beyond_grant, which runs whenever a member leaves, is removed or
-- demoted, read every open invitation of the organization to find the few the member sent: 397
-- pages for one at 6,000 open, 918 at 20,000.
-- transactional: false
-- Made concurrently, outside a transaction: invitations are sent and accepted while it is built.
-- A build that failed (a timeout, a cancel) leaves an invalid index of the name; as the migration
-- runs only while it is not recorded as applied, an index of the name is such a leftover, dropped
-- before the build. The timeouts are the session's, set back when it is done.

set lock_timeout = '1min';
set statement_timeout = '30min';
drop index concurrently if exists app.invitations_open_org_id_invited_by_idx;
create index concurrently if not exists invitations_open_org_id_invited_by_idx
  on app.invitations using btree (org_id, invited_by)
  where accepted_at is null and declined_at is null and revoked_at is null;
reset statement_timeout;
reset lock_timeout;
