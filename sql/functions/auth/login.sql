/*
 * Login. Failure is a result, not an error: the failed attempt is counted and audited in the
 * caller's transaction, and an exception would roll the count back. Unknown emails and wrong
 * passwords take the same path (one bcrypt each) and get the same answer, but for an account past
 * its sign-ins of the hour (below), refused at once whatever the password: that tells an address
 * signed in 60 times within the hour from one not known, which sign-up tells of any address
 * anyway (409 auth.email_taken).
 * Limits: the failed-login limits of auth.failed_logins_retry_after (failed_logins.sql), counted
 * under the account's lock, so that parallel guesses cannot pass them (keyed by the email typed
 * only when it has an address's shape, app.email_or_null); and the account's
 * sign-ins, app.settings.logins_per_account_per_hour (60), counted when made and checked before
 * the password, so that one over it costs no bcrypt. Each sign-in is a bcrypt of the few the
 * edge runs at once (2 of them per client), a session and an audit event: unlimited, a client
 * with an account of its own signed in 8 times a second, and two such clients held every login
 * slot. Only a sign-in counts, so only who has the password can use an account's up.
 * A login ends the session the browser had (p_session_token), whoever's it was: a session
 * token planted in the browser before the login is worth nothing after it. And it ends the
 * account's sessions that earlier sign-ins from this browser started (its device cookie,
 * auth.end_device_sessions): one browser holds one session of an account.
 */
create function auth.login(
  p_email text,
  p_password text,
  p_client_addr inet default null,
  p_user_agent text default null,
  p_session_token text default null,
  p_device_token text default null
) returns jsonb
language plpgsql volatile security definer set search_path = ''
as $$
declare
  -- The address without spaces around it, as auth.valid_email takes it at sign-up.
  v_key text := pg_catalog.left(pg_catalog.lower(pg_catalog.btrim(coalesce(p_email, ''))), 320);
  -- What its failures count against: the address typed when it has an address's shape (every
  -- account's has), else nothing but the client's address. Any other text names no account, and
  -- is often a password typed in the wrong field, which a key of the counts kept in clear for a
  -- day (and in every backup meanwhile). Decided by the shape alone, never by whether an account
  -- has the address: the limits treat a known and an unknown address alike.
  v_subject app.email := app.email_or_null(v_key);
  v_addr text := util.client_key(p_client_addr);
  v_retry integer;
  v_user app.users;
  v_hash text;
  v_device bytea;
  v_device_token text;
begin
  perform app.lock_rate_key('login', v_key);
  -- Held (auth.held_account): an account being deleted is, once it is gone, an unknown address.
  v_user := auth.held_account((select u.id from app.users u where pg_catalog.lower(u.email) = v_key));
  select s.password_hash into v_hash from app.user_secrets s where s.user_id = v_user.id;
  v_device := auth.known_device(p_device_token, v_user.id);

  v_retry := auth.failed_logins_retry_after(v_subject, v_addr, v_device);
  if v_retry is not null then
    return auth.rate_limited(v_retry, 'Too many failed logins; try again later.');
  end if;
  v_retry := app.rate_limit_retry_after('login.success', v_key,
                                        util.limit_setting('logins_per_account_per_hour', 60), interval '1 hour');
  if v_retry is not null then
    return auth.rate_limited(v_retry, 'Too many sign-ins to this account; try again later.');
  end if;

  if not auth.password_matches(p_password, v_hash) then
    perform auth.count_failed_login(v_subject, v_addr, v_device);
    -- The address typed, when it is one: anything else typed there (a password in the wrong
    -- field, terminal escapes for whoever reads the audit trail) is not kept.
    perform auth.audit('auth.login_failed', null, app.mailable_email(v_key), p_client_addr,
                       pg_catalog.jsonb_build_object('user_id', v_user.id));
    return auth.refusal(401, 'auth.invalid_credentials', 'The email or the password is not right.');
  end if;

  perform auth.forget_failed_logins(v_subject, v_addr, v_device);
  perform app.rate_limit_hit('login.success', v_key);
  perform auth.end_presented_session(p_session_token);
  perform auth.end_device_sessions(v_user.id, v_device);
  v_device_token := auth.remember_device(v_user.id, p_device_token);
  perform auth.audit('auth.login', v_user.id, v_user.id, p_client_addr);
  return pg_catalog.jsonb_build_object(
    'ok', true, 'user', auth.user_json(v_user),
    'session', auth.issue_session(v_user.id, p_client_addr, p_user_agent, util.token_hash(v_device_token)),
    'device_token', v_device_token);
end
$$;

comment on function auth.login(text, text, inet, text, text, text) is
  'Checks the credentials, ends the browser''s previous session (the one presented, and the account''s from this device) and starts one. Returns {ok: true, user, session, device_token} '
  'or a refusal {ok: false, status, code: auth.invalid_credentials | auth.rate_limited, message, retry_after}; never raises for them. Errors: 500 server.invalid_setting.';
