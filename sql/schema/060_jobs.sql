/*
 * The job queue (schema jobs) is procrastinate's, made before this (deploy/migrate.py
 * apply_jobs_schema), less its trigger that wakes the worker: the stateless layer's
 * app.tg_jobs__wake_the_worker sends that wake-up, but not into a backed-up notification queue.
 */

drop trigger procrastinate_jobs_notify_queue_job_inserted_v1 on jobs.procrastinate_jobs;
