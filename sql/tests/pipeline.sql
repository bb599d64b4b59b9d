/*
 * The pipeline's functions (sql/functions/pipeline/metrics.sql, deliveries.sql) and what the role
 * pipeline may do: execute exactly the pipeline functions, write analytics, nothing else.
 */
begin;
select plan(130);

/* What role pipeline may do. */
select results_eq(
  $$ select p.oid::regprocedure::text from pg_proc p
      where p.pronamespace in (select oid from pg_namespace
                                where nspname in ('util', 'app', 'auth', 'api', 'admin', 'pipeline', 'analytics', 'delivery', 'jobs'))
        and has_function_privilege('pipeline', p.oid, 'execute')
      order by 1 $$,
  $$ values ('pipeline.deleted_organizations()'), ('pipeline.failed_deliveries(bigint,integer)'), ('pipeline.last_failure_through(bigint)'),
            ('pipeline.org_daily_counts(date)'),
            ('pipeline.org_daily_metrics(date,date)'), ('pipeline.purge_auth()'),
            ('pipeline.refresh_org_daily_metrics(date)'), ('pipeline.slack_digest_claim(date,text,text)'),
            ('pipeline.slack_digest_failed(date,text,uuid)'), ('pipeline.slack_digest_posted(date,text)'),
            ('pipeline.slack_digest_refused(text,text,timestamp with time zone)'), ('pipeline.slack_digest_targets(date)'),
            ('util.raise_error(integer,text,text,text,jsonb)') $$,
  'pipeline may execute the pipeline functions, and util.raise_error for their coded errors, nothing else of ours'
);
select results_eq(
  $$ select c.oid::regclass::text, p.privilege
       from pg_class c
      cross join unnest(array['select', 'insert', 'update', 'delete', 'truncate', 'references', 'trigger']) p (privilege)
      where c.relnamespace in (select oid from pg_namespace
                                where nspname in ('util', 'app', 'auth', 'api', 'admin', 'pipeline', 'analytics', 'delivery', 'jobs',
                                                  'extensions', 'blossom_meta'))
        and c.relkind in ('r', 'p', 'v', 'm', 'S', 'f')
        and (has_table_privilege('pipeline', c.oid, p.privilege)
             or p.privilege = 'select' and has_any_column_privilege('pipeline', c.oid, 'select'))
      order by 1, 2 $$,
  $$ values ('analytics.org_daily_metrics', 'delete'), ('analytics.org_daily_metrics', 'insert'),
            ('analytics.org_daily_metrics', 'select') $$,
  'pipeline may read, insert and delete the daily metrics (a day replaced whole; its counts written over, by column grants), and touch no other table: its digests only through the functions that keep their states'
);
select schema_privs_are('analytics', 'pipeline', array['USAGE'], 'pipeline may use schema analytics, not create in it');
select is_empty(
  $$ select r from unnest(array['authenticator', 'web_anon', 'authenticated', 'edge', 'panopticon', 'worker']) r
      where has_schema_privilege(r, 'analytics', 'usage') $$,
  'no other role reaches schema analytics'
);
select is_empty(
  $$ select c.oid::regclass from pg_class c
      where c.relnamespace = 'analytics'::regnamespace and c.relkind in ('r', 'p')
        and not (c.relrowsecurity and c.relforcerowsecurity) $$,
  'every table of analytics has Row Level Security enabled and forced'
);
select results_eq(
  $$ select p.polrelid::regclass::text, p.polname::text collate "default", p.polcmd::text, array(select r::regrole::text from unnest(p.polroles) r)
       from pg_policy p where p.polrelid in ('analytics.slack_digests'::regclass, 'analytics.slack_digest_claims'::regclass)
      order by 1, 2 $$,
  $$ values ('analytics.slack_digest_claims', 'digest_claims', '*', array['blossom_owner']),
            ('analytics.slack_digests', 'digest_claims', '*', array['blossom_owner']),
            ('analytics.slack_digests', 'metrics_read', 'r', array['metrics_reader']) $$,
  'the weekly digests and their claims are written under one policy, for the owner of the functions that keep their states; the digests posted are read by metrics_reader'
);
select results_eq(
  $$ select rolcanlogin, rolbypassrls, rolsuper, rolinherit from pg_roles where rolname = 'metrics_reader' $$,
  $$ values (false, false, false, false) $$,
  'metrics_reader, the owner of the daily counts, cannot log in and bypasses no Row Level Security'
);
select is_empty(
  $$ select r.rolname from pg_roles r
      where r.rolname not in ('metrics_reader', 'postgres') and not r.rolsuper and pg_has_role(r.oid, 'metrics_reader', 'member') $$,
  'no role of the system can become metrics_reader'
);
select results_eq(
  $$ select p.oid::regprocedure::text, p.prosecdef, p.provolatile::text from pg_proc p
      where p.proowner = 'metrics_reader'::regrole order by 1 $$,
  $$ values ('pipeline.org_daily_counts(date)', true, 's'), ('pipeline.slack_digest_targets(date)', true, 's') $$,
  'metrics_reader owns two functions, the daily counts and the digest''s recipients, stable definer functions'
);
select is_empty(
  $$ select c.oid::regclass from pg_class c
      where c.relkind in ('r', 'p')
        and c.relnamespace in (select oid from pg_namespace where nspname in ('app', 'auth', 'analytics', 'jobs', 'blossom_meta'))
        and has_table_privilege('metrics_reader', c.oid, 'insert, update, delete, truncate, references, trigger') $$,
  'metrics_reader writes nothing'
);
select results_eq(
  $$ select p.polrelid::regclass::text, p.polcmd::text from pg_policy p
      where 'metrics_reader'::regrole = any (p.polroles) order by 1 $$,
  $$ values ('analytics.org_daily_metrics', 'r'), ('analytics.slack_digests', 'r'), ('app.ai_usage', 'r'), ('app.audit_events', 'r'), ('app.invitations', 'r'),
            ('app.membership_departures', 'r'), ('app.memberships', 'r'), ('app.organizations', 'r'), ('app.slack_connections', 'r') $$,
  'metrics_reader reads the six tables it counts, the Slack connections, the digests posted and the days refreshed through one select policy each'
);

/* One day (2026-01-10, UTC) of two tenants, and the days around it. */
select tap.make_users(array['ann', 'bob', 'cid', 'dan']);
select tap.make_org('acme', '{}');
select tap.make_org('bobco', '{}');
select tap.make_org('later', '{}');
update app.organizations set created_at = '2026-01-01 00:00Z' where id in (tap.id('acme'), tap.id('bobco'));
update app.organizations set created_at = '2026-01-11 00:00Z' where id = tap.id('later');
/* cid joins acme just before midnight: a member at the end of the day. */
insert into app.memberships (org_id, user_id, role, joined_at)
values (tap.id('acme'), tap.id('ann'), 'owner', '2026-01-02 00:00Z'),
       (tap.id('acme'), tap.id('bob'), 'member', '2026-01-02 00:00Z'),
       (tap.id('bobco'), tap.id('bob'), 'owner', '2026-01-02 00:00Z'),
       (tap.id('later'), tap.id('dan'), 'owner', '2026-01-11 00:00Z'),
       (tap.id('acme'), tap.id('cid'), 'member', '2026-01-10 23:59:59Z');
insert into app.invitations (org_id, email, role, token_hash, created_at, expires_at, accepted_at)
values (tap.id('acme'), 'one@example.com', 'member', sha256('1'), '2026-01-10 08:00Z', '2026-01-17 08:00Z', null),
       (tap.id('acme'), 'two@example.com', 'member', sha256('2'), '2026-01-10 09:00Z', '2026-01-17 09:00Z', '2026-01-10 10:00Z'),
       (tap.id('acme'), 'three@example.com', 'member', sha256('3'), '2026-01-08 09:00Z', '2026-01-15 09:00Z', '2026-01-10 11:00Z'),
       (tap.id('bobco'), 'four@example.com', 'member', sha256('4'), '2026-01-09 23:59Z', '2026-01-16 23:59Z', '2026-01-11 00:00Z');
/* What an earlier file can leave of the trail's statistics: events it wrote and rolled back, and
   an analyze of them (autovacuum's, between two files) that saw none, and said the table's pages,
   which no rollback gives back, held no row. */
savepoint earlier_file;
insert into app.audit_events (action, actor_id, at)
select 'auth.login', tap.id('ann'), '2026-01-20 00:00Z'::timestamptz + n * interval '1 second' from generate_series(1, 20000) n;
rollback to savepoint earlier_file;
analyze app.audit_events;
insert into app.audit_events (action, actor_id, org_id, at)
values ('auth.login', tap.id('ann'), null, '2026-01-10 00:00Z'),
       ('auth.login', tap.id('ann'), null, '2026-01-10 23:59:59Z'),
       ('auth.login', tap.id('bob'), null, '2026-01-09 23:59:59Z'),
       ('org.updated', tap.id('bob'), tap.id('bobco'), '2026-01-10 12:00Z'),
       ('auth.login', tap.id('dan'), null, '2026-01-10 12:00Z'),
       ('auth.login', tap.id('cid'), null, '2026-01-11 00:00Z');

insert into app.ai_usage (org_id, user_id, feature, model, request_hash, outcome, reserved_tokens,
                          prompt_tokens, completion_tokens, started_at, settled_at)
values (tap.id('acme'), tap.id('ann'), 'org_summary', 'm', sha256('a'), 'answered', 900, 500, 120, '2026-01-10 08:00Z', '2026-01-10 08:00:02Z'),
       (tap.id('acme'), tap.id('ann'), 'org_summary', 'm', sha256('b'), 'answered', 900, 300, 80, '2026-01-10 23:59Z', '2026-01-11 00:00:01Z'),
       (tap.id('acme'), tap.id('ann'), 'org_summary', 'm', sha256('c'), 'failed', 900, 0, 0, '2026-01-10 09:00Z', '2026-01-10 09:00:30Z'),
       (tap.id('bobco'), tap.id('bob'), 'org_summary', 'm', sha256('d'), 'cached', 0, 0, 0, '2026-01-10 10:00Z', '2026-01-10 10:00Z');

set local role pipeline;
select results_eq(
  $$ select org_id::text collate "default", ai_tokens from pipeline.org_daily_counts('2026-01-10') order by members $$,
  $$ values (tap.id('bobco'), 0::bigint), (tap.id('acme'), 620::bigint) $$,
  'the AI tokens of the day: the calls answered and settled that day; failed and cached ones are free'
);
select results_eq(
  $$ select org_id::text collate "default", members, invitations_sent, invitations_accepted, logins, active_users
       from pipeline.org_daily_counts('2026-01-10') order by members $$,
  $$ values (tap.id('bobco'), 1::bigint, 0::bigint, 0::bigint, 0::bigint, 1::bigint),
            (tap.id('acme'), 3::bigint, 2::bigint, 2::bigint, 2::bigint, 2::bigint) $$,
  'the counts of 2026-01-10: members at its end, invitations sent and accepted that day, members'' logins and active members; no row for an organization made later'
);
select results_eq(
  $$ select written, replaced from pipeline.refresh_org_daily_metrics('2026-01-10') $$,
  $$ values (2, 0) $$,
  'the pipeline writes a day''s rows'
);
select results_eq(
  $$ select written, replaced from pipeline.refresh_org_daily_metrics('2026-01-11') $$,
  $$ values (3, 0) $$,
  'and the next day''s (three organizations by then)'
);
reset role;
/* A day's events are found through the index on their time, not by a pass over the whole trail,
   which grows by every day's events: with every other way made dear, the count takes it. The
   planner counts the events this file wrote, not what an earlier file left (above); and the
   analyze holds the table to the end of the file, against autovacuum's. */
analyze app.audit_events;
set local enable_seqscan = off;
select tap.fix('read', (select string_agg(relation || ': ' || pages, ', ') from tap.blocks_by_relation(
  $$ select count(*) from pipeline.org_daily_counts('2026-01-10') $$)));
select ok(tap.id('read') ~ '\mapp\.audit_events_at_idx: ', 'a day''s events are read through the index on their time')
       || case when tap.id('read') !~ '\mapp\.audit_events_at_idx: ' then E'\n' || diag('pages by relation: ' || tap.id('read')) else '' end;
reset enable_seqscan;
insert into app.audit_events (action, actor_id, at) values ('auth.login', tap.id('bob'), '2026-01-10 13:00Z');
set local role pipeline;
select results_eq(
  $$ select written, replaced from pipeline.refresh_org_daily_metrics('2026-01-10') $$,
  $$ values (2, 2) $$,
  'running a day again replaces its rows'
);
select results_eq(
  $$ select day::text, org_id::text collate "default", members, invitations_sent, invitations_accepted, logins, active_users
       from pipeline.org_daily_metrics('2026-01-10', '2026-01-10') order by members $$,
  $$ values ('2026-01-10', tap.id('bobco'), 1::bigint, 0::bigint, 0::bigint, 1::bigint, 1::bigint),
            ('2026-01-10', tap.id('acme'), 3::bigint, 2::bigint, 2::bigint, 3::bigint, 2::bigint) $$,
  'with what changed since (a late login of bob counts for both his organizations), once each'
);
select is((select count(*)::int from pipeline.org_daily_metrics('2026-01-01', '2026-01-31')), 5,
  'the other day''s rows are untouched');
reset role;
/* bob leaves acme since: on 2026-01-10 he was a member, logged in and active, whatever he does
   after; a day counted again said otherwise. */
select is(tap.call('bob', $$ select api.leave_organization('{acme}') $$), 'ok', 'bob leaves acme');
set local role pipeline;
select results_eq(
  $$ select members, logins, active_users from pipeline.org_daily_counts('2026-01-10') where org_id = tap.id('acme') $$,
  $$ values (3::bigint, 3::bigint, 2::bigint) $$,
  'a member who left since still counts for the days before: members, logins and activity'
);
select is((select count(*)::int from pipeline.org_daily_metrics('2026-01-11', '2026-01-11') where org_id = tap.id('later')), 1,
  'an organization counts from the day it was made');
select is(tap.outcome($$ select pipeline.refresh_org_daily_metrics(null) $$), '422 pipeline.invalid_day', 'a day must be given');
select is(tap.outcome($$ select pipeline.refresh_org_daily_metrics((now() at time zone 'UTC')::date + 1) $$), '422 pipeline.invalid_day',
  'a day in the future is refused');
select is(tap.outcome($$ select pipeline.refresh_org_daily_metrics((now() at time zone 'UTC')::date) $$), 'ok',
  'today (so far) may be counted');
select is(tap.outcome($$ select pipeline.org_daily_counts(null) $$), '422 pipeline.invalid_day',
  'the counts of no day are refused as its refresh is (they were no rows)');
select is(tap.outcome($$ select pipeline.org_daily_counts((now() at time zone 'UTC')::date + 1) $$), '422 pipeline.invalid_day',
  'and of a day to come');
select is(tap.outcome($$ select pipeline.org_daily_metrics('2026-01-10', '2026-01-09') $$), '422 pipeline.invalid_range',
  'a range must not end before it starts');
select is(tap.outcome($$ select pipeline.org_daily_metrics('2025-01-01', '2026-01-09') $$), '422 pipeline.invalid_range',
  'a range is at most 366 days');
select is(tap.outcome($$ select pipeline.refresh_org_daily_metrics('-infinity') $$), '422 pipeline.invalid_day',
  'a day is a day, not -infinity');
select is(tap.outcome($$ select pipeline.org_daily_metrics('-infinity', 'infinity') $$), '422 pipeline.invalid_range',
  'a range is of days, not of the infinities');
/* Days as far from ours as a date goes: Postgres's own "out of range" (22008), uncoded, where a
   day is refused for what it is. */
select is(tap.outcome($$ select pipeline.refresh_org_daily_metrics('4714-11-24 BC') $$), '422 pipeline.invalid_day',
  'a day before any AI reservation could have begun is refused');
select is(tap.outcome($$ select pipeline.org_daily_counts('4714-11-24 BC') $$), '422 pipeline.invalid_day',
  'and its counts');
select is(tap.outcome($$ select pipeline.org_daily_counts('5874897-12-31') $$), '422 pipeline.invalid_day',
  'the counts of the last day a date can be are of a day to come');
select throws_ok($$ select * from app.audit_events $$, '42501', null, 'pipeline cannot read the application''s tables');
reset role;
/* A password reset anyone may ask for is no activity of the account's owner: asked for dan, whom
   nothing else shows today, by no one signed in. */
select auth.request_password_reset('dan@example.com', '192.0.2.9');
set local role pipeline;
select is((select active_users from pipeline.org_daily_counts((now() at time zone 'UTC')::date) where org_id = tap.id('later')),
  0::bigint, 'a reset requested for a member leaves them inactive that day');
select throws_ok($$ update analytics.org_daily_metrics set day = day + 1 $$, '42501', null,
  'pipeline writes a row''s counts over, never its day or its organization');
reset role;

/* A reservation left unsettled (the edge died during the call, or could not reach the database
   to settle or release it) is charged its reserved tokens once it lapses (app.ai_usage_view): the
   daily metric counts it on the day it lapsed, so that a month's days add up to the month's
   charge. spend's calls are of this month, the quota's: one answered, one lapsed (unless the
   month is younger than app.ai_reservation_lifetime()), one under way. */
select tap.make_org('spend', '{}');
update app.organizations set created_at = app.ai_month_start() where id = tap.id('spend');
insert into app.ai_usage (org_id, feature, model, request_hash, outcome, reserved_tokens,
                          prompt_tokens, completion_tokens, started_at, settled_at)
values (tap.id('bobco'), 'org_summary', 'm', sha256('lapsed'), 'reserved', 800, 0, 0, '2026-01-10 23:55Z', null),
       (tap.id('spend'), 'org_summary', 'm', sha256('e'), 'answered', 900, 500, 120,
        greatest(app.ai_month_start(), now() - interval '1 hour'), greatest(app.ai_month_start(), now() - interval '1 hour')),
       (tap.id('spend'), 'org_summary', 'm', sha256('f'), 'reserved', 800, 0, 0,
        greatest(app.ai_month_start(), now() - interval '1 hour'), null),
       (tap.id('spend'), 'org_summary', 'm', sha256('g'), 'reserved', 500, 0, 0, now() - interval '1 minute', null);
set local role pipeline;
select results_eq(
  $$ select d::text, c.ai_tokens from unnest(array['2026-01-10', '2026-01-11']::date[]) d
       cross join lateral pipeline.org_daily_counts(d) c where c.org_id = tap.id('bobco') order by d $$,
  $$ values ('2026-01-10', 0::bigint), ('2026-01-11', 800::bigint) $$,
  'a reservation left unsettled is charged its reserved tokens on the day it lapsed (begun at 23:55, the next day)'
);
select results_eq(
  $$ select written, replaced from pipeline.refresh_org_daily_metrics('2026-01-11') $$,
  $$ values (3, 3) $$,
  'the day it lapsed, run again,'
);
select is((select ai_tokens from pipeline.org_daily_metrics('2026-01-11', '2026-01-11') where org_id = tap.id('bobco')), 800::bigint,
  'counts it once');
reset role;
/* The month's days so far, today's included (UTC). The day the reservation under way lapses on
   may be tomorrow (in the last ten minutes of a day), which has no counts yet: asked for, it was
   refused (pipeline.invalid_day), and this file failed in those ten minutes of every day. That
   reservation is charged on no day so far. */
create temporary table spent_by_day on commit drop as
  select d::date as day, c.ai_tokens
    from generate_series((app.ai_month_start() at time zone 'UTC')::date,
                         (now() at time zone 'UTC')::date, interval '1 day') d
   cross join lateral pipeline.org_daily_counts(d::date) c
   where c.org_id = tap.id('spend');
select is((select sum(ai_tokens)::bigint from spent_by_day),
  620 + case when greatest(app.ai_month_start(), now() - interval '1 hour') <= now() - app.ai_reservation_lifetime() then 800 else 0 end::bigint,
  'the month''s days count the call answered and the reservation lapsed, not the one under way');
select is((select sum(ai_tokens)::bigint from spent_by_day), (select used_tokens::bigint from app.ai_usage_view(tap.id('spend'))),
  'and add up to what the quota charged this month');

/* The weekly digest's recipients: working Slack connections, with the sealed token; fresh is
   connected too, but made after the weeks told of. The weeks of 2026-01-05 and 2026-01-12
   refreshed, every day (a digest tells of seven). */
select tap.make_org('fresh', '{}');
insert into app.slack_connections (org_id, team_id, team_name, channel, bot_token_key_id, bot_token_sealed, broken_at)
values (tap.id('acme'), 'T1', 'Acme team', '#general', 'k1', decode(repeat('ab', 40), 'hex'), null),
       (tap.id('bobco'), 'T2', 'Bob team', '#news', 'k1', decode(repeat('cd', 40), 'hex'), now()),
       (tap.id('fresh'), 'T3', 'Fresh team', '#hello', 'k1', decode(repeat('ef', 40), 'hex'), null);
set local role pipeline;
select count(pipeline.refresh_org_daily_metrics(d::date)) from generate_series('2026-01-05'::date, '2026-01-18'::date, interval '1 day') d;
reset role;
set local role pipeline;
select results_eq(
  $$ select org_id::text collate "default", org_name, channel, token_key_id, length(token_sealed) from pipeline.slack_digest_targets('2026-01-05') $$,
  $$ values (tap.id('acme'), 'Acme', '#general', 'k1', 40) $$,
  'slack_digest_targets lists the working connections with their organization''s name, channel and sealed token, not the broken one'
);
select is((select outcome from pipeline.slack_digest_claim('2026-01-05', tap.id('acme'), gen_random_uuid()::text)), 'claimed',
  'a run claims the week''s digest to the organization before it posts it');
select is((select array_agg(org_name) from pipeline.slack_digest_targets('2026-01-05')), array['Acme'],
  'claimed, it is still among the week''s recipients: the claim, not the list, decides who posts');
select lives_ok(tap.fill($$ select pipeline.slack_digest_posted('2026-01-05', '{acme}') $$),
  'the pipeline records a week''s digest posted');
select lives_ok(tap.fill($$ select pipeline.slack_digest_posted('2026-01-05', '{acme}') $$), 'again is no change');
select is_empty($$ select from pipeline.slack_digest_targets('2026-01-05') $$,
  'a week run again leaves out the organizations posted');
select is((select array_agg(org_name) from pipeline.slack_digest_targets('2026-01-12')), array['Acme'],
  'the next week is theirs again, and not the organization made since');
select is(tap.outcome($$ select pipeline.slack_digest_targets('2026-01-19') $$), '409 pipeline.week_not_ready',
  'a week whose days are not all refreshed has no recipients yet: its digest would tell of days never counted');
delete from analytics.org_daily_metrics where day = '2026-01-14' and org_id = tap.id('acme');
select is(tap.outcome($$ select pipeline.slack_digest_targets('2026-01-12') $$), '409 pipeline.week_not_ready',
  'nor one whose day is missing for one of them');
set local role pipeline;
select pipeline.refresh_org_daily_metrics('2026-01-14');
reset role;
/* A day counted while it lasted (today's partition, or `pipeline-run` without --day) and not
   since (its 00:30 run failed): its counts are of part of it, and a digest of them is posted once. */
update analytics.org_daily_metrics set computed_at = '2026-01-18 20:00Z' where day = '2026-01-18' and org_id = tap.id('acme');
select is(tap.outcome($$ select pipeline.slack_digest_targets('2026-01-12') $$), '409 pipeline.week_not_ready',
  'nor one whose day was counted before it was over');
set local role pipeline;
select pipeline.refresh_org_daily_metrics('2026-01-18');
select is((select array_agg(org_name) from pipeline.slack_digest_targets('2026-01-12')), array['Acme'],
  'counted again once it is over, the week is ready');
reset role;
select is(tap.outcome(tap.fill($$ select pipeline.slack_digest_posted('2026-01-06', '{acme}') $$)),
  '422 pipeline.invalid_week', 'a week is given by its Monday');
select is(tap.outcome(tap.fill($$ select pipeline.slack_digest_posted('infinity', '{acme}') $$)),
  '422 pipeline.invalid_week', 'infinity is no Monday');
select is(tap.outcome($$ select pipeline.slack_digest_posted('2026-01-05', 'garbage') $$),
  '422 pipeline.invalid_org_id', 'an organization is given by its id');
select is(tap.outcome($$ select pipeline.slack_digest_posted('2026-01-05', null) $$),
  '422 pipeline.invalid_org_id', 'and is given: no id was the column''s not-null violation, uncoded');
select is(tap.outcome($$ select pipeline.slack_digest_targets('2026-01-06') $$), '422 pipeline.invalid_week',
  'the recipients of a week given by a day that is not its Monday are refused');
select is(tap.outcome($$ select pipeline.slack_digest_targets(null) $$), '422 pipeline.invalid_week',
  'and of no week');
select is(tap.outcome($$ select pipeline.slack_digest_targets('300000-01-03') $$), '422 pipeline.invalid_week',
  'a Monday past the times Postgres counts is a week not over, not its "out of range"');
select is(tap.outcome($$ select pipeline.slack_digest_targets('5874897-12-29') $$), '422 pipeline.invalid_week',
  'nor is the last week a date can hold');
/* A week not over yet (UTC): posted, a digest three months ahead was recorded sent, never to be
   posted when its week came; claimed, its sealed token was handed out. */
select tap.fix('this_week', date_trunc('week', now() at time zone 'UTC')::date::text);
set local role pipeline;
select is(tap.outcome(tap.fill($$ select pipeline.slack_digest_posted('{this_week}', '{acme}') $$)),
  '422 pipeline.invalid_week', 'no digest of the week under way is recorded posted');
select is(tap.outcome(tap.fill($$ select pipeline.slack_digest_posted('{this_week}'::date + 91, '{acme}') $$)),
  '422 pipeline.invalid_week', 'nor of a week to come');
select is(tap.outcome(tap.fill($$ select pipeline.slack_digest_claim('{this_week}'::date + 7, '{acme}', gen_random_uuid()::text) $$)),
  '422 pipeline.invalid_week', 'nor claimed');
select is(tap.outcome(tap.fill($$ select pipeline.slack_digest_targets('{this_week}') $$)),
  '422 pipeline.invalid_week', 'nor are its recipients listed');
select is(tap.outcome(tap.fill($$ select pipeline.slack_digest_failed('{this_week}', '{acme}', gen_random_uuid()) $$)),
  '422 pipeline.invalid_week', 'nor a claim of it released');
reset role;
select is_empty($$ select from analytics.slack_digests where week >= date_trunc('week', now() at time zone 'UTC') $$,
  '... and none is written');
/* The other calls of the digest refuse what they are not given, as those above, where they
   answered false, or nothing. */
set local role pipeline;
select is(tap.outcome($$ select pipeline.slack_digest_failed(null, tap.id('acme'), gen_random_uuid()) $$),
  '422 pipeline.invalid_week', 'a claim is released of a week given by its Monday');
select is(tap.outcome($$ select pipeline.slack_digest_failed('2026-02-02', 'xx', gen_random_uuid()) $$),
  '422 pipeline.invalid_org_id', '... of an organization given by its id');
select is(tap.outcome($$ select pipeline.slack_digest_failed('2026-02-02', tap.id('acme'), null) $$),
  '422 pipeline.invalid_claim', '... by the claim given');
select is(tap.outcome($$ select pipeline.slack_digest_refused(null, 'channel_not_found', now()) $$),
  '422 pipeline.invalid_org_id', 'Slack''s refusal is of an organization given');
select is(tap.outcome($$ select pipeline.slack_digest_refused('garbage', 'channel_not_found', now()) $$),
  '422 pipeline.invalid_org_id', '... by its id');
select is(tap.outcome($$ select pipeline.slack_digest_refused(tap.id('acme'), null, now()) $$),
  '422 pipeline.invalid_reason', '... with Slack''s reason');
/* Shown to the organization's members (its audit trail, its connection's state): the pipeline's
   login wrote them what it liked there, a link to follow among it. */
select is(tap.outcome($$ select pipeline.slack_digest_refused(tap.id('acme'), 'Slack says: connect again at https://evil.example', now()) $$),
  '422 slack.invalid_reason', '... which is one of Slack''s error codes, not prose');
select is(tap.outcome($$ select pipeline.slack_digest_refused(tap.id('acme'), 'channel_not_found', null) $$),
  '422 pipeline.invalid_connected_at', '... and the connection it was posted with');
select is(tap.outcome($$ select * from pipeline.last_failure_through(null) $$),
  '422 pipeline.invalid_failure_id', 'the last failure is looked for through a failure''s id');
reset role;
select tap.fix('digest_connection', (select connected_at::text from pipeline.slack_digest_targets('2026-01-12')));
select ok(not pipeline.slack_digest_refused(tap.id('acme'), 'channel_not_found', tap.id('digest_connection')::timestamptz - interval '1 day'),
  'Slack''s refusal of a digest posted with a connection replaced since breaks nothing');
/* The pipeline's login names a user in its own session (any login may set app.user_id): the
   break is still nobody's act in the organization's audit trail. */
select tap.fix('acme_member', (select user_id from app.memberships where org_id = tap.id('acme') limit 1));
set local role pipeline;
select set_config('app.user_id', tap.id('acme_member'), true);
select ok(pipeline.slack_digest_refused(tap.id('acme'), 'channel_not_found', tap.id('digest_connection')::timestamptz),
  'a digest Slack refused for good marks the connection it was posted with broken');
select set_config('app.user_id', '', true);
select ok(not pipeline.slack_digest_refused(tap.id('acme'), 'channel_not_found', tap.id('digest_connection')::timestamptz), '... once');
select is_empty($$ select from pipeline.slack_digest_targets('2026-01-12') $$, 'and the next digest passes it over');
reset role;
select results_eq(
  $$ select count(*)::int, min(details ->> 'reason') from app.audit_events where org_id = tap.id('acme') and action = 'org.slack_broken' $$,
  $$ values (1, 'channel_not_found') $$,
  'the organization is told once, with Slack''s reason');
select is((select actor_id::text from app.audit_events where org_id = tap.id('acme') and action = 'org.slack_broken'), null,
  'by nobody: a user the pipeline''s session named is not recorded as having broken it');
/* An organization deleted while its digest was posted: nothing to record, and no error, so that the
   run goes on with the others (pipeline/assets.py records each digest as it is posted). */
select tap.fix('gone', app.gen_id('org'));
set local role pipeline;
select lives_ok(tap.fill($$ select pipeline.slack_digest_posted('2026-01-05', '{gone}') $$),
  'a digest posted to an organization deleted since is no error');
reset role;
select is_empty(tap.fill($$ select from analytics.slack_digests where org_id = '{gone}' $$), '... and records nothing');

/* The claim of a week's digest (2026-02-02) to an organization: one run at a time posts it, with
   the organization's working connection as it is then (acme's and bobco's connected again). */
update app.slack_connections set broken_at = null, broken_reason = null where org_id in (tap.id('acme'), tap.id('bobco'));
update app.slack_connections set channel = '#moved' where org_id = tap.id('acme');
set local role pipeline;
select results_eq(
  $$ select outcome, claim is not null, lapses_at = now() + interval '10 minutes', channel, token_key_id, length(token_sealed)
       from pipeline.slack_digest_claim('2026-02-02', tap.id('acme'), gen_random_uuid()::text) $$,
  $$ values ('claimed', true, true, '#moved', 'k1', 40) $$,
  'the first claim of a week''s digest to an organization is the caller''s, for ten minutes, with the channel and sealed token connected now'
);
select results_eq(
  $$ select outcome, claim, lapses_at = now() + interval '10 minutes' from pipeline.slack_digest_claim('2026-02-02', tap.id('acme'), gen_random_uuid()::text) $$,
  $$ values ('held', null::uuid, true) $$,
  'a second claim of it while the first holds gets nothing, and is told when the first lapses: one of two claims wins'
);
select is((select outcome from pipeline.slack_digest_claim('2026-02-02', tap.id('bobco'), gen_random_uuid()::text)), 'claimed',
  'a claim is of one organization: another''s digest of the week is claimed beside it');
reset role;
select tap.fix('acme_claim', (select claim::text from analytics.slack_digest_claims where week = '2026-02-02' and org_id = tap.id('acme')));
select results_eq(
  $$ select c.state, d.week from analytics.slack_digest_claims c
       left join analytics.slack_digests d using (week, org_id)
      where c.week = '2026-02-02' and c.org_id = tap.id('acme') $$,
  $$ values ('claimed', null::date) $$,
  'a claimed digest is not posted yet'
);
set local role pipeline;
select ok(not pipeline.slack_digest_failed('2026-02-02', tap.id('acme'), gen_random_uuid()),
  'a claim is released only by its holder');
select is((select outcome from pipeline.slack_digest_claim('2026-02-02', tap.id('acme'), gen_random_uuid()::text)), 'held', '... and still holds');
select ok(pipeline.slack_digest_failed('2026-02-02', tap.id('acme'), tap.id('acme_claim')::uuid),
  'its holder releases it, not posted (Slack refused, the run failed)');
select ok(not pipeline.slack_digest_failed('2026-02-02', tap.id('acme'), tap.id('acme_claim')::uuid), '... once');
select results_eq(
  $$ select outcome, claim <> tap.id('acme_claim')::uuid from pipeline.slack_digest_claim('2026-02-02', tap.id('acme'), gen_random_uuid()::text) $$,
  $$ values ('claimed', true) $$,
  'a failed digest is claimed again at once, with a claim of its own'
);
reset role;
/* The run that holds it stops (killed) while it posts: its claim lapses ten minutes after it was taken. */
select tap.fix('stopped_claim', (select claim::text from analytics.slack_digest_claims where week = '2026-02-02' and org_id = tap.id('acme')));
update analytics.slack_digest_claims set claimed_at = now() - interval '9 minutes 59 seconds'
 where week = '2026-02-02' and org_id = tap.id('acme');
set local role pipeline;
select is((select outcome from pipeline.slack_digest_claim('2026-02-02', tap.id('acme'), gen_random_uuid()::text)), 'held',
  'a claim taken less than ten minutes ago holds');
reset role;
update analytics.slack_digest_claims set claimed_at = now() - interval '10 minutes'
 where week = '2026-02-02' and org_id = tap.id('acme');
set local role pipeline;
select results_eq(
  $$ select outcome, claim <> tap.id('stopped_claim')::uuid, lapses_at = now() + interval '10 minutes'
       from pipeline.slack_digest_claim('2026-02-02', tap.id('acme'), gen_random_uuid()::text) $$,
  $$ values ('taken_over', true, true) $$,
  'a stale claim, ten minutes old, is taken over by the next claim, which is told so (its run may have posted it)'
);
select is((select outcome from pipeline.slack_digest_claim('2026-02-02', tap.id('acme'), gen_random_uuid()::text)), 'held',
  'the claim taken over holds against the others');
reset role;
select tap.fix('live_claim', (select claim::text from analytics.slack_digest_claims where week = '2026-02-02' and org_id = tap.id('acme')));
set local role pipeline;
select ok(not pipeline.slack_digest_failed('2026-02-02', tap.id('acme'), tap.id('stopped_claim')::uuid),
  'the stopped run''s claim, taken over, releases nothing');
select lives_ok($$ select pipeline.slack_digest_posted('2026-02-02', tap.id('acme')) $$, 'the digest is posted and recorded');
select is((select outcome from pipeline.slack_digest_claim('2026-02-02', tap.id('acme'), gen_random_uuid()::text)), 'sent',
  'a digest sent is never claimed again');
select ok(not pipeline.slack_digest_failed('2026-02-02', tap.id('acme'), tap.id('live_claim')::uuid),
  'nor released, not even by the claim it was posted under');
reset role;
select results_eq(
  $$ select d.posted_at = now(), c.week from analytics.slack_digests d
       left join analytics.slack_digest_claims c using (week, org_id)
      where d.week = '2026-02-02' and d.org_id = tap.id('acme') $$,
  $$ values (true, null::date) $$,
  'sent, with when, and its claim gone (a claim made of it since, let go)'
);
/* One claim under way as another run records the digest posted (the first run's claim lapsed,
   and that run posted after all): it is told sent, and its claim goes. */
set local role pipeline;
select is((select outcome from pipeline.slack_digest_claim('2026-02-02', tap.id('bobco'), gen_random_uuid()::text)), 'held', 'bobco''s claim holds');
select lives_ok($$ select pipeline.slack_digest_posted('2026-02-02', tap.id('bobco')) $$, 'bobco''s digest is posted');
select is((select outcome from pipeline.slack_digest_claim('2026-02-02', tap.id('bobco'), gen_random_uuid()::text)), 'sent',
  'and never claimed again');
select is(tap.outcome($$ select pipeline.slack_digest_claim('2026-02-03', tap.id('acme'), gen_random_uuid()::text) $$), '422 pipeline.invalid_week',
  'a claim names a week by its Monday');
select is(tap.outcome($$ select pipeline.slack_digest_claim('2026-02-02', 'garbage', gen_random_uuid()::text) $$), '422 pipeline.invalid_org_id',
  'and an organization by its id');
select is(tap.outcome($$ select pipeline.slack_digest_claim('2026-02-02', null, gen_random_uuid()::text) $$), '422 pipeline.invalid_org_id',
  'not by none');
select is((select outcome from pipeline.slack_digest_claim('2026-02-02', tap.id('gone'), gen_random_uuid()::text)), 'gone',
  'an organization deleted since it was listed has nothing to claim');
select is(tap.outcome($$ select pipeline.slack_digest_claim('2026-02-02', tap.id('acme'), null) $$), '422 pipeline.invalid_run',
  'a claim names its run');
select is(tap.outcome($$ select pipeline.slack_digest_claim('2026-02-02', tap.id('acme'), '') $$), '422 pipeline.invalid_run',
  '... by a name');
reset role;
/* A run tried again after its connection was lost (its record of a post lost with it) comes back
   to its own claim: the attempt before may have posted the digest. It does not take it over, not
   even once the claim lapsed; another run does. */
update app.slack_connections set broken_at = null where org_id = tap.id('fresh');
set local role pipeline;
select is((select outcome from pipeline.slack_digest_claim('2026-02-09', tap.id('fresh'), 'run-1')), 'claimed',
  'run-1 claims a digest');
select results_eq(
  $$ select outcome, claim, lapses_at = now() + interval '10 minutes' from pipeline.slack_digest_claim('2026-02-09', tap.id('fresh'), 'run-1') $$,
  $$ values ('claimed_earlier', null::uuid, true) $$,
  'an attempt of run-1 again is told that it claimed it before, and not given it'
);
reset role;
update analytics.slack_digest_claims set claimed_at = now() - interval '11 minutes' where week = '2026-02-09' and org_id = tap.id('fresh');
set local role pipeline;
select is((select outcome from pipeline.slack_digest_claim('2026-02-09', tap.id('fresh'), 'run-1')), 'claimed_earlier',
  '... nor once its claim lapsed: it took it over as a stopped run''s, and posted it twice');
select is((select outcome from pipeline.slack_digest_claim('2026-02-09', tap.id('fresh'), 'run-2')), 'taken_over',
  'another run takes the lapsed claim over');
select is((select outcome from pipeline.slack_digest_claim('2026-02-09', tap.id('fresh'), 'run-1')), 'held',
  'and holds it against run-1');
reset role;
select tap.fix('run_2_claim', (select claim::text from analytics.slack_digest_claims where week = '2026-02-09' and org_id = tap.id('fresh')));
set local role pipeline;
select ok(pipeline.slack_digest_failed('2026-02-09', tap.id('fresh'), tap.id('run_2_claim')::uuid), 'run-2 fails it, not posted');
select is((select outcome from pipeline.slack_digest_claim('2026-02-09', tap.id('fresh'), 'run-2')), 'claimed',
  'a digest its run failed (known not posted) is claimed again by that run');
reset role;
delete from analytics.slack_digest_claims where week = '2026-02-09';
/* fresh's digest failed once, then its connection broke (or was disconnected) before the next run
   came to it: nothing to post it to, and no claim left to hold it from a connection made later. */
insert into analytics.slack_digest_claims (week, org_id, state, claim, claimed_at)
values ('2026-02-02', tap.id('fresh'), 'failed', gen_random_uuid(), now());
update app.slack_connections set broken_at = now() where org_id = tap.id('fresh');
set local role pipeline;
select results_eq(
  $$ select outcome, claim, channel, token_sealed from pipeline.slack_digest_claim('2026-02-02', tap.id('fresh'), gen_random_uuid()::text) $$,
  $$ values ('disconnected', null::uuid, null::text, null::bytea) $$,
  'an organization whose Slack connection broke or went since it was listed is not posted to');
reset role;
select is_empty(tap.fill($$ select from analytics.slack_digest_claims where org_id = '{fresh}' $$),
  '... and its claim is let go');
set local role pipeline;
select throws_ok($$ update analytics.slack_digest_claims set state = 'claimed' $$, '42501', null,
  'pipeline writes no claim itself, only through the functions that keep them');
select throws_ok($$ insert into analytics.slack_digests (week, org_id) values ('2026-02-09', tap.id('acme')) $$, '42501', null,
  'nor a digest posted');
reset role;

/* Failed deliveries: the queue's failures, after the last one seen. */
select tap.fix('failed_event', app.gen_id('evt'));
select tap.fix('later_event', app.gen_id('evt'));
/* later_event first: its job is the older one. */
insert into app.outbox (id, topic, payload, attempts, last_error, given_up_at)
values (tap.id('later_event'), 'mail.tap_one', '{}', 8, '421 try later', now()),
       (tap.id('failed_event'), 'mail.tap_one', '{"token": "secret"}', 3, '550 no such mailbox', now()),
       (app.gen_id('evt'), 'mail.tap_one', '{}', 0, null, null);
/* As the worker ends it (procrastinate's trigger names its tables without their schema). */
set local search_path = public, jobs;
update jobs.procrastinate_jobs set status = 'doing' where args ->> 'event_id' = tap.id('failed_event');
update jobs.procrastinate_jobs set status = 'failed' where args ->> 'event_id' = tap.id('failed_event');
reset search_path;
update jobs.procrastinate_events e set at = '2026-01-10 12:00Z'
  from jobs.procrastinate_jobs j where e.job_id = j.id and j.args ->> 'event_id' = tap.id('failed_event') and e.type = 'failed';
select tap.fix('failed_job', (select id::text from jobs.procrastinate_jobs where args ->> 'event_id' = tap.id('failed_event')));
select tap.fix('failure', (select e.id::text from jobs.procrastinate_events e
                            where e.job_id = tap.id('failed_job')::bigint and e.type = 'failed'));
set local role pipeline;
select results_eq(
  $$ select failure_id, job_id, event_id, topic, attempts, last_error, failed_at, delivered_at from pipeline.failed_deliveries(null) $$,
  $$ values (tap.id('failure')::bigint, tap.id('failed_job')::bigint, tap.id('failed_event'), 'mail.tap_one', 3,
             '550 no such mailbox', '2026-01-10 12:00Z'::timestamptz, null::timestamptz) $$,
  'failed_deliveries shows the failure with its job, its message''s topic, tries and last error, not delivered since, not the pending ones'
);
select is_empty(tap.fill($$ select * from pipeline.failed_deliveries({failure}) $$), 'nothing after the last failure seen');
select results_eq(
  tap.fill($$ select failure_id, failed_at from pipeline.last_failure_through({failure} + 1000) $$),
  $$ values (tap.id('failure')::bigint, '2026-01-10 12:00Z'::timestamptz) $$,
  'last_failure_through answers the newest failure at or before the id given'
);
select results_eq(
  tap.fill($$ select failure_id from pipeline.last_failure_through({failure}) $$),
  $$ values (tap.id('failure')::bigint) $$,
  'that failure itself, its own id given'
);
select is_empty(tap.fill($$ select * from pipeline.last_failure_through({failure} - 1) $$), 'none before the first failure');
reset role;
/* A job made before the last one seen fails now (a mail retried for hours ends so): a failure
   after the last seen, whatever its job. */
set local search_path = public, jobs;
update jobs.procrastinate_jobs set status = 'doing' where args ->> 'event_id' = tap.id('later_event');
update jobs.procrastinate_jobs set status = 'failed' where args ->> 'event_id' = tap.id('later_event');
reset search_path;
select ok((select id from jobs.procrastinate_jobs where args ->> 'event_id' = tap.id('later_event'))
          < tap.id('failed_job')::bigint, 'the job that fails later is the older one');
set local role pipeline;
select results_eq(
  tap.fill($$ select event_id, last_error from pipeline.failed_deliveries({failure}) $$),
  $$ values (tap.id('later_event'), '421 try later') $$,
  'a job that fails after the last failure seen is seen, though an older job'
);
select is(tap.outcome($$ select pipeline.failed_deliveries(null, 0) $$), '422 pipeline.invalid_limit', 'a limit of 0 is refused');
select is(tap.outcome($$ select pipeline.failed_deliveries(null, 1001) $$), '422 pipeline.invalid_limit', 'a limit over 1000 is refused');
reset role;

select * from finish();
rollback;
