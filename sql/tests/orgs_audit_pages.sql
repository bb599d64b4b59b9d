/*
 * api.list_audit_events answers a page at a time (sql/functions/api/list_audit_events.sql), and
 * a page reads the events it answers, not the rest of the trail. The planner read an
 * organization's events by walking the whole trail back from its newest event, every tenant's
 * and the logins of everyone (which have no organization), keeping this organization's: the
 * table's statistics said most events were theirs, so 50 would come soon. For an organization
 * whose events were not the newest, the walk passed everyone else's first: 60 ms a page at
 * 200,000 newer events, and it grew with the trail.
 */
begin;
select plan(7);

select tap.make_users(array['keeper', 'crowd']);
select tap.make_org('quiet', '{"keeper": "owner"}');
-- Most of the trail is the organization's, but its newest events are others'.
insert into app.audit_events (actor_id, action, org_id, target)
select tap.id('keeper'), 'org.updated', tap.id('quiet'), 'e' || n from generate_series(1, 10000) n;
insert into app.audit_events (actor_id, action, target)
select tap.id('crowd'), 'auth.login', 'x' from generate_series(1, 8000) n;
analyze app.audit_events;
select tap.fix('cursor', (select id from app.audit_events where org_id = tap.id('quiet') order by id desc offset 5000 limit 1));

select tap.become('keeper');
select is((select count(*)::int from api.list_audit_events(tap.id('quiet'))), 50, 'a page holds 50 events');
select tap.fewer_blocks($$ select * from api.list_audit_events('{quiet}') $$, 60,
  'the first page reads its own events, not the 8,000 newer ones of others');
select is((select count(*)::int from api.list_audit_events(tap.id('quiet'), tap.id('cursor'))), 50,
  'so does a page further back');
select tap.fewer_blocks($$ select * from api.list_audit_events('{quiet}', '{cursor}') $$, 60,
  'and it reads as little');

/* And so under a generic plan, which a session's cached plan of the function's query becomes
   after five calls when the planner finds it no dearer: there the cursor's default (coalesce of
   `before` and 'evt_~') was an expression the planner does not prove leakproof, so the range
   was no index condition under the table's row security but a filter, after the policy: the
   page walked every event of the organization newer than its cursor. */
set local plan_cache_mode = force_generic_plan;
select tap.fewer_blocks($$ select * from api.list_audit_events('{quiet}') $$, 60,
  'under a generic plan, the first page reads as little');
select tap.fewer_blocks($$ select * from api.list_audit_events('{quiet}', '{cursor}') $$, 60,
  'and so does a page further back');
reset plan_cache_mode;

/* And a page near the organization's oldest events: there few events of the whole trail are
   older than the cursor, and the planner, which counts the cursor no bound of the index on
   (org_id, id) (it follows a range on org_id), walked the primary key from the cursor back and
   sorted what it kept: every event older than the cursor, anyone's. */
reset role;
select tap.fix('old', (select id from app.audit_events where org_id = tap.id('quiet') order by id offset 400 limit 1));
select tap.become('keeper');
select tap.fewer_blocks($$ select * from api.list_audit_events('{quiet}', '{old}') $$, 60,
  'a page near the oldest events reads as little');
reset role;

select * from finish();
rollback;
