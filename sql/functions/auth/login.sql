/*
 * Login. Failure is a result, not an error: the failed attempt is counted and audited in the
 * caller's transaction, and an exception would roll the count back. Unknown emails and wrong
 * passwords take the same path (one bcrypt each) and get the same answer.
 * Limits: the failed-login budget of auth.failed_logins_retry_after (rate_limits.sql).
 */
create function auth.login(
  p_email text,
  p_password text,
  p_client_addr inet default null,
  p_user_agent text default null
) returns jsonb
language plpgsql volatile security definer set search_path = ''
as $$
declare
  v_key text := left(pg_catalog.lower(coalesce(p_email, '')), 320);
  v_addr text := pg_catalog.host(p_client_addr);
  v_retry integer;
  v_user app.users;
  v_hash text;
begin
  v_retry := auth.failed_logins_retry_after(v_key, v_addr);
  if v_retry is not null then
    return pg_catalog.jsonb_build_object('ok', false, 'code', 'auth.rate_limited', 'retry_after', v_retry);
  end if;

  select u.* into v_user from app.users u where pg_catalog.lower(u.email) = v_key;
  select s.password_hash into v_hash from app.user_secrets s where s.user_id = v_user.id;

  if not auth.password_matches(p_password, v_hash) then
    perform auth.count_failed_login(v_key, v_addr);
    perform auth.audit('auth.login_failed', null, v_key, p_client_addr,
                       pg_catalog.jsonb_build_object('user_id', v_user.id));
    return pg_catalog.jsonb_build_object('ok', false, 'code', 'auth.invalid_credentials');
  end if;

  perform auth.forget_failed_logins(v_key);
  perform auth.audit('auth.login', v_user.id, v_user.id, p_client_addr);
  return pg_catalog.jsonb_build_object(
    'ok', true, 'user', auth.user_json(v_user),
    'session', auth.issue_session(v_user.id, p_client_addr, p_user_agent));
end
$$;

comment on function auth.login(text, text, inet, text) is
  'Checks the credentials and starts a session. Returns {ok: true, user, session} or '
  '{ok: false, code: auth.invalid_credentials | auth.rate_limited, retry_after}; never raises for them.';
