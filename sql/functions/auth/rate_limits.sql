/*
 * Rate limits: a sliding window over app.rate_limit_hits. Hits are recorded by functions that
 * return normally (a failed login is a result, not an error), so the count survives.
 *
 * Exact under concurrency: a function that counts and then adds to a key's hits first takes
 * that key's lock (auth.lock_rate_key), held to the end of its transaction, so a second
 * attempt on the key waits, then counts the first one's hit (each statement of READ
 * COMMITTED sees what committed before it). Without the lock, 40 parallel wrong logins all
 * counted 0..9 hits and 19 passwords were tried against a limit of 10.
 */
create function auth.lock_rate_key(p_kind text, p_key text) returns void
language sql volatile
begin atomic
  select pg_catalog.pg_advisory_xact_lock(pg_catalog.hashtextextended('rate:' || p_kind || ':' || p_key, 0));
end;

comment on function auth.lock_rate_key(text, text) is
  'Takes the transaction''s lock on a rate-limit key: attempts on one key are counted one after the other.';

create function auth.rate_limit_retry_after(p_kind text, p_key text, p_limit integer, p_window interval)
returns integer
language plpgsql stable
as $$
declare
  v_count integer;
  v_oldest timestamptz;
begin
  if p_key is null then
    return null;
  end if;
  select count(*), min(recent.at) into v_count, v_oldest
    from (select h.at from app.rate_limit_hits h
           where h.kind = p_kind and h.key = left(p_key, 320) and h.at > now() - p_window
           order by h.at desc
           limit p_limit) recent;
  if v_count < p_limit then
    return null;
  end if;
  -- The window frees a slot when the oldest of the last p_limit hits leaves it.
  return greatest(1, ceil(extract(epoch from v_oldest + p_window - now()))::integer);
end
$$;

comment on function auth.rate_limit_retry_after(text, text, integer, interval) is
  'Seconds to wait when the key (cut to 320 characters, as stored) already has p_limit hits of this kind within the window; null when under the limit.';

/* A growing delay rather than a wall: after p_free hits within the window, each further try
   waits 2^(hits - p_free) seconds after the last hit, at most p_max_seconds. */
create function auth.rate_limit_backoff(
  p_kind text, p_key text, p_free integer, p_window interval, p_max_seconds integer
) returns integer
language plpgsql stable
as $$
declare
  v_count integer;
  v_last timestamptz;
  v_wait integer;
begin
  if p_key is null then
    return null;
  end if;
  select count(*), max(h.at) into v_count, v_last
    from app.rate_limit_hits h
   where h.kind = p_kind and h.key = left(p_key, 320) and h.at > now() - p_window;
  if v_count < p_free then
    return null;
  end if;
  v_wait := ceil(extract(epoch from
              v_last + pg_catalog.make_interval(secs => least(2.0 ^ (v_count - p_free), p_max_seconds)) - now()));
  return case when v_wait > 0 then v_wait end;
end
$$;

comment on function auth.rate_limit_backoff(text, text, integer, interval, integer) is
  'Seconds to wait when the key has p_free or more hits within the window: 2^(hits - p_free) after the last, at most p_max_seconds; else null.';

create function auth.rate_limit_hit(p_kind text, p_key text) returns void
language plpgsql volatile
as $$
begin
  if p_key is not null then
    insert into app.rate_limit_hits (kind, key) values (p_kind, left(p_key, 320));
  end if;
end
$$;

comment on function auth.rate_limit_hit(text, text) is 'Counts one event of this kind for the key.';

/* A limit that operators may change per database (alter database ... set app.settings.<name>). */
create function auth.limit_setting(p_name text, p_default integer) returns integer
language sql stable parallel safe
return greatest(auth.setting(p_name, p_default::text)::integer, 1);

comment on function auth.limit_setting(text, integer) is
  'The whole-number setting app.settings.<name> (at least 1), or the default.';

/*
 * Failed logins. A wrong password at login and a wrong current password at a password change
 * both count: either is a guess at the same secret. Where the guess comes from decides what
 * it spends, so that nobody can lock the owner out of their own browser:
 *
 * - from a device of the account (the device cookie of a browser that signed in to it
 *   before, auth.known_device): 10 per 15 minutes for that device, and nothing else applies;
 * - from anywhere else: 10 per 15 minutes per (email, address) pair; 100 per 15 minutes per
 *   address, whatever the email (one address trying many accounts); and per email, from
 *   every address together, a growing delay once 20 failed within the hour (1 s, 2 s, 4 s
 *   ... after the last failure, at most 15 minutes), never a lock-out of its own.
 *
 * Callers take the account's lock first (auth.lock_rate_key('login', email)), so the
 * per-account counts are exact whatever the concurrency; the per-address count may be passed
 * by as many attempts as run at once.
 */
create function auth.failed_logins_retry_after(p_email_key text, p_addr text, p_device bytea) returns integer
language sql stable
return case
  when p_device is not null then
    auth.rate_limit_retry_after('login.device', pg_catalog.encode(p_device, 'hex'), 10, interval '15 minutes')
  else greatest(
    auth.rate_limit_retry_after('login.pair', p_addr || ' ' || p_email_key, 10, interval '15 minutes'),
    auth.rate_limit_retry_after('login.addr', p_addr, 100, interval '15 minutes'),
    auth.rate_limit_backoff('login.email', p_email_key, 20, interval '1 hour', 900))
  end;

comment on function auth.failed_logins_retry_after(text, text, bytea) is
  'Seconds to wait before the next password guess for this email from this address (or known device); null when it may be tried now.';

create function auth.count_failed_login(p_email_key text, p_addr text, p_device bytea) returns void
language plpgsql volatile
as $$
begin
  if p_device is not null then
    perform auth.rate_limit_hit('login.device', pg_catalog.encode(p_device, 'hex'));
    return;
  end if;
  perform auth.rate_limit_hit('login.pair', p_addr || ' ' || p_email_key);
  perform auth.rate_limit_hit('login.addr', p_addr);
  perform auth.rate_limit_hit('login.email', p_email_key);
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
   where (h.kind = 'login.pair' and h.key = left(p_addr || ' ' || p_email_key, 320))
      or (h.kind = 'login.device' and h.key = pg_catalog.encode(p_device, 'hex'));
end;

comment on function auth.forget_failed_logins(text, text, bytea) is
  'Clears the failed logins this client (its email and address pair, or its device) counted.';

/* The answer of an auth function that refuses without raising (which would roll back what it
   counted): the edge answers it with this status, code and message, and Retry-After. */
create function auth.refusal(p_status integer, p_code text, p_message text, p_retry_after integer default null)
returns jsonb
language sql immutable parallel safe
return pg_catalog.jsonb_strip_nulls(pg_catalog.jsonb_build_object(
  'ok', false, 'status', p_status, 'code', p_code, 'message', p_message, 'retry_after', p_retry_after));

comment on function auth.refusal(integer, text, text, integer) is
  'A refusal returned as a result: {ok: false, status, code, message, retry_after?}.';

create function auth.rate_limited(p_retry_after integer, p_message text default 'Too many attempts; try again later.')
returns jsonb
language sql immutable parallel safe
return auth.refusal(429, 'auth.rate_limited', p_message, p_retry_after);

comment on function auth.rate_limited(integer, text) is 'The refusal 429 auth.rate_limited with the seconds to wait.';
