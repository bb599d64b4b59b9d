/*
 * The operators' views (sql/views/admin.sql) and the role that reads them, panopticon: what each
 * view shows, that no view shows a secret (a rule over every column of every view), that they
 * reach across tenants through their owner admin_reader, not by bypassing Row Level Security,
 * and that panopticon can read them and do nothing else.
 */
begin;
select plan(72);

/* Structure: the views, their owner, their columns. */
select results_eq(
  $$ select c.relname::text collate "default", c.relowner::regrole::text from pg_class c
      where c.relnamespace = 'admin'::regnamespace order by 1 $$,
  $$ values ('active_sessions', 'admin_reader'), ('ai_usage', 'admin_reader'), ('audit_events', 'admin_reader'),
            ('failed_deliveries', 'admin_reader'), ('job_queue', 'admin_reader'),
            ('memberships', 'admin_reader'), ('organization_deletions', 'admin_reader'), ('organizations', 'admin_reader'),
            ('outbox_health', 'admin_reader'), ('rate_limit_pressure', 'admin_reader'),
            ('users', 'admin_reader') $$,
  'schema admin holds the eleven views and nothing else, each owned by admin_reader'
);
select is_empty(
  $$ select c.oid::regclass from pg_class c where c.relnamespace = 'admin'::regnamespace and c.relkind <> 'v' $$,
  'everything in schema admin is a view'
);
select columns_are('admin', 'users',
  array['id', 'email', 'display_name', 'email_verified_at', 'created_at', 'updated_at', 'organizations', 'last_seen_at'],
  'admin.users shows the account, never its password hash');
select columns_are('admin', 'organizations',
  array['id', 'name', 'slug', 'created_by', 'created_at', 'updated_at', 'members', 'pending_invitations', 'invitations'],
  'admin.organizations shows each organization with its member and invitation counts');
select columns_are('admin', 'organization_deletions', array['id', 'name', 'deleted_at', 'invitations', 'ai_requests'],
  'admin.organization_deletions shows each organization deleted and not yet purged, with what is left of it');
select columns_are('admin', 'memberships', array['id', 'org_id', 'user_id', 'role', 'joined_at'],
  'admin.memberships shows who belongs where');
select columns_are('admin', 'active_sessions',
  array['id', 'user_id', 'created_at', 'last_seen_at', 'expires_at', 'client_addr', 'user_agent'],
  'admin.active_sessions shows a session''s times, address and user agent, never its token hash');
select columns_are('admin', 'audit_events',
  array['id', 'at', 'actor_id', 'action', 'org_id', 'target', 'client_addr', 'details'],
  'admin.audit_events shows the audit trail');
select columns_are('admin', 'outbox_health',
  array['topic', 'pending', 'retrying', 'unsent', 'failed', 'withdrawn', 'delivered', 'oldest_pending_age', 'last_failed_at'],
  'admin.outbox_health counts the outbox per topic');
select columns_are('admin', 'failed_deliveries',
  array['event_id', 'topic', 'created_at', 'attempts', 'last_attempt_at', 'last_error', 'given_up_at'],
  'admin.failed_deliveries shows each given-up message with its last error, never its payload');
select columns_are('admin', 'job_queue',
  array['queue_name', 'task_name', 'status', 'jobs', 'most_attempts', 'oldest_age'],
  'admin.job_queue counts the jobs per queue, task and status, never their arguments');
select columns_are('admin', 'ai_usage',
  array['org_id', 'month', 'requests', 'answered', 'cached', 'failed', 'reserved', 'prompt_tokens', 'completion_tokens', 'quota_override_tokens',
        'over_reported', 'over_reported_tokens'],
  'admin.ai_usage counts AI use per organization and month, never a request''s hash');
select columns_are('admin', 'rate_limit_pressure',
  array['kind', 'hits_last_hour', 'hits_last_day', 'subjects_last_hour', 'last_hit_at'],
  'admin.rate_limit_pressure counts the rate-limited actions per kind');

/* The rule over every column of every view: nothing named like a secret that could hold one
   (a count of tokens could; text, bytes or JSON could not), no bytes at all. */
select is_empty(
  $$ select c.table_name, c.column_name, c.data_type from information_schema.columns c
      where c.table_schema = 'admin'
        and (c.column_name ~* '(password|hash|token|secret|ciphertext|key)'
               and c.data_type not in ('smallint', 'integer', 'bigint', 'numeric')
             or c.data_type = 'bytea' or c.column_name ~* 'payload') $$,
  'no view of schema admin has a column named like a secret (password, hash, token, secret, ciphertext, key), a payload, or bytes'
);
/* And the owner itself cannot read one: its grants are column by column. */
select is_empty(
  $$ select p.table_schema, p.table_name, p.column_name
       from information_schema.column_privileges p
       join information_schema.columns c using (table_schema, table_name, column_name)
      where p.grantee = 'admin_reader'
        and (p.column_name ~* '(password|hash|token|secret|ciphertext|key)'
               and c.data_type not in ('smallint', 'integer', 'bigint', 'numeric')
             or p.column_name ~* 'payload' or c.data_type = 'bytea' or p.table_name = 'user_secrets')
     except
     values ('app', 'rate_limit_hits', 'key') $$,
  'admin_reader may read no column that holds a secret (but a rate limit''s key, which admin.rate_limit_pressure only counts: an address, an account, or a remembered device''s token hash, which no view shows)'
);
select is_empty(
  $$ select c.oid::regclass from pg_class c
      where c.relkind in ('r', 'p')
        and c.relnamespace in (select oid from pg_namespace
                                where nspname in ('util', 'app', 'auth', 'api', 'admin', 'pipeline', 'analytics', 'delivery', 'jobs', 'blossom_meta'))
        and has_table_privilege('admin_reader', c.oid, 'insert, update, delete, truncate, references, trigger') $$,
  'admin_reader writes nothing'
);
select results_eq(
  $$ select rolcanlogin, rolbypassrls, rolsuper, rolinherit from pg_roles where rolname = 'admin_reader' $$,
  $$ values (false, false, false, false) $$,
  'admin_reader cannot log in and bypasses no Row Level Security: policies admit it'
);
select is_empty(
  $$ select r.rolname from pg_roles r
      where r.rolname not in ('admin_reader', 'postgres') and not r.rolsuper and pg_has_role(r.oid, 'admin_reader', 'member') $$,
  'no role of the system can become admin_reader'
);
select results_eq(
  $$ select p.polrelid::regclass::text, p.polcmd::text from pg_policy p
      where 'admin_reader'::regrole = any (p.polroles) order by 1 $$,
  $$ values ('app.ai_quotas', 'r'), ('app.ai_usage', 'r'), ('app.audit_events', 'r'), ('app.invitations', 'r'),
            ('app.memberships', 'r'), ('app.organizations', 'r'),
            ('app.outbox', 'r'), ('app.rate_limit_hits', 'r'), ('app.sessions', 'r'), ('app.users', 'r'),
            ('jobs.procrastinate_events', 'r'), ('jobs.procrastinate_jobs', 'r') $$,
  'admin_reader reads the tables of the views through one select policy each, and has no other'
);

/* panopticon: a login whose sessions start read-only; it can select the views, nothing else. */
select results_eq(
  $$ select rolcanlogin, rolbypassrls, rolsuper from pg_roles where rolname = 'panopticon' $$,
  $$ values (true, false, false) $$, 'panopticon logs in, and has no privilege of its own'
);
select ok(
  (select 'default_transaction_read_only=on' = any (s.setconfig) from pg_db_role_setting s
    where s.setrole = 'panopticon'::regrole and s.setdatabase = 0),
  'panopticon''s sessions start read-only'
);
select set_eq(
  $$ select c.relname::text from pg_class c
      where c.relnamespace = 'admin'::regnamespace and c.relkind = 'v'
        and not coalesce('security_barrier=true' = any (c.reloptions), false) $$,
  array['audit_events', 'memberships', 'users'],
  'every admin view is a security barrier, no function of a query seeing a row before the view''s filters, but the three that leave out no row (sql/tests/admin_view_reads.sql)'
);
select is_empty(
  $$ select c.oid::regclass from pg_class c where c.relnamespace = 'admin'::regnamespace
        and not has_table_privilege('panopticon', c.oid, 'select') $$,
  'panopticon may select every view of schema admin'
);
select is_empty(
  $$ select c.oid::regclass from pg_class c
      where c.relnamespace in (select oid from pg_namespace
                                where nspname in ('util', 'app', 'auth', 'api', 'admin', 'pipeline', 'analytics', 'delivery', 'jobs',
                                                  'extensions', 'blossom_meta'))
        and c.relkind in ('r', 'p', 'v', 'm', 'S', 'f')
        and (has_table_privilege('panopticon', c.oid, 'insert, update, delete, truncate, references, trigger')
             or (c.relnamespace <> 'admin'::regnamespace
                 and (has_table_privilege('panopticon', c.oid, 'select') or has_any_column_privilege('panopticon', c.oid, 'select')))) $$,
  'panopticon can read no table and no other view, and write nothing, in any schema of ours'
);
select is_empty(
  $$ select p.oid::regprocedure from pg_proc p
      where p.pronamespace in (select oid from pg_namespace
                                where nspname in ('util', 'app', 'auth', 'api', 'admin', 'pipeline', 'analytics', 'delivery', 'jobs',
                                                  'ext', 'extensions', 'blossom_meta'))
        -- pgcrypto's functions are everyone's to execute, in a schema panopticon may not use.
        and (p.pronamespace <> 'extensions'::regnamespace or has_schema_privilege('panopticon', p.pronamespace, 'usage'))
        and has_function_privilege('panopticon', p.oid, 'execute')
     except
     select unnest(array['util.database_setting(text, text)', 'util.database_interval_setting(text, interval)',
                         'util.setting_as_interval(text, text)', 'util.refuse_setting(text, text, text)',
                         'util.raise_error(integer, text, text, text, jsonb)']::regprocedure[]) $$,
  'panopticon may execute no function of ours but util.database_interval_setting and what it calls, which admin.active_sessions calls'
);
select is_empty(
  $$ select s from unnest(array['util', 'app', 'auth', 'api', 'pipeline', 'analytics', 'delivery', 'jobs', 'extensions', 'public']) s
      where has_schema_privilege('panopticon', s, 'create')
     union all
     select 'database' where has_database_privilege('panopticon', current_database(), 'create') $$,
  'panopticon may create nothing, in no schema, and no schema'
);

/* Seeded across two tenants, straight into the tables (as the admin user). */
select tap.make_users(array['ann', 'bob', 'cid']);
select tap.make_org('acme', '{"ann": "owner", "bob": "member"}');
select tap.make_org('bobco', '{"bob": "owner"}');
insert into app.user_secrets (user_id, password_hash) values (tap.id('ann'), 'a secret hash');
insert into app.invitations (org_id, email, role, token_hash, created_at, expires_at, accepted_at)
values (tap.id('acme'), 'new@example.com', 'member', sha256('one'), now(), now() + interval '7 days', null),
       (tap.id('acme'), 'old@example.com', 'member', sha256('two'), now() - interval '9 days', now() - interval '2 days', null),
       (tap.id('bobco'), 'cid@example.com', 'admin', sha256('three'), now() - interval '1 day', now() + interval '6 days', now());
insert into app.sessions (user_id, token_hash, created_at, last_seen_at, expires_at, revoked_at, user_agent, client_addr)
values (tap.id('ann'), sha256('live'), now() - interval '2 days', now() - interval '1 hour', now() + interval '20 days', null, 'Firefox', '192.0.2.1'),
       (tap.id('ann'), sha256('revoked'), now() - interval '2 days', now() - interval '1 hour', now() + interval '20 days', now(), 'Firefox', '192.0.2.1'),
       (tap.id('bob'), sha256('expired'), now() - interval '40 days', now() - interval '31 days', now() - interval '1 day', null, 'Curl', '192.0.2.2'),
       (tap.id('bob'), sha256('idle'), now() - interval '10 days', now() - interval '8 days', now() + interval '20 days', null, 'Curl', '192.0.2.2');
insert into app.outbox (topic, payload, created_at, delivered_at, attempts, last_error, given_up_at)
values ('mail.tap_one', '{"token": "t1"}', now() - interval '10 minutes', null, 0, null, null),
       ('mail.tap_one', '{"token": "t2"}', now() - interval '5 minutes', null, 2, '421 try later', null),
       ('mail.tap_one', '{}', now() - interval '1 day', now(), 1, null, null),
       ('mail.tap_one', '{"token": "t3"}', now() - interval '2 days', null, 1, '550 no such mailbox', now() - interval '1 day'),
       -- Withdrawn (delivery.claim): its invitation taken back before it went; no failure.
       ('mail.tap_one', '{}', now() - interval '3 days', null, 0, 'withdrawn: the invitation was revoked', now());
insert into app.outbox (topic, payload, created_at)
values ('notify.member_left', pg_catalog.jsonb_build_object('org_id', tap.id('acme')), now() - interval '3 days');
insert into app.rate_limit_hits (kind, key, at)
values ('tap.login', 'a@example.com', now() - interval '5 minutes'), ('tap.login', 'a@example.com', now() - interval '6 minutes'),
       ('tap.login', 'b@example.com', now() - interval '7 minutes'), ('tap.login', 'c@example.com', now() - interval '3 hours'),
       ('tap.login', 'd@example.com', now() - interval '2 days');
insert into app.audit_events (action, actor_id, org_id, target) values ('tap.something', tap.id('cid'), tap.id('bobco'), 'x');
insert into app.ai_usage (org_id, user_id, feature, model, request_hash, outcome, reserved_tokens, prompt_tokens,
                          completion_tokens, started_at)
values (tap.id('acme'), tap.id('ann'), 'org_summary', 'm', sha256('a'), 'answered', 100, 30, 20, '2026-01-10Z'),
       (tap.id('acme'), tap.id('ann'), 'org_summary', 'm', sha256('b'), 'cached', 100, 0, 0, '2026-01-11Z'),
       (tap.id('acme'), tap.id('ann'), 'org_summary', 'm', sha256('c'), 'answered', 100, 5, 5, '2026-02-01Z'),
       (tap.id('bobco'), tap.id('bob'), 'org_summary', 'm', sha256('d'), 'failed', 100, 0, 0, '2026-01-12Z'),
       -- Never settled: the edge died during the call, or the provider's answer counted no tokens.
       (tap.id('bobco'), tap.id('bob'), 'org_summary', 'm', sha256('e'), 'reserved', 100, 0, 0, '2026-01-13Z');
insert into app.ai_quotas (org_id, monthly_tokens) values (tap.id('bobco'), 5000);

select results_eq(
  $$ select (select count(*) from admin.users), (select count(*) from admin.memberships), (select count(*) from admin.audit_events) $$,
  $$ select (select count(*) from app.users), (select count(*) from app.memberships), (select count(*) from app.audit_events) $$,
  'the three views that are no security barrier show every row of their table: there is none a barrier could keep from a function'
);

/* What panopticon reads, row by row, across both tenants. */
set local role panopticon;
select results_eq(
  $$ select display_name, organizations, last_seen_at is not null from admin.users
      where id in (tap.id('ann'), tap.id('bob'), tap.id('cid')) order by display_name $$,
  $$ values ('ann', 1::bigint, true), ('bob', 2::bigint, true), ('cid', 0::bigint, false) $$,
  'admin.users shows every account, its organizations and when it was last seen'
);
select results_eq(
  $$ select name, members, pending_invitations, invitations from admin.organizations
      where id in (tap.id('acme'), tap.id('bobco')) order by name $$,
  $$ values ('Acme', 2, 1::bigint, 2::bigint), ('Bobco', 1, 0::bigint, 1::bigint) $$,
  'admin.organizations shows both tenants, with members, open invitations (not the expired one) and all invitations'
);
select results_eq(
  $$ select org_id::text collate "default", user_id::text collate "default", role::text from admin.memberships
      where org_id in (tap.id('acme'), tap.id('bobco')) order by 1, 3 $$,
  $$ values (tap.id('acme'), tap.id('bob'), 'member'), (tap.id('acme'), tap.id('ann'), 'owner'),
            (tap.id('bobco'), tap.id('bob'), 'owner') $$,
  'admin.memberships shows the memberships of every tenant'
);
select results_eq(
  $$ select user_id::text collate "default", user_agent, host(client_addr) from admin.active_sessions
      where user_id in (tap.id('ann'), tap.id('bob')) $$,
  $$ values (tap.id('ann'), 'Firefox', '192.0.2.1') $$,
  'admin.active_sessions shows the valid session, not the revoked, expired or idle ones'
);
/* The idle timeout is the database's: a reader's own setting of it showed the idle session. */
select set_config('app.settings.session_idle_timeout', '100 years', true);
select results_eq(
  $$ select user_id::text collate "default", user_agent, host(client_addr) from admin.active_sessions
      where user_id in (tap.id('ann'), tap.id('bob')) $$,
  $$ values (tap.id('ann'), 'Firefox', '192.0.2.1') $$,
  'and not the idle one to a reader who set the idle timeout longer for itself'
);
reset app.settings.session_idle_timeout;
select results_eq(
  $$ select action, actor_id::text collate "default", org_id::text collate "default" from admin.audit_events where action = 'tap.something' $$,
  $$ values ('tap.something', tap.id('cid'), tap.id('bobco')) $$,
  'admin.audit_events shows the audit trail of every tenant'
);
select results_eq(
  $$ select pending, retrying, failed, withdrawn, delivered, oldest_pending_age > interval '9 minutes', last_failed_at < now()
       from admin.outbox_health where topic = 'mail.tap_one' $$,
  $$ values (2::bigint, 1::bigint, 1::bigint, 1::bigint, 1::bigint, true, true) $$,
  'admin.outbox_health counts pending, retrying, failed, withdrawn and delivered messages, and the oldest pending one''s age: a withdrawn message is no failure'
);
select results_eq(
  $$ select pending, unsent, oldest_pending_age from admin.outbox_health where topic = 'notify.member_left' $$,
  $$ values (0::bigint, 1::bigint, null::interval) $$,
  'an organization''s event without a Slack channel to post it to is unsent, not pending: no delivery waits for it'
);
select results_eq(
  $$ select topic, attempts, last_error from admin.failed_deliveries where topic = 'mail.tap_one' $$,
  $$ values ('mail.tap_one', 1, '550 no such mailbox') $$,
  'admin.failed_deliveries shows the given-up message with its last error'
);
select results_eq(
  $$ select hits_last_hour, hits_last_day, subjects_last_hour from admin.rate_limit_pressure where kind = 'tap.login' $$,
  $$ values (3::bigint, 4::bigint, 2::bigint) $$,
  'admin.rate_limit_pressure counts the hits of the last hour and day, and the subjects of the last hour'
);
select results_eq(
  $$ select queue_name::text collate "default", status collate "default", jobs from admin.job_queue where task_name = 'deliver_mail' and queue_name = 'mail' $$,
  $$ values ('mail', 'todo', 5::bigint) $$,
  'admin.job_queue counts the queued jobs (each outbox mail deferred one)'
);

select results_eq(
  $$ select org_id::text collate "default", month, requests, answered, cached, failed, reserved, prompt_tokens, completion_tokens,
            quota_override_tokens
       from admin.ai_usage where org_id in (tap.id('acme'), tap.id('bobco')) order by 1, 2 $$,
  $$ values (tap.id('acme'), date '2026-01-01', 2::bigint, 1::bigint, 1::bigint, 0::bigint, 0::bigint, 30::numeric, 20::numeric, null::bigint),
            (tap.id('acme'), date '2026-02-01', 1::bigint, 1::bigint, 0::bigint, 0::bigint, 0::bigint, 5::numeric, 5::numeric, null::bigint),
            (tap.id('bobco'), date '2026-01-01', 2::bigint, 0::bigint, 0::bigint, 1::bigint, 1::bigint, 0::numeric, 0::numeric, 5000::bigint) $$,
  'admin.ai_usage counts each organization''s AI use per month by outcome (a reservation never settled among them), with its own quota where one is set'
);

/* Every refusal, as panopticon. */
select throws_ok($$ select * from app.users $$, '42501', null, 'panopticon cannot read app.users');
select throws_ok($$ select * from app.user_secrets $$, '42501', null, 'panopticon cannot read the password hashes');
select throws_ok($$ select * from app.sessions $$, '42501', null, 'panopticon cannot read the sessions table');
select throws_ok($$ select * from jobs.procrastinate_jobs $$, '42501', null, 'panopticon cannot read the job queue''s tables');
select throws_ok($$ select * from analytics.org_daily_metrics $$, '42501', null, 'panopticon cannot read analytics');
select throws_ok($$ select * from app.my_memberships $$, '42501', null, 'panopticon cannot read another schema''s views');
select throws_ok($$ insert into admin.memberships (org_id, user_id, role) values (tap.id('bobco'), tap.id('cid'), 'owner') $$,
  '42501', null, 'panopticon cannot insert through a view');
select throws_ok($$ update admin.users set display_name = 'mallory' $$, '42501', null, 'panopticon cannot update through a view');
select throws_ok($$ delete from admin.audit_events $$, '42501', null, 'panopticon cannot delete through a view');
select throws_ok($$ truncate app.audit_events $$, '42501', null, 'panopticon cannot truncate a table');
select throws_ok($$ create table admin.notes (id int) $$, '42501', null, 'panopticon cannot create a table in admin');
select throws_ok($$ create view admin.everything as select 1 $$, '42501', null, 'panopticon cannot create a view in admin');
select throws_ok($$ create table public.notes (id int) $$, '42501', null, 'panopticon cannot create a table in public');
select throws_ok($$ create schema notes $$, '42501', null, 'panopticon cannot create a schema');
select throws_ok($$ drop view admin.users $$, '42501', null, 'panopticon cannot drop a view');
select throws_ok($$ alter view admin.users rename to people $$, '42501', null, 'panopticon cannot alter a view');
select throws_ok($$ select pipeline.purge_auth() $$, '42501', null, 'panopticon cannot call the pipeline''s functions');
select throws_ok($$ select api.me() $$, '42501', null, 'panopticon cannot call the API');
select throws_ok($$ select auth.session_info('x') $$, '42501', null, 'panopticon cannot call the auth functions');
select throws_ok($$ select util.setting('session_idle_timeout', '1 day') $$, '42501', null, 'panopticon cannot call util''s functions but the idle timeout''s readers');
select throws_ok($$ select delivery.claim('evt_x') $$, '42501', null, 'panopticon cannot call the worker''s functions');
select throws_ok($$ select jobs.procrastinate_defer_jobs_v1(array[]::jobs.procrastinate_job_to_defer_v1[]) $$, '42501', null,
  'panopticon cannot defer jobs');
set local client_min_messages = error;  -- the warning that nothing was granted
select lives_ok($$ grant select on admin.users to web_anon $$, 'panopticon may say grant, which grants nothing (a warning)');
reset client_min_messages;
reset role;
select ok(not has_table_privilege('web_anon', 'admin.users', 'select'), 'panopticon cannot pass its reading on');
select is((select display_name from app.users where id = tap.id('ann')), 'ann', 'nothing panopticon tried changed a row');
/* SET ROLE is decided by the session's login, so it is tried through a real login as panopticon
   (tests/test_admin_views.py); here, what decides it. */
select is_empty(
  $$ select r.rolname from pg_roles r where r.rolname <> 'panopticon' and pg_has_role('panopticon', r.oid, 'member') $$,
  'panopticon is a member of no other role, so it may set no other role'
);

/* When an account was last seen outlives its sessions: the housekeeping deleted bob's dead ones,
   and admin.users said he was never seen. */
set local role pipeline;
select is((select sessions from pipeline.purge_auth()), 3, 'the housekeeping deletes the three dead sessions');
set local role panopticon;
select results_eq(
  $$ select display_name, now() - last_seen_at from admin.users
      where id in (tap.id('ann'), tap.id('bob'), tap.id('cid')) order by display_name $$,
  $$ values ('ann', interval '1 hour'), ('bob', interval '8 days'), ('cid', null) $$,
  'admin.users still shows when each account was last seen, its sessions deleted or not'
);
reset role;

/* A view's durations are elapsed time, whatever the reader's time zone. In a zone whose clocks
   went forward 13 hours ago (made up: XST5XDT, its summer time begun then), 7 days and a day
   back on the wall clock are 167 and 23 hours: a session the API still takes, used 167.5 hours
   ago, was missing from admin.active_sessions, and a hit of 23.5 hours ago from the last day. */
insert into app.sessions (user_id, token_hash, created_at, last_seen_at, expires_at, user_agent)
values (tap.id('cid'), sha256('idle under 7 days'), now() - interval '10 days', now() - interval '167 hours 30 minutes',
        now() + interval '20 days', 'Lynx');
insert into app.rate_limit_hits (kind, key, at) values ('tap.summer_time', 'e@example.com', now() - interval '23 hours 30 minutes');
select set_config('timezone', pg_catalog.format('XST5XDT,%s/%s,%s/0', extract(doy from t)::int - 1, extract(hour from t)::int,
                                                (extract(doy from t)::int + 99) % 365), true)
  from (select (now() - interval '12 hours') at time zone 'UTC' - interval '5 hours' as t) switch;
set local role panopticon;
select results_eq(
  $$ select user_agent from admin.active_sessions where user_id = tap.id('cid') $$,
  $$ values ('Lynx') $$,
  'admin.active_sessions shows a session idle 167.5 hours to a reader whose clocks went forward meanwhile'
);
select results_eq(
  $$ select hits_last_day from admin.rate_limit_pressure where kind = 'tap.summer_time' $$,
  $$ values (1::bigint) $$,
  'admin.rate_limit_pressure counts a hit of 23.5 hours ago in the last day, for a reader whose clocks went forward meanwhile'
);
reset role;

/* The idle timeout is read by its kind, as the API reads it: a bad one showed no live session at
   all (0 or less) while every request failed on it, or failed as Postgres's 22008 (past the last
   instant it holds) while the API counted it as 100 years. */
select set_config('timezone', 'UTC', true);
do $$ begin execute format('alter database %I set app.settings.session_idle_timeout = %L', current_database(), '-1 day'); end $$;
set local role panopticon;
select throws_like($$ select count(*) from admin.active_sessions $$,
  '%server.invalid_setting%app.settings.session_idle_timeout must be a positive interval%',
  'admin.active_sessions refuses an idle timeout that is not positive, naming it, as the API does');
reset role;
do $$ begin execute format('alter database %I set app.settings.session_idle_timeout = %L', current_database(), '300000 years'); end $$;
set local role panopticon;
select results_eq(
  $$ select user_agent from admin.active_sessions where user_id in (tap.id('ann'), tap.id('cid')) order by 1 $$,
  $$ values ('Firefox'), ('Lynx') $$,
  'and reads one past 100 years as 100 years, as the API does'
);
reset role;
do $$ begin execute format('alter database %I reset app.settings.session_idle_timeout', current_database()); end $$;
reset timezone;

/* A message whose delivery job ended without delivering it or giving it up (the job failed on an
   error the worker did not expect, or a DBA cancelled it) waits for nothing: its job still names
   it, but no job runs again. It was counted pending, and retrying once tried, its age growing. */
insert into app.outbox (topic, payload, created_at, attempts, last_error)
values ('mail.tap_two', '{}', now() - interval '2 hours', 1, '421 try later'), ('mail.tap_two', '{}', now() - interval '1 hour', 0, null);
-- procrastinate's functions name their tables without a schema.
select set_config('search_path', 'jobs, ' || current_setting('search_path'), true);
select jobs.procrastinate_finish_job_v1(j.id, 'failed', false)
  from jobs.procrastinate_jobs j join app.outbox o on j.lock = 'outbox:' || o.id
 where o.topic = 'mail.tap_two' and o.attempts = 1;
select jobs.procrastinate_cancel_job_v1(j.id, false, false)
  from jobs.procrastinate_jobs j join app.outbox o on j.lock = 'outbox:' || o.id
 where o.topic = 'mail.tap_two' and o.attempts = 0;
reset search_path;
set local role panopticon;
select results_eq(
  $$ select pending, retrying, unsent, oldest_pending_age from admin.outbox_health where topic = 'mail.tap_two' $$,
  $$ values (0::bigint, 0::bigint, 2::bigint, null::interval) $$,
  'a message whose job failed or was cancelled without delivering it is unsent, not pending: no job will try it again'
);
reset role;

select * from finish();
rollback;
