/*
 * Analytics: what the pipeline (pipeline/, Dagster) computes from the application's tables.
 * Counts per organization and day, never a person's data. Role pipeline writes it, through
 * its functions in schema pipeline (sql/functions/pipeline/metrics.sql); Row Level Security
 * is enabled and forced as on every table, with a policy for each role that reads or writes it
 * (sql/policies/analytics.sql): the weekly digests' tables are written only by the definer
 * functions of their owner that keep the digests' states.
 */

create schema analytics;
comment on schema analytics is 'What the pipeline computes: daily metrics per organization. Written by role pipeline.';

/* One row per organization and day (UTC); a day is computed again whole, never added to. */
create table analytics.org_daily_metrics (
  day date not null,
  org_id app.org_id not null references app.organizations (id) on delete cascade,
  members bigint not null constraint org_daily_metrics_members_not_negative check (members >= 0),
  invitations_sent bigint not null
    constraint org_daily_metrics_invitations_sent_not_negative check (invitations_sent >= 0),
  invitations_accepted bigint not null
    constraint org_daily_metrics_invitations_accepted_not_negative check (invitations_accepted >= 0),
  logins bigint not null constraint org_daily_metrics_logins_not_negative check (logins >= 0),
  active_users bigint not null
    constraint org_daily_metrics_active_users_not_negative check (active_users >= 0),
  computed_at timestamptz not null default now(),
  constraint org_daily_metrics_pkey primary key (day, org_id)
);
/* The cascade from app.organizations looks rows up by organization. */
create index org_daily_metrics_org_id_idx on analytics.org_daily_metrics (org_id);
alter table analytics.org_daily_metrics enable row level security;
alter table analytics.org_daily_metrics force row level security;
comment on table analytics.org_daily_metrics is
  'Daily metrics per organization (days in UTC), made by pipeline.refresh_org_daily_metrics; re-running a day replaces its rows.';
comment on column analytics.org_daily_metrics.day is 'The day (UTC) counted.';
comment on column analytics.org_daily_metrics.org_id is 'The organization counted.';
comment on column analytics.org_daily_metrics.members is 'Members at the end of the day (those who left since among them, from migration 0021 on).';
comment on column analytics.org_daily_metrics.invitations_sent is 'Invitations made that day.';
comment on column analytics.org_daily_metrics.invitations_accepted is 'Invitations accepted that day.';
comment on column analytics.org_daily_metrics.logins is 'Logins that day by its members.';
comment on column analytics.org_daily_metrics.active_users is 'Members who did anything recorded in the audit trail that day (a login included).';
comment on column analytics.org_daily_metrics.computed_at is 'When the row was computed.';
alter table analytics.org_daily_metrics add column ai_tokens bigint not null default 0
  constraint org_daily_metrics_ai_tokens_not_negative check (ai_tokens >= 0);
comment on column analytics.org_daily_metrics.ai_tokens is
  'AI tokens charged that day: prompt and completion of the calls answered that day, and the reserved tokens of the reservations that lapsed unsettled that day (cached and failed calls are free).';

/* The weekly Slack digests posted, one row per week and organization: a week run again (after a
   failure) posts only to the organizations that did not get it. */
create table analytics.slack_digests (
  week date not null constraint slack_digests_week_starts_on_monday check (extract(isodow from week) = 1),
  org_id app.org_id not null references app.organizations (id) on delete cascade,
  posted_at timestamptz not null default now(),
  constraint slack_digests_pkey primary key (week, org_id)
);
/* The cascade from app.organizations looks rows up by organization. */
create index slack_digests_org_id_idx on analytics.slack_digests (org_id);
alter table analytics.slack_digests enable row level security;
alter table analytics.slack_digests force row level security;
comment on table analytics.slack_digests is
  'The weekly Slack digests posted (pipeline.slack_digest_posted), so that a week run again posts only to the organizations that did not get it.';
comment on column analytics.slack_digests.week is 'The Monday (UTC) of the week the digest told of.';
comment on column analytics.slack_digests.org_id is 'The organization whose channel got it.';
comment on column analytics.slack_digests.posted_at is 'When it was posted.';

/* The weekly Slack digests under way: claimed by a run before it posts one, so that two runs of a
   week at once post it once (pipeline.slack_digest_claim, sql/functions/pipeline/metrics.sql);
   a digest posted leaves it for analytics.slack_digests. Migration 0025. */
create table analytics.slack_digest_claims (
  week date not null constraint slack_digest_claims_week_starts_on_monday check (extract(isodow from week) = 1),
  org_id app.org_id not null references app.organizations (id) on delete cascade,
  state text not null constraint slack_digest_claims_state_known check (state in ('claimed', 'failed')),
  claim uuid not null,
  claimed_at timestamptz not null,
  run text,
  constraint slack_digest_claims_pkey primary key (week, org_id)
);
/* The cascade from app.organizations looks rows up by organization. */
create index slack_digest_claims_org_id_idx on analytics.slack_digest_claims (org_id);
alter table analytics.slack_digest_claims enable row level security;
alter table analytics.slack_digest_claims force row level security;
comment on table analytics.slack_digest_claims is
  'The weekly Slack digests a run is posting (claimed) or failed to post (failed), one row per week and organization until it is posted (then in analytics.slack_digests, and gone from here): only the run that holds the claim posts it (pipeline.slack_digest_claim).';
comment on column analytics.slack_digest_claims.week is 'The Monday (UTC) of the week the digest tells of.';
comment on column analytics.slack_digest_claims.org_id is 'The organization whose channel it goes to.';
comment on column analytics.slack_digest_claims.state is
  'claimed: a run is posting it, and no other may until the claim lapses, ten minutes after claimed_at (its run stopped); failed: not posted (Slack refused it, or the run failed), claimed again by the next run.';
comment on column analytics.slack_digest_claims.claim is 'The id of the last claim, the holder''s own (pipeline.slack_digest_failed releases only its own).';
comment on column analytics.slack_digest_claims.claimed_at is 'When the last claim was taken.';
comment on column analytics.slack_digest_claims.run is
  'The run that took the last claim (its Dagster run id): an attempt of that run again, after its connection was lost, never takes it over, as it may have posted it. None for a claim taken before migration 0038.';
