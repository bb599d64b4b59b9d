/*
 * The limits on guessing passwords, signing up and asking for resets (docs/security.md): each
 * stops an attacker, and none lets an attacker lock the owner out of their own browser.
 * Time passes by moving the counted hits into the past.
 */
begin;
select plan(48);
set local app.settings.bcrypt_cost = '4';

select auth.signup('alice@example.com', 'correct horse battery', 'Alice', '192.0.2.1', 'tap') ->> 'ok' as alice \gset
select auth.signup('bob@example.com', 'correct horse battery', 'Bob', '192.0.2.2', 'tap') ->> 'ok' as bob \gset

/* Login as the edge calls it, from an address, with or without a device token. */
create function pg_temp.login(p_email text, p_password text, p_addr inet, p_device text default null) returns jsonb
language sql as $$ select auth.login(p_email, p_password, p_addr, 'tap', null, p_device) $$;
create function pg_temp.wrong(p_email text, p_addr inet, p_device text default null) returns text
language sql as $$ select pg_temp.login(p_email, 'wrong password!', p_addr, p_device) ->> 'code' $$;
create function pg_temp.later(p_seconds integer) returns void
language sql as $$ update app.rate_limit_hits set at = at - make_interval(secs => p_seconds) $$;
/* Fails p_times from as many new addresses, each after waiting out the account's delay. */
create function pg_temp.fail_patiently(p_email text, p_times integer) returns integer
language plpgsql as $$
declare
  v_failed integer := 0;
begin
  for i in 1..p_times loop
    perform pg_temp.later(coalesce(auth.failed_logins_retry_after(p_email, '203.0.113.250', null), 0));
    if pg_temp.wrong(p_email, ('198.51.101.' || i)::inet) = 'auth.invalid_credentials' then
      v_failed := v_failed + 1;
    end if;
  end loop;
  return v_failed;
end
$$;

/* One address guessing one account: 10 per 15 minutes for the pair. */
select is((select count(*)::int from generate_series(1, 10) where pg_temp.wrong('alice@example.com', '198.51.100.1')
             = 'auth.invalid_credentials'), 10, 'ten wrong passwords from one address are answered invalid credentials');
select is(pg_temp.login('alice@example.com', 'correct horse battery', '198.51.100.1') ->> 'code', 'auth.rate_limited',
  'then that address may not try that account, even with the right password');
select ok((pg_temp.login('alice@example.com', 'correct horse battery', '198.51.100.1') ->> 'retry_after')::int
            between 1 and 900, 'for at most 15 minutes, as the refusal says');
select is(pg_temp.login('alice@example.com', 'correct horse battery', '192.0.2.1') ->> 'ok', 'true',
  'the owner, at their own address, is not locked out by it');
select is(pg_temp.login('bob@example.com', 'correct horse battery', '198.51.100.1') ->> 'ok', 'true',
  'and the attacker''s address may still sign in to another account');

/* Many addresses guessing one account: a growing delay once 20 failed within the hour. */
select is((select count(*)::int from generate_series(2, 10) i
            where pg_temp.wrong('alice@example.com', ('198.51.100.' || i)::inet) = 'auth.invalid_credentials'),
  9, 'nine more addresses try once each (the account''s 19th failure)');
select is(pg_temp.wrong('alice@example.com', '198.51.100.11'), 'auth.invalid_credentials',
  'the 20th failure is still answered');
select is(pg_temp.login('alice@example.com', 'correct horse battery', '203.0.113.1') ->> 'retry_after', '1',
  'after 20 failures of the account, the next try from anywhere new waits 1 second');
select pg_temp.later(2);
select is(pg_temp.wrong('alice@example.com', '198.51.100.12'), 'auth.invalid_credentials', 'then it may try');
select is(pg_temp.login('alice@example.com', 'correct horse battery', '203.0.113.1') ->> 'retry_after', '2',
  'and the delay doubles with every failure');
select is(pg_temp.fail_patiently('alice@example.com', 10), 10, 'ten more failures, each after the delay');
select is(pg_temp.login('alice@example.com', 'correct horse battery', '203.0.113.1') ->> 'retry_after', '900',
  'the delay grows to at most 15 minutes, never to a lock-out');
select pg_temp.later(3600);
select is(pg_temp.login('alice@example.com', 'correct horse battery', '203.0.113.1') ->> 'ok', 'true',
  'an hour later the account''s failures are forgotten');

/* The owner's device: the browser the account signed in from before. */
select tap.fix('device_token', pg_temp.login('alice@example.com', 'correct horse battery', '192.0.2.1') ->> 'device_token');
select matches(tap.id('device_token'), '^[A-Za-z0-9_-]{43}$', 'a login gives the browser a device token');
select is(pg_temp.login('alice@example.com', 'correct horse battery', '192.0.2.1', tap.id('device_token')) ->> 'device_token',
  tap.id('device_token'), 'a known device keeps its token');
select is((select count(*)::int from generate_series(1, 10) where pg_temp.wrong('alice@example.com', '192.0.2.1')
             = 'auth.invalid_credentials'), 10, 'an attacker at the owner''s own address fails 10 times');
select is(pg_temp.login('alice@example.com', 'correct horse battery', '192.0.2.1') ->> 'code', 'auth.rate_limited',
  'which locks that address out of the account, for a browser the account does not know');
select is(pg_temp.login('alice@example.com', 'correct horse battery', '192.0.2.1', tap.id('device_token')) ->> 'ok',
  'true', 'but the owner''s own browser, at the same address, signs in');
select is((select count(*)::int from generate_series(1, 10)
            where pg_temp.wrong('alice@example.com', '192.0.2.1', tap.id('device_token')) = 'auth.invalid_credentials'),
  10, 'the device has its own budget of 10 failures');
select is(pg_temp.login('alice@example.com', 'correct horse battery', '192.0.2.1', tap.id('device_token')) ->> 'code',
  'auth.rate_limited', 'and is then refused too');
select is(pg_temp.login('bob@example.com', 'correct horse battery', '192.0.2.2', tap.id('device_token')) ->> 'ok', 'true',
  'another account''s login from that browser is not');
select is(pg_temp.login('bob@example.com', 'correct horse battery', '192.0.2.2', tap.id('device_token')) ->> 'device_token',
  tap.id('device_token'), 'a browser keeps its one device cookie whichever account signs in: Bob is added to it');
select ok(auth.known_device(tap.id('device_token'), (select id from app.users where email = 'alice@example.com')) is not null,
  'and it stays Alice''s device too, so that signing in to a second account cannot take the owner''s away');

/* One address trying many accounts: 100 failures per 15 minutes. */
select is((select count(*)::int from generate_series(1, 100) i
            where pg_temp.wrong('user' || i || '@example.com', '198.51.100.200') = 'auth.invalid_credentials'),
  100, 'one address fails for 100 emails');
select is(pg_temp.login('bob@example.com', 'correct horse battery', '198.51.100.200') ->> 'code', 'auth.rate_limited',
  'then it may try no account');

/* Sign-ups: per address per hour, and in all per minute; a taken address counts too. */
set local app.settings.signups_per_address_per_hour = '3';
select is(auth.signup('alice@example.com', 'correct horse battery', 'Copy', '198.51.100.30', null) ->> 'code', 'auth.email_taken',
  'a sign-up with a taken email is refused');
select is((select count(*)::int from generate_series(1, 3) i
            where auth.signup('new' || i || '@example.com', 'correct horse battery', 'New', '198.51.100.30', null) ->> 'ok' = 'true'),
  2, 'and counted: only two more sign-ups from that address pass its limit of 3');
select is(auth.signup('new9@example.com', 'correct horse battery', 'New', '198.51.100.30', null) - 'retry_after',
  '{"ok": false, "code": "auth.rate_limited", "status": 429, "message": "Too many sign-ups; try again later."}',
  'a fourth within the hour is refused');
select is(auth.signup('new9@example.com', 'correct horse battery', 'New', '198.51.100.31', null) ->> 'ok', 'true',
  'another address may sign up');
set local app.settings.signups_per_minute = '7';
select is((select count(*)::int from generate_series(60, 69) i
            where auth.signup('alice@example.com', 'correct horse battery', 'M', ('198.51.100.' || i)::inet, null)
                  ->> 'code' = 'auth.email_taken'), 10,
  'sign-ups of a taken email from ten addresses are answered');
select is((select count(*)::int from generate_series(40, 45) i
            where auth.signup('more' || i || '@example.com', 'correct horse battery', 'M', ('198.51.100.' || i)::inet, null)
                  ->> 'code' = 'auth.rate_limited'), 2,
  'but cost no bcrypt and use up nothing of the whole service''s sign-ups per minute, past which every address is refused');

/* Clients by /64: one IPv6 subscriber is one client, as is an IPv4 address however written. */
select results_eq(
  $$ select util.client_key(a) from unnest(array['192.0.2.7', '::ffff:192.0.2.7', '2001:db8:1:2::1', '2001:db8:1:2:ffff::9']::inet[]) a $$,
  $$ values ('192.0.2.7'), ('192.0.2.7'), ('2001:db8:1:2::/64'), ('2001:db8:1:2::/64') $$,
  'an IPv4-mapped address counts as its IPv4 address, and an IPv6 address as its /64');
set local app.settings.signups_per_minute = '1000';
select is((select count(*)::int from generate_series(1, 25) i
            where auth.signup('six' || i || '@example.com', 'correct horse battery', 'M', ('2001:db8:1:2::' || to_hex(i))::inet, null)
                  ->> 'code' = 'auth.rate_limited'), 22,
  'so a /64 has one budget of sign-ups, whichever of its addresses they come from');

/* Sign-ins per account: each is a bcrypt of the few the edge runs at once, a session and an
   audit event. Without a limit, a client with an account of its own signed in 8 times a second,
   and two such clients held every login slot of the edge. */
set local app.settings.logins_per_account_per_hour = '3';
select auth.signup('carol@example.com', 'correct horse battery', 'Carol', '192.0.2.3', 'tap') ->> 'ok' as carol \gset
select is((select count(*)::int from generate_series(1, 3) i
            where pg_temp.login('carol@example.com', 'correct horse battery', ('203.0.113.' || (20 + i))::inet) ->> 'ok' = 'true'),
  3, 'an account signs in as often as its limit of sign-ins an hour');
select is(pg_temp.login('carol@example.com', 'correct horse battery', '203.0.113.30') ->> 'code', 'auth.rate_limited',
  'one more within the hour is refused');
select ok((pg_temp.login('carol@example.com', 'correct horse battery', '203.0.113.30') ->> 'retry_after')::int between 1 and 3600,
  'until the oldest sign-in leaves the hour, as the refusal says');
select is(pg_temp.wrong('carol@example.com', '203.0.113.31'), 'auth.rate_limited',
  'before its password is checked: a wrong one is answered the same, and costs no bcrypt');
select is((select count(*)::int from app.audit_events where action = 'auth.login_failed' and target = 'carol@example.com'), 0,
  'nor is it a failed login');
select is(pg_temp.login('bob@example.com', 'correct horse battery', '203.0.113.30') ->> 'ok', 'true',
  'another account signs in from the same address');
select pg_temp.later(3600);
select is(pg_temp.login('carol@example.com', 'correct horse battery', '203.0.113.30') ->> 'ok', 'true',
  'and the account again an hour later');

/* Resets: an attacker can neither flood the owner's inbox nor block the owner's reset. */
select lives_ok($$ select auth.request_password_reset('alice@example.com', '198.51.100.50') from generate_series(1, 20) $$,
  'twenty reset requests for one account from one address are answered');
select is((select count(*)::int from app.outbox where topic = 'mail.password_reset'), 1,
  'and send one mail: the rest come within 10 minutes of it');
select lives_ok($$ select auth.request_password_reset('alice@example.com', '192.0.2.1') $$,
  'the owner''s own request is answered, not refused (the mail in their inbox is valid an hour)');

/* ... but a mail whose link was spent is no longer in the owner's inbox to use: the owner who
   reset the password by it (or changed it, which spends the links) and is locked out again within
   the 10 minutes gets a new link, after which others' requests again send nothing. */
select lives_ok(format('select auth.confirm_password_reset(%L, %L, null)',
                       tap.mailed_token('mail.password_reset', 'alice@example.com'), 'a forgotten new password'),
  'Alice resets her password by the link she was mailed');
select lives_ok($$ select auth.request_password_reset('alice@example.com', '192.0.2.1') $$,
  'and, having forgotten the new one, asks again within the 10 minutes');
select is((select count(*)::int from app.outbox where topic = 'mail.password_reset'), 2,
  'a new mail goes: the one before carries a spent link');
select lives_ok($$ select auth.request_password_reset('alice@example.com', '198.51.100.51') from generate_series(1, 5) $$,
  'more requests for her account are answered');
select is((select count(*)::int from app.outbox where topic = 'mail.password_reset'), 2,
  'and send nothing: her new link is good');

select * from finish();
rollback;
