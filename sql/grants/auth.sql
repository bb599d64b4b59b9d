/*
 * Grants on schema auth: the pre-request and what it calls as the caller, and the entry points
 * of the edge. The definer functions run as their owner and need nothing more.
 */

/* PostgREST: the pre-request hook it runs for every request, as web_anon, and the helpers the
   hook and its view of the session (auth.presented_session) call as that role; marking a
   session as used is a small definer function. */
grant usage on schema auth to web_anon, authenticated;
grant execute on function
  auth.pre_request(),
  auth.refuse_cross_site_write(),
  auth.origin_allowed(text),
  auth.presented_token(),
  auth.session_cookie_name(),
  auth.session_is_dead(app.sessions),
  auth.session_is_dead_after(app.sessions, interval),
  auth.touch_session(text)
  to web_anon, authenticated;
set local role session_reader;
grant select on auth.presented_session to session_reader, web_anon, authenticated;
set local role blossom_owner;
grant usage on schema auth to session_reader;
grant execute on function auth.presented_token(), auth.session_cookie_name(), auth.session_is_dead(app.sessions),
  auth.session_is_dead_after(app.sessions, interval)
  to session_reader;

/* The edge: exactly the auth functions its /auth routes and its /rpc proxy call. */
grant usage on schema auth to edge;
grant execute on function
  auth.signup(text, text, text, inet, text, text, text),
  auth.login(text, text, inet, text, text, text),
  auth.logout(text, inet),
  auth.logout_all(text, inet),
  auth.session_info(text),
  auth.change_password(text, text, text, inet, text, text),
  auth.request_password_reset(text, inet),
  auth.confirm_password_reset(text, text, inet, text, text),
  auth.verify_email(text, inet),
  auth.resend_email_verification(text, inet),
  auth.touch_session(text)
  to edge;
