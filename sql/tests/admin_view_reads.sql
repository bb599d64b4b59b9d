/*
 * What an operator's usual questions read through the views that show every row of their table
 * (sql/views/admin.sql): the latest events, and an account found by its address as typed. A
 * security barrier on those views kept the reader's order and filter from the tables' indexes:
 * the latest 50 events sorted the whole trail (0.19 s at 1,000,000 events), and an account found
 * by lower(email) counted the organizations and sessions of every user (0.4 s at 100,000).
 * tap.blocks counts the pages read, which the data decides and no machine's speed does.
 */
begin;
select plan(6);

select tap.make_users(array['actor']);
insert into app.users (email, display_name)
select 'other' || n || '@example.com', 'Other ' || n from generate_series(1, 2000) n;
insert into app.sessions (user_id, token_hash, expires_at, last_seen_at)
select u.id, sha256(convert_to(u.id, 'UTF8')), now() + interval '1 day', now() - interval '1 hour'
  from app.users u;
-- Oldest first, as a live trail is appended to.
insert into app.audit_events (actor_id, action, target, at)
select tap.id('actor'), 'tap.read', 'e' || n, now() - (20000 - n) * interval '1 second'
  from generate_series(1, 20000) n;
analyze app.users, app.sessions, app.audit_events;

set local role panopticon;
select results_eq(
  $$ select target from admin.audit_events order by at desc limit 3 $$,
  $$ values ('e20000'), ('e19999'), ('e19998') $$,
  'admin.audit_events answers the latest events first'
);
select tap.fewer_blocks($$ select * from admin.audit_events order by at desc limit 50 $$, 20,
  'reading them back from the newest through the index on at, not sorting the whole trail');
select is((select display_name from admin.users where lower(email) = lower('Other1234@Example.com')), 'Other 1234',
  'admin.users finds an account by its address, whatever its case');
-- Some 20 pages: the planner reads the first page of every index of the tables it plans for.
select tap.fewer_blocks($$ select * from admin.users where lower(email) = 'other1234@example.com' $$, 40,
  'through the index on lower(email), counting that account''s organizations and sessions alone');
select is((select count(*) from admin.audit_events where actor_id = tap.id('actor') and at > now() - interval '1 minute'),
  60::bigint, 'admin.audit_events finds an actor''s latest minute');
select tap.fewer_blocks($$ select * from admin.audit_events where actor_id = '{actor}' and at > now() - interval '1 minute' $$, 15,
  'through the index on (actor_id, at)');
reset role;

select * from finish();
rollback;
