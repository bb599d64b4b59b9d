/*
 * The edge's /ext routes call the database directly as role edge, not through PostgREST, so
 * no pre-request names the caller. Their functions (schema ext) start with this instead: the
 * session of the presented token becomes the caller for the rest of the transaction, exactly
 * as auth.pre_request would make it, so that the policies and the app helpers (require_role,
 * ...) judge the call by the caller's own rights.
 *
 * p_ended_too is for finishing what a session began, when it may have ended meanwhile: the
 * session of the token then becomes the caller whether it is still valid or not (revoked,
 * expired, idle). The edge settles an AI call so after the provider answered (ext.ai_settle,
 * ext.ai_release): a logout during the call left it uncharged. Nothing new is begun so.
 */
create function auth.act_as_session(p_token text, p_ended_too boolean default false) returns app.user_id
language plpgsql volatile
as $$
declare
  v_session app.sessions;
begin
  if not p_ended_too then
    v_session := auth.session_from_token(p_token, true);
  elsif util.token_is_wellformed(p_token) then
    select s.* into v_session from app.sessions s where s.token_hash = util.token_hash(p_token);
  end if;
  if v_session.id is null then
    perform util.raise_error(401, 'auth.not_signed_in', 'Sign in first.');
  end if;
  perform pg_catalog.set_config('app.user_id', v_session.user_id, true),
          pg_catalog.set_config('app.session_id', v_session.id, true);
  return v_session.user_id;
end
$$;

comment on function auth.act_as_session(text, boolean) is
  'Makes the valid session of a token (any session of it, with p_ended_too) the caller of this transaction, as the pre-request does. Errors: 401 auth.not_signed_in, 500 server.invalid_setting.';
