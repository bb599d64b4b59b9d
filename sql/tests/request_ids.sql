/* The request id: the pre-request of a request that may write takes it from X-Request-Id when
   it has the shape of one, and audit events, outbox rows and their delivery jobs record it. */
begin;
select plan(17);
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

select tap.request('POST', null, '{"x-request-id": "has spaces; and more"}');
select is(nullif(current_setting('app.request_id', true), ''), null,
  'a request id that is not of the shape is not taken');
select tap.request('POST', null, jsonb_build_object('x-request-id', repeat('x', 64)));
select is(nullif(current_setting('app.request_id', true), ''), null, 'nor one longer than 63 characters');
select tap.request('POST', null, jsonb_build_object('x-request-id', repeat('x', 63)));
select is(current_setting('app.request_id', true), repeat('x', 63), 'one of 63 characters is taken');
select tap.request('POST', null, '{"x-request-id": ""}');
select is(nullif(current_setting('app.request_id', true), ''), null, 'an empty one is not');
select tap.request('POST', null, jsonb_build_object('x-request-id', 'edge-4f2a9c' || chr(10)));
select is(nullif(current_setting('app.request_id', true), ''), null, 'nor one that ends in a newline');

select tap.request('GET', null, '{"x-request-id": "edge-5b3e0d"}');
select is(nullif(current_setting('app.request_id', true), ''), null,
  'a read takes none: it can record nothing, and its headers are not parsed');
select isnt(current_setting('application_name'), 'edge-5b3e0d', 'nor is it the application name');

reset role;
/* What the outbox and the audit trail record as request_id, their default, while app.request_id
   is p_id: one row written to each, as the functions that write them do. */
create function pg_temp.recorded_request_ids(p_id text, out outbox text, out audit text)
language plpgsql
as $$
declare
  v_marker text := pg_catalog.clock_timestamp()::text;  -- tells this call's rows from the others
begin
  perform set_config('app.request_id', p_id, true);
  set local role blossom_owner;
  insert into app.outbox (topic, payload) values ('notify.test_event', jsonb_build_object('marker', v_marker));
  insert into app.audit_events (action, target) values ('test.event', v_marker);
  reset role;
  select o.request_id into outbox from app.outbox o where o.payload ->> 'marker' = v_marker;
  select a.request_id into audit from app.audit_events a where a.target = v_marker;
end
$$;

select is((select outbox from pg_temp.recorded_request_ids('bad id with spaces')), null,
  'a malformed app.request_id is recorded as none, and the write goes through');
select is((select audit from pg_temp.recorded_request_ids(repeat('x', 64))), null,
  'nor one longer than 63 characters');
select is((select audit from pg_temp.recorded_request_ids(repeat('x', 63))), repeat('x', 63),
  'one of 63 characters is recorded');
select is((select outbox from pg_temp.recorded_request_ids(repeat('x', 63))), repeat('x', 63),
  'and so is it by the outbox');
select throws_ok(
  $$ insert into app.audit_events (action, request_id) values ('test.event', 'bad id') $$,
  '23514', null, 'a request id of another shape is refused by the table');

select * from finish();
rollback;
