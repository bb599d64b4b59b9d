/* Slack: who may connect an organization (as the session's user), what anyone can see of a
   connection (never the token), which roles reach it, the posting jobs the outbox defers, and a
   broken connection recorded once. */
begin;
select plan(56);
set local app.settings.bcrypt_cost = '4';

select tap.fix('ann_token', auth.signup('ann@example.com', 'correct horse battery', 'Ann', '192.0.2.1', 'tap') -> 'session' ->> 'token');
select tap.fix('bob_token', auth.signup('bob@example.com', 'correct horse battery', 'Bob', '192.0.2.2', 'tap') -> 'session' ->> 'token');
select tap.fix('cy_token', auth.signup('cy@example.com', 'correct horse battery', 'Cy', '192.0.2.3', 'tap') -> 'session' ->> 'token');
select tap.fix(display_name, id) from app.users where email in ('ann@example.com', 'bob@example.com', 'cy@example.com');
select tap.make_org('acme', '{"Ann": "owner", "Bob": "member"}');
select tap.make_org('globex', '{"Cy": "owner"}');
set local role edge;

/* Connecting: owners and admins of the organization, judged as the session's user. */
select is(tap.outcome(tap.fill($$ select ext.slack_may_connect('{bob_token}', '{acme}', 'C0001') $$)),
  '403 org.forbidden', 'a plain member may not connect the organization');
select is(tap.outcome(tap.fill($$ select ext.slack_may_connect('{cy_token}', '{acme}', 'C0001') $$)),
  '404 org.not_found', 'another tenant''s owner is told the organization does not exist');
select is(tap.outcome(tap.fill($$ select ext.slack_may_connect('{ann_token}', '{acme}', 'a channel?') $$)),
  '422 slack.invalid_channel', 'a channel that is no Slack channel is refused before Slack is asked');
select is(tap.outcome($$ select ext.slack_may_connect('not a session', 'org_x', 'C0001') $$),
  '401 auth.not_signed_in', 'no session, no caller');
select is(tap.outcome(tap.fill($$ select ext.slack_may_connect('{ann_token}', '{acme}', 'C0001') $$)), 'ok',
  'the owner may');
set local app.settings.slack_connects_per_org_per_hour = '2';
select is(tap.outcome(tap.fill($$ select ext.slack_may_connect('{ann_token}', '{acme}', 'C0001') $$)), 'ok',
  'a second attempt within the hour is counted too');
select alike(tap.outcome(tap.fill($$ select ext.slack_may_connect('{ann_token}', '{acme}', 'C0001') $$)),
  '429 slack.rate_limited (Retry-After: %)', 'past the organization''s attempts per hour, Slack is not asked again');
reset app.settings.slack_connects_per_org_per_hour;
select is(tap.outcome(tap.fill($$ select ext.connect_slack('{cy_token}', '{acme}', 'C0001', 'T1', 'Evil', 'k1', '\x00'::bytea) $$)),
  '404 org.not_found', 'connect itself checks the caller again: another tenant cannot store a token for acme');
select is(tap.outcome(tap.fill(
  $$ select ext.connect_slack('{ann_token}', '{acme}', '#general', 'T0ACME', 'Acme Corp', 'k1', decode(repeat('ab', 40), 'hex')) $$)),
  'ok', 'the owner connects acme');
select is(tap.outcome(tap.fill($$ select ext.disconnect_slack('{cy_token}', '{acme}') $$)),
  '404 org.not_found', 'another tenant cannot disconnect it');
select is(tap.outcome(tap.fill($$ select ext.disconnect_slack('{bob_token}', '{acme}') $$)),
  '403 org.forbidden', 'nor can a plain member');
reset role;
select results_eq(
  $$ select channel, team_id, bot_token_key_id, broken_at from app.slack_connections where org_id = tap.id('acme') $$,
  $$ values ('#general', 'T0ACME', 'k1', null::timestamptz) $$,
  'acme''s connection is stored once, whatever was tried against it');
select results_eq(
  $$ select action, actor_id::text collate "default" from app.audit_events where org_id = tap.id('acme') and action like 'org.slack_%' $$,
  $$ values ('org.slack_connected', tap.id('Ann')) $$,
  'connecting is in the audit trail, by whom');

/* What members see: never the token. */
select is(tap.call('Bob', $$ select api.get_slack_connection('{acme}') $$), 'ok', 'a member sees the connection');
select is(tap.call('Cy', $$ select api.get_slack_connection('{acme}') $$), '404 org.not_found',
  'another tenant does not');
select is(tap.call('Cy', $$ select api.get_slack_connection('{globex}') $$), '404 slack.not_connected',
  'an organization without Slack says so');
/* A workspace's name stored before connecting held it to the rule of names shown to others (422
   slack.invalid_team_name) is never shown raw: one that breaks the rule is shown as the
   workspace's id, and one with blanks around it trimmed, as connecting now stores it. */
update app.slack_connections set team_name = 'Acme' || U&'\202E' || 'gnp.exe' where org_id = tap.id('acme');
select tap.become('Bob');
select is((api.get_slack_connection(tap.id('acme'))).team_name, 'T0ACME',
  'a stored name with a bidi override is shown as the workspace''s id');
reset role;
update app.slack_connections set team_name = 'Ac' || U&'\200B' || 'me' where org_id = tap.id('acme');
select tap.become('Bob');
select is((api.get_slack_connection(tap.id('acme'))).team_name, 'T0ACME', 'so is one with an invisible character');
reset role;
update app.slack_connections set team_name = repeat('a', 101) where org_id = tap.id('acme');
select tap.become('Bob');
select is((api.get_slack_connection(tap.id('acme'))).team_name, 'T0ACME', 'and one over 100 characters');
reset role;
update app.slack_connections set team_name = '  Acme Corp ' where org_id = tap.id('acme');
select tap.become('Bob');
select is((api.get_slack_connection(tap.id('acme'))).team_name, 'Acme Corp', 'a name within the rule is shown trimmed');
reset role;
select is((select team_name from app.slack_connections where org_id = tap.id('acme')), '  Acme Corp ',
  'and the stored name is left as it is');
update app.slack_connections set team_name = 'Acme Corp' where org_id = tap.id('acme');
select set_config('app.user_id', '', true);
select is_empty(
  $$ select attname from pg_attribute
      where attrelid = (select typrelid from pg_type where oid = 'api.slack_connection'::regtype)
        and attnum > 0 and (attname ~ 'token|sealed|key|secret') $$,
  'the connection the API returns has no column for the token or its key');

/* Who reaches the table and the functions. */
select is_empty(
  $$ select r from unnest(array['authenticator', 'web_anon', 'authenticated', 'edge', 'panopticon', 'pipeline', 'worker']) r
      where has_table_privilege(r, 'app.slack_connections', 'select, insert, update, delete')
         or has_any_column_privilege(r, 'app.slack_connections', 'select') $$,
  'no role but the owner can read or write app.slack_connections');
select results_eq(
  $$ select r, p.oid::regprocedure::text from pg_proc p
       cross join unnest(array['authenticator', 'web_anon', 'authenticated', 'edge', 'panopticon', 'pipeline', 'worker']) r
      where p.pronamespace = 'ext'::regnamespace and has_function_privilege(r, p.oid, 'execute') order by 1, 2 $$,
  $$ values ('edge', 'ext.ai_org_activity(text,text)'), ('edge', 'ext.ai_release(text,bigint,text)'),
            ('edge', 'ext.ai_reserve(text,text,text,text,bytea,integer)'),
            ('edge', 'ext.ai_settle(text,bigint,integer,integer,text)'),
            ('edge', 'ext.connect_slack(text,text,text,text,text,text,bytea)'), ('edge', 'ext.disconnect_slack(text,text)'),
            ('edge', 'ext.slack_may_connect(text,text,text)') $$,
  'the ext functions are the edge''s alone');
select results_eq(
  $$ select r from unnest(array['authenticator', 'web_anon', 'authenticated', 'edge', 'panopticon', 'pipeline', 'worker']) r
      where has_function_privilege(r, 'delivery.claim_slack_post(text)', 'execute')
         or has_function_privilege(r, 'delivery.slack_broken(text,text,timestamp with time zone)', 'execute') $$,
  $$ values ('worker') $$,
  'the posting calls are the worker''s alone');

/* The outbox defers a post for an organization with a working connection, and only then. */
select is(tap.call('Ann', $$ select api.update_organization('{acme}', 'Acme Rockets') $$), 'ok', 'Ann renames acme');
select is(tap.call('Cy', $$ select api.update_organization('{globex}', 'Globex 2') $$), 'ok', 'Cy renames globex');
select tap.fix('renamed', id) from app.outbox where topic = 'notify.org_renamed' and payload ->> 'org_id' = tap.id('acme');
select results_eq(
  $$ select o.payload ->> 'org_id', j.queue_name::text, j.task_name::text, j.lock::text from jobs.procrastinate_jobs j
       join app.outbox o on o.id = j.args ->> 'event_id' where o.topic like 'notify.%' $$,
  $$ values (tap.id('acme'), 'slack', 'post_to_slack', 'outbox:' || tap.id('renamed')) $$,
  'a rename of a connected organization defers one Slack post; one without Slack, none');
select is((select payload ->> 'org_name' from app.outbox where id = tap.id('renamed')), 'Acme Rockets',
  'a notification carries the organization''s name as of when it happened');

/* However many notifications a tenant makes, a mail queued after them is handed out first. */
select is(tap.call('Ann', $$ select count(api.update_organization('{acme}', 'Acme ' || i)) from generate_series(1, 19) i $$),
  'ok', 'Ann renames acme 19 more times, all the quota allows');
select auth.request_password_reset('cy@example.com');
set local search_path = jobs, public;  -- procrastinate names its tables without a schema
select tap.fix('queue_worker', (select worker_id::text from procrastinate_register_worker_v1()));
select ok(
  (select bool_and(o.topic like 'mail.%') and bool_or(o.topic = 'mail.password_reset')
     from generate_series(1, (select count(*)::int from procrastinate_jobs where queue_name = 'mail')) n
    -- + 0 * n: one call per row, not one call's job replayed
    cross join lateral procrastinate_fetch_job_v2(array['mail', 'slack'], tap.id('queue_worker')::bigint + 0 * n) j
     join app.outbox o on o.id = j.args ->> 'event_id'),
  'the job queue hands out every mail, the reset queued after 20 Slack posts among them, before any post');
reset search_path;

/* The worker's view of the post: the sealed token and the names, nothing it could mistake. */
set local role worker;
select results_eq(
  $$ select topic, org_id collate "default", channel, token_key_id, names from delivery.claim_slack_post(tap.id('renamed')) $$,
  $$ values ('notify.org_renamed', tap.id('acme'), '#general', 'k1',
             jsonb_build_object('org_name', 'Acme Rockets', 'by_name', 'Ann', 'new_name', 'Acme Rockets')) $$,
  'claiming a post gives its channel, sealed token and names');
select throws_ok($$ select * from app.slack_connections $$, '42501', null, 'the worker cannot read the connections itself');
/* A post claimed with the token an admin replaced while Slack answered: Slack's refusal of the old
   token broke the new connection, which worked, and the posts stopped. */
select tap.fix('claimed', (select connected_at::text from delivery.claim_slack_post(tap.id('renamed'))));
reset role;
update app.slack_connections set connected_at = now() + interval '1 second', bot_token_sealed = decode(repeat('ef', 40), 'hex')
 where org_id = tap.id('acme');
set local role worker;
select ok(not delivery.slack_broken(tap.id('acme'), 'invalid_auth', tap.id('claimed')::timestamptz),
  'Slack''s refusal of a token replaced since breaks nothing');
select is(delivery.slack_broken(tap.id('acme'), 'invalid_auth', null), null,
  'a refusal that names no connection breaks none (it broke the one there was)');
/* Shown to the organization's members (its audit trail, its connection's state): the worker's
   login wrote them what it liked there, a link to follow among it. */
select is(tap.outcome($$ select delivery.slack_broken(tap.id('acme'), 'Slack says: connect again at https://evil.example', tap.id('claimed')::timestamptz) $$),
  '422 slack.invalid_reason', 'Slack''s reason for a refusal is one of its error codes, not prose');
select tap.fix('current', (select connected_at::text from delivery.claim_slack_post(tap.id('renamed'))));
/* The worker's login names a member in its own session (any login may set app.user_id): the
   break is still nobody's act, not that member's in the organization's audit trail. */
select set_config('app.user_id', tap.id('Bob'), true);
select ok(delivery.slack_broken(tap.id('acme'), 'invalid_auth', tap.id('current')::timestamptz),
  'Slack''s refusal of the connection''s own token marks it broken');
select ok(not delivery.slack_broken(tap.id('acme'), 'invalid_auth', tap.id('current')::timestamptz), '... once');
select set_config('app.user_id', '', true);
select results_eq(
  $$ select topic, channel from delivery.claim_slack_post(tap.id('renamed')) $$,
  $$ values (null::text, null::text) $$,
  'a broken connection gives the worker nothing to post');
reset role;
/* Withdrawn, not failed: nowhere to post it any more is no failed delivery (each one queued
   behind a break, a disconnection or a deletion ended its job failed, an alert apiece). */
select results_eq(
  $$ select given_up_at is not null, attempts, last_error like 'withdrawn: %' from app.outbox where id = tap.id('renamed') $$,
  $$ values (true, 0, true) $$,
  'the post is withdrawn: given up, with no try counted, and the reason');
select results_eq(
  $$ select count(*)::int, min(details ->> 'reason') from app.audit_events where org_id = tap.id('acme') and action = 'org.slack_broken' $$,
  $$ values (1, 'invalid_auth') $$,
  'the organization is told once, with Slack''s reason');
select is((select actor_id::text from app.audit_events where org_id = tap.id('acme') and action = 'org.slack_broken'), null,
  'by nobody: a user the worker''s session named is not recorded as having broken it');
select is(tap.call('Bob', $$ select api.leave_organization('{acme}') $$), 'ok', 'Bob leaves acme');
select is_empty(
  $$ select from jobs.procrastinate_jobs j join app.outbox o on o.id = j.args ->> 'event_id' where o.topic = 'notify.member_left' $$,
  'while it is broken, nothing more is queued for Slack');

/* A connection lasts while the member who made it may still make it: one whose maker is removed,
   leaves or becomes a plain member is broken, as a refused token is (the organization's events
   went on to a workspace of someone no longer in it). */
reset role;
select tap.make_users(array['dee', 'eve', 'fay']);
select tap.make_org('initech', '{"dee": "owner", "eve": "admin", "fay": "admin"}');
create function pg_temp.connect_as(p_org text, p_user text) returns void
language sql as $$
  insert into app.slack_connections (org_id, team_id, team_name, channel, bot_token_key_id, bot_token_sealed, connected_by)
  values (tap.id(p_org), 'T0EVE', 'Eve''s', 'C0EVIL', 'k1', decode(repeat('ab', 40), 'hex'), tap.id(p_user))
  on conflict (org_id) do update set connected_by = excluded.connected_by, broken_at = null, broken_reason = null
$$;
create function pg_temp.broken(p_org text) returns boolean
language sql as $$ select broken_at is not null from app.slack_connections where org_id = tap.id(p_org) $$;
select pg_temp.connect_as('initech', 'eve');
select is(tap.call('dee', $$ select api.remove_member('{initech}', '{fay}') $$), 'ok', 'another admin is removed');
select is(pg_temp.broken('initech'), false, 'a connection made by someone else stands');
select is(tap.call('dee', $$ select api.change_member_role('{initech}', '{eve}', 'member') $$), 'ok',
  'its maker becomes a plain member');
select is(pg_temp.broken('initech'), true, 'and the connection is broken');
select results_eq($$ select action, details ->> 'reason' from app.audit_events
                     where org_id = tap.id('initech') and action = 'org.slack_broken' $$,
  $$ values ('org.slack_broken', 'The member who connected it may no longer connect it.') $$,
  'once, in the organization''s audit trail');
select is(tap.call('dee', $$ select api.change_member_role('{initech}', '{eve}', 'admin') $$), 'ok',
  'its maker is an admin again');
select pg_temp.connect_as('initech', 'eve');
select is(tap.call('eve', $$ select api.leave_organization('{initech}') $$), 'ok', 'and leaves');
select is(pg_temp.broken('initech'), true, 'a connection whose maker left is broken too');
select tap.make_users(array['gus']);
select tap.make_org('hooli', '{"dee": "owner", "gus": "admin"}');
select pg_temp.connect_as('hooli', 'gus');
select is(tap.call('gus', $$ select api.remove_member('{hooli}', '{gus}') $$), 'ok', 'an admin removes themselves');
select is(pg_temp.broken('hooli'), true, 'and the connection they made is broken');
select pg_temp.connect_as('initech', 'dee');
select is(pg_temp.broken('initech'), false, 'the owner''s own connection stands');
select is(tap.call('dee', $$ select api.delete_organization('{initech}') $$), 'ok',
  'and the organization, with its connection, can be deleted');

select * from finish();
rollback;
