/* Password rules and hashing: bcrypt over a pre-hash, configurable cost, the 72-byte limit. */
begin;
select plan(26);
-- Before anything is called: a call's expression is compiled once per transaction, tracked or not.
set local track_functions = 'all';

set local app.settings.bcrypt_cost = '';
select is(auth.bcrypt_cost(), 12, 'bcrypt cost is 12 by default');
set local app.settings.bcrypt_cost = '4';
select is(auth.bcrypt_cost(), 4, 'app.settings.bcrypt_cost lowers it');
set local app.settings.bcrypt_cost = '1';
select is(auth.bcrypt_cost(), 4, 'the cost never goes under bcrypt''s minimum of 4');
set local app.settings.bcrypt_cost = '4';

select matches(auth.hash_password('correct horse battery'), '^\$2a\$04\$', 'hashes are bcrypt with the configured cost');
select ok(auth.password_matches('correct horse battery', auth.hash_password('correct horse battery')),
  'a password matches its own hash');
select ok(not auth.password_matches('correct horse batterY', auth.hash_password('correct horse battery')),
  'a different password does not match');
select ok(not auth.password_matches('anything at all', null), 'no hash (unknown account) never matches');
select isnt(auth.hash_password('correct horse battery'), auth.hash_password('correct horse battery'),
  'every hash has its own salt');

select ok(
  not auth.password_matches(repeat('a', 72) || 'first ending', auth.hash_password(repeat('a', 72) || 'second ending')),
  'two passwords sharing their first 72 bytes do not both work (pre-hash)');
select is(length(auth.password_prehash(repeat('x', 1000))), 44, 'the pre-hash is 44 characters, under bcrypt''s 72 bytes');

/* One password however a keyboard or an operating system spells its characters: é is one code
   point (U+00E9) as most type it, two (e, U+0301) as some input methods and copies from macOS
   file names give it; the fullwidth ｐ of an East Asian input method is p. Passwords are
   normalised (NFKC) before they are hashed or compared; those hashed before, as they were typed,
   still match as typed. */
select ok(auth.password_matches(E'cafe\u0301 au lait 42', auth.hash_password(E'caf\u00e9 au lait 42')),
  'a password typed decomposed matches the one set composed');
select ok(auth.password_matches(E'caf\u00e9 au lait 42', auth.hash_password(E'cafe\u0301 au lait 42')),
  'and the other way round');
select ok(auth.password_matches(E'\uff50assword of mine', auth.hash_password('password of mine')),
  'a fullwidth letter is its letter');
select ok(auth.password_matches(E'cafe\u0301 au lait 42',
            extensions.crypt(auth.password_prehash(E'cafe\u0301 au lait 42'), extensions.gen_salt('bf', 4))),
  'a hash of a password set as it was typed, before passwords were normalised, still matches it typed so');

/* The time of a wrong password must not tell whether the email has an account. An unknown
   email runs a bcrypt at the current cost; a hash made before app.settings.bcrypt_cost was raised
   is of a lower cost, and comparing with it alone took a fraction of that time (270 ms against
   470 ms at costs 12 and 13). A wrong password for it runs the bcrypts that make up the
   difference, one of each cost from the hash's to the current one (2^c - 2^stored in all), which
   the calls of crypt count (track_functions). */
set local app.settings.bcrypt_cost = '4';
select tap.fix('old_hash', auth.hash_password('correct horse battery'));
set local app.settings.bcrypt_cost = '9';
create temporary table crypt_calls_before as
  select coalesce(sum(f.calls), 0) as calls from pg_stat_xact_user_functions f
   where f.schemaname = 'extensions' and f.funcname = 'crypt';
select ok(not auth.password_matches('a wrong password', tap.id('old_hash')),
  'a wrong password does not match a hash made at a lower cost');
select is((select sum(f.calls) from pg_stat_xact_user_functions f
            where f.schemaname = 'extensions' and f.funcname = 'crypt') - (select calls from crypt_calls_before),
          6::numeric, 'and runs the comparison and a bcrypt of each cost from 4 to 8');
select is((select sum(2 ^ c)::integer from unnest(auth.bcrypt_padding(tap.id('old_hash'))) c) + 2 ^ 4,
          2 ^ 9, 'which together cost what one bcrypt at the current cost 9 does, as an unknown email''s');
select is(auth.bcrypt_padding(auth.hash_password('correct horse battery')), '{}'::integer[],
  'a hash of the current cost needs none');
set local app.settings.bcrypt_cost = '4';

select throws_ok($$ select auth.check_password('short') $$, 'PGRST',
  '{"code" : "auth.weak_password", "message" : "The password must have at least 10 characters.", "details" : null, "hint" : null}',
  'a password under 10 characters is weak');
select throws_ok($$ select auth.check_password(null) $$, 'PGRST', null, 'no password is weak');
select throws_ok($$ select auth.check_password(repeat('b', 1024 * 1024)) $$, 'PGRST',
  '{"code" : "auth.weak_password", "message" : "The password must have at most 1000 bytes.", "details" : null, "hint" : null}',
  'a 1 MB password is refused');
select throws_ok($$ select auth.check_password(repeat('é', 501)) $$, 'PGRST', null,
  'the limit is in bytes: 501 two-byte characters are too many');
select throws_ok($$ select auth.check_password(repeat('z', 12)) $$, 'PGRST',
  '{"code" : "auth.weak_password", "message" : "The password must not repeat one character.", "details" : null, "hint" : null}',
  'one repeated character is weak');
/* The rules are the normalised password's, the one that is hashed: e and a combining accent five
   times are ten code points as typed, but the password is ééééé, five of one character, which
   the composed ééééé opens as well. */
select throws_ok($$ select auth.check_password(repeat(E'e\u0301', 5)) $$, 'PGRST',
  '{"code" : "auth.weak_password", "message" : "The password must have at least 10 characters.", "details" : null, "hint" : null}',
  'ten code points typed that normalise to five characters are too short a password');
select throws_ok($$ select auth.check_password(repeat(E'e\u0301', 10)) $$, 'PGRST',
  '{"code" : "auth.weak_password", "message" : "The password must not repeat one character.", "details" : null, "hint" : null}',
  'é typed decomposed ten times repeats one character');
select lives_ok($$ select auth.check_password($q$'; drop table app.users; --$q$) $$,
  'an SQL-looking password is just a password');

select * from finish();
rollback;
