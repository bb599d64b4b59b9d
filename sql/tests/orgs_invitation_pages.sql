/*
 * api.list_invitations answers a page at a time (sql/functions/api/list_invitations.sql), newest
 * first, `limit` (1-500, default 100) before the invitation `before`: an organization may hold
 * thousands of pending invitations, all of them one answer before.
 */
begin;
select plan(18);

select tap.make_users(array['host']);
select tap.make_org('busy', '{"host": "owner"}');
select tap.make_org('quiet', '{"host": "owner"}');
insert into app.invitations (org_id, email, role, invited_by, token_hash)
select tap.id('busy'), 'guest' || n || '@example.com', 'member', tap.id('host'), sha256(convert_to('t' || n, 'UTF8'))
  from generate_series(1, 130) n;
create temporary table sent as
  select row_number() over (order by i.id desc)::int as n, i.id from app.invitations i where i.org_id = tap.id('busy');
grant select on sent to authenticated;
create function pg_temp.ids(p_from integer, p_to integer) returns text[]
language sql
as $$ select array_agg(id::text order by n) from sent where n between p_from and p_to $$;

select tap.become('host');
select is((select count(*)::int from api.list_invitations(tap.id('busy'))), 100, 'a page is 100 invitations unless asked');
select is((select array_agg(id::text) from api.list_invitations(tap.id('busy'), null, 3)), pg_temp.ids(1, 3),
  'newest first');
select is((select array_agg(id::text) from api.list_invitations(tap.id('busy'), (select id from sent where n = 3), 3)),
  pg_temp.ids(4, 6), 'the next page starts before the invitation given');
select is((select count(*)::int from api.list_invitations(tap.id('busy'), (select id from sent where n = 100), 500)),
  30, 'the last page holds what is left');
reset role;

/* A page reads the invitations it answers, not every invitation the organization ever sent. */
insert into app.invitations (org_id, email, role, invited_by, token_hash, accepted_at)
select tap.id('busy'), 'past' || n || '@example.com', 'member', tap.id('host'), sha256(convert_to('p' || n, 'UTF8')),
       now() - interval '1 day'
  from generate_series(1, 20000) n;
analyze app.invitations;
select tap.become('host');
select is((select count(*)::int from api.list_invitations(tap.id('busy'), null, 5)), 5, 'a page of 5 pending');
select tap.fewer_blocks($$ select * from api.list_invitations('{busy}', null, 5) $$, 100,
  'reads them, not the 20,000 accepted since');
/* Under a generic plan too (the function's cached plan after five calls, when the planner finds
   it no dearer), where the cursor's default, a coalesce, was a filter after the policies, not a
   bound of the index scan (sql/tests/orgs_audit_pages.sql says why): a page walked every
   pending invitation newer than its cursor, here 3,000 sent since. */
reset role;
insert into app.invitations (org_id, email, role, invited_by, token_hash)
select tap.id('busy'), 'later' || n || '@example.com', 'member', tap.id('host'), sha256(convert_to('l' || n, 'UTF8'))
  from generate_series(1, 3000) n;
analyze app.invitations;
select tap.fix('cursor', (select id from sent where n = 100));
select tap.become('host');
set local plan_cache_mode = force_generic_plan;
select is((select array_agg(id::text) from api.list_invitations(tap.id('busy'), tap.id('cursor'), 5)),
  pg_temp.ids(101, 105), 'a page of 5 after the 100th of the first 130, under a generic plan');
select tap.fewer_blocks($$ select * from api.list_invitations('{busy}', '{cursor}', 5) $$, 30,
  'reads those 5, not the 3,100 newer');
reset plan_cache_mode;
/* And near the oldest pending ones, where few invitations of any organization are older than
   the cursor: the planner, which counts the cursor no bound of the index on (org_id, id) (it
   follows a range on org_id), walked the primary key from the cursor back and sorted what it
   kept, every invitation older than the cursor, accepted ones too. */
reset role;
select tap.fix('early', (select id from sent where n = 10));
select tap.become('host');
select is((select array_agg(id::text) from api.list_invitations(tap.id('busy'), tap.id('early'), 5)),
  pg_temp.ids(11, 15), 'a page of 5 after the 10th of the first 130, 120 older');
select tap.fewer_blocks($$ select * from api.list_invitations('{busy}', '{early}', 5) $$, 30,
  'a page of 5 near the oldest reads those 5');
reset role;

/* Invitations that expired unanswered were open for ever: nothing closed them, and a page,
   which keeps the live ones, walked the index of the open ones past every expired one to fill
   itself or learn it was the last. The hourly housekeeping closes them (pipeline.purge_auth,
   app.close_expired_invitations); here, 17,000 sent over two months, each expired a week after it
   was sent, their ids made then. What a page reads once they are closed is
   tests/test_pipeline.py's to count: a closed invitation's entry leaves the index at a vacuum,
   which no transaction can run. */
reset role;
create temporary table lapsed as
  select n, pg_catalog.now() - interval '60 days' + n * interval '3 minutes' as sent_at
    from generate_series(1, 20000) n
   where pg_catalog.now() - interval '60 days' + n * interval '3 minutes' < pg_catalog.now() - interval '8 days';
insert into app.invitations (id, org_id, email, role, invited_by, token_hash, created_at, expires_at)
select 'inv_' || app.id_body((extract(epoch from l.sent_at) * 1000)::bigint, extensions.gen_random_bytes(16)),
       tap.id('quiet'), 'lapsed' || l.n || '@example.com', 'member', tap.id('host'), sha256(convert_to('x' || l.n, 'UTF8')),
       l.sent_at, l.sent_at + interval '7 days'
  from lapsed l;
insert into app.invitations (org_id, email, role, invited_by, token_hash)
select tap.id('quiet'), 'fresh' || n || '@example.com', 'member', tap.id('host'), sha256(convert_to('f' || n, 'UTF8'))
  from generate_series(1, 3) n;
select is((select invitations from pipeline.purge_auth()), (select count(*)::int from lapsed),
  'the housekeeping closes the invitations that expired unanswered');
select is((select count(*)::int from app.invitations i
            where i.org_id = tap.id('quiet') and i.revoked_at is null and i.expires_at > now()), 3,
  'and leaves the live ones open');
select is((select count(*)::int from app.audit_events e where e.org_id = tap.id('quiet')), 0,
  'closing them is no event of the trail');
select is(app.invitation_is_open((select min(i.id) from app.invitations i where i.org_id = tap.id('quiet'))), true,
  'and a mail of one still being tried is the worker''s to give up as expired, not withdrawn');
select tap.become('host');
select is((select count(*)::int from api.list_invitations(tap.id('quiet'))), 3, 'a page holds the 3 live ones');
reset role;

select is(tap.call('host', $$ select api.list_invitations('{busy}', null, 0) $$), '422 invitation.invalid_limit',
  'a limit of 0 is refused');
select is(tap.call('host', $$ select api.list_invitations('{busy}', null, 501) $$), '422 invitation.invalid_limit',
  'so is one over 500');
select is(tap.call('host', $$ select api.list_invitations('{busy}', 'inv_nonsense') $$), '422 invitation.invalid_cursor',
  'before must be an id of an invitation');

select * from finish();
rollback;
