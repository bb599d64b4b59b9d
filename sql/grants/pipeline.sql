/* Grants on schema pipeline: the pipeline's housekeeping, daily metrics and failed deliveries,
   to the pipeline role. pipeline.org_daily_counts and
   pipeline.slack_digest_targets belong to metrics_reader, who grants them. */
grant usage on schema pipeline to pipeline;
grant execute on function
  pipeline.purge_auth(),
  pipeline.refresh_org_daily_metrics(date),
  pipeline.org_daily_metrics(date, date),
  pipeline.failed_deliveries(bigint, integer),
  pipeline.last_failure_through(bigint),
  pipeline.slack_digest_refused(text, text, timestamptz),
  pipeline.slack_digest_claim(date, text, text),
  pipeline.slack_digest_posted(date, text),
  pipeline.slack_digest_failed(date, text, uuid)
  to pipeline;
set local role metrics_reader;
revoke all on function pipeline.org_daily_counts(date), pipeline.slack_digest_targets(date) from public;
grant execute on function pipeline.org_daily_counts(date), pipeline.slack_digest_targets(date) to pipeline;
set local role blossom_owner;
