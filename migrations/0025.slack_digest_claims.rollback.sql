-- rollback of slack_digest_claims: the digests claimed or failed, never posted, are forgotten (a
-- week run again by the release rolled back to posts them); those posted stay in
-- analytics.slack_digests.
set local lock_timeout = '5s';
set local statement_timeout = '1min';

drop table analytics.slack_digest_claims;
