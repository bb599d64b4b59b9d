/*
 * What pipeline.org_daily_counts (sql/functions/pipeline/metrics.sql) reads of the AI ledger for
 * one day: the calls answered that day and the reservations that lapsed that day, found by
 * ai_usage_answered_settled_at_idx and ai_usage_reserved_started_at_idx, not the whole ledger,
 * which keeps a row of every call for ever. tap.blocks counts the pages a refresh reads, which
 * the data decides and no machine's speed does: a day's refresh is counted with its own day in
 * the ledger, then again once the ledger holds 90 days more. Counted as a difference, since the
 * rest of the refresh reads the other tables whole, and in the whole pgTAP run those hold the
 * dead rows of the files before this one (each rolled back, none vacuumed).
 */
begin;
select plan(5);

select tap.make_users(array['asker']);
select tap.make_org('busy', '{"asker": "owner"}');
update app.organizations set created_at = '2025-10-01 00:00Z' where id = tap.id('busy');
/* A day of calls, a row a call in the order they are made: the reservation begun at midnight
   and left unsettled (lapsed at 00:10), a failure, a cached answer, 148 calls answered of 11
   tokens each. */
create function pg_temp.ledger(p_from timestamptz, p_to timestamptz) returns void
language sql
as $$
  insert into app.ai_usage (org_id, user_id, feature, model, request_hash, outcome, reserved_tokens,
                            prompt_tokens, completion_tokens, started_at, settled_at)
  select tap.id('busy'), tap.id('asker'), 'org_summary', 'm', sha256(convert_to(d || '/' || n, 'UTF8')),
         case n when 0 then 'reserved' when 1 then 'failed' when 2 then 'cached' else 'answered' end::app.ai_outcome,
         case n when 2 then 0 else 900 end,
         case when n > 2 then 10 else 0 end, case when n > 2 then 1 else 0 end,
         d + n * interval '2 minutes', case when n > 0 then d + n * interval '2 minutes' + interval '3 seconds' end
    from generate_series(p_from, p_to, interval '1 day') d, generate_series(0, 150) n
   order by d, n
$$;
select pg_temp.ledger('2026-01-10 00:00Z', '2026-01-10 00:00Z');
analyze app.organizations, app.memberships, app.ai_usage;

set local role pipeline;
select is((select ai_tokens from pipeline.org_daily_counts('2026-01-10')), 148 * 11 + 900::bigint,
  'a day''s AI tokens: its calls answered and its reservation lapsed');
select tap.fix_blocks_by_plan($$ select * from pipeline.org_daily_counts('2026-01-10') $$);
reset role;

select pg_temp.ledger('2025-11-01 00:00Z', '2026-01-09 00:00Z');
select pg_temp.ledger('2026-01-11 00:00Z', '2026-01-30 00:00Z');
analyze app.ai_usage;

set local role pipeline;
select is((select ai_tokens from pipeline.org_daily_counts('2026-01-10')), 148 * 11 + 900::bigint,
  'the same among 91 days of calls');
-- A few more pages (1 to 4 here); the 91 days' rows made here, which it read every one of, are 344.
select cmp_ok(tap.blocks($$ select * from pipeline.org_daily_counts('2026-01-10') $$) - tap.id('custom')::bigint,
  '<', 20::bigint, 'and a refresh reads the day''s rows of the ledger, not its 91 days');
set local plan_cache_mode = force_generic_plan;
select is((select ai_tokens from pipeline.org_daily_counts('2026-01-10')), 148 * 11 + 900::bigint,
  'planned for any day, it counts the same');
select cmp_ok(tap.blocks($$ select * from pipeline.org_daily_counts('2026-01-10') $$) - tap.id('generic')::bigint,
  '<', 20::bigint, 'and reads the day''s rows');
reset plan_cache_mode;
reset role;

select * from finish();
rollback;
