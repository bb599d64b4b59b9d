/*
 * Prefixed, time-ordered ids made in the database: `usr_01j9zq4m6b3k8t0e5v7x2c9nfa`.
 *
 * After the prefix and `_` come 26 characters of lower-case Crockford base32 (alphabet
 * 0123456789abcdefghjkmnpqrstvwxyz), 130 bits: two zero bits, 48 bits of unix time in
 * milliseconds, then 80 random bits from pg_strong_random (pgcrypto's gen_random_bytes). The
 * first character is therefore 0-7, and ids sort by creation time under collate "C", so a
 * primary key on them grows at its right edge like a sequence does.
 *
 * Speed is the point of the layout below (bench/ids.py measures it against gen_random_uuid()):
 * - app.gen_id is a one-expression SQL function with no SET clause, so the planner inlines it
 *   into the caller's query; a constant prefix is then validated once, at plan time.
 * - It reads the clock and the random source once each and hands both to app.id_body, which
 *   is PL/pgSQL only because it must read each of them many times, and IMMUTABLE (it is a
 *   pure function of its arguments) so that PL/pgSQL takes no snapshot for it.
 * - app.id_body encodes with lookup tables (app.crockford_pairs, app.crockford_bytes) that the
 *   planner folds into constants once per session; each lookup yields ASCII codes already
 *   shifted into place, so eight characters are OR-ed into one bigint and sent as bytes.
 * - No SET search_path (it costs more than a whole id): functions are named with their schema;
 *   operators and types are built-ins, and pg_catalog is searched first (with search_path = ''
 *   too, as in our definer functions) unless a session deliberately lists it later.
 */

/* Lookup tables, built once per session when the planner folds these immutable calls. */
create function app.crockford_pairs(shift integer, entries integer default 1024) returns bigint[]
language sql immutable strict parallel safe
return (
  select pg_catalog.format('[0:%s]=%s', entries - 1, pg_catalog.array_agg(
           (pg_catalog.ascii(pg_catalog.substr(alphabet, i / 32 + 1, 1))::bigint << (shift + 8))
           | (pg_catalog.ascii(pg_catalog.substr(alphabet, i % 32 + 1, 1))::bigint << shift)
           order by i))::bigint[]
    from (values ('0123456789abcdefghjkmnpqrstvwxyz'::text)) as a (alphabet),
         pg_catalog.generate_series(0, entries - 1) as i
);

comment on function app.crockford_pairs(integer, integer) is
  'Indexed 0..entries-1 (entries <= 1024) by ten bits: the ASCII codes of their two '
  'Crockford base32 digits, shifted left by `shift` bits.';

create function app.crockford_bytes(shift integer) returns bigint[]
language sql immutable strict parallel safe
return (
  select pg_catalog.format('[0:255]=%s', pg_catalog.array_agg(
           pg_catalog.ascii(pg_catalog.substr(alphabet, i % 32 + 1, 1))::bigint << shift
           order by i))::bigint[]
    from (values ('0123456789abcdefghjkmnpqrstvwxyz'::text)) as a (alphabet),
         pg_catalog.generate_series(0, 255) as i
);

comment on function app.crockford_bytes(integer) is
  'Indexed 0..255 by a byte: the ASCII code of the Crockford base32 digit of its low five '
  'bits, shifted left by `shift` bits.';

/* The 26 characters. Bytes 0-7 of the result are one bigint, 8-15 the next, and so on; a
   random byte gives a character through its low five bits (256 = 8 x 32, so uniformly).
   The range check is free: the first table has 256 entries, so a unix_ms outside 0..2^48-1
   indexes past it (or below it) and the result is null; an IF statement would slow every id. */
create function app.id_body(unix_ms bigint, random bytea) returns text
language plpgsql immutable strict parallel safe
as $$
begin
  return pg_catalog.encode(
       pg_catalog.int8send(
           (app.crockford_pairs(48, 256))[unix_ms >> 40]
         | (app.crockford_pairs(32))[unix_ms >> 30 & 1023]
         | (app.crockford_pairs(16))[unix_ms >> 20 & 1023]
         | (app.crockford_pairs(0))[unix_ms >> 10 & 1023])
    || pg_catalog.int8send(
           (app.crockford_pairs(48))[unix_ms & 1023]
         | (app.crockford_bytes(40))[pg_catalog.get_byte(random, 0)]
         | (app.crockford_bytes(32))[pg_catalog.get_byte(random, 1)]
         | (app.crockford_bytes(24))[pg_catalog.get_byte(random, 2)]
         | (app.crockford_bytes(16))[pg_catalog.get_byte(random, 3)]
         | (app.crockford_bytes(8))[pg_catalog.get_byte(random, 4)]
         | (app.crockford_bytes(0))[pg_catalog.get_byte(random, 5)])
    || pg_catalog.int8send(
           (app.crockford_bytes(56))[pg_catalog.get_byte(random, 6)]
         | (app.crockford_bytes(48))[pg_catalog.get_byte(random, 7)]
         | (app.crockford_bytes(40))[pg_catalog.get_byte(random, 8)]
         | (app.crockford_bytes(32))[pg_catalog.get_byte(random, 9)]
         | (app.crockford_bytes(24))[pg_catalog.get_byte(random, 10)]
         | (app.crockford_bytes(16))[pg_catalog.get_byte(random, 11)]
         | (app.crockford_bytes(8))[pg_catalog.get_byte(random, 12)]
         | (app.crockford_bytes(0))[pg_catalog.get_byte(random, 13)])
    || pg_catalog.int2send((
           (app.crockford_bytes(8))[pg_catalog.get_byte(random, 14)]
         | (app.crockford_bytes(0))[pg_catalog.get_byte(random, 15)])::smallint),
    'escape');
end
$$;

comment on function app.id_body(bigint, bytea) is
  'The 26 Crockford base32 characters of an id: unix_ms (0..2^48-1, else null) in ten, then '
  'the low five bits of each of the first 16 bytes of `random`.';

/* Raised from an expression: SQL has no RAISE, so the bad-prefix branch of gen_id calls this. */
create function app.raise_invalid_id_prefix(prefix text) returns text
language plpgsql volatile parallel safe
as $$
begin
  raise exception 'invalid id prefix: %', coalesce(pg_catalog.quote_literal(prefix), 'null')
    using errcode = '22023',
          hint = 'An id prefix is 1 to 8 lower-case ASCII letters, such as usr.';
end
$$;

comment on function app.raise_invalid_id_prefix(text) is
  'Raises invalid_parameter_value (22023) for an id prefix that app.gen_id refuses.';

/* The generator. Inlined by the planner: keep it one expression, no SET, not strict, not
   SECURITY DEFINER, and read each volatile input once. */
create function app.gen_id(prefix text) returns text
language sql volatile parallel safe
return case
  when pg_catalog.textregexeq(prefix, '^[a-z]{1,8}$')
    then prefix || '_' || app.id_body(
      pg_catalog.floor(pg_catalog.date_part('epoch', pg_catalog.clock_timestamp()) * 1000)::bigint,
      extensions.gen_random_bytes(16))
  else app.raise_invalid_id_prefix(prefix)
end;

comment on function app.gen_id(text) is
  'A new id, `<prefix>_<26 Crockford base32 characters>`: 48 bits of unix milliseconds, then '
  '80 random bits, so ids sort by creation time. The prefix is 1 to 8 lower-case letters '
  '(else 22023).';

/* Reading the time back, for people and tests; not on any hot path. */
create function app.id_time(id text) returns timestamptz
language plpgsql immutable strict parallel safe
as $$
declare
  alphabet constant text := '0123456789abcdefghjkmnpqrstvwxyz';
  body constant text := pg_catalog.substr(id, pg_catalog.strpos(id, '_') + 1);
  unix_ms bigint := 0;
begin
  if not pg_catalog.textregexeq(id, '^[a-z]{1,8}_[0-7][0-9a-hjkmnp-tv-z]{25}$') then
    raise exception 'not an id: %', pg_catalog.quote_literal(id)
      using errcode = '22P02';
  end if;
  for i in 1..10 loop
    unix_ms := unix_ms * 32 + pg_catalog.strpos(alphabet, pg_catalog.substr(body, i, 1)) - 1;
  end loop;
  /* Whole days, then seconds within the day: exact to the millisecond for every 48-bit time,
     where to_timestamp(unix_ms / 1000.0) drifts once float8 runs out of digits. */
  return (timestamp '1970-01-01' + pg_catalog.make_interval(
            days => (unix_ms / 86400000)::integer,
            secs => (unix_ms % 86400000) / 1000.0)) at time zone 'UTC';
end
$$;

comment on function app.id_time(text) is
  'When an id was made (to the millisecond), read from its first ten base32 characters; '
  '22P02 if it is not an id.';

/* One domain per kind of id. The length test comes first because it is nearly free; with it,
   the pattern needs no counted repetition, which PostgreSQL's regex engine makes slow. */
create domain app.user_id as text collate "C"
  constraint user_id_shape check (
    octet_length(value) = 30 and value ~ '^usr_[0-7][0-9a-hjkmnp-tv-z]*$');
comment on domain app.user_id is
  'A user''s id: usr_ and 26 Crockford base32 characters (see app.gen_id).';

create domain app.org_id as text collate "C"
  constraint org_id_shape check (
    octet_length(value) = 30 and value ~ '^org_[0-7][0-9a-hjkmnp-tv-z]*$');
comment on domain app.org_id is
  'An organization''s id: org_ and 26 Crockford base32 characters (see app.gen_id).';

create domain app.membership_id as text collate "C"
  constraint membership_id_shape check (
    octet_length(value) = 30 and value ~ '^mem_[0-7][0-9a-hjkmnp-tv-z]*$');
comment on domain app.membership_id is
  'A membership''s id: mem_ and 26 Crockford base32 characters (see app.gen_id).';

create domain app.invitation_id as text collate "C"
  constraint invitation_id_shape check (
    octet_length(value) = 30 and value ~ '^inv_[0-7][0-9a-hjkmnp-tv-z]*$');
comment on domain app.invitation_id is
  'An invitation''s id: inv_ and 26 Crockford base32 characters (see app.gen_id).';

create domain app.session_id as text collate "C"
  constraint session_id_shape check (
    octet_length(value) = 30 and value ~ '^ses_[0-7][0-9a-hjkmnp-tv-z]*$');
comment on domain app.session_id is
  'A session''s id: ses_ and 26 Crockford base32 characters (see app.gen_id).';

create domain app.event_id as text collate "C"
  constraint event_id_shape check (
    octet_length(value) = 30 and value ~ '^evt_[0-7][0-9a-hjkmnp-tv-z]*$');
comment on domain app.event_id is
  'An event''s id: evt_ and 26 Crockford base32 characters (see app.gen_id).';
