/*
 * What ext.ai_org_activity (sql/functions/ext/ai.sql) reads of an organization's audit trail:
 * its 50 newest events for an owner or admin, and none for a plain member, whatever the rest of
 * the trail holds.
 */
begin;
select plan(4);

select tap.make_users(array['keeper', 'reader', 'crowd']);
select tap.make_org('quiet', '{"keeper": "owner", "reader": "member"}');
select tap.fix(u || '_token', auth.issue_session(tap.id(u)::app.user_id, null, null) ->> 'token')
  from unnest(array['keeper', 'reader']) u;
-- Most of the trail is the organization's, but its newest events are others'.
insert into app.audit_events (actor_id, action, org_id, target)
select tap.id('keeper'), 'org.updated', tap.id('quiet'), 'e' || n from generate_series(1, 10000) n;
insert into app.audit_events (actor_id, action, target)
select tap.id('crowd'), 'auth.login', 'x' from generate_series(1, 8000) n;
analyze app.audit_events;

set local role edge;
select is(jsonb_array_length(ext.ai_org_activity(tap.id('keeper_token'), tap.id('quiet')) -> 'recent_events'), 50,
  'an owner reads the 50 newest events');
/* About 60 pages. The trail is some 330 pages, and read without its index on (org_id, id) a
   call read 360 to 700, which a bound of 500 let pass. */
select tap.fewer_blocks($$ select ext.ai_org_activity('{keeper_token}', '{quiet}') $$, 150,
  'and reads them (and their actors), not the 8,000 newer events of others');
select is(ext.ai_org_activity(tap.id('reader_token'), tap.id('quiet')) -> 'recent_events', '[]',
  'a plain member reads none');
select tap.fewer_blocks($$ select ext.ai_org_activity('{reader_token}', '{quiet}') $$, 150,
  'and reads none of the 10,000 events of the organization to find that');
reset role;

select * from finish();
rollback;
