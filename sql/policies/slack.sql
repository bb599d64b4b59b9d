/*
 * Row Level Security on app.slack_connections. It holds sealed bot tokens, so no role but the
 * owner has any grant on it, and the owner reaches it only through its functions: ext (connect,
 * disconnect: owners and admins, checked by app.require_role as the session's user), api
 * (get_slack_connection: members, never the token) and delivery (the worker's posting). As on
 * the auth tables, those functions get one explicit policy, and any other role, given a grant
 * by mistake, would still see nothing.
 */
create policy slack_functions on app.slack_connections to blossom_owner using (true) with check (true);
