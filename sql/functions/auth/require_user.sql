/* For functions that need a signed-in caller. */
create function auth.require_user() returns app.user_id
language plpgsql stable
as $$
declare
  v_user app.user_id := app.current_user_id();
begin
  if v_user is null then
    perform util.raise_error(401, 'auth.not_signed_in', 'Sign in first.');
  end if;
  return v_user;
end
$$;

comment on function auth.require_user() is 'The signed-in user. Errors: 401 auth.not_signed_in (there is none).';
