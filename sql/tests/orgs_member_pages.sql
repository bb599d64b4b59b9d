/*
 * api.list_members answers a page at a time (sql/functions/api/list_members.sql): owners first,
 * then by when they joined, `limit` (1-500, default 100) after the membership `after`. All of an
 * organization of 100,000 members was 22.5 MB an answer, 1.6 s of PostgREST's work, and three
 * clients asking it slowed every other tenant's calls tenfold.
 */
begin;
select plan(9);

select tap.make_users(array(select 'm' || n from generate_series(1, 120) n) || array['outsider']);
select tap.make_org('wide', '{}');
-- Joined a second apart, in the order of their numbers.
insert into app.memberships (org_id, user_id, role, joined_at)
select tap.id('wide'), tap.id('m' || n),
       case when n in (7, 9) then 'owner' when n < 5 then 'admin' else 'member' end::app.org_role,
       timestamptz '2026-01-01' + n * interval '1 second'
  from generate_series(1, 120) n;
select tap.make_org('other', '{"outsider": "owner"}');

select tap.become('m1');
select is((select count(*)::int from api.list_members(tap.id('wide'))), 100, 'a page is 100 members unless asked');
select is((select array_agg(display_name) from api.list_members(tap.id('wide'), null, 4)),
  array['m7', 'm9', 'm1', 'm2'], 'owners first, then admins, each by when they joined');
select is((select array_agg(display_name) from api.list_members(tap.id('wide'),
            (select membership_id from api.list_members(tap.id('wide'), null, 4) offset 3), 3)),
  array['m3', 'm4', 'm5'], 'the next page starts after the membership given');
select is((select count(*)::int from api.list_members(tap.id('wide'),
            (select membership_id from api.list_members(tap.id('wide'), null, 100) offset 99), 500)),
  20, 'the last page holds what is left');
select is((select count(distinct membership_id)::int from (
            select membership_id from api.list_members(tap.id('wide'), null, 60)
            union all
            select membership_id from api.list_members(tap.id('wide'),
              (select membership_id from api.list_members(tap.id('wide'), null, 60) offset 59), 60)) pages),
  120, 'two pages of 60 hold every member once');
reset role;

select is(tap.call('m1', $$ select api.list_members('{wide}', null, 0) $$), '422 member.invalid_limit', 'a limit of 0 is refused');
select is(tap.call('m1', $$ select api.list_members('{wide}', null, 501) $$), '422 member.invalid_limit', 'so is one over 500');
select is(tap.call('m1', format('select api.list_members(''{wide}'', %L)',
            (select id from app.memberships where org_id = tap.id('other')))),
  '422 member.invalid_cursor', 'a membership of another organization is no place to start after');
select is(tap.call('m1', $$ select api.list_members('{wide}', 'mem_nonsense') $$), '422 member.invalid_cursor',
  'nor is one that is not an id');

select * from finish();
rollback;
