-- rollback of slack_digest_claim_runs: the claims forget their runs.
set local lock_timeout = '500ms';
set local statement_timeout = '1min';

alter table analytics.slack_digest_claims drop column run;
