/* Grants on schema analytics: the pipeline's output, which role pipeline reads and replaces a day
   at a time (sql/functions/pipeline/metrics.sql), under the policy pipeline_output. */
grant usage on schema analytics to pipeline;
grant select, insert, delete on analytics.org_daily_metrics to pipeline;
