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

/* The account's row, held (FOR KEY SHARE, as a foreign key's check holds it) to the end of the
   transaction; null when the account is gone. For the calls that write rows naming an account
   (its sessions, links, audit events; an organization's creator, an invitation's answer) while
   holding no organization of its: an operator's deletion of the account under way when the call
   began is waited for and then found, and the call answers as it would to an account that never
   was. Without it the call read the account before the deletion committed, waited on the same row
   in its first foreign key's check, and failed there with Postgres's own 23503 (a 409 naming an
   internal constraint from PostgREST, a 500 from the edge). A deletion that comes later waits for
   the call. The calls that hold one of the account's organizations need no such hold: the
   deletion takes those organizations' locks first (app.tg_users__keep_an_owner). Only a deletion
   waits for it: an update of the row (a display name, a verification) takes no key lock. */
create function auth.held_account(p_user app.user_id) returns app.users
language plpgsql volatile
as $$
declare
  v_user app.users;
begin
  select u.* into v_user from app.users u where u.id = p_user for key share;
  return v_user;
end
$$;

comment on function auth.held_account(app.user_id) is
  'The user''s account row, held to the end of the transaction (an operator''s deletion waits, and one under way is waited for); null when there is none.';

/* The account of a signed-in caller or of a session, held (auth.held_account): the account's
   deletion under way is waited for, and an account gone is no one signed in. */
create function auth.require_held_account(p_user app.user_id) returns app.users
language plpgsql volatile
as $$
declare
  v_user app.users := auth.held_account(p_user);
begin
  if v_user.id is null then
    perform util.raise_error(401, 'auth.not_signed_in', 'Sign in first.');
  end if;
  return v_user;
end
$$;

comment on function auth.require_held_account(app.user_id) is
  'The user''s account row, held to the end of the transaction (auth.held_account). Errors: 401 auth.not_signed_in (no user, or its account is gone).';

/* The signed-in caller, whose account is held: an organization's creator, an invitation's answer
   and its audit event name it. */
create function auth.require_account() returns app.user_id
language plpgsql volatile
as $$
begin
  return (auth.require_held_account(auth.require_user())).id;
end
$$;

comment on function auth.require_account() is
  'The signed-in user, whose account row is held to the end of the transaction (an operator''s deletion waits). Errors: 401 auth.not_signed_in (there is none, or its account is gone).';

/* The session the transaction acts for (the pre-request's, or auth.act_as_session's), read again:
   401 auth.not_signed_in once it is revoked or has ended. For a call that waited for a lock (the
   organization's, app.lock_org_as_member) after its session was read at its start: a session
   revoked meanwhile (signed out everywhere, a password changed or reset, a stolen session cut
   off) still renamed or deleted the organization a moment after. The session must be the caller's
   own, as the pre-request and auth.act_as_session set them together: one of another user (or one
   with no user) is no session of the caller's, and refused as a revoked one. A transaction acting
   for a user without a session (the operators' tools, the tests' own) has none to read again. */
create function auth.require_live_session() returns void
language plpgsql stable
as $$
declare
  v_session app.session_id := app.current_session_id();
begin
  if v_session is not null and not exists (
       select from app.sessions s
        where s.id = v_session and s.user_id = app.current_user_id() and not auth.session_is_dead(s)) then
    perform util.raise_error(401, 'auth.not_signed_in', 'Sign in first.');
  end if;
end
$$;

comment on function auth.require_live_session() is
  'Nothing while the transaction''s session (if it acts for one) is live and its caller''s. Errors: 401 auth.not_signed_in (it was revoked or has ended, or is another user''s), 500 server.invalid_setting.';
