/* Grants on schema analytics: the pipeline's output, which role pipeline reads and replaces a day
   at a time (sql/functions/pipeline/metrics.sql), under the policy pipeline_output. */
grant usage on schema analytics to pipeline;
grant select, insert, delete on analytics.org_daily_metrics to pipeline;
/* A day's row is written over with its counts; its day and organization stay. */
grant update (members, invitations_sent, invitations_accepted, logins, active_users, ai_tokens, computed_at)
  on analytics.org_daily_metrics to pipeline;
/* The weekly digests posted, and those under way (analytics.slack_digest_claims): written only by
   the functions that keep their states (pipeline.slack_digest_claim, _posted, _failed, definer
   functions of the owner), never by the pipeline itself; those posted read by the digest's
   recipients' owner. */
grant select (week, org_id) on analytics.slack_digests to metrics_reader;
/* And the days refreshed (after they were over: computed_at), which a week's digest waits for. */
grant select (day, org_id, computed_at) on analytics.org_daily_metrics to metrics_reader;
