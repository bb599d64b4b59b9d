/*
 * Sessions through PostgREST's eyes: the pre-request reads the cookie or header, refuses
 * cross-site writes, and makes the caller `authenticated` only for a valid session.
 * A request is simulated as PostgREST makes it: request.* settings, then role web_anon.
 */
begin;
select plan(46);
set local app.settings.bcrypt_cost = '4';

/* A request as PostgREST runs it: settings, role web_anon, then the pre-request. PostgREST
   runs each request in a transaction of its own, whose local settings start empty. */
create function pg_temp.request(p_method text, p_cookies jsonb, p_headers jsonb default '{}') returns void
language plpgsql as $$
begin
  reset role;
  perform set_config(setting, '', true)
     from unnest(array['app.user_id', 'app.session_id', 'response.headers']) setting;
  perform set_config('request.method', p_method, true);
  perform set_config('request.headers', (jsonb_build_object('content-type', 'application/json') || p_headers)::text, true);
  perform set_config('request.cookies', coalesce(p_cookies, '{}')::text, true);
  set local role web_anon;
  perform auth.pre_request();
end
$$;
create function pg_temp.cookie(p_token text) returns jsonb language sql
return jsonb_build_object('blossom_session', p_token);

select set_config('tap.alice', auth.signup('alice@example.com', 'correct horse battery', 'Alice', '192.0.2.1', 'tap')
                                -> 'session' ->> 'token', true) is not null as signed_up \gset
select set_config('tap.alice2', auth.login('alice@example.com', 'correct horse battery', '192.0.2.1', 'tap')
                                 -> 'session' ->> 'token', true) is not null as logged_in \gset
select set_config('tap.bob', auth.signup('bob@example.com', 'correct horse battery', 'Bob', null, null)
                              -> 'session' ->> 'token', true) is not null as bob \gset

select id as alice_id from app.users where email = 'alice@example.com' \gset
select id as bob_session from app.sessions where token_hash = util.token_hash(current_setting('tap.bob')) \gset

/* Identity */
select pg_temp.request('GET', pg_temp.cookie(current_setting('tap.alice')));
select is(current_user::text, 'authenticated', 'a valid session cookie makes the caller authenticated');
select is(current_setting('app.user_id'), :'alice_id',
  'and sets app.user_id to the session''s user');
select is((api.me()).email, 'alice@example.com', 'api.me answers the signed-in user');
select pg_temp.request('GET', null, jsonb_build_object('x-blossom-session', current_setting('tap.bob')));
select is((api.me()).display_name, 'Bob', 'the x-blossom-session header works for non-browser clients');
set local app.settings.session_cookie = 'other_name';
select pg_temp.request('GET', jsonb_build_object('other_name', current_setting('tap.alice')));
select is((api.me()).display_name, 'Alice', 'the cookie name comes from app.settings.session_cookie');
set local app.settings.session_cookie = '__Host-blossom_session';
select pg_temp.request('GET', jsonb_build_object('__Host-blossom_session', current_setting('tap.alice')));
select is((api.me()).display_name, 'Alice', 'a __Host- cookie name works (the default wherever the cookie is Secure)');
select pg_temp.request('GET', pg_temp.cookie(current_setting('tap.alice')));
select is(current_user::text, 'web_anon', 'a cookie under another name is not read');
reset role;
set local app.settings.session_cookie = '';

select pg_temp.request('GET', null);
select is(current_user::text, 'web_anon', 'without a cookie the caller stays web_anon');
select is(current_setting('app.user_id'), '', 'and has no user');
select throws_ok($$ select api.me() $$, 'PGRST',
  '{"code" : "auth.not_signed_in", "message" : "Sign in first.", "details" : null, "hint" : null}',
  'api.me refuses an anonymous caller with auth.not_signed_in');
select throws_ok($$ select api.update_profile('Mallory') $$, 'PGRST', null,
  'api.update_profile refuses an anonymous caller');
select pg_temp.request('GET', pg_temp.cookie('AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA'));
select is(current_user::text, 'web_anon', 'an unknown token leaves the caller anonymous');
select pg_temp.request('GET', pg_temp.cookie($q$' or 1=1; --$q$));
select is(current_user::text, 'web_anon', 'an SQL-looking token leaves the caller anonymous');
select throws_ok($$ select * from app.sessions $$, '42501', null, 'web_anon cannot read the sessions table');
select is((select count(*)::int from auth.presented_session), 0,
  'and the pre-request''s view of it shows nothing without a token');
select pg_temp.request('GET', pg_temp.cookie(current_setting('tap.bob')));
select is(array(select session_id from auth.presented_session), array[:'bob_session'],
  'with a token, exactly the session of that token');

/* CSRF */
select throws_ok(
  $$ select pg_temp.request('POST', null, '{"content-type": "application/x-www-form-urlencoded"}') $$, 'PGRST',
  '{"code" : "auth.csrf", "message" : "Requests that change state must send Content-Type: application/json.", "details" : null, "hint" : null}',
  'a form-encoded POST is refused as CSRF');
select throws_ok($$ select pg_temp.request('POST', null, '{"content-type": "text/plain"}') $$, 'PGRST', null,
  'a text/plain POST is refused');
select throws_ok($$ select pg_temp.request('POST', null, '{"content-type": ""}') $$, 'PGRST', null,
  'a POST without a content type is refused');
select throws_ok($$ select pg_temp.request('POST', null, '{"origin": "https://evil.example"}') $$, 'PGRST',
  '{"code" : "auth.csrf", "message" : "Requests from this origin are not allowed.", "details" : null, "hint" : null}',
  'a POST from an origin not allowed is refused');
select throws_ok($$ select pg_temp.request('POST', null, '{"sec-fetch-site": "cross-site"}') $$, 'PGRST', null,
  'a cross-site POST without an Origin is refused');
set local app.settings.allowed_origins = 'https://app.example.com, https://admin.example.com';
select lives_ok($$ select pg_temp.request('POST', null, '{"origin": "https://admin.example.com", "content-type": "application/json; charset=utf-8"}') $$,
  'a JSON POST from an allowed origin passes');
select lives_ok($$ select pg_temp.request('GET', null, '{"origin": "https://evil.example", "content-type": "text/plain"}') $$,
  'a GET is never refused as CSRF (GET runs read-only)');
reset role;

/* Profile */
select pg_temp.request('POST', pg_temp.cookie(current_setting('tap.alice')));
select is((api.update_profile('  Alice Liddell ')).display_name, 'Alice Liddell', 'update_profile trims and saves the name');
select throws_ok($$ select api.update_profile(repeat('n', 101)) $$, 'PGRST',
  '{"code" : "auth.invalid_display_name", "message" : "The display name must have 1 to 100 characters and no control characters.", "details" : null, "hint" : null}',
  'a 101-character name is refused');

/* Revocation, expiry, idle timeout */
reset role;
set local role edge;
select is(auth.logout(current_setting('tap.alice2')), true, 'logout revokes the session');
select is(auth.logout(current_setting('tap.alice2')), false, 'a second logout finds nothing to revoke');
select pg_temp.request('GET', pg_temp.cookie(current_setting('tap.alice2')));
select is(current_user::text, 'web_anon', 'a revoked session is refused on the next request');
select pg_temp.request('GET', pg_temp.cookie(current_setting('tap.alice')));
select is(current_user::text, 'authenticated', 'the user''s other session still works');

reset role;
update app.sessions set expires_at = now() - interval '1 second' where user_id = (select id from app.users where email = 'bob@example.com');
select pg_temp.request('GET', pg_temp.cookie(current_setting('tap.bob')));
select is(current_user::text, 'web_anon', 'an expired session is refused');
reset role;
update app.sessions set expires_at = now() + interval '1 day', last_seen_at = now() - interval '8 days'
 where user_id = (select id from app.users where email = 'bob@example.com');
select pg_temp.request('GET', pg_temp.cookie(current_setting('tap.bob')));
select is(current_user::text, 'web_anon', 'a session idle for over 7 days is refused');

/* Reads: PostgREST runs GET requests read-only, so the edge marks their sessions used. */
reset role;
update app.sessions set last_seen_at = now() - interval '2 days'
 where token_hash = util.token_hash(current_setting('tap.alice'));
set local role edge;
select is(auth.touch_session(current_setting('tap.alice')), true, 'the edge marks the session of a read as used');
select is(auth.touch_session(current_setting('tap.bob')), false, 'an idle session is not revived');
select is(auth.touch_session('nonsense'), false, 'a malformed token is no session');
reset role;
select results_eq(
  $$ select u.email::text, s.last_seen_at = now() from app.sessions s join app.users u on u.id = s.user_id
      where s.token_hash in (util.token_hash(current_setting('tap.alice')), util.token_hash(current_setting('tap.bob')))
      order by u.email $$,
  $$ values ('alice@example.com', true), ('bob@example.com', false) $$,
  'the valid session was used now; the idle one stays idle');

/* session_info and logout_all, as the edge calls them */
reset role;
set local role edge;
select is(auth.session_info(current_setting('tap.alice')) -> 'user' ->> 'display_name', 'Alice Liddell',
  'session_info answers the user of a valid token');
select throws_ok($$ select auth.session_info(current_setting('tap.bob')) $$, 'PGRST',
  '{"code" : "auth.not_signed_in", "message" : "Sign in first.", "details" : null, "hint" : null}',
  'session_info refuses an expired session');
select throws_ok($$ select auth.logout_all('nonsense') $$, 'PGRST', null, 'logout_all needs a valid session');
select is(auth.logout_all(current_setting('tap.alice')), 1, 'logout_all revokes every open session of the user');
select throws_ok($$ select auth.session_info(current_setting('tap.alice')) $$, 'PGRST', null,
  'after logout_all the session is gone');

/* A read-only request cannot mark its session as used: the pre-request says it is due, in a
   response header that the edge acts on (auth.touch_session) and takes off. */
reset role;
select set_config('tap.carol', auth.signup('carol@example.com', 'correct horse battery', 'Carol', null, null)
                               -> 'session' ->> 'token', true) is not null as carol \gset
update app.sessions set last_seen_at = now() - interval '2 days'
 where token_hash = util.token_hash(current_setting('tap.carol'));
select pg_temp.request('POST', pg_temp.cookie(current_setting('tap.carol')));
reset role;
select results_eq(
  $$ select s.last_seen_at = now(), current_setting('response.headers') from app.sessions s
      where s.token_hash = util.token_hash(current_setting('tap.carol')) $$,
  $$ values (true, '') $$,
  'a writing request marks its session as used itself and says nothing');

/* Wrong roles */
reset role;
set local role web_anon;
select throws_ok($$ select auth.login('alice@example.com', 'correct horse battery', null, null) $$, '42501', null,
  'web_anon cannot call the login function');
reset role;
set local role authenticated;
select throws_ok($$ select auth.signup('eve@example.com', 'correct horse battery', 'Eve', null, null) $$, '42501', null,
  'authenticated cannot call the sign-up function');
reset role;

/* Last, as PostgREST runs a GET: in a read-only transaction. */
update app.sessions set last_seen_at = now() - interval '2 days'
 where token_hash = util.token_hash(current_setting('tap.carol'));
set local transaction_read_only = on;
select pg_temp.request('GET', pg_temp.cookie(current_setting('tap.carol')));
select is(current_setting('response.headers'), '[{"X-Blossom-Session-Stale": "1"}]',
  'a read on a session last marked over a minute ago is answered with X-Blossom-Session-Stale');
select pg_temp.request('GET', pg_temp.cookie(current_setting('tap.alice2')));
select is(current_setting('response.headers'), '', 'a read with a revoked session says nothing');
select pg_temp.request('GET', pg_temp.cookie('AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA'));
select is(current_setting('response.headers'), '', 'nor does a read with a made-up token');
reset role;

select * from finish();
rollback;
