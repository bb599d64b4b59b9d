/* Sign-up and login as the edge calls them: validation, uniqueness, failures, audit, session
   rotation. The limits on both are in auth_limits.sql. */
begin;
select plan(46);
set local app.settings.bcrypt_cost = '4';

set local role edge;

/* Sign-up */
select ok(
  (select (r -> 'user' ->> 'email') = 'Alice@Example.com' and (r -> 'session' ->> 'token') ~ '^[A-Za-z0-9_-]{43}$'
     from auth.signup('Alice@Example.com', 'correct horse battery', 'Alice', '192.0.2.1', 'tap') r),
  'sign-up keeps the email as given and returns a 43-character token');
select is(auth.signup('alice@EXAMPLE.com', 'correct horse battery', 'Other', null, null),
  '{"ok": false, "code": "auth.email_taken", "status": 409, "message": "An account with this email already exists."}',
  'the same email in another case is taken (answered, not raised, so that the attempt is counted)');
select throws_ok(format($$ select auth.signup(%L, 'correct horse battery', 'X', null, null) $$, e),
  'PGRST', '{"code" : "auth.invalid_email", "message" : "That is not a valid email address.", "details" : null, "hint" : null}',
  format('%s is not a valid email', left(e, 40)))
  from unnest(array['no-at-sign', 'two@@example.com', 'space @example.com', 'nodot@example',
                    $q$x'; drop table app.users; --@example.com$q$, repeat('a', 250) || '@example.com', '',
                    -- shapes no mail can be sent to (the worker's email package refuses them):
                    -- a dot first, last or twice in the local part, an encoded word
                    '.dot@example.com', 'dot.@example.com', 'a..b@example.com', '=?utf-8?b?QUFB?=@example.com',
                    repeat('a', 65) || '@example.com',
                    -- a host that is an address, not a name (no top-level domain is all digits)
                    'x@127.0.0.1', 'a@0x7f.1', 'x@example.123']) e;
reset role;
select ok(app.mailable_email('first.last+tag{x}!#$%&''*/?^_`|~-=@sub.example.com') is not null,
  'a local part of dot-separated words of the characters RFC 5322 allows is an address mail can be sent to');
set local role edge;
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
  '{"ok": false, "code": "auth.invalid_credentials", "status": 401, "message": "The email or the password is not right."}',
  'a wrong password is refused as invalid credentials');
select is(auth.login('nobody@example.com', 'correct horse battery', '192.0.2.1', 'tap'),
  auth.login('alice@example.com', 'wrong password!', '192.0.2.2', 'tap'), 'an unknown email gets exactly the same answer');
select is(auth.login($q$' or 1=1 --$q$, $q$' or '1'='1$q$, '192.0.2.1', 'tap') ->> 'code',
  'auth.invalid_credentials', 'SQL-looking credentials are just wrong credentials');
select is(auth.login(null, null, null, null) ->> 'code',
  'auth.invalid_credentials', 'missing credentials are wrong credentials');

reset role;
select results_eq(
  $$ select kind, key from app.rate_limit_hits
      where key like '%alice@example.com' and kind <> 'login.success' order by kind, key $$,
  $$ values ('login.email', 'alice@example.com'), ('login.email', 'alice@example.com'),
            ('login.pair', '192.0.2.1 alice@example.com'), ('login.pair', '192.0.2.2 alice@example.com') $$,
  'each failed login was recorded against the email and the (address, email) pair, although it failed');
select is((select count(*)::int from app.audit_events where action = 'auth.login_failed'), 5,
  'every failed login is audited');
select is(auth.login(e'\x1b[2J\x1b]0;pwned\x07Hunter2-Secret!', 'x', '192.0.2.9', 'tap') ->> 'code',
  'auth.invalid_credentials', 'a login whose email is no address (terminal escapes, a password typed there) fails');
/* A bag: the events of one transaction share their time, and ids made in one millisecond are in
   no set order. */
select bag_eq(
  $$ select target from app.audit_events where action = 'auth.login_failed' $$,
  $$ values ('alice@example.com'), ('nobody@example.com'), ('alice@example.com'), (null), (null), (null) $$,
  'a failed login''s audit names the address typed only when it is one: what else was typed is not kept');
select is_empty($$ select from app.rate_limit_hits where key ~* 'hunter2' $$,
  'nor is it a key of the failed-login counts, which are kept a day: no account has it for its address');
select is((select count(*)::int from app.rate_limit_hits where kind = 'login.addr' and key = '192.0.2.9'), 1,
  'the failure still counts against the address that tried it');
select is((select count(*)::int from app.audit_events where action in ('auth.signup', 'auth.login')), 3,
  'sign-ups and logins are audited');
select is_empty($$ select from app.audit_events where details::text ~* 'horse|password' $$,
  'the audit trail holds no password');
select is((select count(*)::int from app.sessions), 3, 'each sign-up and login made a session');
select is_empty($$ select from app.sessions s, app.users u where s.token_hash::text ~ 'tap' $$,
  'sessions store a hash, not a token');

/* An address typed or filled in with spaces around it (a phone's keyboard adds one after a
   suggested word) is the address: invitations took it so, sign-up refused it and login said
   the password was wrong. */
set local role edge;
select is((select r ->> 'ok' from auth.login(' alice@example.com  ', 'correct horse battery', '192.0.2.1', 'tap') r),
  'true', 'login takes the email without the spaces around it');
select is((select r -> 'user' ->> 'email' from auth.signup('  Dana@example.com ', 'correct horse battery', 'Dana', '192.0.2.1', 'tap') r),
  'Dana@example.com', 'sign-up keeps the email without the spaces around it');
select lives_ok($$ select auth.request_password_reset(' DANA@example.com ', '192.0.2.1') $$,
  'a reset is asked for with spaces around the email');
reset role;
select is((select count(*)::int from app.outbox where topic = 'mail.password_reset' and payload ->> 'to' = 'Dana@example.com'),
  1, 'a reset asked for with spaces around the email is sent');

/* Rotation: a sign-in ends the session the browser had, so that a session planted in it
   before (session fixation) is worth nothing after. */
select tap.fix('planted_token', auth.signup('mallory@example.com', 'correct horse battery', 'Mallory', null, null)
                                -> 'session' ->> 'token');
set local role edge;
select is(auth.login('alice@example.com', 'correct horse battery', '192.0.2.1', 'tap',
                     tap.id('planted_token')) ->> 'ok', 'true', 'a login with another session in the browser succeeds');
select throws_ok($$ select auth.session_info(tap.id('planted_token')) $$, 'PGRST', null,
  'and the session the browser had is over');
select is(auth.signup('dora@example.com', 'correct horse battery', 'Dora', null, null,
                      auth.login('alice@example.com', 'correct horse battery') -> 'session' ->> 'token') ->> 'ok', 'true',
  'a sign-up in a browser that had a session succeeds');
reset role;
select is((select count(*)::int from app.sessions s join app.users u on u.id = s.user_id
            where lower(u.email) = 'alice@example.com' and s.revoked_at is null), 4,
  'and ends that session too (Alice''s earlier logins stay)');

select * from finish();
rollback;
