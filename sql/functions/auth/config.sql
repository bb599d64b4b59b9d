/* Origins allowed to make state-changing requests: app.settings.allowed_origins, space or comma separated. */
create function auth.origin_allowed(p_origin text) returns boolean
language sql stable parallel safe
return coalesce(p_origin, '') <> ''
  and p_origin = any (pg_catalog.regexp_split_to_array(
        pg_catalog.btrim(util.setting('allowed_origins', '')), '[\s,]+'));

comment on function auth.origin_allowed(text) is
  'Whether an Origin header value is in app.settings.allowed_origins (exact match, e.g. https://app.example.com).';
