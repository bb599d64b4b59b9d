/*
 * Rate limits: a sliding window over app.rate_limit_hits. Hits are recorded by functions that
 * return normally (a failed login is a result, not an error), so the count survives.
 */
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
           where h.kind = p_kind and h.key = p_key and h.at > now() - p_window
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
  'Seconds to wait when the key already has p_limit hits of this kind within the window; null when under the limit.';

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

/* Failed logins: one budget of 10 per 15 minutes per lower-cased email and per client address.
   A wrong password at login and a wrong current password at a password change both spend it:
   either is a guess at the same secret. */
create function auth.failed_logins_retry_after(p_email_key text, p_addr text) returns integer
language sql stable
return greatest(auth.rate_limit_retry_after('login.email', p_email_key, 10, interval '15 minutes'),
                auth.rate_limit_retry_after('login.addr', p_addr, 10, interval '15 minutes'));

comment on function auth.failed_logins_retry_after(text, text) is
  'Seconds to wait when the email or the address has used up its failed logins; null otherwise.';

create function auth.count_failed_login(p_email_key text, p_addr text) returns void
language plpgsql volatile
as $$
begin
  perform auth.rate_limit_hit('login.email', p_email_key);
  perform auth.rate_limit_hit('login.addr', p_addr);
end
$$;

comment on function auth.count_failed_login(text, text) is 'Counts a wrong password against the email and the address.';

/* Proving the password clears the account's failures (not the address's: others may share it). */
create function auth.forget_failed_logins(p_email_key text) returns void
language sql volatile
begin atomic
  delete from app.rate_limit_hits h where h.kind = 'login.email' and h.key = p_email_key;
end;

comment on function auth.forget_failed_logins(text) is 'Clears the failed logins counted against the email.';
