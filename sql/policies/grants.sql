/*
 * Who may reach which schema. Everything starts revoked (`just migrate` revokes all grants
 * before this layer runs); each line here opens exactly one door.
 */

/* PostgREST: the API schema, and the pre-request hook it runs for every request, with the
   few helpers the hook calls as web_anon (the session lookup is the view auth.presented_session,
   sql/policies/auth.sql; marking a session used, a small definer function). */
grant usage on schema api to web_anon, authenticated;
grant usage on schema auth to web_anon, authenticated;
grant execute on function
  auth.pre_request(),
  auth.refuse_cross_site_write(),
  auth.setting(text, text),
  auth.origin_allowed(text),
  auth.raise_error(integer, text, text, text, jsonb),
  auth.presented_token(),
  auth.session_is_dead(app.sessions),
  auth.touch_session(text)
  to web_anon, authenticated;

/* The API. Anonymous callers may call what needs a user, to be told 401 auth.not_signed_in. */
grant execute on function api.me(), api.update_profile(text) to web_anon, authenticated;

/* The edge: exactly the auth functions its /auth routes and its /rpc proxy call. */
grant usage on schema auth to edge;
grant execute on function
  auth.signup(text, text, text, inet, text, text, text),
  auth.login(text, text, inet, text, text, text),
  auth.logout(text, inet),
  auth.logout_all(text, inet),
  auth.session_info(text),
  auth.change_password(text, text, text, inet, text),
  auth.request_password_reset(text, inet),
  auth.confirm_password_reset(text, text, inet),
  auth.touch_session(text)
  to edge;

/* Operators read the admin views; the pipeline its own schema. */
grant usage on schema admin to panopticon;
grant usage on schema pipeline to pipeline;
grant execute on function pipeline.purge_auth() to pipeline;
