/* Password change by a signed-in user: proves the current password; other sessions end. */
create function auth.change_password(
  p_token text,
  p_current_password text,
  p_new_password text,
  p_client_addr inet default null
) returns void
language plpgsql volatile security definer set search_path = ''
as $$
declare
  v_session app.sessions := auth.session_from_token(p_token, false);
  v_hash text;
begin
  if v_session.id is null then
    perform auth.raise_error(401, 'auth.not_signed_in', 'Sign in first.');
  end if;
  select s.password_hash into v_hash from app.user_secrets s where s.user_id = v_session.user_id;
  if not auth.password_matches(p_current_password, v_hash) then
    perform auth.raise_error(401, 'auth.invalid_credentials', 'The current password is not right.');
  end if;
  perform auth.check_password(p_new_password);
  update app.user_secrets s
     set password_hash = auth.hash_password(p_new_password), password_changed_at = now()
   where s.user_id = v_session.user_id;
  update app.sessions s set revoked_at = now()
   where s.user_id = v_session.user_id and s.revoked_at is null and s.id <> v_session.id;
  perform auth.audit('auth.password_changed', v_session.user_id, v_session.user_id, p_client_addr);
end
$$;

comment on function auth.change_password(text, text, text, inet) is
  'Sets a new password and revokes every other session. '
  'Errors: 401 auth.not_signed_in, 401 auth.invalid_credentials, 422 auth.weak_password.';
