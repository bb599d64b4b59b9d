-- owner_count_index: a partial index of each organization's owners. app.owner_count, which runs
-- whenever an owner would stop being one (leaves, is demoted or removed), read every member of
-- the organization to count them: under the forced row security `role = 'owner'` is no index
-- condition (enum equality is not leakproof), but an index whose predicate it is serves it.
-- 55 pages at 3,000 members, 21,000 at 50,000; the owners' few now.
-- transactional: false
-- Made concurrently, outside a transaction: members join and leave while it is built.
-- A build that failed (a timeout, a cancel) leaves an invalid index of the name; as the migration
-- runs only while it is not recorded as applied, an index of the name is such a leftover, dropped
-- before the build. The timeouts are the session's, set back when it is done.

set lock_timeout = '1min';
set statement_timeout = '30min';
drop index concurrently if exists app.memberships_owners_org_id_idx;
create index concurrently if not exists memberships_owners_org_id_idx on app.memberships using btree (org_id)
  where role = 'owner';
reset statement_timeout;
reset lock_timeout;
