-- invitation_pages: an index on app.invitations in the order api.list_invitations answers an
-- organization's open invitations a page at a time, (org_id, id), of the open ones only (neither
-- accepted, declined nor revoked). Without it, each page read every invitation the organization
-- ever sent and sorted them: 5,600 pages of the table for a page of 5 at 20,000 accepted.
-- transactional: false
-- Made concurrently, outside a transaction: invitations are sent and accepted while it is built.
-- A build that failed (a timeout, a cancel) leaves an invalid index of the name; as the migration
-- runs only while it is not recorded as applied, an index of the name is such a leftover, dropped
-- before the build. The timeouts are the session's, set back when it is done.

set lock_timeout = '1min';
set statement_timeout = '30min';
drop index concurrently if exists app.invitations_open_org_id_id_idx;
create index concurrently if not exists invitations_open_org_id_id_idx on app.invitations using btree (org_id, id)
  where accepted_at is null and declined_at is null and revoked_at is null;
reset statement_timeout;
reset lock_timeout;
