/*
 * Quotas on what one account or one organization makes: invitations, each of which sends a
 * mail, and organizations. They are counted in app.rate_limit_hits, like the auth rate limits,
 * over a sliding window (auth.rate_limit_retry_after): one hit for each thing made, in the
 * transaction that makes it, which stays when the thing is revoked or deleted afterwards, so
 * revoking and sending again buys nothing. Each limit is a setting (auth.setting), so that a
 * database may set its own (`alter database ... set app.settings.<name> = ...`):
 *
 *   kind         key              setting                           default  window
 *   invite.user  the sender       invitations_per_user_per_hour     20       1 hour
 *   invite.org   the organization invitations_per_org_per_hour      50       1 hour
 *   org.create   the creator      organizations_per_user_per_day    10       1 day
 *
 * pipeline.purge_auth keeps hits for a day, the longest window.
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
  perform pg_catalog.pg_advisory_xact_lock(pg_catalog.hashtextextended('rate:' || p_kind || ':' || p_key, 0));
  v_retry := auth.rate_limit_retry_after(p_kind, p_key, p_limit, p_window);
  if v_retry is null then
    perform auth.rate_limit_hit(p_kind, p_key);
  end if;
  return v_retry;
end
$$;

comment on function app.take_quota(text, text, integer, interval) is
  'Counts one hit of the kind for the key and returns null when under the limit within the window; else the seconds to wait, counting nothing.';
