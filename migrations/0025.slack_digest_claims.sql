-- slack_digest_claims: a week's Slack digest to an organization is claimed before it is posted,
-- so that two runs of the week at once (two Dagster runs, a retry while the first still runs, the
-- schedule's and a `pipeline-run`) post it once (sql/schema/040_analytics.sql; the claim and its
-- states: sql/functions/pipeline/metrics.sql). A new, empty table.
set local lock_timeout = '5s';
set local statement_timeout = '1min';

create table analytics.slack_digest_claims (
  week date not null constraint slack_digest_claims_week_starts_on_monday check (extract(isodow from week) = 1),
  org_id app.org_id not null references app.organizations (id) on delete cascade,
  state text not null constraint slack_digest_claims_state_known check (state in ('claimed', 'failed')),
  claim uuid not null,
  claimed_at timestamptz not null,
  constraint slack_digest_claims_pkey primary key (week, org_id)
);
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
