/*
 * api.list_members answers a page at a time (sql/functions/api/list_members.sql), by membership
 * id (which grows with the time of joining), `limit` (1-500, default 100) after the membership
 * `after`. All of an organization of 100,000 members was 22.5 MB an answer, 1.6 s of PostgREST's
 * work, and three clients asking it slowed every other tenant's calls tenfold.
 */
begin;
select plan(18);
/* What an earlier file can leave: autovacuum, between two files, vacuumed the memberships it
   wrote and rolled back, and the table said it was empty. */
analyze app.memberships;

select tap.make_users(array(select 'm' || n from generate_series(1, 120) n) || array['outsider']);
select tap.make_org('wide', '{}');
insert into app.memberships (org_id, user_id, role)
select tap.id('wide'), tap.id('m' || n),
       case when n in (7, 9) then 'owner' when n < 5 then 'admin' else 'member' end::app.org_role
  from generate_series(1, 120) n;
select tap.make_org('other', '{"outsider": "owner"}');
/* The crowd of the rules at the end (other organizations' memberships, and a large one of m7's),
   made and analyzed before any call: a call's first reading of the caller's role
   (app.require_membership's app.my_role, an SQL function) is planned once for the transaction
   (Postgres keeps an SQL function's plans as long as the expression calling it, here the
   calling PL/pgSQL function's, for the transaction) and no analyze makes it again. Planned
   while the table was said to be empty (above), it scanned every membership for each page. */
insert into app.users (email, display_name)
select 'crowd' || n || '@example.com', 'crowd' || n from generate_series(1, 25000) n;
insert into app.organizations (name, slug) select 'Small ' || n, 'small' || n || '-x2k9qm' from generate_series(1, 2000) n;
insert into app.memberships (org_id, user_id, role)
select o.id, u.id, 'member'
  from (select id, row_number() over (order by id) n from app.organizations where name like 'Small %') o
  join (select id, row_number() over (order by id) n from app.users where display_name like 'crowd%') u on u.n % 2000 = o.n - 1 and u.n <= 20000
 order by random();
select tap.make_org('newer', '{"m7": "owner"}');
insert into app.memberships (org_id, user_id, role)
select tap.id('newer'), u.id, 'member' from app.users u where u.display_name like 'crowd%';
/* Their users and organizations too: the page joins them, and statistics left from an earlier
   file (an analyze or a vacuum of its rolled-back rows, which no rollback undoes) said they
   were empty, so that by hand (docs/testing.md) or on a slower server the planner walked
   every membership. */
analyze app.users, app.organizations, app.memberships;
-- The members in membership id order, numbered: what the pages must hold.
create temporary table joined as
  select row_number() over (order by m.id)::int as n, m.id, u.display_name
    from app.memberships m join app.users u on u.id = m.user_id where m.org_id = tap.id('wide');
grant select on joined to authenticated;
create function pg_temp.names(p_from integer, p_to integer) returns text[]
language sql
as $$ select array_agg(display_name order by n) from joined where n between p_from and p_to $$;
create function pg_temp.page(p_after integer, p_limit integer) returns text[]
language sql
as $$ select array_agg(display_name order by membership_id)
        from api.list_members(tap.id('wide'), (select id from joined where n = p_after), p_limit) $$;

select tap.become('m7');
select is((select count(*)::int from api.list_members(tap.id('wide'))), 100, 'a page is 100 members unless asked');
select is((select array_agg(display_name) from api.list_members(tap.id('wide'), null, 4)), pg_temp.names(1, 4),
  'by membership id');
select is(pg_temp.page(4, 3), pg_temp.names(5, 7), 'the next page starts after the membership given');
select is(cardinality(pg_temp.page(100, 500)), 20, 'the last page holds what is left');
select is((select count(distinct membership_id)::int from (
            select membership_id from api.list_members(tap.id('wide'), null, 60)
            union all
            select membership_id from api.list_members(tap.id('wide'), (select id from joined where n = 60), 60)) pages),
  120, 'two pages of 60 hold every member once');
reset role;

/* Between two pages, a member's role changes and another leaves: no one else is skipped or
   repeated (ordered by role first, the next page skipped or repeated members). The two are the
   first members in id order who are not m7, who acts (ids made in one millisecond are in no
   set order). */
create temporary table moved as
  select j.n, m.user_id from joined j join app.memberships m using (id)
   where j.display_name <> 'm7' order by j.n limit 2;
grant select on moved to authenticated;
select tap.fix('changed', (select user_id from moved order by n limit 1));
select tap.fix('removed', (select user_id from moved order by n desc limit 1));
select is(tap.call('m7', $$ select api.change_member_role('{wide}', '{changed}', 'owner') $$), 'ok',
  'one member is made owner');
select is(tap.call('m7', $$ select api.remove_member('{wide}', '{removed}') $$), 'ok', 'and the next is removed');
select tap.become('m7');
select is(pg_temp.page((select max(n) from moved), 3),
  pg_temp.names((select max(n) from moved) + 1, (select max(n) from moved) + 3),
  'the page after the member who left starts where it did');
reset role;

/* A page reads the members it answers, not the memberships of other organizations: where the
   statistics said most memberships were this organization's, the planner walked every
   organization's memberships in id order (the primary key) to keep this one's, and those of
   the others came first. */
select tap.become('m7');
/* The rules below count the pages of our tables and indexes, not the catalogs': an analyze (ours
   above, or autovacuum's between two calls) makes the page's plan again, and counted, its
   planning's reads of the catalogs (470 pages here, more once a busy server had emptied the
   session's caches) made the first rule fail now and then under load. */
select is(tap.blocks($$ select count(*) from pg_catalog.pg_class $$), 0::bigint,
  'the catalogs'' pages are not counted');
select is((select count(*)::int from api.list_members(tap.id('newer'))), 100, 'a page of 100 of 25,001 members');
select tap.fewer_blocks($$ select * from api.list_members('{newer}') $$, 1000,
  'reads them and their users, not the 20,000 memberships of other organizations');
/* A page far into the organization starts at its cursor. The policy's `org_id = any (…)` was a
   condition of the index scan, and with it the row (org_id, id) compared to the cursor bounded
   the scan's end, not its start: every page walked the memberships before its cursor. And so
   under a generic plan (the function's cached plan after five calls, when the planner finds it
   no dearer), where the cursor's default, a coalesce, was a filter after the policy
   (sql/tests/orgs_audit_pages.sql says why). */
reset role;
select tap.fix('deep', (select id from app.memberships where org_id = tap.id('newer') order by id offset 20000 limit 1));
select tap.become('m7');
select is((select count(*)::int from api.list_members(tap.id('newer'), tap.id('deep'), 10)), 10,
  'a page of 10 after the 20,000th member');
select tap.fewer_blocks($$ select * from api.list_members('{newer}', '{deep}', 10) $$, 100,
  'reads those 10 and their users, not the 20,000 before them');
set local plan_cache_mode = force_generic_plan;
select tap.fewer_blocks($$ select * from api.list_members('{newer}', '{deep}', 10) $$, 100,
  'and so under a generic plan');
reset plan_cache_mode;
/* And near the organization's newest members, where few memberships of any organization are
   newer than the cursor: the planner, which counts the cursor no bound of the index on
   (org_id, id) (it follows a range on org_id), walked the primary key from the cursor on and
   sorted what it kept, every membership newer than the cursor. */
reset role;
select tap.fix('late', (select id from app.memberships where org_id = tap.id('newer') order by id offset 24600 limit 1));
select tap.become('m7');
select tap.fewer_blocks($$ select * from api.list_members('{newer}', '{late}', 10) $$, 100,
  'a page of 10 near the newest members reads those 10 and their users');
reset role;

select is(tap.call('m7', $$ select api.list_members('{wide}', null, 0) $$), '422 member.invalid_limit', 'a limit of 0 is refused');
select is(tap.call('m7', $$ select api.list_members('{wide}', null, 501) $$), '422 member.invalid_limit', 'so is one over 500');
select is(tap.call('m7', $$ select api.list_members('{wide}', 'mem_nonsense') $$), '422 member.invalid_cursor',
  'after must be an id of a membership');

select * from finish();
rollback;
