-- rollback of analytics
-- The stateless layer that uses it (the pipeline's functions, their grants and policies) must be
-- the previous release's, re-applied by `just migrate` of that release, before it goes.
drop table if exists analytics.org_daily_metrics;
drop schema if exists analytics;
