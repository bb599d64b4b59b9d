/*
 * What pipeline.org_daily_counts (sql/functions/pipeline/metrics.sql) reads of the invitations
 * for one day: those sent that day and those accepted that day, found by
 * invitations_created_at_idx and invitations_accepted_at_idx, not every invitation ever sent,
 * which the table keeps for ever. tap.blocks counts the pages a refresh reads, which the data
 * decides and no machine's speed does: a day's refresh is counted with its own invitations (and
 * the day before's, some accepted on it), then again once the table holds 30 days more. Counted
 * as a difference, since the rest of the refresh reads the other tables whole, and in the whole
 * pgTAP run those hold the dead rows of the files before this one (each rolled back, none
 * vacuumed).
 */
begin;
select plan(5);

select tap.make_users(array['inviter']);
select tap.make_org('busy', '{"inviter": "owner"}');
update app.organizations set created_at = '2025-10-01 00:00Z' where id = tap.id('busy');
/* A day of invitations, a row each in the order they are sent, 600 a day two minutes apart: a
   third left open, a third accepted an hour after, a third accepted the next day. */
create function pg_temp.invitations(p_from timestamptz, p_to timestamptz) returns void
language sql
as $$
  insert into app.invitations (org_id, email, role, token_hash, invited_by, created_at, expires_at, accepted_at)
  select tap.id('busy'), 'i' || to_char(d, 'YYYYMMDD') || '-' || n || '@example.com', 'member',
         sha256(convert_to(d || '/' || n, 'UTF8')), tap.id('inviter'),
         d + n * interval '2 minutes', d + n * interval '2 minutes' + interval '7 days',
         case n % 3 when 1 then d + n * interval '2 minutes' + interval '1 hour'
                    when 2 then d + n * interval '2 minutes' + interval '1 day' end
    from generate_series(p_from, p_to, interval '1 day') d, generate_series(0, 599) n
   order by d, n
$$;
select pg_temp.invitations('2026-01-09 00:00Z', '2026-01-10 00:00Z');
analyze app.organizations, app.memberships, app.invitations;

set local role pipeline;
select results_eq(
  $$ select invitations_sent, invitations_accepted from pipeline.org_daily_counts('2026-01-10') $$,
  $$ values (600::bigint, 400::bigint) $$,
  'a day''s invitations: those sent that day, those accepted that day (sent then or the day before)');
select tap.fix_blocks_by_plan($$ select * from pipeline.org_daily_counts('2026-01-10') $$);
reset role;

select pg_temp.invitations('2025-12-20 00:00Z', '2026-01-08 00:00Z');
select pg_temp.invitations('2026-01-11 00:00Z', '2026-01-20 00:00Z');
analyze app.invitations;

set local role pipeline;
select results_eq(
  $$ select invitations_sent, invitations_accepted from pipeline.org_daily_counts('2026-01-10') $$,
  $$ values (600::bigint, 400::bigint) $$,
  'the same among 32 days of invitations');
select cmp_ok(tap.blocks($$ select * from pipeline.org_daily_counts('2026-01-10') $$) - tap.id('custom')::bigint,
  '<', 20::bigint, 'and a refresh reads the day''s invitations, not its 32 days');
set local plan_cache_mode = force_generic_plan;
select results_eq(
  $$ select invitations_sent, invitations_accepted from pipeline.org_daily_counts('2026-01-10') $$,
  $$ values (600::bigint, 400::bigint) $$,
  'planned for any day, it counts the same');
select cmp_ok(tap.blocks($$ select * from pipeline.org_daily_counts('2026-01-10') $$) - tap.id('generic')::bigint,
  '<', 20::bigint, 'and reads the day''s invitations');
reset plan_cache_mode;
reset role;

select * from finish();
rollback;
