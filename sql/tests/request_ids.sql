/* The request id: the pre-request takes it from X-Request-Id when it has the shape of one, and
   audit events, outbox rows and their delivery jobs record it. */
begin;
select plan(15);
set local app.settings.bcrypt_cost = '4';

select tap.request('POST', null, '{"x-request-id": "edge-4f2a9c"}');
select is(current_setting('app.request_id'), 'edge-4f2a9c', 'the pre-request sets app.request_id from X-Request-Id');
select is(current_setting('application_name'), 'edge-4f2a9c', 'and the application name, which Postgres''s log shows');

reset role;
select auth.signup('rita@example.com', 'correct horse battery', 'Rita', '192.0.2.8', 'tap');
select is(
  (select a.request_id from app.audit_events a join app.users u on u.id = a.actor_id
    where a.action = 'auth.signup' and u.email = 'rita@example.com'),
  'edge-4f2a9c', 'an audit event records the request that caused it');
select is(
  (select request_id from app.outbox where topic = 'mail.email_verification' and payload ->> 'to' = 'rita@example.com'),
  'edge-4f2a9c', 'an outbox row records the request that queued it');
select is(
  (select j.args ->> 'request_id' from jobs.procrastinate_jobs j join app.outbox o on o.id = j.args ->> 'event_id'
    where o.payload ->> 'to' = 'rita@example.com'),
  'edge-4f2a9c', 'and its delivery job carries it to the worker');

select tap.request('GET', null, '{"x-request-id": "has spaces; and more"}');
select is(nullif(current_setting('app.request_id', true), ''), null,
  'a request id that is not of the shape is not taken');
select tap.request('GET', null, jsonb_build_object('x-request-id', repeat('x', 64)));
select is(nullif(current_setting('app.request_id', true), ''), null, 'nor one longer than 63 characters');
select tap.request('GET', null, jsonb_build_object('x-request-id', repeat('x', 63)));
select is(current_setting('app.request_id', true), repeat('x', 63), 'one of 63 characters is taken');
select tap.request('GET', null, '{"x-request-id": ""}');
select is(nullif(current_setting('app.request_id', true), ''), null, 'an empty one is not');
select tap.request('GET', null, jsonb_build_object('x-request-id', 'edge-4f2a9c' || chr(10)));
select is(nullif(current_setting('app.request_id', true), ''), null, 'nor one that ends in a newline');

reset role;
select set_config('app.request_id', 'bad id with spaces', true);
set local role blossom_owner;
insert into app.outbox (topic, payload) values ('notify.test_event', '{}');
reset role;
select is((select request_id from app.outbox where topic = 'notify.test_event'), null,
  'a malformed app.request_id is recorded as none, and the write goes through');
select set_config('app.request_id', repeat('x', 64), true);
set local role blossom_owner;
insert into app.audit_events (action) values ('test.too_long');
reset role;
select is((select request_id from app.audit_events where action = 'test.too_long'), null,
  'nor one longer than 63 characters');
select set_config('app.request_id', repeat('x', 63), true);
set local role blossom_owner;
insert into app.audit_events (action) values ('test.longest');
reset role;
select is((select request_id from app.audit_events where action = 'test.longest'), repeat('x', 63),
  'one of 63 characters is recorded');
set local role blossom_owner;
insert into app.outbox (topic, payload) values ('notify.longest', '{}');
reset role;
select is((select request_id from app.outbox where topic = 'notify.longest'), repeat('x', 63),
  'and so is it by the outbox');
select throws_ok(
  $$ insert into app.audit_events (action, request_id) values ('test.event', 'bad id') $$,
  '23514', null, 'a request id of another shape is refused by the table');

select * from finish();
rollback;
