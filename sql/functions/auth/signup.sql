/* Sign-up: validate, create the user and its secret, start a session; all or nothing. */
create function auth.valid_email(p_email text) returns app.email
language plpgsql stable
as $$
begin
  if p_email is null then
    perform auth.raise_error(422, 'auth.invalid_email', 'An email address is required.');
  end if;
  return p_email::app.email;
exception when check_violation then
  perform auth.raise_error(422, 'auth.invalid_email', 'That is not a valid email address.');
  return null;
end
$$;

comment on function auth.valid_email(text) is
  'The text as an app.email; 422 auth.invalid_email when it has not the shape of an address.';

create function auth.valid_display_name(p_display_name text) returns text
language plpgsql stable
as $$
declare
  v_name text := pg_catalog.btrim(p_display_name);
begin
  if v_name is null or pg_catalog.char_length(v_name) not between 1 and 100 or v_name ~ '[[:cntrl:]]' then
    perform auth.raise_error(422, 'auth.invalid_display_name',
      'The display name must have 1 to 100 characters and no control characters.');
  end if;
  /* Names are shown to other people: nothing that hides or turns text around (app.has_invisible_characters). */
  if app.has_invisible_characters(v_name) then
    perform auth.raise_error(422, 'auth.invalid_display_name',
      'The display name cannot hold bidi controls or invisible characters (such as zero-width spaces).');
  end if;
  return v_name;
end
$$;

comment on function auth.valid_display_name(text) is
  'The display name trimmed; 422 auth.invalid_display_name when empty, over 100 characters, or with control, bidi-control or invisible characters.';

create function auth.signup(
  p_email text,
  p_password text,
  p_display_name text,
  p_client_addr inet default null,
  p_user_agent text default null
) returns jsonb
language plpgsql volatile security definer set search_path = ''
as $$
declare
  v_email app.email := auth.valid_email(p_email);
  v_name text := auth.valid_display_name(p_display_name);
  v_user app.users;
  v_session jsonb;
begin
  perform auth.check_password(p_password);
  if exists (select from app.users u where pg_catalog.lower(u.email) = pg_catalog.lower(v_email)) then
    perform auth.raise_error(409, 'auth.email_taken', 'An account with this email already exists.');
  end if;
  begin
    insert into app.users (email, display_name) values (v_email, v_name) returning * into v_user;
  exception when unique_violation then
    -- Lost a race with another sign-up of the same address.
    perform auth.raise_error(409, 'auth.email_taken', 'An account with this email already exists.');
  end;
  insert into app.user_secrets (user_id, password_hash) values (v_user.id, auth.hash_password(p_password));
  v_session := auth.issue_session(v_user.id, p_client_addr, p_user_agent);
  perform auth.audit('auth.signup', v_user.id, v_user.id, p_client_addr);
  return pg_catalog.jsonb_build_object('user', auth.user_json(v_user), 'session', v_session);
end
$$;

comment on function auth.signup(text, text, text, inet, text) is
  'Creates an account and its first session: {user, session: {id, token, created_at, expires_at}}. '
  'Errors: 422 auth.invalid_email, auth.weak_password, auth.invalid_display_name; 409 auth.email_taken.';
