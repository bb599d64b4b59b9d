-- membership_orders: two indexes on app.memberships, one for each order an organization's
-- members are read in a page: (org_id, id), in which api.list_members answers them a page at a
-- time, and (org_id, joined_at, id), newest first, in which ext.ai_org_activity takes the 20 who
-- joined last. Without them, each read the whole organization and sorted it (0.8 s at 100,000).
-- transactional: false
-- Made concurrently, outside a transaction: members join and leave while they are built. A build
-- that failed (a timeout, a cancel) leaves an invalid index of the name; as the migration runs
-- only while it is not recorded as applied, an index of the name is such a leftover, dropped
-- before the build. The timeouts are the session's, set back when it is done.

set lock_timeout = '1min';
set statement_timeout = '30min';
drop index concurrently if exists app.memberships_org_id_id_idx;
create index concurrently if not exists memberships_org_id_id_idx on app.memberships using btree (org_id, id);
drop index concurrently if exists app.memberships_org_id_joined_at_id_idx;
create index concurrently if not exists memberships_org_id_joined_at_id_idx
  on app.memberships using btree (org_id, joined_at, id);
reset statement_timeout;
reset lock_timeout;
