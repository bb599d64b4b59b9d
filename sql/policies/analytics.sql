/*
 * The pipeline's reads and writes. Its daily counts and its Slack digest's recipients read every
 * tenant's rows as metrics_reader, the owner of pipeline.org_daily_counts and
 * pipeline.slack_digest_targets (sql/functions/pipeline/metrics.sql): one read-only policy per
 * table, bounded by its column grants (sql/grants/app.sql); the one secret among them, a Slack
 * bot token, is sealed, and only the pipeline's process opens it. The role pipeline writes analytics, its own output, and only that:
 * the daily metrics itself, the digests' states through the functions that keep them.
 */
create policy metrics_read on app.organizations for select to metrics_reader using (true);
create policy metrics_read on app.memberships for select to metrics_reader using (true);
create policy metrics_read on app.membership_departures for select to metrics_reader using (true);
create policy metrics_read on app.invitations for select to metrics_reader using (true);
create policy metrics_read on app.audit_events for select to metrics_reader using (true);
create policy metrics_read on app.slack_connections for select to metrics_reader using (true);
create policy metrics_read on app.ai_usage for select to metrics_reader using (true);

create policy pipeline_output on analytics.org_daily_metrics to pipeline using (true) with check (true);
/* The digests posted and under way are written by the functions that keep their states, as the
   owner (sql/functions/pipeline/metrics.sql: pipeline.slack_digest_claim, _posted, _failed). */
create policy digest_claims on analytics.slack_digests to blossom_owner using (true) with check (true);
create policy digest_claims on analytics.slack_digest_claims to blossom_owner using (true) with check (true);
/* The digest's recipients (pipeline.slack_digest_targets) leave out the organizations posted. */
create policy metrics_read on analytics.slack_digests for select to metrics_reader using (true);
/* They wait for every day of the week to be refreshed. */
create policy metrics_read on analytics.org_daily_metrics for select to metrics_reader using (true);
