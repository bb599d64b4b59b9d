/*
 * The AI ledger's arithmetic (sql/schema/050_ai.sql): the month, the quota, what is held
 * against it. A month is a calendar month in UTC, whatever the session's time zone.
 *
 * What is held against an organization's quota is what it was charged this month plus the
 * reservations of calls under way. A reservation is the most its call can use; a call is let
 * through while the held tokens are below the quota, under the organization's AI lock
 * (app.lock_ai), so calls made at once are counted one after the other and the month's
 * charge ends below the quota plus one call's worth. A reservation that was never settled (the
 * edge died during the call, or could not reach the database to settle it) stops being held
 * after app.ai_reservation_lifetime(), and is charged what it reserved from then on.
 */

create function app.lock_ai(p_org app.org_id) returns void
language sql volatile
begin atomic
  select pg_catalog.pg_advisory_xact_lock(util.lock_key('ai:' || p_org));
end;

comment on function app.lock_ai(app.org_id) is
  'Takes the transaction''s lock on an organization''s AI quota: its calls are admitted one after the other.';

create function app.ai_month_start() returns timestamptz
language sql stable parallel safe
return pg_catalog.date_trunc('month', pg_catalog.now(), 'UTC');

comment on function app.ai_month_start() is 'The start of the current calendar month in UTC, when AI quotas start again.';

/* A month added in UTC: added to a timestamptz, it is added on the session's wall clock (a
   server's time zone, which initdb takes from the machine's), and ended elsewhere: in a zone west
   of UTC, this month began on the last day of the month before, and a month after that day, or a
   change of summer time between, is not the next month's start in UTC (a day and more early). */
create function app.ai_next_month_start() returns timestamptz
language sql stable parallel safe
return (pg_catalog.date_trunc('month', pg_catalog.now() at time zone 'UTC') + interval '1 month') at time zone 'UTC';

comment on function app.ai_next_month_start() is 'The start of the next calendar month in UTC, when AI quotas start again.';

/* Far longer than the edge waits for the provider (BLOSSOM_OPENAI_TIMEOUT_SECONDS, at most 300 s). */
create function app.ai_reservation_lifetime() returns interval
language sql immutable parallel safe
return interval '10 minutes';

comment on function app.ai_reservation_lifetime() is
  'How long an unsettled reservation is held against the quota (its call has long timed out by then); then it is charged what it reserved.';

/* A reservation whose call is under way: held against the quota (app.ai_usage_view), and its
   request not made again meanwhile (ext.ai_reserve). Inlined where it is called. */
create function app.ai_under_way(p_usage app.ai_usage) returns boolean
language sql stable parallel safe
return p_usage.outcome = 'reserved' and p_usage.started_at > pg_catalog.now() - app.ai_reservation_lifetime();

comment on function app.ai_under_way(app.ai_usage) is
  'Whether the reservation''s call is under way: reserved, and younger than app.ai_reservation_lifetime().';

create function app.ai_quota(p_org app.org_id) returns integer
language sql stable parallel safe
begin atomic
  select coalesce(
    (select q.monthly_tokens::integer from app.ai_quotas q where q.org_id = p_org),
    least(util.limit_setting('ai_monthly_tokens', 1000000), 1000000000));
end;

comment on function app.ai_quota(app.org_id) is
  'The organization''s monthly token quota: its row in app.ai_quotas, else app.settings.ai_monthly_tokens (default 1000000, at most 10^9).';

/* This month's tokens of an organization: charged (the calls answered, and the reservations that
   lapsed unsettled, charged what they reserved: their call was made (the edge died during it, or
   the database could not be reached to settle it: edge/ai.py logs that at ERROR), what it cost is
   unknown to the ledger, and the most it could cost is its reservation; charged nothing, their
   tokens were charged to nobody, and the quota undercounted), held by the calls under way, and
   the calls answered. What the quota admits each call by (ext.ai_reserve). Read from the rows that
   carry tokens only (ai_usage_charged_org_id_started_at_idx), whose number the quota bounds: the
   month's cached and failed requests, free, which only each member's hourly limit bounds, were
   read too, every row of them, before each call (sql/tests/ai_ledger_reads.sql). No sequential
   scan: a function of SQL is planned for any organization, and where the statistics said much of
   the ledger was the caller's, or the index was swollen with rows deleted since, the whole ledger
   looked cheaper to read than the index, and was read. */
create function app.ai_charges(p_org app.org_id, out used_tokens integer, out reserved_tokens integer, out calls integer)
language sql stable parallel safe set enable_seqscan = off
begin atomic
  select (coalesce(pg_catalog.sum(u.prompt_tokens + u.completion_tokens), 0)
          + coalesce(pg_catalog.sum(u.reserved_tokens) filter (
              where u.outcome = 'reserved' and not app.ai_under_way(u)), 0))::integer,
         coalesce(pg_catalog.sum(u.reserved_tokens) filter (
           where app.ai_under_way(u)), 0)::integer,
         (pg_catalog.count(*) filter (where u.outcome = 'answered'))::integer
    from app.ai_usage u
   where u.org_id = p_org and u.started_at >= app.ai_month_start() and u.outcome in ('answered', 'reserved');
end;

comment on function app.ai_charges(app.org_id) is
  'The organization''s AI tokens this month: charged (answered, and reservations lapsed unsettled), held by calls under way, and the calls answered.';

/* This month's requests of an organization answered from the cache, counted from the ledger:
   what app.ai_cached_calls counts as they are made, for a month it holds no count of (begun before
   there were counts). Every such row of the month is read: only ext.ai_reserve's first request of
   a month answered from the cache asks it, and app.ai_usage_view of a month without one. */
create function app.ai_cached_calls_in_ledger(p_org app.org_id) returns bigint
language sql stable parallel safe
begin atomic
  select pg_catalog.count(*) from app.ai_usage u
   where u.org_id = p_org and u.started_at >= app.ai_month_start() and u.outcome = 'cached';
end;

comment on function app.ai_cached_calls_in_ledger(app.org_id) is
  'The organization''s requests answered from the cache this month, counted from the ledger''s rows.';

/* This month's ledger of an organization, summed, as api.get_ai_usage returns it: the tokens
   (app.ai_charges), the requests answered from the cache as counted when made
   (app.ai_cached_calls; from the ledger for a month that has no count, only one begun before
   there were counts or that had none), and the failed calls, in their own index. The month's
   rows, the free ones among them, were all read on each call before (sql/tests/ai_ledger_reads.sql).
   No sequential scan, as app.ai_charges says. */
create function app.ai_usage_view(p_org app.org_id) returns api.ai_usage
language sql stable parallel safe set enable_seqscan = off
begin atomic
  select p_org, app.ai_month_start(), app.ai_quota(p_org), c.used_tokens, c.reserved_tokens, c.calls,
         coalesce(
           (select k.calls from app.ai_cached_calls k where k.org_id = p_org and k.month_start = app.ai_month_start()),
           app.ai_cached_calls_in_ledger(p_org))::integer,
         (select pg_catalog.count(*) from app.ai_usage u
           where u.org_id = p_org and u.started_at >= app.ai_month_start() and u.outcome = 'failed')::integer
    from app.ai_charges(p_org) c;
end;

comment on function app.ai_usage_view(app.org_id) is
  'The organization''s AI spend this month: quota, tokens charged and held, calls answered, cached and failed.';

/* The session's own reservation under way, locked for settling. One the caller cannot see at
   all went with its organization, deleted during the call (the ledger goes with it), or was
   never theirs: 404 org.not_found, as for a non-member (it answered 500). One they can see but
   no longer under way is an error: only the edge calls this, once, with the id ext.ai_reserve
   gave it. The organization's lock comes first, as deleting it takes it first: settling locked
   the reservation, then cached the answer, whose row names the organization, while a deletion
   locked the organization's row, then waited for the reservation's (its ledger goes with it),
   and each waited for the other (40P01). */
create function app.ai_reservation(p_reservation_id bigint) returns app.ai_usage
language plpgsql volatile
as $$
declare
  v_usage app.ai_usage;
begin
  perform app.lock_org(u.org_id) from app.ai_usage u where u.id = p_reservation_id;
  select u.* into v_usage
    from app.ai_usage u
   where u.id = p_reservation_id and u.outcome = 'reserved' and u.user_id = app.current_user_id()
     for update;
  /* Its organization deleted during the call: the reservation is the history the purge deletes. */
  if not found or not app.organization_exists(v_usage.org_id) then
    if not exists (select from app.ai_usage u where u.id = p_reservation_id and app.organization_exists(u.org_id)) then
      perform util.raise_error(404, 'org.not_found', 'No such organization.');
    end if;
    raise exception 'no AI reservation % under way for this session''s user', p_reservation_id;
  end if;
  return v_usage;
end
$$;

comment on function app.ai_reservation(bigint) is
  'The signed-in user''s AI reservation under way, locked: not found when they cannot see it (its organization deleted, or never theirs); an error when it is no longer under way. Errors: 404 org.not_found.';
