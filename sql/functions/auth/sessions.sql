/*
 * Sessions: issued at sign-up and login, looked up by the SHA-256 of the token. A session is
 * valid while not revoked, before expires_at (absolute, app.settings.session_max_age, default
 * 30 days) and used within app.settings.session_idle_timeout (default 7 days).
 */
create function auth.user_json(p_user app.users) returns jsonb
language sql immutable parallel safe
return pg_catalog.jsonb_build_object(
  'id', (p_user).id, 'email', (p_user).email, 'display_name', (p_user).display_name,
  'created_at', (p_user).created_at, 'email_verified', (p_user).email_verified_at is not null);

comment on function auth.user_json(app.users) is 'A user as the API shows it, with whether the email is verified (never a secret).';

create function auth.issue_session(
  p_user_id app.user_id, p_client_addr inet, p_user_agent text, p_device_token_hash bytea default null
) returns jsonb
language plpgsql volatile
as $$
declare
  v_token text := util.new_token();
  v_session app.sessions;
begin
  insert into app.sessions (user_id, token_hash, expires_at, user_agent, client_addr, device_token_hash)
  values (p_user_id, util.token_hash(v_token),
          pg_catalog.now() + util.interval_setting('session_max_age', interval '30 days'),
          pg_catalog.left(p_user_agent, 512), p_client_addr, p_device_token_hash)
  returning * into v_session;
  return pg_catalog.jsonb_build_object(
    'id', v_session.id, 'token', v_token,
    'created_at', v_session.created_at, 'expires_at', v_session.expires_at);
end
$$;

comment on function auth.issue_session(app.user_id, inet, text, bytea) is
  'Starts a session for the browser of the device (its token''s SHA-256, when known); the only place the token is ever seen, in the result, once. Errors: 500 server.invalid_setting.';

/* A session that can never be valid again: revoked, expired, or idle past the timeout. The
   timeout is elapsed time, as its days read (7 days, 168 hours), whatever the session's time
   zone: `now() - interval '7 days'` steps back 7 days on that zone's wall clock, 167 or 169
   hours across a change of its clocks, so a request, the purge and admin.active_sessions each
   drew the line where their own zone put it. */
create function auth.session_is_dead_after(p_session app.sessions, p_idle_timeout interval) returns boolean
language sql stable
return (p_session).revoked_at is not null
    or (p_session).expires_at <= pg_catalog.now()
    or (p_session).last_seen_at <= pg_catalog.now() - pg_catalog.make_interval(secs => extract(epoch from p_idle_timeout));

comment on function auth.session_is_dead_after(app.sessions, interval) is
  'Whether the session is revoked, expired (app.settings.session_max_age) or unused for the idle timeout given.';

/* As a request finds it: the idle timeout of its transaction's settings (inlined into the
   pre-request's query, as the function it calls). */
create function auth.session_is_dead(p_session app.sessions) returns boolean
language sql stable
return auth.session_is_dead_after(p_session, util.interval_setting('session_idle_timeout', interval '7 days'));

comment on function auth.session_is_dead(app.sessions) is
  'Whether the session is revoked, expired (app.settings.session_max_age) or idle (app.settings.session_idle_timeout). Errors: 500 server.invalid_setting.';

/* The valid session of a token, or null; touches last_seen_at at most once a minute, and only
   in a writable transaction (PostgREST runs GET requests read-only). Not while another
   transaction is touching it: the mark is not worth a wait, and each of a session's writes at
   once queued for the row, holding its PostgREST connection, the whole transaction of the one
   before (a write that failed undid its mark, and the queue formed again). */
create function auth.session_from_token(p_token text, p_touch boolean) returns app.sessions
language plpgsql volatile
as $$
declare
  v_session app.sessions;
begin
  if not util.token_is_wellformed(p_token) then
    return null;
  end if;
  select s.* into v_session from app.sessions s where s.token_hash = util.token_hash(p_token);
  if not found or auth.session_is_dead(v_session) then
    return null;
  end if;
  /* The account's row before the session's (auth.held_account), the order its deletion takes
     them in: a pre-request that took the session, then a call of its that waited for the account
     (the row it names, auth.require_account), deadlocked with a deletion under way, which came to
     take that session with the account (40P01). A deletion under way leaves the session unmarked. */
  if p_touch and v_session.last_seen_at < pg_catalog.now() - interval '1 minute'
     and pg_catalog.current_setting('transaction_read_only') = 'off' then
    -- A statement of its own: one that locks rows fails at its start in a read-only transaction.
    perform from app.users u where u.id = v_session.user_id for key share skip locked;
    if found then
      update app.sessions s set last_seen_at = pg_catalog.now()
       where s.id = (select l.id from app.sessions l where l.id = v_session.id for no key update skip locked);
    end if;
  end if;
  return v_session;
end
$$;

comment on function auth.session_from_token(text, boolean) is
  'The session a token stands for when it is valid (not revoked, expired or idle), else null. Errors: 500 server.invalid_setting.';

/* The session cookie's name: app.settings.session_cookie (default blossom_session), with the
   `__Host-` prefix unless app.settings.cookie_insecure is 1 (plain HTTP in development): a
   Secure cookie always carries it, so that no other host (a sibling subdomain) can set or
   shadow it. The edge names its cookie by the same rule (edge/config.py), and refuses a name
   that carries the prefix already: added, never taken off, the name costs every request no
   regular expression (1.6 us of the pre-request's 13.5, bench/proxy.py measured). */
create function auth.session_cookie_name() returns text
language sql stable parallel safe
return case when pg_catalog.current_setting('app.settings.cookie_insecure', true) = '1' then '' else '__Host-' end
    || coalesce(nullif(pg_catalog.current_setting('app.settings.session_cookie', true), ''), 'blossom_session');

comment on function auth.session_cookie_name() is
  'The session cookie''s name: app.settings.session_cookie (default blossom_session), __Host- prefixed unless app.settings.cookie_insecure is 1.';

/* The session token a PostgREST request presents: the session cookie, else (when there is none,
   or it is empty, as the edge's routes read it too: edge/auth.py) the X-Blossom-Session header,
   read only then, so that a browser's reads parse no headers. One expression, inlined where
   used. */
create function auth.presented_token() returns text
language sql stable parallel safe
return coalesce(
  nullif(nullif(pg_catalog.current_setting('request.cookies', true), '')::json ->> auth.session_cookie_name(), ''),
  nullif(pg_catalog.current_setting('request.headers', true), '')::json ->> 'x-blossom-session');

comment on function auth.presented_token() is
  'The session token of this PostgREST request (cookie, else X-Blossom-Session header), or null.';

/* Before a sign-in or sign-up replaces it: the session the browser had ends. */
create function auth.end_presented_session(p_token text) returns void
language plpgsql volatile
as $$
begin
  if util.token_is_wellformed(p_token) then
    update app.sessions s set revoked_at = pg_catalog.now()
     where s.token_hash = util.token_hash(p_token) and s.revoked_at is null;
  end if;
end
$$;

comment on function auth.end_presented_session(text) is
  'Revokes the session of the token the browser presented, if it is one; a sign-in replaces it.';

/* Before a login starts one: the account's sessions that earlier sign-ins from this browser (its
   device) started, which its cookie no longer holds. Two logins at once from one browser (a double
   submit) each started a session, and the browser kept only the last Set-Cookie: the other stayed
   valid for its whole lifetime, listed among the account's sessions but held by no cookie. Under
   the account's login lock, the second login ends the first one's session; so does the next login
   from a browser that never received a session's answer. */
create function auth.end_device_sessions(p_user app.user_id, p_device_token_hash bytea) returns void
language sql volatile
begin atomic
  update app.sessions s set revoked_at = pg_catalog.now()
   where s.user_id = p_user and s.device_token_hash = p_device_token_hash and s.revoked_at is null;
end;

comment on function auth.end_device_sessions(app.user_id, bytea) is
  'Revokes the user''s sessions issued to the browser of the device (its token''s SHA-256); a login from it replaces them.';

/* For the edge, after a read-only request it relayed with this token and PostgREST's answer
   said the session is due (auth.session_identity's `stale`): the pre-request could not mark it
   in a read-only transaction, and a reader who never writes would meet the idle timeout. Like
   the pre-request, it touches a valid session at most once a minute; an invalid, expired or
   idle one stays as it is. */
create function auth.touch_session(p_token text) returns boolean
language plpgsql volatile security definer set search_path = ''
as $$
begin
  return (auth.session_from_token(p_token, true)).id is not null;
end
$$;

comment on function auth.touch_session(text) is
  'Marks the session of a valid token as used now (at most once a minute); whether it is valid. Errors: 500 server.invalid_setting.';

/* The edge's GET /auth/session. The account is read after the session, in a statement of its
   own: held (auth.require_held_account), so that an operator's deletion committed in between
   (the session gone with it) is found, and one under way is waited for, rather than answered
   with a user of nulls. */
create function auth.session_info(p_token text) returns jsonb
language plpgsql volatile security definer set search_path = ''
as $$
declare
  v_session app.sessions := auth.session_from_token(p_token, true);
  v_user app.users := auth.require_held_account(v_session.user_id);
begin
  return pg_catalog.jsonb_build_object(
    'user', auth.user_json(v_user),
    'session', pg_catalog.jsonb_build_object(
      'id', v_session.id, 'created_at', v_session.created_at, 'expires_at', v_session.expires_at));
end
$$;

comment on function auth.session_info(text) is
  'The user and session of a valid token. Errors: 401 auth.not_signed_in (no valid session, or its account is gone), 500 server.invalid_setting.';

create function auth.logout(p_token text, p_client_addr inet default null) returns boolean
language plpgsql volatile security definer set search_path = ''
as $$
declare
  v_session app.sessions;
begin
  if not util.token_is_wellformed(p_token) then
    return false;
  end if;
  /* The account's row before the session's, the order its deletion takes them in (its row, then
     its sessions with it): the session taken first, then the account's row waited for (the audit
     event's foreign key), was a deadlock with a deletion under way (40P01). An account gone took
     its sessions with it: there is none to revoke. */
  perform auth.held_account(s.user_id) from app.sessions s where s.token_hash = util.token_hash(p_token);
  update app.sessions s set revoked_at = pg_catalog.now()
   where s.token_hash = util.token_hash(p_token) and s.revoked_at is null
  returning s.* into v_session;
  if not found then
    return false;
  end if;
  perform auth.audit('auth.logout', v_session.user_id, v_session.id, p_client_addr);
  return true;
end
$$;

comment on function auth.logout(text, inet) is
  'Revokes the token''s session; true when there was one to revoke. Never an error.';

create function auth.logout_all(p_token text, p_client_addr inet default null) returns integer
language plpgsql volatile security definer set search_path = ''
as $$
declare
  v_session app.sessions := auth.session_from_token(p_token, false);
  v_count integer;
begin
  if v_session.id is null then
    perform util.raise_error(401, 'auth.not_signed_in', 'Sign in first.');
  end if;
  -- The account's login lock: a login under way ends first, and its session is revoked too.
  perform auth.lock_account(v_session.user_id);
  -- The session read again under the lock: one that a password change or a reset ended while
  -- this waited for it signed out the session the change had just given its owner.
  if (auth.session_from_token(p_token, false)).id is null then
    perform util.raise_error(401, 'auth.not_signed_in', 'Sign in first.');
  end if;
  update app.sessions s set revoked_at = pg_catalog.now()
   where s.user_id = v_session.user_id and s.revoked_at is null;
  get diagnostics v_count = row_count;
  perform auth.audit('auth.logout_all', v_session.user_id, v_session.user_id, p_client_addr,
                     pg_catalog.jsonb_build_object('sessions', v_count));
  return v_count;
end
$$;

comment on function auth.logout_all(text, inet) is
  'Revokes every session of the token''s user. Errors: 401 auth.not_signed_in (no valid session), 500 server.invalid_setting.';
