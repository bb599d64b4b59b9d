/*
 * The operators' views (sql/views/admin.sql) read every tenant's rows as their owner,
 * admin_reader: one read-only policy per table they read. What admin_reader may read of each
 * table is bounded by its column grants (sql/grants/app.sql, sql/grants/jobs.sql), which leave
 * out every column that holds a secret.
 */
create policy admin_read on app.users for select to admin_reader using (true);
create policy admin_read on app.organizations for select to admin_reader using (true);
create policy admin_read on app.memberships for select to admin_reader using (true);
create policy admin_read on app.invitations for select to admin_reader using (true);
create policy admin_read on app.sessions for select to admin_reader using (true);
create policy admin_read on app.audit_events for select to admin_reader using (true);
create policy admin_read on app.outbox for select to admin_reader using (true);
create policy admin_read on app.rate_limit_hits for select to admin_reader using (true);
create policy admin_read on app.ai_usage for select to admin_reader using (true);
create policy admin_read on app.ai_quotas for select to admin_reader using (true);
create policy admin_read on jobs.procrastinate_jobs for select to admin_reader using (true);
create policy admin_read on jobs.procrastinate_events for select to admin_reader using (true);
