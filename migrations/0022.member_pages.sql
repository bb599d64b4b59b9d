-- member_pages: an index on app.memberships (org_id, id), the order in which api.list_members
-- answers an organization's members a page at a time, so that a page reads its rows and not the
-- whole organization, sorted.
-- transactional: false
-- Made concurrently, outside a transaction: members join and leave while it is built. A build
-- that failed (a timeout, a cancel) leaves an invalid index of the name; as the migration runs
-- only while it is not recorded as applied, an index of the name is such a leftover, dropped
-- before the build. The timeouts are the session's, set back when it is done.

set lock_timeout = '1min';
set statement_timeout = '30min';
drop index concurrently if exists app.memberships_org_id_id_idx;
create index concurrently if not exists memberships_org_id_id_idx on app.memberships using btree (org_id, id);
reset statement_timeout;
reset lock_timeout;
