-- rollback of slack_digests
set local lock_timeout = '5s';
set local statement_timeout = '1min';

drop table analytics.slack_digests;
