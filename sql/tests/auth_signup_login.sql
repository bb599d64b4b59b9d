/* Sign-up and login as the edge calls them: validation, uniqueness, failures, rate limits, audit. */
begin;
select plan(33);
set local app.settings.bcrypt_cost = '4';

set local role edge;

/* Sign-up */
select ok(
  (select (r -> 'user' ->> 'email') = 'Alice@Example.com' and (r -> 'session' ->> 'token') ~ '^[A-Za-z0-9_-]{43}$'
     from auth.signup('Alice@Example.com', 'correct horse battery', 'Alice', '192.0.2.1', 'tap') r),
  'sign-up keeps the email as given and returns a 43-character token');
select throws_ok($$ select auth.signup('alice@EXAMPLE.com', 'correct horse battery', 'Other', null, null) $$,
  'PGRST', '{"code" : "auth.email_taken", "message" : "An account with this email already exists.", "details" : null, "hint" : null}',
  'the same email in another case is taken');
select throws_ok(format($$ select auth.signup(%L, 'correct horse battery', 'X', null, null) $$, e),
  'PGRST', '{"code" : "auth.invalid_email", "message" : "That is not a valid email address.", "details" : null, "hint" : null}',
  format('%s is not a valid email', left(e, 40)))
  from unnest(array['no-at-sign', 'two@@example.com', 'space @example.com', 'nodot@example',
                    $q$x'; drop table app.users; --@example.com$q$, repeat('a', 250) || '@example.com', '']) e;
select throws_ok($$ select auth.signup(null, 'correct horse battery', 'X', null, null) $$,
  'PGRST', '{"code" : "auth.invalid_email", "message" : "An email address is required.", "details" : null, "hint" : null}',
  'an email is required');
select throws_ok($$ select auth.signup('bob@example.com', 'short', 'Bob', null, null) $$,
  'PGRST', '{"code" : "auth.weak_password", "message" : "The password must have at least 10 characters.", "details" : null, "hint" : null}',
  'sign-up refuses a short password');
select throws_ok($$ select auth.signup('bob@example.com', repeat('p', 1024 * 1024) || 'q', 'Bob', null, null) $$,
  'PGRST', '{"code" : "auth.weak_password", "message" : "The password must have at most 1000 bytes.", "details" : null, "hint" : null}',
  'sign-up refuses a 1 MB password');
select throws_ok($$ select auth.signup('bob@example.com', 'correct horse battery', e'\t', null, null) $$,
  'PGRST', null, 'sign-up refuses a blank display name');
select lives_ok($$ select auth.signup('bob@example.com', 'correct horse battery', $q$Robert'); drop table app.users; --$q$, null, null) $$,
  'an SQL-looking display name is stored as text');

/* Login */
select is((select r ->> 'ok' from auth.login('ALICE@example.COM', 'correct horse battery', '192.0.2.1', 'tap') r),
  'true', 'login compares the email case-insensitively');
select is(auth.login('alice@example.com', 'wrong password!', '192.0.2.1', 'tap'),
  '{"ok": false, "code": "auth.invalid_credentials"}', 'a wrong password is refused as invalid credentials');
select is(auth.login('nobody@example.com', 'correct horse battery', '192.0.2.1', 'tap'),
  '{"ok": false, "code": "auth.invalid_credentials"}', 'an unknown email gets exactly the same answer');
select is(auth.login($q$' or 1=1 --$q$, $q$' or '1'='1$q$, '192.0.2.1', 'tap'),
  '{"ok": false, "code": "auth.invalid_credentials"}', 'SQL-looking credentials are just wrong credentials');
select is(auth.login(null, null, null, null),
  '{"ok": false, "code": "auth.invalid_credentials"}', 'missing credentials are wrong credentials');

reset role;
select is((select count(*)::int from app.rate_limit_hits where kind = 'login.email' and key = 'alice@example.com'), 1,
  'the failed login was recorded although the login failed');
select is((select count(*)::int from app.audit_events where action = 'auth.login_failed'), 4,
  'every failed login is audited');
select is((select count(*)::int from app.audit_events where action in ('auth.signup', 'auth.login')), 3,
  'sign-ups and logins are audited');
select is_empty($$ select from app.audit_events where details::text ~* 'horse|password' $$,
  'the audit trail holds no password');
select is((select count(*)::int from app.sessions), 3, 'each sign-up and login made a session');
select is_empty($$ select from app.sessions s, app.users u where s.token_hash::text ~ 'tap' $$,
  'sessions store a hash, not a token');

/* Rate limits: 10 failures per 15 minutes per email; a success clears the email's failures. */
set local role edge;
select is((select count(*)::int from generate_series(1, 9) i
            where auth.login('alice@example.com', 'wrong password!', ('198.51.100.' || i)::inet, 'tap') ->> 'code'
                  = 'auth.invalid_credentials'),
  9, 'nine more failures from other addresses are answered invalid credentials');
select is((select r ->> 'code' from auth.login('alice@example.com', 'correct horse battery', '203.0.113.9', 'tap') r),
  'auth.rate_limited', 'after 10 failures even the right password is refused for 15 minutes');
select ok((select (r ->> 'retry_after')::int between 1 and 900
             from auth.login('alice@example.com', 'correct horse battery', '203.0.113.9', 'tap') r),
  'the refusal says how many seconds to wait');
reset role;
update app.rate_limit_hits set at = at - interval '16 minutes' where key = 'alice@example.com';
set local role edge;
select is((select r ->> 'ok' from auth.login('alice@example.com', 'correct horse battery', '203.0.113.9', 'tap') r),
  'true', 'the window slides: failures older than 15 minutes no longer count');
reset role;
select is((select count(*)::int from app.rate_limit_hits where kind = 'login.email' and key = 'alice@example.com'), 0,
  'a successful login clears the email''s failures');

/* ... and 10 per 15 minutes per client address, whatever the emails. */
set local role edge;
select is((select count(*)::int from generate_series(1, 10) i
            where auth.login('user' || i || '@example.com', 'wrong password!', '192.0.2.77', 'tap') ->> 'ok' = 'false'),
  10, 'ten failures for ten emails from one address');
select is((select r ->> 'code' from auth.login('bob@example.com', 'correct horse battery', '192.0.2.77', 'tap') r),
  'auth.rate_limited', 'an address with 10 failures is refused');
select is((select r ->> 'ok' from auth.login('bob@example.com', 'correct horse battery', '192.0.2.78', 'tap') r),
  'true', 'another address is not');

select * from finish();
rollback;
