/*
 * Settings come from GUCs named app.settings.<name>: PostgREST sets them on every request from
 * its config (postgrest.conf: app.settings.* = "$(BLOSSOM_...)"), and `alter database ... set
 * app.settings.<name> = ...` sets them for every other connection. Unset or '' means the default.
 *
 * A setting that is a number or an interval is read by its type (util.integer_setting,
 * util.limit_setting, util.interval_setting, and the database's own), never cast where it is
 * used: a value not of its type is the operator's mistake, which no caller can mend, and a cast
 * failed with Postgres's 22P02 or 22007, which PostgREST answers 400 as if the caller had sent
 * the value, naming no setting. A whole number past a setting's bounds counts as the nearest of
 * them; an interval has no bound below that works (a session idle for no time at all is dead
 * when made), so one that is not positive is refused.
 */
create function util.setting(p_name text, p_default text) returns text
language sql stable parallel safe
return coalesce(nullif(pg_catalog.current_setting('app.settings.' || p_name, true), ''), p_default);

comment on function util.setting(text, text) is
  'The setting app.settings.<name>, or the default when it is unset or empty.';

/* 500: the server's fault, and not one that passes (a 503's Retry-After would have clients ask
   again every second until an operator mends it). */
create function util.refuse_setting(p_name text, p_value text, p_kind text) returns void
language plpgsql stable parallel safe
as $$
begin
  perform util.raise_error(500, 'server.invalid_setting',
    pg_catalog.format('app.settings.%s must be %s, not %L', p_name, p_kind, p_value));
end
$$;

comment on function util.refuse_setting(text, text, text) is
  'Refuses the value of the setting app.settings.<name>, which is not of its kind (a whole number, a positive interval), naming both. Errors: 500 server.invalid_setting.';

/* Digits with a sign and blanks around them, as Postgres reads an integer (its blanks are
   ASCII's); any number of them, taken as the nearest integer. */
create function util.setting_as_integer(p_name text, p_value text) returns integer
language plpgsql stable strict parallel safe
as $$
declare
  v_digits text := pg_catalog.btrim(p_value, E' \t\n\r\f\x0b');
begin
  if v_digits !~ '^[+-]?[0-9]+$' then
    perform util.refuse_setting(p_name, p_value, 'a whole number');
  end if;
  return least(greatest(v_digits::numeric, -2147483648), 2147483647)::integer;
end
$$;

comment on function util.setting_as_integer(text, text) is
  'The value of the setting app.settings.<name> as a whole number (past an integer''s range, its nearest end); null for null. Errors: 500 server.invalid_setting.';

/* Positive, as Postgres reads an interval; at most 100 years, since an instant past the last
   Postgres holds (300,000 years on) made each call that adds it to the time fail, 22008.
   Parallel unsafe, as is what calls it: its exception block is a subtransaction, which a
   parallel worker may not start. */
create function util.setting_as_interval(p_name text, p_value text) returns interval
language plpgsql stable strict parallel unsafe
as $$
declare
  v_interval interval;
begin
  begin
    v_interval := p_value::interval;
  exception when data_exception then
    v_interval := null;
  end;
  if v_interval is null or extract(epoch from v_interval) <= 0 then
    perform util.refuse_setting(p_name, p_value, 'a positive interval');
  end if;
  return least(v_interval, interval '100 years');
end
$$;

comment on function util.setting_as_interval(text, text) is
  'The value of the setting app.settings.<name> as a positive interval, at most 100 years; null for null. Errors: 500 server.invalid_setting.';

create function util.integer_setting(p_name text, p_default integer) returns integer
language sql stable parallel safe
return coalesce(util.setting_as_integer(p_name, util.setting(p_name, null)), p_default);

comment on function util.integer_setting(text, integer) is
  'The whole-number setting app.settings.<name>, or the default. Errors: 500 server.invalid_setting.';

/* A limit that operators may change per database (alter database ... set app.settings.<name>). */
create function util.limit_setting(p_name text, p_default integer) returns integer
language sql stable parallel safe
return greatest(util.integer_setting(p_name, p_default), 1);

comment on function util.limit_setting(text, integer) is
  'The whole-number setting app.settings.<name> (at least 1), or the default. Errors: 500 server.invalid_setting.';

/* Inlined where it is called, so that an unset one costs no call of util.setting_as_interval
   (strict): the pre-request's session lookup reads the idle timeout. A set one costs its call,
   exception block included: some 2 µs a request. */
create function util.interval_setting(p_name text, p_default interval) returns interval
language sql stable parallel unsafe
return coalesce(util.setting_as_interval(p_name, util.setting(p_name, null)), p_default);

comment on function util.interval_setting(text, interval) is
  'The interval setting app.settings.<name> (positive, at most 100 years), or the default. Errors: 500 server.invalid_setting.';

/* The value the database is configured with (alter database ... set app.settings.<name>), which
   no session can change: what a definer function decides on for others by. A role that logs in
   may `set app.settings.<name>` in its own session, or give it as a connection option, and
   util.setting reads that; pipeline.purge_auth, with the idle timeout at 0, deleted every live
   session. */
create function util.database_setting(p_name text, p_default text) returns text
language sql stable parallel safe
return coalesce(
  (select nullif(pg_catalog.substr(c.setting, pg_catalog.length('app.settings.' || p_name || '=') + 1), '')
     from pg_catalog.pg_db_role_setting d
     join pg_catalog.pg_database db on db.oid = d.setdatabase
    cross join lateral pg_catalog.unnest(d.setconfig) as c(setting)
    where db.datname = pg_catalog.current_database() and d.setrole = 0
      and pg_catalog.starts_with(c.setting, 'app.settings.' || p_name || '=')),
  p_default);

comment on function util.database_setting(text, text) is
  'The database''s own app.settings.<name> (alter database ... set), whatever the session set; or the default when it is unset or empty.';

create function util.database_limit_setting(p_name text, p_default integer) returns integer
language sql stable parallel safe
return greatest(coalesce(util.setting_as_integer(p_name, util.database_setting(p_name, null)), p_default), 1);

comment on function util.database_limit_setting(text, integer) is
  'The database''s own whole-number app.settings.<name> (at least 1), whatever the session set; or the default. Errors: 500 server.invalid_setting.';

create function util.database_interval_setting(p_name text, p_default interval) returns interval
language sql stable parallel unsafe
return coalesce(util.setting_as_interval(p_name, util.database_setting(p_name, null)), p_default);

comment on function util.database_interval_setting(text, interval) is
  'The database''s own interval app.settings.<name> (positive, at most 100 years), whatever the session set; or the default. Errors: 500 server.invalid_setting.';
