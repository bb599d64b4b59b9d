/*
 * Row Level Security for the auth tables. It is forced, so it binds the owner too: the rows
 * are reached only through the auth functions (SECURITY DEFINER, run as blossom_owner), which
 * get one explicit policy per table. Every other role has no grant on these tables and no
 * policy either, so a grant made by mistake would still show it nothing.
 */

/* The auth functions: sign-up, login, sessions, devices, resets, audit, outbox, purge. */
create policy auth_functions on app.users to blossom_owner using (true) with check (true);
create policy auth_functions on app.user_secrets to blossom_owner using (true) with check (true);
create policy auth_functions on app.sessions to blossom_owner using (true) with check (true);
create policy auth_functions on app.devices to blossom_owner using (true) with check (true);
create policy auth_functions on app.rate_limit_hits to blossom_owner using (true) with check (true);
create policy auth_functions on app.password_resets to blossom_owner using (true) with check (true);
create policy auth_functions on app.outbox to blossom_owner using (true) with check (true);
create policy auth_functions on app.audit_events to blossom_owner using (true) with check (true);

/* The pre-request's door into app.sessions: auth.presented_session, a view of the session whose
   token the request presents, owned by session_reader, a role that cannot log in and that
   nobody can become. The policy presented_only (not the view text) bounds what it shows: the
   one row whose token hash is the hash of auth.presented_token(), so that knowing the token
   is the only way to see a session, and only its user id, its id and whether it is due to be
   marked as used. A view, not a SECURITY DEFINER function: it is planned into the
   pre-request's query, with no function call and no switch of role or search_path, which
   bench/proxy.py measured as the larger part of the pre-request's cost. The functions it
   calls run as the caller (web_anon), who is granted them below. */
create policy presented_only on app.sessions for select to session_reader
  using (token_hash = pg_catalog.sha256(pg_catalog.convert_to(auth.presented_token(), 'UTF8')));
-- The whole row: the one rule for a dead session (auth.session_is_dead) takes it.
grant select on app.sessions to session_reader;
grant usage on schema app to session_reader;
grant usage, create on schema auth to session_reader;
grant execute on function auth.presented_token(), auth.setting(text, text), auth.session_is_dead(app.sessions)
  to session_reader;

set local role session_reader;
create view auth.presented_session as
  select s.user_id::text as user_id, s.id::text as session_id,
         s.last_seen_at < pg_catalog.now() - interval '1 minute' as stale
    from app.sessions s
   where not auth.session_is_dead(s);
comment on view auth.presented_session is
  'The valid session of the token this request presents (policy presented_only), for auth.pre_request.';
revoke all on auth.presented_session from session_reader;
grant select on auth.presented_session to session_reader, web_anon, authenticated;

set local role blossom_owner;
revoke create on schema auth from session_reader;
