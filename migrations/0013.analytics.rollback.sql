-- rollback of analytics
-- The stateless layer that uses it (the pipeline's functions, their grants and policies) must be
-- the previous release's, re-applied by `just migrate` of that release, before it goes.
set local lock_timeout = '5s';
set local statement_timeout = '1min';
drop table if exists analytics.org_daily_metrics;
drop schema if exists analytics;
