/*
 * Settings come from GUCs named app.settings.<name>: PostgREST sets them on every request from
 * its config (postgrest.conf: app.settings.* = "$(BLOSSOM_...)"), and `alter database ... set
 * app.settings.<name> = ...` sets them for every other connection. Unset or '' means the default.
 */
create function auth.setting(p_name text, p_default text) returns text
language sql stable parallel safe
return coalesce(nullif(pg_catalog.current_setting('app.settings.' || p_name, true), ''), p_default);

comment on function auth.setting(text, text) is
  'The setting app.settings.<name>, or the default when it is unset or empty.';

/* Origins allowed to make state-changing requests: app.settings.allowed_origins, space or comma separated. */
create function auth.origin_allowed(p_origin text) returns boolean
language sql stable parallel safe
return coalesce(p_origin, '') <> ''
  and p_origin = any (pg_catalog.regexp_split_to_array(
        pg_catalog.btrim(auth.setting('allowed_origins', '')), '[\s,]+'));

comment on function auth.origin_allowed(text) is
  'Whether an Origin header value is in app.settings.allowed_origins (exact match, e.g. https://app.example.com).';
