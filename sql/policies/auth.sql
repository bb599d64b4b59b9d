/*
 * Row Level Security for the auth tables. It is forced, so it binds the owner too: the rows
 * are reached only through the auth functions (SECURITY DEFINER, run as blossom_owner), which
 * get one explicit policy per table. Every other role has no grant on these tables and no
 * policy either, so a grant made by mistake would still show it nothing.
 */

/* The auth functions: sign-up, login, sessions, devices, resets, verifications, audit, outbox, purge. */
create policy auth_functions on app.users to blossom_owner using (true) with check (true);
create policy auth_functions on app.user_secrets to blossom_owner using (true) with check (true);
create policy auth_functions on app.sessions to blossom_owner using (true) with check (true);
create policy auth_functions on app.devices to blossom_owner using (true) with check (true);
create policy auth_functions on app.rate_limit_hits to blossom_owner using (true) with check (true);
create policy auth_functions on app.password_resets to blossom_owner using (true) with check (true);
create policy auth_functions on app.email_verifications to blossom_owner using (true) with check (true);
create policy auth_functions on app.outbox to blossom_owner using (true) with check (true);
create policy auth_functions on app.audit_events to blossom_owner using (true) with check (true);

/* The pre-request's view of the presented session (sql/views/auth_presented_session.sql):
   only the row of the token the request presents. */
create policy presented_only on app.sessions for select to session_reader
  using (token_hash = pg_catalog.sha256(pg_catalog.convert_to(auth.presented_token(), 'UTF8')));
