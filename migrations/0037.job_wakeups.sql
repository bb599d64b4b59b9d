-- job_wakeups: procrastinate's trigger that NOTIFYs the worker of each job queued goes (its schema
-- is made before the migrations, deploy/migrate.py apply_jobs_schema). The stateless layer's
-- app.tg_jobs__wake_the_worker (sql/functions/app/outbox.sql) sends the same wake-up, but not
-- into a backed-up notification queue: once the queue was full, the commit that queued a job failed.
set local lock_timeout = '500ms';
set local statement_timeout = '1min';

drop trigger procrastinate_jobs_notify_queue_job_inserted_v1 on jobs.procrastinate_jobs;
