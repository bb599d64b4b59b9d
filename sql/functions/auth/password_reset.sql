/*
 * Password reset: a single-use token valid one hour, mailed through app.outbox; only its
 * SHA-256 is kept. The request answers the same whether or not the account exists.
 * Limits: 20 requests per hour per client address (429). Per account there is no refusal,
 * which would let anyone block the owner's own reset: a request made within 10 minutes of the
 * account's last reset mail sends nothing new (that mail, valid an hour, is in the owner's
 * inbox), so the owner gets at most one mail per 10 minutes however often others ask. Unless its
 * link was spent (a reset by it, a password change): the owner locked out again within those 10
 * minutes asked and got nothing, holding only a link that answers invalid. Only the owner can
 * spend a link, so others still get no more mail sent.
 */
create function auth.request_password_reset(p_email text, p_client_addr inet default null) returns void
language plpgsql volatile security definer set search_path = ''
as $$
declare
  -- The address without spaces around it, as auth.valid_email takes it at sign-up.
  v_key text := pg_catalog.left(pg_catalog.lower(pg_catalog.btrim(coalesce(p_email, ''))), 320);
  v_addr text := util.client_key(p_client_addr);
  v_retry integer;
  v_user app.users;
  v_token text;
  v_expires timestamptz := pg_catalog.now() + interval '1 hour';
begin
  perform app.lock_rate_key('reset.addr', coalesce(v_addr, ''));
  v_retry := app.rate_limit_retry_after('reset.addr', v_addr, 20, interval '1 hour');
  if v_retry is not null then
    perform util.raise_error(429, 'auth.rate_limited', 'Too many reset requests; try again later.', null,
                             pg_catalog.jsonb_build_object('Retry-After', v_retry::text));
  end if;
  perform app.rate_limit_hit('reset.addr', v_addr);

  -- Held (auth.held_account): an account being deleted is, once it is gone, an unknown address.
  v_user := auth.held_account((select u.id from app.users u where pg_catalog.lower(u.email) = v_key));
  if v_user.id is null then
    return;
  end if;
  -- The account's lock: two requests at once cannot both find no recent mail.
  perform app.lock_rate_key('reset.user', v_user.id);
  if exists (select from app.password_resets r
              where r.user_id = v_user.id and r.used_at is null
                and r.created_at > pg_catalog.now() - interval '10 minutes') then
    return;
  end if;
  v_token := util.new_token();
  insert into app.password_resets (token_hash, user_id, expires_at, client_addr)
  values (util.token_hash(v_token), v_user.id, v_expires, p_client_addr);
  insert into app.outbox (topic, payload)
  values ('mail.password_reset', pg_catalog.jsonb_build_object(
    'to', v_user.email, 'display_name', v_user.display_name, 'token', v_token, 'expires_at', v_expires));
  -- By no one known: anyone who has the address may ask. (As the owner's own, it counted them
  -- active that day in the daily metrics.)
  perform auth.audit('auth.password_reset_requested', null, v_user.id, p_client_addr);
end
$$;

comment on function auth.request_password_reset(text, inet) is
  'Queues a reset mail (outbox topic mail.password_reset) when the account exists and had none in the last 10 minutes whose link is unspent; '
  'silent otherwise. Errors: 429 auth.rate_limited (20 requests per hour per address).';

/* Under the account's login lock, as a login and a password change take it: a login or change
   under way (which read the old hash, then spends a bcrypt) ends before the new password is set,
   so it can neither write its password over the reset's nor open a session after the reset
   revoked them all. The lock first, then the reset's row: a password change takes them in that
   order too (it spends the links).
   The browser that made the reset is signed out (the edge clears its session cookie), so the
   session it presented (p_session_token) ends too, whoever's it was: one of another account (a
   shared computer) went on working for whoever kept a copy of the cookie the answer cleared.
   And it becomes (or stays) one of the account's devices (auth.remember_device), the only one
   left, whose token is returned for its cookie: it proved the mailbox, as a sign-in proves the
   password. Kept only when it was one already, an owner who reset from a browser that had
   never signed in (a new phone, cookies cleared) stayed under the account's growing delay
   that others' guesses keep up (auth.failed_logins_retry_after), which only a device passes:
   the new password was refused too, the reset opening nothing. */
create function auth.confirm_password_reset(
  p_token text,
  p_new_password text,
  p_client_addr inet default null,
  p_device_token text default null,
  p_session_token text default null
) returns text
language plpgsql volatile security definer set search_path = ''
as $$
declare
  v_reset app.password_resets;
  v_device_token text;
begin
  if util.token_is_wellformed(p_token) then
    select r.* into v_reset from app.password_resets r where r.token_hash = util.token_hash(p_token);
  end if;
  if v_reset.user_id is not null then
    perform auth.lock_account(v_reset.user_id);
    select r.* into v_reset from app.password_resets r where r.token_hash = v_reset.token_hash for update;
  end if;
  /* Expired by the clock, the lock held: now() is the call's start, before its wait behind a
     login's bcrypt, and a link that expired meanwhile set the password a moment after. */
  if v_reset.user_id is null or v_reset.used_at is not null or v_reset.expires_at <= pg_catalog.clock_timestamp() then
    perform util.raise_error(400, 'auth.invalid_token', 'The reset link is unknown, used or expired.');
  end if;
  perform auth.check_password(p_new_password);
  update app.user_secrets s
     set password_hash = auth.hash_password(p_new_password), password_changed_at = pg_catalog.now()
   where s.user_id = v_reset.user_id;
  -- This token and every other outstanding one of the user are spent.
  update app.password_resets r set used_at = pg_catalog.now() where r.user_id = v_reset.user_id and r.used_at is null;
  update app.sessions s set revoked_at = pg_catalog.now() where s.user_id = v_reset.user_id and s.revoked_at is null;
  perform auth.end_presented_session(p_session_token);
  -- Devices made with the old password keep no exemption from the account's back-off.
  v_device_token := auth.remember_device(v_reset.user_id, p_device_token);
  delete from app.devices d where d.user_id = v_reset.user_id and d.token_hash <> util.token_hash(v_device_token);
  perform auth.audit('auth.password_reset', v_reset.user_id, v_reset.user_id, p_client_addr);
  return v_device_token;
end
$$;

comment on function auth.confirm_password_reset(text, text, inet, text, text) is
  'Sets a new password with a reset token, spends it and every other outstanding one, revokes every session, makes the browser '
  'one of the account''s devices (p_device_token when we made it, else a new one) and forgets every other, and ends the session the browser presented (p_session_token), whoever''s it was. '
  'Returns the device token for the browser''s cookie. '
  'Errors: 400 auth.invalid_token, 422 auth.weak_password, 500 server.invalid_setting.';
