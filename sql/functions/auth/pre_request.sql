/*
 * PostgREST's db-pre-request hook: runs at the start of every API request, in its transaction,
 * as web_anon. It must stay SECURITY INVOKER: a definer function may not `set role`.
 *
 * 1. CSRF: a request that may change state (any method but GET, HEAD, OPTIONS) must send
 *    Content-Type application/json, and its Origin, when sent (or Sec-Fetch-Site cross-site),
 *    must be one of app.settings.allowed_origins; else 403 auth.csrf. A browser cannot send
 *    such a request cross-site without a CORS preflight, which PostgREST does not grant.
 * 2. Identity: the token comes from the cookie named app.settings.session_cookie (default
 *    blossom_session; `__Host-blossom_session` wherever the cookie is Secure) or the
 *    x-blossom-session header; a valid session sets app.user_id and app.session_id for the
 *    transaction and switches to `authenticated`. Anything else stays web_anon, and functions
 *    that need a user answer 401 auth.not_signed_in.
 * 3. Tracing: for a request that may change state, the request id the edge sends (X-Request-Id,
 *    when it has the shape of one) is set as app.request_id, which audit events and outbox rows
 *    record, and as application_name, which Postgres's log lines and pg_stat_activity show, for
 *    the transaction. A read (GET, HEAD, OPTIONS) records nothing, so its request id is not read.
 * 4. Activity: a session is marked as used at most once a minute; a read-only request (PostgREST
 *    runs GET and HEAD so) cannot, and is answered with the header X-Blossom-Session-Stale
 *    instead, which the edge takes off and acts on (edge/activity.py).
 */
/* CSRF for a request that may change state (step 1 above). */
create function auth.refuse_cross_site_write() returns void
language plpgsql stable
as $$
declare
  v_headers json := coalesce(nullif(pg_catalog.current_setting('request.headers', true), '')::json, '{}');
  v_origin text := v_headers ->> 'origin';
begin
  if pg_catalog.lower(pg_catalog.btrim(pg_catalog.split_part(coalesce(v_headers ->> 'content-type', ''), ';', 1)))
     <> 'application/json' then
    perform util.raise_error(403, 'auth.csrf', 'Requests that change state must send Content-Type: application/json.');
  end if;
  if (v_origin is not null or v_headers ->> 'sec-fetch-site' = 'cross-site')
     and not auth.origin_allowed(v_origin) then
    perform util.raise_error(403, 'auth.csrf', 'Requests from this origin are not allowed.');
  end if;
end
$$;

comment on function auth.refuse_cross_site_write() is
  'Refuses a request that does not send JSON or, when it names an origin or is cross-site, is not from an allowed origin. Errors: 403 auth.csrf.';

/* It runs before every API request, so it does only what that request needs: the session is
   one indexed lookup through the view auth.presented_session (sql/views/auth_presented_session.sql), planned
   into this query with no function call or change of role; a read that presents the session
   cookie parses no header (the cookie is in request.cookies; the headers are read only for
   X-Blossom-Session, when there is no cookie). The settings it makes are transaction-local:
   PostgREST's next request starts without them. */
create function auth.pre_request() returns void
language plpgsql volatile
as $$
declare
  v_identity record;
  v_request_id text;
begin
  if pg_catalog.current_setting('request.method', true) not in ('GET', 'HEAD', 'OPTIONS') then
    v_request_id := nullif(pg_catalog.current_setting('request.headers', true), '')::json ->> 'x-request-id';
    -- The shape of the tables' request_id columns, ^[A-Za-z0-9._:/+=-]{1,63}$, written without
    -- the bounded repeat, which Postgres's regex engine runs about 20 times slower (15-25 us a request).
    if pg_catalog.octet_length(v_request_id) <= 63 and v_request_id ~ '^[A-Za-z0-9._:/+=-]+$' then
      perform pg_catalog.set_config('app.request_id', v_request_id, true),
              pg_catalog.set_config('application_name', v_request_id, true);
    end if;
    perform auth.refuse_cross_site_write();
  end if;

  /* The identity is set in the row the session's lookup returns, so a missing or dead session
     sets nothing; a statement of its own for it cost about a tenth of the pre-request's work. */
  select p.stale,
         pg_catalog.set_config('app.user_id', p.user_id, true),
         pg_catalog.set_config('app.session_id', p.session_id, true),
         pg_catalog.set_config('role', 'authenticated', true)
    into v_identity
    from auth.presented_session p;
  -- Used at most once a minute: marked here when the transaction may write, else by the edge.
  if v_identity.stale then
    if pg_catalog.current_setting('transaction_read_only') = 'off' then
      perform auth.touch_session(auth.presented_token());
    else
      perform pg_catalog.set_config('response.headers', '[{"X-Blossom-Session-Stale": "1"}]', true);
    end if;
  end if;
end
$$;

comment on function auth.pre_request() is
  'PostgREST db-pre-request hook: refuses cross-site writes, then establishes the caller from the session token. Errors: 403 auth.csrf, 500 server.invalid_setting.';
