-- slack_digest_claim_runs: a claim of a weekly digest names the run that took it, so that an
-- attempt of that run again (its connection lost after it posted) never takes it over, as it did
-- once the claim's ten minutes had passed, posting the digest twice (pipeline.slack_digest_claim).
-- A column without a default: no rewrite, and the claims under way keep none. Its only writer,
-- pipeline.slack_digest_claim, refuses a run not named (1 to 100 characters).
set local lock_timeout = '500ms';
set local statement_timeout = '1min';

alter table analytics.slack_digest_claims add column run text;
comment on column analytics.slack_digest_claims.run is
  'The run that took the last claim (its Dagster run id): an attempt of that run again, after its connection was lost, never takes it over, as it may have posted it. None for a claim taken before migration 0038.';
