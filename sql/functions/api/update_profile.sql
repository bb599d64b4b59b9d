/* Changes the signed-in user's display name. */
create function api.update_profile(display_name text) returns api.user_profile
language plpgsql volatile security definer set search_path = ''
as $$
declare
  v_user app.user_id := auth.require_user();
  v_name text := auth.valid_display_name(update_profile.display_name);
  v_profile api.user_profile;
begin
  update app.users u set display_name = v_name, updated_at = pg_catalog.now()
   where u.id = v_user
  returning u.id, u.email::text, u.display_name, u.created_at, u.email_verified_at is not null into v_profile;
  /* The session was read by the pre-request, but the account may be gone since (an operator
     deleted it meanwhile): the caller is no signed-in user, as api.me answers, and not a
     success with a profile of nulls. */
  if not found then
    perform util.raise_error(401, 'auth.not_signed_in', 'Sign in first.');
  end if;
  return v_profile;
end
$$;

comment on function api.update_profile(text) is
  'Sets the signed-in user''s display name. Errors: 401 auth.not_signed_in, 422 auth.invalid_display_name.
@arg display_name text';
