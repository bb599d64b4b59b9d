/*
 * Prefixed ids (sql/schema/010_ids.sql): app.gen_id, its encoding, the six id domains and
 * app.id_time. Speed is measured by bench/ids.py, not here.
 */
begin;
select plan(176);

/* The kinds of id, shared by the tests below. */
create temp table id_kinds (domain_name name primary key, prefix text not null) on commit drop;
insert into id_kinds values
  ('user_id', 'usr'), ('org_id', 'org'), ('membership_id', 'mem'),
  ('invitation_id', 'inv'), ('session_id', 'ses'), ('event_id', 'evt');

/* Structure. */
select has_function('app', 'gen_id', array['text'], 'app.gen_id(text) exists');
select function_returns('app', 'gen_id', array['text'], 'text', 'app.gen_id returns text');
select volatility_is('app', 'gen_id', array['text'], 'volatile', 'app.gen_id is volatile');
select results_eq(
  $$ select p.prolang = (select oid from pg_language where lanname = 'sql'),
            p.proconfig is null, p.prosecdef, p.proisstrict
       from pg_proc p where p.oid = 'app.gen_id(text)'::regprocedure $$,
  $$ values (true, true, false, false) $$,
  'app.gen_id can be inlined: plain SQL, no SET clause, not SECURITY DEFINER, not strict');
select matches(
  pg_get_functiondef('app.gen_id(text)'::regprocedure), 'extensions\.gen_random_bytes\(16\)',
  'the random bits come from pgcrypto''s gen_random_bytes, a cryptographic source');
select has_function('app', 'id_time', array['text'], 'app.id_time(text) exists');
select function_returns('app', 'id_time', array['text'], 'timestamp with time zone',
  'app.id_time returns a timestamptz');
select is(t.typcollation, 'pg_catalog."C"'::regcollation::oid,
          format('app.%s compares bytes (collate "C"), so ids sort by time', k.domain_name))
  from id_kinds k join pg_type t on t.oid = format('app.%I', k.domain_name)::regtype;

/* Shape: the prefix, an underscore, 26 Crockford base32 characters, the first of them 0-7. */
select matches(app.gen_id(k.prefix), format('^%s_[0-7][0-9a-hjkmnp-tv-z]{25}$', k.prefix),
               format('a new %s id is %s_ and 26 base32 characters', k.prefix, k.prefix))
  from id_kinds k;
select matches(app.gen_id('a'), '^a_[0-7][0-9a-hjkmnp-tv-z]{25}$',
  'a one-letter prefix is allowed');
select matches(app.gen_id('abcdefgh'), '^abcdefgh_[0-7][0-9a-hjkmnp-tv-z]{25}$',
  'an eight-letter prefix is allowed');

/* Bad prefixes are refused with invalid_parameter_value. */
select throws_ok($$ select app.gen_id('USR') $$, '22023', 'invalid id prefix: ''USR''',
  'an upper-case prefix is refused, and the message names it');
select throws_ok(format('select app.gen_id(%L)', bad), '22023', null,
                 format('%s is refused', description))
  from (values ('', 'an empty prefix'), ('abcdefghi', 'a prefix of nine letters'),
               ('us1', 'a prefix with a digit'), ('us_r', 'a prefix with an underscore'),
               ('usé', 'a prefix with a non-ASCII letter'), (' usr', 'a prefix with a space')
       ) as b (bad, description);
select throws_ok($$ select app.gen_id(null) $$, '22023', 'invalid id prefix: null',
  'a null prefix is refused');
select throws_ok($$ select app.gen_id(p) from (values ('usr'), ('Org')) as v (p) $$, '22023',
  'invalid id prefix: ''Org''', 'a prefix that is not a constant is checked too');

/* The encoding, against answers worked out by hand. */
select is(app.id_body(0, '\x00000000000000000000000000000000'), '00000000000000000000000000',
  'time zero and zero bytes give 26 zeros');
select is(app.id_body(281474976710655, '\xffffffffffffffffffffffffffffffff'),
  '7zzzzzzzzzzzzzzzzzzzzzzzzz',
  'the last 48-bit millisecond and 0xff bytes give 7 then 25 z');
select is(app.id_body(1718000000123, '\x000102030405060708090a0b0c0d0e0f'),
  '01j00cf73v0123456789abcdef',
  'the time is ten base32 digits, each random byte gives the digit of its low five bits');
select is(app.id_body(0, '\x101112131415161718191a1b1c1d1e1f'), '0000000000ghjkmnpqrstvwxyz',
  'the alphabet skips i, l, o and u');
select is(app.id_body(0, '\x20e04060a0c080ff2122232425262728'), '00000000000000000z12345678',
  'only the low five bits of a random byte count');
select is(app.id_body(281474976710656, '\x00000000000000000000000000000000'), null,
  'a time past 48 bits gives no id rather than a wrong one');
select is(app.id_body(-1, '\x00000000000000000000000000000000'), null,
  'a time before 1970 gives no id rather than a wrong one');

/* Each domain takes its own kind of id and null (whether one is required is the column's
   business), and refuses every other kind. */
select lives_ok(format('select app.gen_id(%L)::app.%I', k.prefix, k.domain_name),
                format('app.%s accepts a new %s id', k.domain_name, k.prefix))
  from id_kinds k;
select is(null::app.user_id, null, 'null cast to app.user_id stays null');
select lives_ok(format('select null::app.%I', k.domain_name),
                format('app.%s accepts null, as domains do', k.domain_name))
  from id_kinds k;
select throws_ok(format('select app.gen_id(%L)::app.%I', other.prefix, k.domain_name),
                 '23514', null,
                 format('app.%s refuses %s_ ids', k.domain_name, other.prefix))
  from id_kinds k join id_kinds other on other.prefix <> k.prefix;

/* ... and malformed values of its own kind. */
select throws_ok(format('select %L::app.%I', m.value, k.domain_name), '23514', null,
                 format('app.%s refuses %s', k.domain_name, m.description))
  from id_kinds k,
       lateral (select k.prefix || '_01j00cf73v0123456789abcdef' as good) as g,
       lateral (values
         (upper(g.good), 'an upper-case id'),
         (k.prefix || '_' || upper(substr(g.good, 5)), 'upper-case base32'),
         (left(g.good, 29), 'an id one character short'),
         (g.good || '0', 'an id one character long'),
         (left(g.good, 29) || 'i', 'the letter i'),
         (left(g.good, 29) || 'l', 'the letter l'),
         (left(g.good, 29) || 'o', 'the letter o'),
         (left(g.good, 29) || 'u', 'the letter u'),
         (left(g.good, 28) || 'é', 'a two-byte character in the place of one'),
         (k.prefix || '_8' || substr(g.good, 6), 'a first base32 character over 7'),
         (k.prefix || '-' || substr(g.good, 5), 'a dash for the underscore'),
         (left(g.good, 29) || ' ', 'a trailing space')
       ) as m (value, description);

/* Unique, time-ordered, and the time reads back. */
create temp table many_ids on commit drop as
  select app.gen_id('usr') as id from generate_series(1, 100000);
select is((select count(distinct id) from many_ids), 100000::bigint,
  '100,000 new ids are all different');
select is((select count(distinct substr(id, position, 1)) from many_ids), 32::bigint,
          format('random character %s takes all 32 values', position - 14))
  from generate_series(15, 30) as position;

create temp table later_ids (n integer primary key, id text collate "C" not null) on commit drop;
do $$
begin
  for n in 1..8 loop
    insert into later_ids values (n, app.gen_id('evt'));
    perform pg_sleep(0.002);
  end loop;
end
$$;
select results_eq(
  'select n from later_ids order by id',
  'select n from later_ids order by n',
  'ids made 2 ms apart sort (collate "C") in the order they were made');
select ok((select bool_and(app.id_time(id) < app.id_time(next_id))
             from (select id, lead(id) over (order by n) as next_id from later_ids) as pairs
            where next_id is not null),
  'each of those ids reads back a later time than the one before');

select ok(app.id_time(app.gen_id('usr')) between clock_timestamp() - interval '1 second'
                                             and clock_timestamp() + interval '1 second',
  'a new id reads back the current time');
select is(app.id_time('usr_01j00cf73v0123456789abcdef'), '2024-06-10 06:13:20.123+00'::timestamptz,
  'app.id_time reads the millisecond back');
select is(app.id_time('org_7zzzzzzzzzzzzzzzzzzzzzzzzz'), '10889-08-02 05:31:50.655+00'::timestamptz,
  'app.id_time is exact to the millisecond up to the last 48-bit time');
select throws_ok($$ select app.id_time('usr_01j00cf73v0123456789abcdeI') $$, '22P02', null,
  'app.id_time refuses what is not an id');

/* Definer functions run with search_path = ''; gen_id must not depend on it. */
set local search_path = '';
create temp table made_without_path on commit drop as select app.gen_id('ses') as id;
reset search_path;
select matches((select id from made_without_path), '^ses_[0-7][0-9a-hjkmnp-tv-z]{25}$',
  'app.gen_id works with an empty search_path');

select * from finish();
rollback;
