/* Grants on schema jobs (the job queue, procrastinate's): the worker takes, runs and finishes
   jobs with procrastinate's own queries and functions, on its tables only. */
grant usage on schema jobs to worker;
grant select, insert, update, delete on all tables in schema jobs to worker;
grant usage, select on all sequences in schema jobs to worker;
grant execute on all functions in schema jobs to worker;

/* admin_reader: the operators' view of the queue (admin.job_queue, sql/views/admin.sql) and of
   the outbox messages a job delivers (admin.outbox_health: a job's lock names its message),
   under the policies admin_read; never a job's arguments. */
grant usage on schema jobs to admin_reader;
grant select (id, queue_name, task_name, status, attempts, lock) on jobs.procrastinate_jobs to admin_reader;
grant select (job_id, type, at) on jobs.procrastinate_events to admin_reader;
