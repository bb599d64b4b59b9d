/* The daily metrics per organization (analytics.org_daily_metrics), in two parts of least
   privilege:

   pipeline.org_daily_counts(day) counts every tenant's rows, so it runs as metrics_reader (a
   definer function owned by that no-login role, which reads the columns it counts and nothing
   else, under the policies metrics_read of sql/policies/analytics.sql). It writes nothing.

   pipeline.refresh_org_daily_metrics(day) runs as its caller, the role pipeline, which may
   write analytics: it replaces the day's rows with the counts (each organization's row written
   over), in one transaction, under a lock on the table that two refreshes cannot both hold, so
   re-running a day (or two runs of it at once) leaves exactly one row per organization. Days
   are UTC days. */

/* Made by its owner, who may create in the schema only for that moment. */
grant usage on schema app to metrics_reader;
grant usage on schema analytics to metrics_reader;
grant usage, create on schema pipeline to metrics_reader;
set local role metrics_reader;

create function pipeline.org_daily_counts(p_day date)
returns table (
  org_id app.org_id,
  members bigint,
  invitations_sent bigint,
  invitations_accepted bigint,
  logins bigint,
  active_users bigint,
  ai_tokens bigint
)
language plpgsql stable security definer
/* The day's actors (a hundred thousand on the bench's data) are grouped in memory. Neither JIT
   nor parallel workers: on the bench's data (bench/daily_metrics.py, 2 cores) the plan's cost
   passes jit_above_cost, and compiling it took 100 ms of a 0.3 s query; each of two workers
   built the same hash of the day's actors again (its aggregate cannot be shared), and the
   three builds on two cores took 0.15 s more than one. Both off, a refresh took 0.29 s where
   it took 0.55. */
set search_path = '' set work_mem = '64MB' set jit = off set max_parallel_workers_per_gather = 0
as $$
declare
  v_start timestamptz;
  v_end timestamptz;
  v_lifetime constant interval := app.ai_reservation_lifetime();
  /* A reservation begun then or before is no longer under way (app.ai_under_way, which reads the
     whole row, where metrics_reader may read only the columns it counts). */
  v_lapsed_before constant timestamptz := pg_catalog.now() - v_lifetime;
begin
  /* The days its refresh takes (pipeline.refresh_org_daily_metrics): no day and a day to come
     were no rows, as if no organization had existed. */
  if p_day is null or not pg_catalog.isfinite(p_day) or p_day > (pg_catalog.now() at time zone 'UTC')::date then
    perform util.raise_error(422, 'pipeline.invalid_day', 'The day must be given and must not be in the future (UTC).');
  end if;
  /* Timestamps begin in 4714 BC, as dates do: the reservations that could lapse on a day of its
     first hours began before them, and the query failed with Postgres's 22008, uncoded. */
  begin
    v_start := p_day::timestamp at time zone 'UTC';
    v_end := (p_day + 1)::timestamp at time zone 'UTC';
    perform v_start - v_lifetime;
  exception when datetime_field_overflow then
    perform util.raise_error(422, 'pipeline.invalid_day', 'The day is before the first one that can be counted.');
  end;
  /* One pass over the day's audit events (grouped by actor), one over the memberships and the
     departures since the day (each joined to its member's activity), one over the invitations
     of the day. */
  return query
    with actors as (
      select e.actor_id, pg_catalog.count(*) filter (where e.action = 'auth.login') as logins
        from app.audit_events e
       where e.at >= v_start and e.at < v_end and e.actor_id is not null
       group by e.actor_id
    ),
    /* The members at the day's end: the memberships begun before it, those that ended since
       among them (app.membership_departures). */
    members_then as (
      select m.org_id, m.user_id from app.memberships m where m.joined_at < v_end
      union all
      select d.org_id, d.user_id from app.membership_departures d where d.departed_at >= v_end and d.joined_at < v_end
    ),
    members as (
      select m.org_id, pg_catalog.count(*) as members, pg_catalog.count(a.actor_id) as active_users,
             pg_catalog.sum(a.logins)::bigint as logins
        from members_then m
        left join actors a on a.actor_id = m.user_id
       group by m.org_id
    ),
    /* The invitations sent that day and those accepted that day (sent then or before: counted
       in both when sent and accepted that day), in one scan of those rows, each arm bounded on
       both sides so that an index serves it (invitations_created_at_idx,
       invitations_accepted_at_idx, combined by a BitmapOr). The OR before it bounded
       accepted_at only from below, and every refresh read every invitation ever sent
       (sql/tests/pipeline_invitation_reads.sql); the rows it read more counted in neither. */
    invitations as (
      select i.org_id,
             pg_catalog.count(*) filter (where i.created_at >= v_start) as sent,
             pg_catalog.count(*) filter (where i.accepted_at >= v_start and i.accepted_at < v_end) as accepted
        from app.invitations i
       where (i.created_at >= v_start and i.created_at < v_end)
          or (i.accepted_at >= v_start and i.accepted_at < v_end and i.created_at < v_end)
       group by i.org_id
    ),
    /* The tokens charged that day: the calls answered that day, and the reservations left
       unsettled that lapsed that day (the edge died during the call, or could not reach the
       database to settle or release it), each charged what it reserved from the moment it lapsed,
       as the quota charges it (app.ai_usage_view). Left out, a month's days added up to less than
       its charge. One lapsed since the day's end, or not yet, is another day's: a day counted
       before a reservation lapsed (today's, while it lasts) counts it when it is run again. Both
       kinds in one scan of the day's rows, each found by a partial index whose predicate is its
       outcome (ai_usage_answered_settled_at_idx, ai_usage_reserved_started_at_idx, combined by
       a BitmapOr): without them every refresh read the whole ledger, which keeps every call
       (sql/tests/pipeline_ai_reads.sql). */
    ai as (
      select u.org_id,
             pg_catalog.sum(case when u.outcome = 'answered' then u.prompt_tokens + u.completion_tokens
                                 else u.reserved_tokens end)::bigint as tokens
        from app.ai_usage u
       where (u.outcome = 'answered' and u.settled_at >= v_start and u.settled_at < v_end)
          or (u.outcome = 'reserved' and u.started_at >= v_start - v_lifetime and u.started_at < v_end - v_lifetime
              and u.started_at <= v_lapsed_before)
       group by u.org_id
    )
    select o.id, coalesce(m.members, 0), coalesce(i.sent, 0), coalesce(i.accepted, 0),
           coalesce(m.logins, 0), coalesce(m.active_users, 0), coalesce(ai.tokens, 0)
      from app.organizations o
      left join members m on m.org_id = o.id
      left join invitations i on i.org_id = o.id
      left join ai on ai.org_id = o.id
     where o.created_at < v_end and o.deleted_at is null
     order by o.id;
end
$$;

comment on function pipeline.org_daily_counts(date) is
  'Each organization''s counts for one UTC day: members at its end (those who left since among them), invitations sent and accepted, logins by members, members active in the audit trail, AI tokens charged. Reads every tenant as metrics_reader; writes nothing. '
  'Errors: 422 pipeline.invalid_day.';

/* The weekly Slack digest's recipients for a week (pipeline/assets.py): every organization whose
   Slack connection works, that existed before the week's end and that has not had that week's
   digest (analytics.slack_digests), with its name, channel and sealed bot token, which only the
   pipeline's process opens (services/secrets.py), to post. Those another run is posting are
   among them: pipeline.slack_digest_claim, not this list, decides which run posts.
   None until every day of the week is refreshed for each of them (analytics.org_daily_metrics
   holds its row of each day it existed at the end of): a digest tells of the seven days, and is
   posted once. A week whose Sunday was not refreshed (its run failed) told of 0 members, and the
   week run again after the refresh posted nothing, the digest recorded as sent. And an
   organization made on the Monday before the digest's run got a digest of a week before it was.
   A day's row counts as refreshed only when it was computed after the day was over: today's
   partition (or `pipeline-run` without --day) counts a day while it lasts, and a Sunday counted
   so, its 00:30 run failed, went out as the week's numbers (once, recorded as sent). */
create function pipeline.slack_digest_targets(p_week date)
returns table (org_id app.org_id, org_name text, channel text, token_key_id text, token_sealed bytea,
               connected_at timestamptz)
language plpgsql stable security definer set search_path = ''
as $$
declare
  v_recipients app.org_id[];
  v_unrefreshed date;
begin
  perform util.require_week(p_week);
  select pg_catalog.array_agg(c.org_id) into v_recipients
    from app.slack_connections c
    join app.organizations o on o.id = c.org_id
   where c.broken_at is null
     and o.created_at < ((p_week + 7)::timestamp at time zone 'UTC')
     and not exists (select from analytics.slack_digests d where d.week = p_week and d.org_id = c.org_id);
  select pg_catalog.min(d.day) into v_unrefreshed
    from app.organizations o
   cross join lateral (select p_week + n as day from pg_catalog.generate_series(0, 6) n) d
   where o.id = any (v_recipients)
     and o.created_at < ((d.day + 1)::timestamp at time zone 'UTC')
     and not exists (select from analytics.org_daily_metrics m
                      where m.day = d.day and m.org_id = o.id
                        and m.computed_at >= ((d.day + 1)::timestamp at time zone 'UTC'));
  if v_unrefreshed is not null then
    perform util.raise_error(409, 'pipeline.week_not_ready',
      pg_catalog.format('The daily metrics of %s are not refreshed, since the day was over, for every organization: refresh that day first.', v_unrefreshed));
  end if;
  /* One snapshot for the three statements (the function is stable): the recipients read again. */
  return query
    select c.org_id, o.name, c.channel, c.bot_token_key_id, c.bot_token_sealed, c.connected_at
      from app.slack_connections c
      join app.organizations o on o.id = c.org_id
     where c.org_id = any (v_recipients)
     order by c.org_id;
end
$$;

comment on function pipeline.slack_digest_targets(date) is
  'The organizations that existed before the week''s end, with a working Slack connection, that have not had the week''s digest: name, channel, sealed bot token (never opened here) and when it was connected; refused until each day of the week is refreshed, after it was over, for each of them. Reads every tenant as metrics_reader. '
  'Errors: 422 pipeline.invalid_week, 409 pipeline.week_not_ready.';

set local role blossom_owner;
revoke create on schema pipeline from metrics_reader;

/* The weekly digest's report of a connection Slack refused for good (its token or its channel):
   marked broken as the worker marks it, once, with the audit event the organization's members
   see, so that the digests that follow and the organization's notifications pass it over until
   it is connected again. Else one tenant's connection to a channel that does not exist failed
   every week's digest. The connection is the one the digest was posted with (its connected_at,
   from slack_digest_targets): one made since is not broken. */
create function pipeline.slack_digest_refused(p_org_id text, p_reason text, p_connected_at timestamptz) returns boolean
language plpgsql volatile security definer set search_path = ''
as $$
begin
  /* Each was null in, null out (delivery.slack_broken is strict), or false for an id of no shape. */
  perform util.require_org_id(p_org_id);
  if coalesce(p_reason, '') = '' then
    perform util.raise_error(422, 'pipeline.invalid_reason', 'Slack''s reason for the refusal must be given.');
  end if;
  if p_connected_at is null then
    perform util.raise_error(422, 'pipeline.invalid_connected_at', 'When the connection the digest was posted with was made must be given.');
  end if;
  return delivery.slack_broken(p_org_id, p_reason, p_connected_at);
end
$$;

comment on function pipeline.slack_digest_refused(text, text, timestamptz) is
  'Marks the organization''s Slack connection connected at p_connected_at broken after Slack refused the weekly digest for good (delivery.slack_broken); false when it was broken, replaced or gone already. '
  'Errors: 422 pipeline.invalid_org_id, 422 pipeline.invalid_reason, 422 pipeline.invalid_connected_at, 422 slack.invalid_reason (a reason that is not one of Slack''s error codes).';

/* A week's digest is posted to an organization by one run at a time, whatever runs of the week
   are under way (two Dagster runs, a retry while the first still runs, the schedule's run and a
   `pipeline-run`): each run claims it just before posting it, and only the run that holds the
   claim posts. Before, each run read that it was not posted yet, and both posted to everyone.
   Its states:

     (none) or failed --claim--> claimed --posted--> sent (for good)
                                 claimed --failed--> failed (claimed again by the next run)
     claimed ten minutes ago --claim--> claimed (taken over: the run that held it stopped)
     claimed by the caller's run --claim--> claimed, unchanged (claimed_earlier: an attempt of
                                 the run before lost its connection, and may have posted it)
     (none), failed or lapsed --claim--> (none), when the organization has no working Slack
                                 connection any more (disconnected: nothing is posted)

   claimed and failed are rows of analytics.slack_digest_claims; sent is a row of
   analytics.slack_digests, and its claim's row goes in the same transaction. A claim takes its
   row (inserts it, or locks it) before it looks for the digest among those sent: a posted that
   committed first is seen, and one under way holds the row, which the claim waits for.

   The claim is a row, not a lock held while posting: role pipeline may take no advisory lock
   and no lock on a table that would keep the other runs out (sql/database.sql), and a row lock
   would hold a transaction open across Slack's answer. A run that stops while it holds a claim
   (killed, its machine gone) leaves it: no other run posts that digest for ten minutes (a post
   takes at most BLOSSOM_SLACK_TIMEOUT_SECONDS, 10 s), then the next run of the week takes the
   claim over and posts it. If the stopped run's post had reached Slack, the channel gets the
   digest twice: at least once, not at most once, and the run that takes over says so in its log
   (docs/pipeline.md). These three functions are the only writers of both tables: definer
   functions of their owner, under its policies digest_claims (sql/policies/analytics.sql); role
   pipeline may neither read nor write them itself. */

create function pipeline.slack_digest_claim(
  p_week date, p_org_id text, p_run text, out outcome text, out claim uuid, out lapses_at timestamptz,
  out channel text, out token_key_id text, out token_sealed bytea, out connected_at timestamptz
)
language plpgsql volatile security definer set search_path = ''
as $$
declare
  /* Far longer than a post (BLOSSOM_SLACK_TIMEOUT_SECONDS, 10 s, and a few database calls), so
     that a claim lapses only when its run stopped. The run itself, tried again, never takes its
     claim over, however late its retry comes (claimed_earlier, below). */
  v_lease constant interval := interval '10 minutes';
  v_claim constant uuid := pg_catalog.gen_random_uuid();
  v_org app.org_id;
  v_inserted integer;
  v_state text;
  v_claimed_at timestamptz;
  v_run text;
begin
  perform util.require_week(p_week);
  if p_run is null or pg_catalog.length(p_run) not between 1 and 100 then
    perform util.raise_error(422, 'pipeline.invalid_run', 'The run that claims must be named (1 to 100 characters).');
  end if;
  v_org := util.require_org_id(p_org_id);
  /* The claim's row, made or locked. Of two claims at once, the second waits for the first to
     commit, and locks the row it made. A row gone between the two statements was posted (or its
     organization deleted): tried again, which finds out which. */
  for attempt in 1..3 loop
    begin
      insert into analytics.slack_digest_claims (week, org_id, state, claim, claimed_at, run)
      values (p_week, v_org, 'claimed', v_claim, pg_catalog.now(), p_run)
      on conflict (week, org_id) do nothing;
      get diagnostics v_inserted = row_count;
    exception when foreign_key_violation then
      outcome := 'gone';  -- the organization was deleted since it was listed
      return;
    end;
    exit when v_inserted = 1;
    select c.state, c.claimed_at, c.run into v_state, v_claimed_at, v_run
      from analytics.slack_digest_claims c
     where c.week = p_week and c.org_id = v_org
       for update;
    exit when found;
    if attempt = 3 then
      raise exception 'the claim of % of % keeps going', p_week, v_org;
    end if;
  end loop;
  if exists (select from analytics.slack_digests d where d.week = p_week and d.org_id = v_org) then
    /* Posted before this claim took the row: a claim's row made now is let go. */
    delete from analytics.slack_digest_claims c where c.week = p_week and c.org_id = v_org and c.claim = v_claim;
    outcome := 'sent';
    return;
  end if;
  /* Claimed by an attempt of this run before (it lost its connection, and is tried again): that
     attempt may have posted it, so it is not taken over, however long ago; the run fails it, and
     another run takes it over once it lapses. A retry that came after the lease took its own
     claim over, as a stopped run's, and posted the digest twice. */
  if v_inserted = 0 and v_state = 'claimed' and v_run = p_run then
    outcome := 'claimed_earlier';
    lapses_at := v_claimed_at + v_lease;
    return;
  end if;
  if v_inserted = 0 and v_state = 'claimed' and v_claimed_at > pg_catalog.now() - v_lease then
    outcome := 'held';
    lapses_at := v_claimed_at + v_lease;
    return;
  end if;
  /* The connection as it is now, not as the run listed it: a run posts one digest after
     another, each up to Slack's timeout, and one that disconnected, broke or moved to another
     channel since was posted to the old one with the old token. No working connection: owed
     nothing, and no claim left to hold the week from a connection made later in it. */
  select c.channel, c.bot_token_key_id, c.bot_token_sealed, c.connected_at
    into channel, token_key_id, token_sealed, connected_at
    from app.slack_connections c
   where c.org_id = v_org and c.broken_at is null;
  if not found then
    delete from analytics.slack_digest_claims c where c.week = p_week and c.org_id = v_org;
    outcome := 'disconnected';
    return;
  end if;
  if v_inserted = 1 then
    outcome := 'claimed';
  else
    update analytics.slack_digest_claims c
       set state = 'claimed', claim = v_claim, claimed_at = pg_catalog.now(), run = p_run
     where c.week = p_week and c.org_id = v_org;
    outcome := case v_state when 'failed' then 'claimed' else 'taken_over' end;
  end if;
  claim := v_claim;
  lapses_at := pg_catalog.now() + v_lease;
end
$$;

comment on function pipeline.slack_digest_claim(date, text, text) is
  'Claims the week''s Slack digest to the organization for the caller, who posts it only if it got the claim, to the channel with the sealed token of the organization''s working connection as it is now (and when it was connected). outcome: claimed (the caller''s, with its claim and when it lapses), taken_over (the caller''s, taken from a run that claimed it ten minutes ago and stopped: that run may have posted it), held (another run''s claim, until lapses_at), claimed_earlier (the claim of an attempt of the caller''s run p_run before, which may have posted it: never taken over by that run; another may once it lapses, at lapses_at), sent (posted already; never again), gone (the organization was deleted), disconnected (it has no working Slack connection any more: nothing to post). '
  'Errors: 422 pipeline.invalid_week, 422 pipeline.invalid_org_id, 422 pipeline.invalid_run.';

/* Posted: sent, for good, and its claim gone. Whoever's claim it was (a claim taken over from a
   run that was only slow, and posted after all, is posted too). An organization deleted since it
   was claimed has nothing left to record: no error, so that the run goes on with the others (it
   failed on the foreign key, and every digest of the run was posted again the next time). */
create function pipeline.slack_digest_posted(p_week date, p_org_id text) returns void
language plpgsql volatile security definer set search_path = ''
as $$
begin
  perform util.require_week(p_week);
  perform util.require_org_id(p_org_id);
  insert into analytics.slack_digests (week, org_id)
  values (p_week, p_org_id)
  on conflict do nothing;
  delete from analytics.slack_digest_claims c where c.week = p_week and c.org_id = p_org_id collate "C";
exception
  when foreign_key_violation then
    null;  -- the organization is gone, and its digests with it
end
$$;

comment on function pipeline.slack_digest_posted(date, text) is
  'Records that the week''s Slack digest was posted to the organization: never claimed again (again is no change; nothing for an organization deleted since). '
  'Errors: 422 pipeline.invalid_week, 422 pipeline.invalid_org_id.';

/* Not posted (Slack refused it, the token could not be opened, the run failed while posting):
   the caller's claim released, for the next run to claim at once. Only the caller's own: a claim
   taken over since is another run's. */
create function pipeline.slack_digest_failed(p_week date, p_org_id text, p_claim uuid) returns boolean
language plpgsql volatile security definer set search_path = ''
as $$
begin
  perform util.require_week(p_week);
  perform util.require_org_id(p_org_id);
  if p_claim is null then
    perform util.raise_error(422, 'pipeline.invalid_claim', 'The claim to release must be given.');
  end if;
  update analytics.slack_digest_claims c
     set state = 'failed'
   where c.week = p_week and c.org_id = p_org_id collate "C" and c.state = 'claimed' and c.claim = p_claim;
  return found;
end
$$;

comment on function pipeline.slack_digest_failed(date, text, uuid) is
  'Releases the caller''s claim of the week''s Slack digest to the organization, not posted, for the next run to claim; false when the claim is not the caller''s any more (taken over, posted, or the organization deleted). '
  'Errors: 422 pipeline.invalid_week, 422 pipeline.invalid_org_id, 422 pipeline.invalid_claim.';

create function pipeline.refresh_org_daily_metrics(p_day date, out written integer, out replaced integer)
language plpgsql volatile
as $$
declare
  v_tries constant integer := 10;
begin
  if p_day is null or not pg_catalog.isfinite(p_day) or p_day > (pg_catalog.now() at time zone 'UTC')::date then
    perform util.raise_error(422, 'pipeline.invalid_day', 'The day must be given and must not be in the future (UTC).');
  end if;
  /* Two refreshes (of one day or not) run one after the other instead of both writing a day:
     the mode conflicts with itself, not with reads nor with writes. A table lock, as the
     pipeline may take no advisory lock (sql/database.sql). It let the cascade of an
     organization's deletion (a write) wait for a refresh that waited for the deletion. */
  lock table analytics.org_daily_metrics in share update exclusive mode;
  /* Each organization's row written over, not deleted and inserted again: a refresh locks only
     the rows it writes, and the organizations of the rows it inserts (the foreign key), never a
     row of an organization that a deletion under way holds. Deleted and inserted, a refresh held
     the row the deletion's cascade wanted while it waited to insert that organization's row.
     The day's counts are read again after an organization was deleted meanwhile, up to ten
     times (three failed under a few deletions in a row). A try fails on any deletion committed
     between its count and its insert's check, so deletions one after another for longer than
     ten tries (a bulk clean-up of hundreds) still fail the refresh, and the run, which can be
     run again. Locking the organizations' rows against deletion would take rights to update them,
     which neither the pipeline nor metrics_reader has; a lock on their table would hold every
     membership change (each updates its organization's member count) while the refresh runs. */
  for attempt in 1..v_tries loop
    begin
      select pg_catalog.count(*)::integer into replaced from analytics.org_daily_metrics m where m.day = p_day;
      insert into analytics.org_daily_metrics as m
             (day, org_id, members, invitations_sent, invitations_accepted, logins, active_users, ai_tokens)
      select p_day, c.org_id, c.members, c.invitations_sent, c.invitations_accepted, c.logins, c.active_users, c.ai_tokens
        from pipeline.org_daily_counts(p_day) c
      on conflict (day, org_id) do update
        set members = excluded.members, invitations_sent = excluded.invitations_sent,
            invitations_accepted = excluded.invitations_accepted, logins = excluded.logins,
            active_users = excluded.active_users, ai_tokens = excluded.ai_tokens, computed_at = pg_catalog.now();
      get diagnostics written = row_count;
      exit;
    exception when foreign_key_violation then
      if attempt = v_tries then
        raise;
      end if;
    end;
  end loop;
  /* A row of the day that was not written now is of no organization counted: gone. */
  delete from analytics.org_daily_metrics m where m.day = p_day and m.computed_at < pg_catalog.now();
end
$$;

comment on function pipeline.refresh_org_daily_metrics(date) is
  'Replaces one UTC day''s rows of analytics.org_daily_metrics with pipeline.org_daily_counts of that day; answers how many rows it wrote and how many it replaced. '
  'Errors: 422 pipeline.invalid_day.';

create function pipeline.org_daily_metrics(p_from date, p_to date)
returns setof analytics.org_daily_metrics
language plpgsql stable
as $$
begin
  if p_from is null or p_to is null or not (pg_catalog.isfinite(p_from) and pg_catalog.isfinite(p_to))
     or p_from > p_to or p_to - p_from > 366 then
    perform util.raise_error(422, 'pipeline.invalid_range', 'Give a first and a last day, at most 366 days apart, the first not after the last.');
  end if;
  return query
    -- Without the organizations deleted, whose rows wait for the purge.
    select m.* from analytics.org_daily_metrics m
     where m.day between p_from and p_to
       and m.org_id <> all (array(select d from pipeline.deleted_organizations() d))
     order by m.day, m.org_id;
end
$$;

comment on function pipeline.org_daily_metrics(date, date) is
  'The daily metrics of the days from p_from to p_to (both included), by day and organization. '
  'Errors: 422 pipeline.invalid_range.';
