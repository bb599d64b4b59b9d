/*
 * Password change by a signed-in user: proves the current password; every session ends, the one
 * presented too, which a new session replaces (a copy of this browser's token taken before, the
 * theft a password change is often for, worked on after it); reset links sent before are spent
 * and devices but this browser forgotten. This browser becomes (or stays) one of the account's
 * devices, as a login makes it (auth.remember_device): kept only when it was one already, an
 * owner's browser that twenty sign-ins with the stolen password had pushed out of the account's
 * 20 devices was forgotten with the thief's, and the thief's guesses from many addresses then
 * held the owner's next sign-in back (auth.failed_logins_retry_after).
 * A wrong current password is a guess at the account's password like a failed login, so it
 * draws on the same limits (auth.failed_logins_retry_after, under the account's lock) and, as
 * in auth.login, is a result rather than an error, so that the count survives. Without it a
 * stolen session could guess the password (to take over the account for good) without limit.
 * The changes made are limited too: app.settings.password_changes_per_user_per_hour (default 10)
 * per account, a refusal (429 auth.rate_limited) like the others.
 */
create function auth.change_password(
  p_token text,
  p_current_password text,
  p_new_password text,
  p_client_addr inet default null,
  p_device_token text default null,
  p_user_agent text default null
) returns jsonb
language plpgsql volatile security definer set search_path = ''
as $$
declare
  v_session app.sessions := auth.session_from_token(p_token, false);
  v_key text;
  v_addr text := util.client_key(p_client_addr);
  v_retry integer;
  v_hash text;
  v_device bytea := auth.known_device(p_device_token, v_session.user_id);
  v_device_token text;
begin
  if v_session.id is null then
    perform util.raise_error(401, 'auth.not_signed_in', 'Sign in first.');
  end if;
  /* The new password's rules first, before any bcrypt: checked after the current password's,
     a weak one was a bcrypt that its refusal (raised, so nothing counted) kept out of the quota
     below, and a loop of them spent the edge's hashing slots without limit. It tells nothing
     of the current password. */
  perform auth.check_password(p_new_password);
  v_key := auth.lock_account(v_session.user_id);
  /* The session read again under the lock: one revoked while this waited for it (a sign-out
     everywhere, a reset) changed the password and opened a session after every session of the
     account was ended. */
  if (auth.session_from_token(p_token, false)).id is null then
    perform util.raise_error(401, 'auth.not_signed_in', 'Sign in first.');
  end if;
  select s.password_hash into v_hash from app.user_secrets s where s.user_id = v_session.user_id;
  v_retry := auth.failed_logins_retry_after(v_key, v_addr, v_device);
  if v_retry is not null then
    return auth.rate_limited(v_retry, 'Too many failed logins; try again later.');
  end if;
  /* The changes made, counted under the account's lock and checked before any bcrypt: each
     spends two (the current password's, the new hash) of the edge's few hashing slots, which
     sign-ups and resets wait for too, and the right password passes every failed-login limit.
     Unlimited, 16 accounts changing theirs in a loop from 8 addresses kept everyone else's
     sign-ups waiting 4-5 s and refused some 503 edge.auth_busy. */
  v_retry := app.rate_limit_retry_after('password.change', v_session.user_id,
                                        util.limit_setting('password_changes_per_user_per_hour', 10), interval '1 hour');
  if v_retry is not null then
    return auth.rate_limited(v_retry, 'Too many password changes; try again later.');
  end if;
  if not auth.password_matches(p_current_password, v_hash) then
    perform auth.count_failed_login(v_key, v_addr, v_device);
    perform auth.audit('auth.password_change_failed', v_session.user_id, v_session.user_id, p_client_addr);
    return auth.refusal(401, 'auth.invalid_credentials', 'The current password is not right.');
  end if;
  update app.user_secrets s
     set password_hash = auth.hash_password(p_new_password), password_changed_at = pg_catalog.now()
   where s.user_id = v_session.user_id;
  update app.sessions s set revoked_at = pg_catalog.now()
   where s.user_id = v_session.user_id and s.revoked_at is null;
  -- What the old password could do is undone: reset links sent before are spent, and devices
  -- but this browser keep no exemption from the account's back-off.
  update app.password_resets r set used_at = pg_catalog.now()
   where r.user_id = v_session.user_id and r.used_at is null;
  v_device_token := auth.remember_device(v_session.user_id, p_device_token);
  delete from app.devices d
   where d.user_id = v_session.user_id and d.token_hash <> util.token_hash(v_device_token);
  perform auth.forget_failed_logins(v_key, v_addr, v_device);
  perform app.rate_limit_hit('password.change', v_session.user_id);
  perform auth.audit('auth.password_changed', v_session.user_id, v_session.user_id, p_client_addr);
  return pg_catalog.jsonb_build_object(
    'ok', true,
    'session', auth.issue_session(v_session.user_id, p_client_addr, p_user_agent, util.token_hash(v_device_token)),
    'device_token', v_device_token);
end
$$;

comment on function auth.change_password(text, text, text, inet, text, text) is
  'Sets a new password, revokes every session (the presented one too) and starts one for this browser, spends outstanding reset links, makes this browser one of the account''s devices and forgets every other. '
  'Returns {ok: true, session, device_token} or a refusal '
  '{ok: false, status, code: auth.invalid_credentials | auth.rate_limited, message, retry_after}, never raising for them '
  '(a wrong current password counts as a failed login; at most app.settings.password_changes_per_user_per_hour changes an hour, default 10). Errors: 401 auth.not_signed_in, 422 auth.weak_password, 500 server.invalid_setting.';
