/*
 * Rate limits and quotas: sliding windows over app.rate_limit_hits, the counters that the auth
 * limits (sql/functions/auth/failed_logins.sql, signup.sql, password_reset.sql) and the
 * organization quotas (below) share. Hits are recorded by functions that return normally (a
 * failed login is a result, not an error), so the count survives.
 *
 * Exact under concurrency: a function that counts and then adds to a key's hits first takes
 * that key's lock (app.lock_rate_key), held to the end of its transaction, so a second
 * attempt on the key waits, then counts the first one's hit (each statement of READ
 * COMMITTED sees what committed before it). Without the lock, 40 parallel wrong logins all
 * counted 0..9 hits and 19 passwords were tried against a limit of 10.
 *
 * The locks (these, app.lock_org, app.lock_ai) are taken by the owner, in the SECURITY DEFINER
 * functions of auth and api that call them: no other role may take an advisory lock
 * (sql/database.sql), so no one can hold the lock of another's logins or organization from a
 * connection of their own; and each is keyed by its name's SHA-256 (util.lock_key), so that no
 * name a caller types (an address) takes another's lock either.
 */
create function app.lock_rate_key(p_kind text, p_key text) returns void
language sql volatile
begin atomic
  select pg_catalog.pg_advisory_xact_lock(util.lock_key('rate:' || p_kind || ':' || p_key));
end;

comment on function app.lock_rate_key(text, text) is
  'Takes the transaction''s lock on a rate-limit key: attempts on one key are counted one after the other.';

create function app.rate_limit_retry_after(p_kind text, p_key text, p_limit integer, p_window interval)
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
  select pg_catalog.count(*)::integer, pg_catalog.min(recent.at) into v_count, v_oldest
    from (select h.at from app.rate_limit_hits h
           where h.kind = p_kind and h.key = pg_catalog.left(p_key, 320) and h.at > pg_catalog.now() - p_window
           order by h.at desc
           limit p_limit) recent;
  if v_count < p_limit then
    return null;
  end if;
  -- The window frees a slot when the oldest of the last p_limit hits leaves it.
  return greatest(1, pg_catalog.ceil(extract(epoch from v_oldest + p_window - pg_catalog.now()))::integer);
end
$$;

comment on function app.rate_limit_retry_after(text, text, integer, interval) is
  'Seconds to wait when the key (cut to 320 characters, as stored) already has p_limit hits of this kind within the window; null when under the limit.';

/* A growing delay rather than a wall: after p_free hits within the window, each further try
   waits 2^(hits - p_free) seconds after the last hit, at most p_max_seconds. */
create function app.rate_limit_backoff(
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
  select pg_catalog.count(*)::integer, pg_catalog.max(h.at) into v_count, v_last
    from app.rate_limit_hits h
   where h.kind = p_kind and h.key = pg_catalog.left(p_key, 320) and h.at > pg_catalog.now() - p_window;
  if v_count < p_free then
    return null;
  end if;
  v_wait := pg_catalog.ceil(extract(epoch from
              v_last + pg_catalog.make_interval(secs => least(2.0 ^ (v_count - p_free), p_max_seconds)) - pg_catalog.now()))::integer;
  return case when v_wait > 0 then v_wait end;
end
$$;

comment on function app.rate_limit_backoff(text, text, integer, interval, integer) is
  'Seconds to wait when the key has p_free or more hits within the window: 2^(hits - p_free) after the last, at most p_max_seconds; else null.';

create function app.rate_limit_hit(p_kind text, p_key text) returns void
language plpgsql volatile
as $$
begin
  if p_key is not null then
    insert into app.rate_limit_hits (kind, key) values (p_kind, pg_catalog.left(p_key, 320));
  end if;
end
$$;

comment on function app.rate_limit_hit(text, text) is 'Counts one event of this kind for the key.';

/*
 * Quotas on what one account or one organization makes: invitations, each of which sends a
 * mail, organizations, and renames, each of which posts to the organization's Slack channel
 * (a flood of them filled the job queue that every tenant's posts wait in), role changes, each
 * an event of the audit trail (which only grows), and AI requests,
 * each of which spends the organization's monthly tokens or, cached, writes a ledger row
 * (ext.ai_reserve). They are counted in app.rate_limit_hits, like the auth rate limits, over a
 * sliding window (app.rate_limit_retry_after): one hit for each thing made, in the transaction
 * that makes it, which stays when the thing is revoked or deleted afterwards, so revoking and
 * sending again buys nothing. Each limit is a setting (util.limit_setting: at least 1), so that
 * a database may set its own (`alter database ... set app.settings.<name> = ...`):
 *
 *   kind         key              setting                           default  window
 *   invite.user  the sender       invitations_per_user_per_hour     20       1 hour
 *   invite.org   the organization invitations_per_org_per_hour      50       1 hour
 *   invite.address the organization and the address  invitations_per_address_per_org_per_hour  3  1 hour
 *   org.create   the creator      organizations_per_user_per_day    10       24 hours
 *   slack.connect the organization slack_connects_per_org_per_hour   10       1 hour
 *   org.rename   the organization renames_per_org_per_hour          20       1 hour
 *   org.transfer the organization transfers_per_org_per_hour        20       1 hour
 *   org.role_change the member who makes it  role_changes_per_user_per_hour  100  1 hour
 *   ai.user      the caller       ai_calls_per_user_per_hour        30       1 hour
 *
 * pipeline.purge_auth keeps hits for 24 hours, the longest window. Windows are elapsed time, in
 * hours, never days: `now() - interval '1 day'` is a day of the session's wall clock, 23 or 25
 * hours across a change of its clocks.
 */

/* Takes one unit of a quota for a key: null when one was left (it is counted now), else the
   seconds until one frees up (nothing counted). Exact under concurrency: the key's transaction
   lock comes first, so the calls for one key count one after the other, and each counts in a
   statement of its own, whose snapshot (READ COMMITTED, as PostgREST runs) is taken after the
   lock and so holds the hits of every call before it that committed. */
create function app.take_quota(p_kind text, p_key text, p_limit integer, p_window interval) returns integer
language plpgsql volatile
as $$
declare
  v_retry integer;
begin
  perform app.lock_rate_key(p_kind, p_key);
  v_retry := app.rate_limit_retry_after(p_kind, p_key, p_limit, p_window);
  if v_retry is null then
    perform app.rate_limit_hit(p_kind, p_key);
  end if;
  return v_retry;
end
$$;

comment on function app.take_quota(text, text, integer, interval) is
  'Counts one hit of the kind for the key and returns null when under the limit within the window; else the seconds to wait, counting nothing.';

/* One quota's hit spent, or the call refused: 429 with the caller's code and message, and the
   seconds to wait as Retry-After. codegen reads p_code as the code its caller can raise
   (codegen/config.py), as it reads util.raise_error's. */
create function app.spend_quota(p_kind text, p_key text, p_limit integer, p_window interval, p_code text, p_message text)
returns void
language plpgsql volatile
as $$
declare
  v_retry integer := app.take_quota(p_kind, p_key, p_limit, p_window);
begin
  if v_retry is not null then
    perform util.raise_error(429, p_code, p_message, null, pg_catalog.jsonb_build_object('Retry-After', v_retry::text));
  end if;
end
$$;

comment on function app.spend_quota(text, text, integer, interval, text, text) is
  'Counts one hit of the kind for the key (app.take_quota), or raises 429 p_code with p_message and Retry-After when the limit is reached within the window.';
