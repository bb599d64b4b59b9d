/* Sign-up: validate, create the user and its secret, start a session; all or nothing. */
create function auth.valid_email(p_email text) returns app.email
language plpgsql stable
as $$
declare
  v_email app.email;
begin
  if p_email is null then
    perform util.raise_error(422, 'auth.invalid_email', 'An email address is required.');
  end if;
  -- Spaces around it are no part of the address (a phone's keyboard adds one after a suggested
  -- word; invitations took them off already): kept without them, and login takes them off too.
  v_email := app.mailable_email(pg_catalog.btrim(p_email));
  if v_email is null then
    perform util.raise_error(422, 'auth.invalid_email', 'That is not a valid email address.');
  end if;
  return v_email;
end
$$;

comment on function auth.valid_email(text) is
  'The text, without spaces around it, as an app.email that mail can be sent to. Errors: 422 auth.invalid_email (not the shape of an address).';

create function auth.valid_display_name(p_display_name text) returns text
language plpgsql stable
as $$
declare
  v_name text := app.trimmed_name(p_display_name);
begin
  case app.name_fault(v_name)
    when 'shape' then
      perform util.raise_error(422, 'auth.invalid_display_name',
        'The display name must have 1 to 100 characters, not all blank, and no control characters.');
    when 'hidden' then
      perform util.raise_error(422, 'auth.invalid_display_name',
        'The display name cannot hold bidi controls or invisible characters (such as zero-width spaces).');
    else
      null;
  end case;
  return v_name;
end
$$;

comment on function auth.valid_display_name(text) is
  'The display name trimmed. Errors: 422 auth.invalid_display_name (empty, over 100 characters, or with control, bidi-control or invisible characters).';

/*
 * Sign-up limits: 20 per hour per client address (app.settings.signups_per_address_per_hour)
 * and 120 per minute in all (app.settings.signups_per_minute), so that a flood of sign-ups,
 * each a bcrypt hash, cannot take the CPU from logins. Every sign-up that passes the cheap
 * checks counts against its address, an address already taken too: that answer is a result,
 * not an error, so the count survives it (and probing which addresses have accounts costs the
 * same budget). Only those that go on to hash a password count against the total, so that
 * cheap attempts cannot use up everyone's budget.
 * The per-address count is exact (the address's lock); the total may be passed by as many
 * sign-ups as run at once.
 */
create function auth.signup(
  p_email text,
  p_password text,
  p_display_name text,
  p_client_addr inet default null,
  p_user_agent text default null,
  p_session_token text default null,
  p_device_token text default null
) returns jsonb
language plpgsql volatile security definer set search_path = ''
as $$
declare
  v_email app.email := auth.valid_email(p_email);
  v_name text := auth.valid_display_name(p_display_name);
  v_addr text := util.client_key(p_client_addr);
  v_retry integer;
  v_user app.users;
  v_session jsonb;
  v_device_token text;
begin
  perform auth.check_password(p_password);
  perform app.lock_rate_key('signup.addr', coalesce(v_addr, ''));
  v_retry := greatest(
    app.rate_limit_retry_after('signup.addr', v_addr,
                                util.limit_setting('signups_per_address_per_hour', 20), interval '1 hour'),
    app.rate_limit_retry_after('signup.all', 'all', util.limit_setting('signups_per_minute', 120), interval '1 minute'));
  if v_retry is not null then
    return auth.rate_limited(v_retry, 'Too many sign-ups; try again later.');
  end if;
  perform app.rate_limit_hit('signup.addr', v_addr);

  if exists (select from app.users u where pg_catalog.lower(u.email) = pg_catalog.lower(v_email)) then
    return auth.refusal(409, 'auth.email_taken', 'An account with this email already exists.');
  end if;
  -- Only what goes on to a bcrypt counts against everyone's budget: a taken address costs none.
  perform app.rate_limit_hit('signup.all', 'all');
  begin
    insert into app.users (email, display_name) values (v_email, v_name) returning * into v_user;
  exception when unique_violation then
    -- Lost a race with another sign-up of the same address.
    return auth.refusal(409, 'auth.email_taken', 'An account with this email already exists.');
  end;
  insert into app.user_secrets (user_id, password_hash) values (v_user.id, auth.hash_password(p_password));
  perform auth.send_email_verification(v_user);
  perform auth.end_presented_session(p_session_token);
  v_device_token := auth.remember_device(v_user.id, p_device_token);
  v_session := auth.issue_session(v_user.id, p_client_addr, p_user_agent, util.token_hash(v_device_token));
  perform auth.audit('auth.signup', v_user.id, v_user.id, p_client_addr);
  return pg_catalog.jsonb_build_object(
    'ok', true, 'user', auth.user_json(v_user), 'session', v_session, 'device_token', v_device_token);
end
$$;

comment on function auth.signup(text, text, text, inet, text, text, text) is
  'Creates an account and its first session: {ok: true, user, session: {id, token, created_at, expires_at}, device_token}, '
  'or a refusal {ok: false, status, code: auth.email_taken | auth.rate_limited, message, retry_after} (counted, not raised). '
  'Errors: 422 auth.invalid_email, auth.weak_password, auth.invalid_display_name, 500 server.invalid_setting.';
