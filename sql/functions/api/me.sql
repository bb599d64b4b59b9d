/*
 * The signed-in user's own profile. Granted to web_anon too, so that an anonymous call is
 * answered 401 auth.not_signed_in (ours) rather than PostgREST's permission error.
 */
create function api.me() returns api.user_profile
language plpgsql stable security definer set search_path = ''
as $$
declare
  v_user app.user_id := auth.require_user();
  v_profile api.user_profile;
begin
  select u.id, u.email::text, u.display_name, u.created_at, u.email_verified_at is not null into v_profile
    from app.users u where u.id = v_user;
  if not found then
    perform util.raise_error(401, 'auth.not_signed_in', 'Sign in first.');
  end if;
  return v_profile;
end
$$;

comment on function api.me() is 'The signed-in user. Errors: 401 auth.not_signed_in.';
