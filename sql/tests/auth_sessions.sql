/*
 * Sessions through PostgREST's eyes: the pre-request reads the cookie or header, refuses
 * cross-site writes, and makes the caller `authenticated` only for a valid session.
 * A request is simulated as PostgREST makes it (tap.request): request.* settings, role web_anon,
 * then the pre-request.
 */
begin;
select plan(57);
set local app.settings.bcrypt_cost = '4';

select tap.fix('alice_token', auth.signup('alice@example.com', 'correct horse battery', 'Alice', '192.0.2.1', 'tap')
                              -> 'session' ->> 'token');
select tap.fix('alice_other_token', auth.login('alice@example.com', 'correct horse battery', '192.0.2.1', 'tap')
                                    -> 'session' ->> 'token');
select tap.fix('bob_token', auth.signup('bob@example.com', 'correct horse battery', 'Bob', null, null)
                            -> 'session' ->> 'token');

select tap.fix('alice', id) from app.users where email = 'alice@example.com';
select tap.fix('bob_session', id) from app.sessions where token_hash = util.token_hash(tap.id('bob_token'));

/* Identity */
select tap.request('GET', tap.cookie(tap.id('alice_token')));
select is(current_user::text, 'authenticated', 'a valid session cookie makes the caller authenticated');
select is(current_setting('app.user_id'), tap.id('alice'),
  'and sets app.user_id to the session''s user');
select is((api.me()).email, 'alice@example.com', 'api.me answers the signed-in user');
select tap.request('GET', null, jsonb_build_object('x-blossom-session', tap.id('bob_token')));
select is((api.me()).display_name, 'Bob', 'the x-blossom-session header works for non-browser clients');
select tap.request('GET', jsonb_build_object('__Host-blossom_session', tap.id('alice_token')));
select is((api.me()).display_name, 'Alice', 'the cookie is __Host-blossom_session by default (Secure)');
select tap.request('GET', jsonb_build_object('blossom_session', tap.id('alice_token')));
select is(current_user::text, 'web_anon', 'and the same cookie without the __Host- prefix is not read');
set local app.settings.session_cookie = 'other_name';
select tap.request('GET', jsonb_build_object('__Host-other_name', tap.id('alice_token')));
select is((api.me()).display_name, 'Alice', 'the name comes from app.settings.session_cookie, __Host- prefixed');
set local app.settings.cookie_insecure = '1';
select tap.request('GET', jsonb_build_object('other_name', tap.id('alice_token')));
select is((api.me()).display_name, 'Alice', 'without the prefix only where the cookie is not Secure (local development)');
reset role;
set local app.settings.session_cookie = '';
set local app.settings.cookie_insecure = '';

select tap.request('GET', null);
select is(current_user::text, 'web_anon', 'without a cookie the caller stays web_anon');
select is(current_setting('app.user_id'), '', 'and has no user');
select throws_ok($$ select api.me() $$, 'PGRST',
  '{"code" : "auth.not_signed_in", "message" : "Sign in first.", "details" : null, "hint" : null}',
  'api.me refuses an anonymous caller with auth.not_signed_in');
select throws_ok($$ select api.update_profile('Mallory') $$, 'PGRST', null,
  'api.update_profile refuses an anonymous caller');
select tap.request('GET', tap.cookie('AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA'));
select is(current_user::text, 'web_anon', 'an unknown token leaves the caller anonymous');
select tap.request('GET', tap.cookie($q$' or 1=1; --$q$));
select is(current_user::text, 'web_anon', 'an SQL-looking token leaves the caller anonymous');
select throws_ok($$ select * from app.sessions $$, '42501', null, 'web_anon cannot read the sessions table');
select is((select count(*)::int from auth.presented_session), 0,
  'and the pre-request''s view of it shows nothing without a token');
select tap.request('GET', tap.cookie(tap.id('bob_token')));
select is(array(select session_id::text from auth.presented_session), array[tap.id('bob_session')],
  'with a token, exactly the session of that token');

/* CSRF */
select throws_ok(
  $$ select tap.request('POST', null, '{"content-type": "application/x-www-form-urlencoded"}') $$, 'PGRST',
  '{"code" : "auth.csrf", "message" : "Requests that change state must send Content-Type: application/json.", "details" : null, "hint" : null}',
  'a form-encoded POST is refused as CSRF');
select throws_ok($$ select tap.request('POST', null, '{"content-type": "text/plain"}') $$, 'PGRST', null,
  'a text/plain POST is refused');
select throws_ok($$ select tap.request('POST', null, '{"content-type": ""}') $$, 'PGRST', null,
  'a POST without a content type is refused');
select throws_ok($$ select tap.request('POST', null, '{"origin": "https://evil.example"}') $$, 'PGRST',
  '{"code" : "auth.csrf", "message" : "Requests from this origin are not allowed.", "details" : null, "hint" : null}',
  'a POST from an origin not allowed is refused');
select throws_ok($$ select tap.request('POST', null, '{"sec-fetch-site": "cross-site"}') $$, 'PGRST', null,
  'a cross-site POST without an Origin is refused');
set local app.settings.allowed_origins = 'https://app.example.com, https://admin.example.com';
select lives_ok($$ select tap.request('POST', null, '{"origin": "https://admin.example.com", "content-type": "application/json; charset=utf-8"}') $$,
  'a JSON POST from an allowed origin passes');
select lives_ok($$ select tap.request('GET', null, '{"origin": "https://evil.example", "content-type": "text/plain"}') $$,
  'a GET is never refused as CSRF (GET runs read-only)');
reset role;

/* Profile */
select tap.request('POST', tap.cookie(tap.id('alice_token')));
select is((api.update_profile('  Alice Liddell ')).display_name, 'Alice Liddell', 'update_profile trims and saves the name');
select throws_ok($$ select api.update_profile(repeat('n', 101)) $$, 'PGRST',
  '{"code" : "auth.invalid_display_name", "message" : "The display name must have 1 to 100 characters, not all blank, and no control characters.", "details" : null, "hint" : null}',
  'a 101-character name is refused');
/* A caller whose account row is not there (deleted by an operator after the pre-request read
   the session) is no signed-in user: the update found nothing, and must not answer success. */
reset role;
select tap.fix('ghost', app.gen_id('usr'));
select is(tap.call('ghost', $$ select api.update_profile('Ghost') $$), '401 auth.not_signed_in',
  'update_profile of an account that is gone is 401 auth.not_signed_in, not an empty success');

/* Revocation, expiry, idle timeout */
reset role;
set local role edge;
select is(auth.logout(tap.id('alice_other_token')), true, 'logout revokes the session');
select is(auth.logout(tap.id('alice_other_token')), false, 'a second logout finds nothing to revoke');
select tap.request('GET', tap.cookie(tap.id('alice_other_token')));
select is(current_user::text, 'web_anon', 'a revoked session is refused on the next request');
select tap.request('GET', tap.cookie(tap.id('alice_token')));
select is(current_user::text, 'authenticated', 'the user''s other session still works');

reset role;
update app.sessions set expires_at = now() - interval '1 second' where user_id = (select id from app.users where email = 'bob@example.com');
select tap.request('GET', tap.cookie(tap.id('bob_token')));
select is(current_user::text, 'web_anon', 'an expired session is refused');
reset role;
update app.sessions set expires_at = now() + interval '1 day', last_seen_at = now() - interval '8 days'
 where user_id = (select id from app.users where email = 'bob@example.com');
select tap.request('GET', tap.cookie(tap.id('bob_token')));
select is(current_user::text, 'web_anon', 'a session idle for over 7 days is refused');
/* The idle timeout is elapsed time, whatever the session's time zone: where the clocks went
   forward 13 hours ago (a made-up zone, XST5XDT, its summer time begun then), 7 days back on the
   wall clock were 167 hours, and a session used 167.5 hours ago was refused (and where they went
   back, one used 168.5 hours ago taken); the purge and admin.active_sessions read in their own. */
reset role;
update app.sessions set last_seen_at = now() - interval '167 hours 30 minutes'
 where user_id = (select id from app.users where email = 'bob@example.com');
select set_config('timezone', pg_catalog.format('XST5XDT,%s/%s,%s/0', extract(doy from t)::int - 1, extract(hour from t)::int,
                                                (extract(doy from t)::int + 99) % 365), true)
  from (select (now() - interval '12 hours') at time zone 'UTC' - interval '5 hours' as t) switch;
select tap.request('GET', tap.cookie(tap.id('bob_token')));
select is(current_user::text, 'authenticated', 'a session idle for 167.5 hours is taken where the clocks went forward meanwhile');
reset role;
reset timezone;
update app.sessions set last_seen_at = now() - interval '8 days'
 where user_id = (select id from app.users where email = 'bob@example.com');

/* Reads: PostgREST runs GET requests read-only, so the edge marks their sessions used. */
reset role;
update app.sessions set last_seen_at = now() - interval '2 days'
 where token_hash = util.token_hash(tap.id('alice_token'));
set local role edge;
select is(auth.touch_session(tap.id('alice_token')), true, 'the edge marks the session of a read as used');
select is(auth.touch_session(tap.id('bob_token')), false, 'an idle session is not revived');
select is(auth.touch_session('nonsense'), false, 'a malformed token is no session');
reset role;
select results_eq(
  $$ select u.email::text, s.last_seen_at = now() from app.sessions s join app.users u on u.id = s.user_id
      where s.token_hash in (util.token_hash(tap.id('alice_token')), util.token_hash(tap.id('bob_token')))
      order by u.email $$,
  $$ values ('alice@example.com', true), ('bob@example.com', false) $$,
  'the valid session was used now; the idle one stays idle');

/* session_info and logout_all, as the edge calls them */
reset role;
set local role edge;
select is(auth.session_info(tap.id('alice_token')) -> 'user' ->> 'display_name', 'Alice Liddell',
  'session_info answers the user of a valid token');
select throws_ok($$ select auth.session_info(tap.id('bob_token')) $$, 'PGRST',
  '{"code" : "auth.not_signed_in", "message" : "Sign in first.", "details" : null, "hint" : null}',
  'session_info refuses an expired session');
select throws_ok($$ select auth.logout_all('nonsense') $$, 'PGRST', null, 'logout_all needs a valid session');
select is(auth.logout_all(tap.id('alice_token')), 1, 'logout_all revokes every open session of the user');
select throws_ok($$ select auth.session_info(tap.id('alice_token')) $$, 'PGRST', null,
  'after logout_all the session is gone');

/* A read-only request cannot mark its session as used: the pre-request says it is due, in a
   response header that the edge acts on (auth.touch_session) and takes off. */
reset role;
select tap.fix('carol_token', auth.signup('carol@example.com', 'correct horse battery', 'Carol', null, null)
                              -> 'session' ->> 'token');
update app.sessions set last_seen_at = now() - interval '2 days'
 where token_hash = util.token_hash(tap.id('carol_token'));
select tap.request('POST', tap.cookie(tap.id('carol_token')));
reset role;
select results_eq(
  $$ select s.last_seen_at = now(), current_setting('response.headers') from app.sessions s
      where s.token_hash = util.token_hash(tap.id('carol_token')) $$,
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

/* The purge (the pipeline's, a definer function) goes by the database's idle timeout, never by
   its caller's: the role pipeline, with app.settings.session_idle_timeout at 0 in its own session,
   deleted every live session. */
set local app.settings.session_idle_timeout = '0';
select lives_ok($$ select pipeline.purge_auth() $$, 'the purge runs with the idle timeout at 0 in the session');
select ok(exists (select from app.sessions where token_hash = util.token_hash(tap.id('carol_token'))),
  'a session in use outlives it: the purge goes by the database''s idle timeout');
reset app.settings.session_idle_timeout;
do $$ begin
  execute format('alter database %I set app.settings.session_idle_timeout = %L', current_database(), '3 days');
end $$;
select is(util.database_setting('session_idle_timeout', '7 days'), '3 days',
  'the database''s own setting is what alter database set');

/* A call that waited for an organization's lock reads its session again (auth.require_live_session):
   that session must be the caller's own. A transaction whose session and user disagree (settings
   made by hand, or by a caller that sets them wrongly) is refused as a revoked session is, and
   changes nothing. */
select tap.fix('dave_token', auth.signup('dave@example.com', 'correct horse battery', 'Dave', null, null)
                             -> 'session' ->> 'token');
select tap.fix('dave', id) from app.users where email = 'dave@example.com';
select tap.fix('dave_session', id) from app.sessions where token_hash = util.token_hash(tap.id('dave_token'));
select tap.fix('carol', id) from app.users where email = 'carol@example.com';
select tap.make_org('acme', '{"carol": "owner", "dave": "owner"}');
select tap.request('POST', tap.cookie(tap.id('carol_token')));
select is(tap.outcome(tap.fill($$ select api.update_organization('{acme}', 'Acme Carol') $$)), 'ok',
  'a call whose session is its caller''s, and live, goes on once it holds the lock');
select tap.request('POST', tap.cookie(tap.id('carol_token')));
select set_config('app.session_id', tap.id('dave_session'), true);
select is(tap.outcome(tap.fill($$ select api.update_organization('{acme}', 'Acme Dave') $$)), '401 auth.not_signed_in',
  'a live session of another user is refused as a revoked one');
select tap.request('POST', tap.cookie(tap.id('carol_token')));
select set_config('app.user_id', tap.id('dave'), true);
select is(tap.outcome(tap.fill($$ select api.update_organization('{acme}', 'Acme Dave') $$)), '401 auth.not_signed_in',
  'as is a caller other than its session''s user');
reset role;
select is((select name from app.organizations where id = tap.id('acme')), 'Acme Carol',
  'and nothing was renamed by the refused calls');

/* Last, as PostgREST runs a GET: in a read-only transaction. */
update app.sessions set last_seen_at = now() - interval '2 days'
 where token_hash = util.token_hash(tap.id('carol_token'));
set local transaction_read_only = on;
select tap.request('GET', tap.cookie(tap.id('carol_token')));
select is(current_setting('response.headers'), '[{"X-Blossom-Session-Stale": "1"}]',
  'a read on a session last marked over a minute ago is answered with X-Blossom-Session-Stale');
select tap.request('GET', tap.cookie(tap.id('alice_other_token')));
select is(current_setting('response.headers'), '', 'a read with a revoked session says nothing');
select tap.request('GET', tap.cookie('AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA'));
select is(current_setting('response.headers'), '', 'nor does a read with a made-up token');
reset role;
-- The mark takes the account's row first (a lock a read-only transaction may not take): none is tried.
select is(auth.touch_session(tap.id('carol_token')), true,
  'in a read-only transaction a session due to be marked is valid still, and left unmarked');

select * from finish();
rollback;
