/*
 * The AI routes of the edge (edge/ai.py, POST /ext/ai/org-summary), in steps around the call
 * to the provider that only the edge makes:
 *
 *   ext.ai_org_activity(session, org)     what the caller may read of the organization's recent
 *                                         activity; 404 for a non-member, before any call;
 *   (the edge makes the request from it, and its SHA-256)
 *   ext.ai_reserve(session, org, …)       in the same transaction, under the organization's lock
 *                                         the read took: an answer from the cache (free), or a
 *                                         reservation of the call's tokens against the quota (429
 *                                         past it);
 *   (the edge calls the provider)
 *   ext.ai_settle(session, id, …)         the tokens the provider counted (at most those
 *                                         reserved), and the answer cached;
 *   ext.ai_release(session, id, failure)  or the call failed: charged nothing.
 *
 * Each runs as its owner, as the session's user (auth.act_as_session): the policies of
 * sql/policies/ai.sql bind them as they bind the API.
 */

/* The organization's recent activity as the caller may read it: with the caller's own rights,
   under the same policies as the API. Members read the organization and its members; only
   owners and admins read its audit trail (the audit events' policy), so a plain member's
   activity has no events. What goes to the provider holds names, roles, actions and times:
   never an email address, an id or an event's other details. Ordered and formatted the same
   way every time, so that the same activity makes the same request (and hits the cache).
   The events are read as api.list_audit_events reads a page (the organization a range of the
   index on (org_id, id)), and only when the caller's role lets the policy show them: the policy
   decides row by row, after the row is read, so a plain member's call read every event of the
   organization to show none (10,000 pages of tables at 10,000 events), and an owner's walked
   every tenant's newer events where most of the trail was the organization's.
   The caller's role is read under the organization's lock (app.lock_org, which every change of a
   role or a membership takes), held to the end of the transaction, in which the edge reserves
   the call too (ext.ai_reserve, edge/ai.py): the role that chose what was read is the role the
   call is admitted with. Read in a transaction of its own, an admin demoted between the read and
   the reserve, which asks only for a member, had the provider summarize the audit trail for a
   plain member. */
create function ext.ai_org_activity(p_session text, p_org_id text) returns jsonb
language plpgsql volatile security definer set search_path = ''
as $$
declare
  v_org app.org_id := util.parse_id(p_org_id, 'org')::app.org_id;
  v_activity jsonb;
  v_reads_trail boolean;
begin
  perform auth.act_as_session(p_session);
  perform app.lock_org_as_member(v_org);
  v_reads_trail := app.require_membership(v_org) in ('owner', 'admin');
  select pg_catalog.jsonb_build_object(
           'organization', o.name,
           'member_count', o.member_count,
           'newest_members', coalesce((
             select pg_catalog.jsonb_agg(pg_catalog.jsonb_build_object(
                      'name', m.display_name, 'role', m.role,
                      'joined', pg_catalog.to_char(m.joined_at at time zone 'UTC', 'YYYY-MM-DD HH24:MI'))
                    order by m.joined_at desc, m.id desc)
               from (select mm.id, mm.role, mm.joined_at, u.display_name
                       from app.memberships mm join app.users u on u.id = mm.user_id
                      where mm.org_id = v_org
                      order by mm.joined_at desc, mm.id desc
                      limit 20) m), '[]'),
           'recent_events', coalesce((
             select pg_catalog.jsonb_agg(pg_catalog.jsonb_strip_nulls(pg_catalog.jsonb_build_object(
                      'at', pg_catalog.to_char(e.at at time zone 'UTC', 'YYYY-MM-DD HH24:MI'),
                      'action', e.action,
                      'by', e.actor_name,
                      'role', e.role,
                      'name', e.name))
                    order by e.id desc)
               from (select ev.id, ev.at, ev.action, actor.display_name as actor_name,
                            case when coalesce(ev.details ->> 'to', ev.details ->> 'role') in ('owner', 'admin', 'member')
                                 then coalesce(ev.details ->> 'to', ev.details ->> 'role') end as role,
                            case when ev.action in ('org.created', 'org.updated') then ev.details ->> 'name' end as name
                       from app.audit_events ev
                       left join app.memberships am on am.org_id = v_org and am.user_id = ev.actor_id
                       left join app.users actor on actor.id = am.user_id
                      where v_reads_trail and ev.org_id >= v_org and ev.org_id <= v_org
                      order by ev.org_id desc, ev.id desc
                      limit 50) e), '[]'))
    into v_activity
    from app.organizations o
   where o.id = v_org;
  return v_activity;
end
$$;

comment on function ext.ai_org_activity(text, text) is
  'The organization''s recent activity that the session''s user may read (members: the organization and its newest members; owners and admins: its audit events too), without emails or ids. Errors: 401 auth.not_signed_in, 404 org.not_found, 500 server.invalid_setting.';

/* Before a call, under the organization's AI lock: the cached answer of the same request if
   there is one (served free, and recorded as cached); else, while the same request is under
   way (reserved, and not settled within the reservation's lifetime), 409 ai.in_progress with 2
   seconds to wait (two members who see the same asked at once, and the organization paid for
   one answer twice); else a reservation of p_tokens (the most the call can use) against the
   month's quota, admitted while the tokens held stay below the quota; otherwise the refusal 429
   ai.quota_exceeded with the seconds until the next month, answered (in `refusal`) rather than
   raised, so that the request is still counted: raised, it undid its own count, and a member
   repeated refused requests without limit, each reading the organization's activity and
   summing its ledger under the AI lock. The 409 is raised, its count undone with it: a client
   that asks again as told must not spend its hour waiting for another's call, and what it
   costs is a look-up by the request's hash, under the lock for a moment.
   First, every request counts against its caller's hourly limit (30 unless
   app.settings.ai_calls_per_user_per_hour says otherwise; sql/functions/app/rate_limits.sql),
   a cached one too: one member spent the organization's month in seconds, each call made new
   by a new display name, and repeating one request wrote ~145 cached rows a second into the
   ledger that the quota sums under the AI lock. */
create function ext.ai_reserve(
  p_session text,
  p_org_id text,
  p_feature text,
  p_model text,
  p_request_hash bytea,
  p_tokens integer,
  out reservation_id bigint,
  out cached_answer text,
  out refusal jsonb
)
language plpgsql volatile security definer set search_path = ''
as $$
declare
  v_user app.user_id := auth.act_as_session(p_session);
  v_org app.org_id := util.parse_id(p_org_id, 'org')::app.org_id;
begin
  /* The organization's lock, as deleting it takes it: a deletion comes wholly before (404) or
     after. The reservation's row names the organization: made while a deletion was under way,
     it waited for the organization's row and then found it gone (23503, the edge's 500). A
     member still once it has it (a deletion or a removal came first). */
  perform app.lock_org_as_member(v_org);
  perform app.require_membership(v_org);
  perform app.spend_quota('ai.user', v_user, util.limit_setting('ai_calls_per_user_per_hour', 30),
                          interval '1 hour', 'ai.user_rate_limited', 'Too many AI requests; try again later.');
  -- Under the lock, a call settled meanwhile is in the cache, and one under way is seen.
  perform app.lock_ai(v_org);
  select a.answer into cached_answer
    from app.ai_answers a
   where a.org_id = v_org and a.request_hash = p_request_hash and a.expires_at > pg_catalog.now();
  if found then
    insert into app.ai_usage (org_id, user_id, feature, model, request_hash, outcome, reserved_tokens, settled_at)
    values (v_org, v_user, p_feature, p_model, p_request_hash, 'cached', 0, pg_catalog.now());
    /* Counted as made, for api.get_ai_usage (app.ai_cached_calls says why); a month with no count
       yet (begun before there were counts) is counted from the ledger once, this row with it. */
    update app.ai_cached_calls c set calls = c.calls + 1
     where c.org_id = v_org and c.month_start = app.ai_month_start();
    if not found then
      insert into app.ai_cached_calls (org_id, month_start, calls)
      values (v_org, app.ai_month_start(), app.ai_cached_calls_in_ledger(v_org));
    end if;
    return;
  end if;
  if exists (select from app.ai_usage u
              where u.org_id = v_org and u.request_hash = p_request_hash and app.ai_under_way(u)) then
    perform util.raise_error(409, 'ai.in_progress',
      'The same request is being answered now; ask again in a moment to have its answer from the cache.',
      p_headers => '{"Retry-After": "2"}');
  end if;
  if (select c.used_tokens + c.reserved_tokens from app.ai_charges(v_org) c) >= app.ai_quota(v_org) then
    refusal := auth.refusal(429, 'ai.quota_exceeded',
      'This organization has used its AI tokens for this month; the quota starts again at the start of next month (UTC).',
      pg_catalog.ceil(extract(epoch from app.ai_next_month_start() - pg_catalog.now()))::integer);
    return;
  end if;
  insert into app.ai_usage (org_id, user_id, feature, model, request_hash, reserved_tokens)
  values (v_org, v_user, p_feature, p_model, p_request_hash, p_tokens)
  returning id into reservation_id;
end
$$;

comment on function ext.ai_reserve(text, text, text, text, bytea, integer) is
  'The cached answer of the request (free), or a reservation of its tokens against the organization''s monthly quota, or the refusal {ok: false, status: 429, code: ai.quota_exceeded, message, retry_after} past it; each counts the request against the caller''s hourly limit, but for 409 ai.in_progress, raised while the same request is under way. Errors: 401 auth.not_signed_in, 404 org.not_found, 409 ai.in_progress, 429 ai.user_rate_limited, 500 server.invalid_setting.';

/* After the provider answered: the reservation is charged the tokens the provider counted, at
   most the tokens it reserved, and the answer is cached for app.settings.ai_cache_seconds
   (default 3600) while the caller is still a member. The reservation is the most the call can
   use (ext.ai_reserve admits calls by it, so that a month's charge ends below the quota plus one
   call's worth): a provider, or a proxy in between, that reported 10,000,000 tokens for a call
   that reserved a thousand had the organization charged them all, its month's quota spent at
   once. Past the reservation, the prompt tokens are charged first, up to it, then the completion
   tokens up to what it leaves; what was reported is kept in reported_tokens for the operators
   (admin.ai_usage), charged to nobody. This is the rule whoever calls: the edge logs the same
   discrepancy (edge/ai.py). A count that is missing or negative is refused, the reservation left
   under way (least() would have read a null as the whole reservation). An answer the provider
   counted whose text the edge cannot keep or show (none, NUL, over 20,000 characters) comes
   without one (p_answer null): charged as counted all the same, since the call was made and
   billed, and nothing cached. Released, it was free and uncached, and the same request was sent
   and billed again and again while the quota never counted it. An organization deleted during
   the call took the reservation with it: 404 org.not_found. */
create function ext.ai_settle(
  p_session text,
  p_reservation_id bigint,
  p_prompt_tokens integer,
  p_completion_tokens integer,
  p_answer text
) returns void
language plpgsql volatile security definer set search_path = ''
as $$
declare
  v_usage app.ai_usage;
  v_reported bigint := p_prompt_tokens::bigint + p_completion_tokens;
  v_prompt bigint;
begin
  -- The call was made: charged even when its session ended while it ran.
  perform auth.act_as_session(p_session, p_ended_too => true);
  /* Settled already: the edge tries a settle again when its connection was lost (edge/ai.py),
     and the try before may have committed, only its acknowledgement lost. Charged once. */
  if exists (select from app.ai_usage u
              where u.id = p_reservation_id and u.outcome = 'answered' and u.user_id = app.current_user_id()) then
    return;
  end if;
  v_usage := app.ai_reservation(p_reservation_id);
  if v_reported is null or p_prompt_tokens < 0 or p_completion_tokens < 0 then
    raise exception 'token counts of AI reservation % must be whole numbers from 0', p_reservation_id;
  end if;
  v_prompt := least(p_prompt_tokens, v_usage.reserved_tokens);
  update app.ai_usage u
     set outcome = 'answered', prompt_tokens = v_prompt,
         completion_tokens = least(p_completion_tokens, v_usage.reserved_tokens - v_prompt),
         reported_tokens = case when v_reported > v_usage.reserved_tokens then v_reported end,
         settled_at = pg_catalog.now()
   where u.id = v_usage.id;
  if p_answer is not null and app.is_member(v_usage.org_id) then
    delete from app.ai_answers a where a.org_id = v_usage.org_id and a.expires_at <= pg_catalog.now();
    insert into app.ai_answers as a (org_id, request_hash, model, answer, expires_at)
    values (v_usage.org_id, v_usage.request_hash, v_usage.model, p_answer,
            pg_catalog.now() + pg_catalog.make_interval(secs => util.limit_setting('ai_cache_seconds', 3600)))
    on conflict (org_id, request_hash) do update
       set model = excluded.model, answer = excluded.answer, created_at = excluded.created_at,
           expires_at = excluded.expires_at;
  end if;
end
$$;

comment on function ext.ai_settle(text, bigint, integer, integer, text) is
  'Charges the session''s reservation the tokens the provider counted, at most those it reserved (the rest kept apart as reported_tokens, charged to nobody), even when the session ended during the call, and caches the answer (none for an answer without text that can be kept: charged, not cached); a reservation already settled is left as it is (the edge tries again after a lost connection). Errors: 401 auth.not_signed_in, 404 org.not_found, 500 server.invalid_setting.';

/* The provider failed or timed out: the reservation is charged nothing, and its error code kept
   (404 org.not_found when the organization was deleted during the call, as ext.ai_settle). */
create function ext.ai_release(p_session text, p_reservation_id bigint, p_failure text) returns void
language plpgsql volatile security definer set search_path = ''
as $$
declare
  v_usage app.ai_usage;
begin
  perform auth.act_as_session(p_session, p_ended_too => true);
  /* Released already: the edge tries a release again when its connection was lost (edge/ai.py),
     and the try before may have committed, only its acknowledgement lost. */
  if exists (select from app.ai_usage u
              where u.id = p_reservation_id and u.outcome = 'failed' and u.user_id = app.current_user_id()) then
    return;
  end if;
  v_usage := app.ai_reservation(p_reservation_id);
  update app.ai_usage u
     set outcome = 'failed', failure = p_failure, settled_at = pg_catalog.now()
   where u.id = v_usage.id;
end
$$;

comment on function ext.ai_release(text, bigint, text) is
  'Marks the session''s reservation failed (charged nothing) with the error code of the failure, even when the session ended during the call; a reservation already released is left as it is (the edge tries again after a lost connection). Errors: 401 auth.not_signed_in, 404 org.not_found, 500 server.invalid_setting.';
