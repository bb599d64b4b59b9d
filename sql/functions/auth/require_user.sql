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

/* For functions that write a row naming the caller while holding no organization of theirs (an
   organization's creator, an invitation's answer and its audit event): the caller's account row
   is held (FOR KEY SHARE, as a foreign key's check holds it) to the end of the transaction. An
   operator's deletion of the account under way when the call began is waited for and then found:
   the caller is no signed-in user, as api.me answers. Without it the call waited on the same row
   in its first foreign key's check, and failed there with Postgres's own 23503. A deletion that
   comes later waits for the call. The calls that hold one of the caller's organizations need no
   such hold: the deletion takes those organizations' locks first (app.tg_users__keep_an_owner). */
create function auth.require_account() returns app.user_id
language plpgsql volatile
as $$
declare
  v_user app.user_id := auth.require_user();
begin
  perform from app.users u where u.id = v_user for key share;
  if not found then
    perform util.raise_error(401, 'auth.not_signed_in', 'Sign in first.');
  end if;
  return v_user;
end
$$;

comment on function auth.require_account() is
  'The signed-in user, whose account row is held to the end of the transaction (an operator''s deletion waits). Errors: 401 auth.not_signed_in (there is none, or its account is gone).';
