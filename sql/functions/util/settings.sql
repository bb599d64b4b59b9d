/*
 * Settings come from GUCs named app.settings.<name>: PostgREST sets them on every request from
 * its config (postgrest.conf: app.settings.* = "$(BLOSSOM_...)"), and `alter database ... set
 * app.settings.<name> = ...` sets them for every other connection. Unset or '' means the default.
 */
create function util.setting(p_name text, p_default text) returns text
language sql stable parallel safe
return coalesce(nullif(pg_catalog.current_setting('app.settings.' || p_name, true), ''), p_default);

comment on function util.setting(text, text) is
  'The setting app.settings.<name>, or the default when it is unset or empty.';

/* A limit that operators may change per database (alter database ... set app.settings.<name>). */
create function util.limit_setting(p_name text, p_default integer) returns integer
language sql stable parallel safe
return greatest(util.setting(p_name, p_default::text)::integer, 1);

comment on function util.limit_setting(text, integer) is
  'The whole-number setting app.settings.<name> (at least 1), or the default.';

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
