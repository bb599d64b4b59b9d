/*
 * Devices: a browser that signed in gets a long-lived device cookie (a random token;
 * app.devices keeps its SHA-256, with a row for each account that signed in from it). Its
 * password attempts for those accounts are then limited on their own
 * (auth.failed_logins_retry_after), so that nobody else's guesses, from any address, can lock
 * the owner out of their own browser. One cookie per browser, whichever accounts sign in from
 * it: a second account does not take the first one's device away. A device is forgotten a year
 * after its last sign-in, and an account keeps its 20 most recent.
 */

/* The device of a token when it is a known device of the user; null for a made-up token, a
   forgotten one, or another account's browser. */
create function auth.known_device(p_token text, p_user app.user_id) returns bytea
language plpgsql stable
as $$
begin
  if not util.token_is_wellformed(p_token) then
    return null;
  end if;
  return (select d.token_hash from app.devices d
           where d.token_hash = util.token_hash(p_token)
             and d.user_id = p_user
             and d.last_used_at > pg_catalog.now() - interval '1 year');
end
$$;

comment on function auth.known_device(text, app.user_id) is
  'SHA-256 of the device token when it names a device the user signed in from within a year; else null.';

/* After a sign-in from this browser: the browser's device (the presented token, when it is one
   we made) becomes, or stays, one of the user's; a browser without one gets a new token.
   Returns the token the cookie is to hold. */
create function auth.remember_device(p_user app.user_id, p_token text) returns text
language plpgsql volatile
as $$
declare
  v_token text := p_token;
begin
  if not util.token_is_wellformed(v_token)
     or not exists (select from app.devices d where d.token_hash = util.token_hash(v_token)) then
    v_token := util.new_token();
  end if;
  insert into app.devices as d (token_hash, user_id) values (util.token_hash(v_token), p_user)
  on conflict (token_hash, user_id) do update set last_used_at = pg_catalog.now();
  delete from app.devices d
   where d.user_id = p_user
     and d.token_hash not in (select r.token_hash from app.devices r where r.user_id = p_user
                               order by r.last_used_at desc limit 20);
  return v_token;
end
$$;

comment on function auth.remember_device(app.user_id, text) is
  'Makes the browser''s device (the presented token when we made it, else a new one) one of the user''s after a sign-in; returns its token.';
