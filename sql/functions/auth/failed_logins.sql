/*
 * Failed logins. A wrong password at login and a wrong current password at a password change
 * both count: either is a guess at the same secret. Where the guess comes from decides what
 * it spends, so that nobody can lock the owner out of their own browser:
 *
 * - from a device of the account (the device cookie of a browser that signed in to it
 *   before, auth.known_device): 10 per 15 minutes for that device and account, and nothing
 *   else applies;
 * - from anywhere else: 10 per 15 minutes per (email, address) pair; 100 per 15 minutes per
 *   address, whatever the email (one address trying many accounts); and per email, from
 *   every address together, a growing delay once 20 failed within the hour (1 s, 2 s, 4 s
 *   ... after the last failure, at most 15 minutes), never a lock-out of its own.
 *
 * Callers take the account's lock first (app.lock_rate_key('login', email)), so the
 * per-account counts are exact whatever the concurrency; the per-address count may be passed
 * by as many attempts as run at once.
 */
/* The account's lock, taken for a user by what writes its password or its sessions (a password
   change, a reset, signing out everywhere) as a login takes it for the email typed: they happen
   one after another. Returns the account's email key (null, and no lock, for no such user). The
   account's row is held first (auth.held_account): its deletion under way is waited for, and the
   callers then find their session or link gone with it, rather than failing on the audit event
   that names the account. */
create function auth.lock_account(p_user app.user_id) returns text
language plpgsql volatile
as $$
declare
  v_key text;
begin
  v_key := pg_catalog.left(pg_catalog.lower((auth.held_account(p_user)).email), 320);
  if v_key is not null then
    perform app.lock_rate_key('login', v_key);
  end if;
  return v_key;
end
$$;

comment on function auth.lock_account(app.user_id) is
  'Holds the user''s account row and takes its account lock (app.lock_rate_key(''login'', email key)), as a login does; returns the email key, null for no such user.';

create function auth.failed_logins_retry_after(p_email_key text, p_addr text, p_device bytea) returns integer
language sql stable
return case
  when p_device is not null then
    app.rate_limit_retry_after('login.device', pg_catalog.encode(p_device, 'hex') || ' ' || p_email_key, 10, interval '15 minutes')
  else greatest(
    app.rate_limit_retry_after('login.pair', p_addr || ' ' || p_email_key, 10, interval '15 minutes'),
    app.rate_limit_retry_after('login.addr', p_addr, 100, interval '15 minutes'),
    app.rate_limit_backoff('login.email', p_email_key, 20, interval '1 hour', 900))
  end;

comment on function auth.failed_logins_retry_after(text, text, bytea) is
  'Seconds to wait before the next password guess for this email from this address (or known device); null when it may be tried now.';

create function auth.count_failed_login(p_email_key text, p_addr text, p_device bytea) returns void
language plpgsql volatile
as $$
begin
  if p_device is not null then
    perform app.rate_limit_hit('login.device', pg_catalog.encode(p_device, 'hex') || ' ' || p_email_key);
    return;
  end if;
  perform app.rate_limit_hit('login.pair', p_addr || ' ' || p_email_key);
  perform app.rate_limit_hit('login.addr', p_addr);
  perform app.rate_limit_hit('login.email', p_email_key);
end
$$;

comment on function auth.count_failed_login(text, text, bytea) is
  'Counts a wrong password against the device, or the (email, address) pair, the address and the email.';

/* Proving the password clears what this client spent (its pair, or its device); not the
   address's or the email's counts, which other people's attempts make too. */
create function auth.forget_failed_logins(p_email_key text, p_addr text, p_device bytea) returns void
language sql volatile
begin atomic
  delete from app.rate_limit_hits h
   where (h.kind = 'login.pair' and h.key = pg_catalog.left(p_addr || ' ' || p_email_key, 320))
      or (h.kind = 'login.device' and h.key = pg_catalog.left(pg_catalog.encode(p_device, 'hex') || ' ' || p_email_key, 320));
end;

comment on function auth.forget_failed_logins(text, text, bytea) is
  'Clears the failed logins this client (its email and address pair, or its device) counted.';
