/*
 * Row Level Security on the job queue's tables (schema jobs, procrastinate's; made by migrate,
 * see deploy/migrate.py), forced as on every table of ours. They hold no tenant data, only
 * which task to run for which outbox event: the owner's functions defer jobs (the outbox
 * trigger, in the transaction that writes the message) and the worker takes and finishes them.
 * Nobody else has a grant on them (sql/grants/jobs.sql).
 */
create policy queue on jobs.procrastinate_jobs to blossom_owner, worker using (true) with check (true);
create policy queue on jobs.procrastinate_events to blossom_owner, worker using (true) with check (true);
create policy queue on jobs.procrastinate_periodic_defers to blossom_owner, worker using (true) with check (true);
create policy queue on jobs.procrastinate_workers to blossom_owner, worker using (true) with check (true);
