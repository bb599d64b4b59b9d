/*
 * Row Level Security for the auth tables. It is forced, so it binds the owner too: the rows
 * are reached only through the auth functions (SECURITY DEFINER, run as blossom_owner), which
 * get one explicit policy per table. Every other role has no grant on these tables, and would
 * see only what the policies below name even if one were granted by mistake.
 */

/* The auth functions: sign-up, login, sessions, resets, audit, outbox, purge. */
create policy auth_functions on app.users to blossom_owner using (true) with check (true);
create policy auth_functions on app.user_secrets to blossom_owner using (true) with check (true);
create policy auth_functions on app.sessions to blossom_owner using (true) with check (true);
create policy auth_functions on app.rate_limit_hits to blossom_owner using (true) with check (true);
create policy auth_functions on app.password_resets to blossom_owner using (true) with check (true);
create policy auth_functions on app.outbox to blossom_owner using (true) with check (true);
create policy auth_functions on app.audit_events to blossom_owner using (true) with check (true);

/* A signed-in user sees their own account and sessions, nothing else (not their secrets). */
create policy read_own on app.users for select to authenticated
  using (id = (select app.current_user_id()));
create policy read_own on app.sessions for select to authenticated
  using (user_id = (select app.current_user_id()));
