/*
 * Auth structure: the tables, their Row Level Security, who may execute which auth function,
 * and the shape of the definer functions.
 */
begin;
select plan(26);

select has_table('app', t, format('table app.%s exists', t))
  from unnest(array['users', 'user_secrets', 'sessions', 'devices', 'rate_limit_hits', 'password_resets',
                    'outbox', 'audit_events']) as t;

select columns_are('app', 'sessions',
  array['id', 'user_id', 'token_hash', 'created_at', 'last_seen_at', 'expires_at', 'revoked_at',
        'user_agent', 'client_addr', 'device_token_hash'],
  'sessions keep a token hash, times, user agent, address and device, never the token');
select columns_are('app', 'password_resets',
  array['token_hash', 'user_id', 'created_at', 'expires_at', 'used_at', 'client_addr'],
  'password resets keep only the token hash');
select columns_are('app', 'outbox',
  array['id', 'topic', 'payload', 'created_at', 'delivered_at', 'attempts', 'last_attempt_at', 'last_error', 'given_up_at', 'request_id'],
  'the outbox has topic, payload and delivery times');
select columns_are('app', 'devices', array['token_hash', 'user_id', 'created_at', 'last_used_at'],
  'devices keep only the device token''s hash, its account and times');
select hasnt_column('app', 'users', 'password_hash', 'users carry no password hash; app.user_secrets does');

select is_empty(
  $$ select c.relname from pg_class c
      where c.oid in ('app.users'::regclass, 'app.user_secrets'::regclass, 'app.sessions'::regclass, 'app.devices'::regclass,
                      'app.rate_limit_hits'::regclass, 'app.password_resets'::regclass,
                      'app.outbox'::regclass, 'app.audit_events'::regclass)
        and not exists (select from pg_policy p where p.polrelid = c.oid) $$,
  'every auth table has at least one policy');

select is(
  (select array_agg(p.oid::regprocedure::text order by p.oid::regprocedure::text) from pg_proc p
    where p.pronamespace = 'auth'::regnamespace and has_function_privilege('edge', p.oid, 'execute')),
  array['auth.change_password(text,text,text,inet,text,text)', 'auth.confirm_password_reset(text,text,inet,text,text)',
        'auth.login(text,text,inet,text,text,text)', 'auth.logout(text,inet)', 'auth.logout_all(text,inet)',
        'auth.request_password_reset(text,inet)', 'auth.resend_email_verification(text,inet)', 'auth.session_info(text)',
        'auth.signup(text,text,text,inet,text,text,text)', 'auth.touch_session(text)', 'auth.verify_email(text,inet)'],
  'the edge may execute exactly the auth functions its routes and its proxy call');

select is(
  (select array_agg(p.oid::regprocedure::text order by p.oid::regprocedure::text) from pg_proc p
    where p.pronamespace in ('auth'::regnamespace, 'util'::regnamespace)
      and has_function_privilege('web_anon', p.oid, 'execute')),
  array['auth.origin_allowed(text)', 'auth.pre_request()', 'auth.presented_token()',
        'auth.refuse_cross_site_write()', 'auth.session_cookie_name()', 'auth.session_is_dead(app.sessions)',
        'auth.session_is_dead_after(app.sessions,interval)', 'auth.touch_session(text)',
        'util.interval_setting(text,interval)', 'util.raise_error(integer,text,text,text,jsonb)',
        'util.refuse_setting(text,text,text)', 'util.setting(text,text)', 'util.setting_as_interval(text,text)'],
  'web_anon may execute only the pre-request and the helpers it calls');

select is(
  (select array_agg(p.oid::regprocedure::text order by p.oid::regprocedure::text) from pg_proc p
    where p.pronamespace in ('auth'::regnamespace, 'util'::regnamespace)
      and has_function_privilege('authenticated', p.oid, 'execute')),
  (select array_agg(p.oid::regprocedure::text order by p.oid::regprocedure::text) from pg_proc p
    where p.pronamespace in ('auth'::regnamespace, 'util'::regnamespace)
      and has_function_privilege('web_anon', p.oid, 'execute')),
  'a signed-in caller may execute in auth and util exactly what an anonymous one may: a grant to authenticated alone is caught too');

select ok(not has_function_privilege('edge', 'api.me()', 'execute'), 'the edge cannot call the API functions');
select ok(not has_function_privilege('web_anon', 'pipeline.purge_auth()', 'execute'), 'web_anon cannot purge sessions');
select ok(has_function_privilege('pipeline', 'pipeline.purge_auth()', 'execute'), 'the pipeline can purge sessions');
select ok(has_function_privilege('web_anon', 'api.me()', 'execute'), 'web_anon may call api.me, to be told 401');

select is(
  (select prosecdef from pg_proc where oid = 'auth.pre_request()'::regprocedure), false,
  'the pre-request runs with invoker rights, so that it can set the role');
select is(
  (select c.relowner::regrole::text from pg_class c where c.oid = 'auth.presented_session'::regclass), 'session_reader',
  'the session lookup is a view owned by session_reader');

select is_empty(
  $$ select p.oid::regprocedure from pg_proc p
      where p.pronamespace in ('auth'::regnamespace, 'api'::regnamespace, 'pipeline'::regnamespace)
        and p.prosecdef and p.proowner <> 'blossom_owner'::regrole
        and p.proowner <> 'metrics_reader'::regrole
        and p.oid <> 'pipeline.deleted_organizations()'::regprocedure $$,
  'every definer function belongs to blossom_owner (but the pipeline''s two of metrics_reader: sql/tests/pipeline.sql, and org_purger''s list of deleted organizations: sql/tests/roles.sql)');

select is(
  (select array_agg(p.proname::text order by p.proname) from pg_proc p
    where p.pronamespace = 'auth'::regnamespace and p.prosecdef),
  array['change_password', 'confirm_password_reset', 'login', 'logout', 'logout_all',
        'request_password_reset', 'resend_email_verification', 'session_info', 'signup', 'touch_session',
        'verify_email'],
  'the definer functions of auth are the edge''s entry points (touch_session the pre-request''s too)');

select index_is_unique('app', 'users', 'users_email_lower_key', 'emails are unique case-insensitively');

select * from finish();
rollback;
