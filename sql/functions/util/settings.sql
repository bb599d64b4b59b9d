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
