/*
 * The pipeline's reads and writes. Its daily counts read every tenant's rows as metrics_reader,
 * the owner of pipeline.org_daily_counts (sql/functions/pipeline/metrics.sql): one read-only
 * policy per table they count, bounded by its column grants (sql/grants/app.sql), which hold
 * no secret. The role pipeline writes analytics, its own output, and only that.
 */
create policy metrics_read on app.organizations for select to metrics_reader using (true);
create policy metrics_read on app.memberships for select to metrics_reader using (true);
create policy metrics_read on app.invitations for select to metrics_reader using (true);
create policy metrics_read on app.audit_events for select to metrics_reader using (true);

create policy pipeline_output on analytics.org_daily_metrics to pipeline using (true) with check (true);
