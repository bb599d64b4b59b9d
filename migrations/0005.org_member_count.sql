-- org_member_count: app.organizations.member_count, kept by triggers on app.memberships (sql/schema/030_orgs.sql).
-- Runs as blossom_owner in one transaction. The triggers that keep the count are stateless
-- objects (sql/functions/app/member_count.sql), made by the same `just migrate` right after the
-- migrations: a membership added or removed between this migration's commit and that layer's
-- (a first deploy with writers running) is not counted; stop the writers for the first
-- migrate, or run the backfill below again once the triggers exist.
alter table app.organizations
  add column member_count integer not null default 0
    constraint organizations_member_count_not_negative check (member_count >= 0);
comment on column app.organizations.member_count is
  'How many memberships it has; kept by triggers on app.memberships (sql/functions/app/member_count.sql), never written by hand.';

/* The backfill must see every row: Row Level Security is forced on both tables, which binds
   their owner (this role) too, so it is lifted for these statements only, inside this
   migration's transaction (whose ALTER TABLE locks keep every other session out meanwhile). */
alter table app.organizations no force row level security;
alter table app.memberships no force row level security;
update app.organizations o
   set member_count = c.n
  from (select m.org_id, count(*)::integer as n from app.memberships m group by m.org_id) c
 where c.org_id = o.id;
alter table app.memberships force row level security;
alter table app.organizations force row level security;
