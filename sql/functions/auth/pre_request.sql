/*
 * PostgREST's db-pre-request hook: runs at the start of every API request, in its transaction,
 * as web_anon. It must stay SECURITY INVOKER: a definer function may not `set role`.
 *
 * 1. CSRF: a request that may change state (any method but GET, HEAD, OPTIONS) must send
 *    Content-Type application/json, and its Origin, when sent (or Sec-Fetch-Site cross-site),
 *    must be one of app.settings.allowed_origins; else 403 auth.csrf. A browser cannot send
 *    such a request cross-site without a CORS preflight, which PostgREST does not grant.
 * 2. Identity: the token comes from the cookie named app.settings.session_cookie (default
 *    blossom_session) or the x-blossom-session header; a valid session sets app.user_id and
 *    app.session_id for the transaction and switches to `authenticated`. Anything else stays
 *    web_anon, and functions that need a user answer 401 auth.not_signed_in.
 */
create function auth.pre_request() returns void
language plpgsql volatile
as $$
declare
  v_method text := nullif(pg_catalog.current_setting('request.method', true), '');
  v_headers jsonb := coalesce(nullif(pg_catalog.current_setting('request.headers', true), '')::jsonb, '{}');
  v_cookies jsonb := coalesce(nullif(pg_catalog.current_setting('request.cookies', true), '')::jsonb, '{}');
  v_origin text := v_headers ->> 'origin';
  v_token text;
  v_identity record;
begin
  perform pg_catalog.set_config('app.user_id', '', true);
  perform pg_catalog.set_config('app.session_id', '', true);

  if v_method is not null and v_method not in ('GET', 'HEAD', 'OPTIONS') then
    if pg_catalog.lower(pg_catalog.btrim(pg_catalog.split_part(coalesce(v_headers ->> 'content-type', ''), ';', 1)))
       <> 'application/json' then
      perform auth.raise_error(403, 'auth.csrf', 'Requests that change state must send Content-Type: application/json.');
    end if;
    if (v_origin is not null or v_headers ->> 'sec-fetch-site' = 'cross-site')
       and not auth.origin_allowed(v_origin) then
      perform auth.raise_error(403, 'auth.csrf', 'Requests from this origin are not allowed.');
    end if;
  end if;

  v_token := coalesce(nullif(v_cookies ->> auth.setting('session_cookie', 'blossom_session'), ''),
                      nullif(v_headers ->> 'x-blossom-session', ''));
  if v_token is null then
    return;
  end if;
  select i.user_id, i.session_id into v_identity from auth.session_identity(v_token) i;
  if v_identity.session_id is null then
    return;
  end if;
  perform pg_catalog.set_config('app.user_id', v_identity.user_id, true);
  perform pg_catalog.set_config('app.session_id', v_identity.session_id, true);
  set local role authenticated;
end
$$;

comment on function auth.pre_request() is
  'PostgREST db-pre-request hook: refuses cross-site writes (403 auth.csrf), then establishes the caller from the session token.';
