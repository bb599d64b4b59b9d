-- rollback of job_wakeups: procrastinate's own wake-up trigger, as its schema makes it.
set local lock_timeout = '500ms';
set local statement_timeout = '1min';

create trigger procrastinate_jobs_notify_queue_job_inserted_v1
  after insert on jobs.procrastinate_jobs
  for each row when (new.status = 'todo'::jobs.procrastinate_job_status)
  execute procedure jobs.procrastinate_notify_queue_job_inserted_v1();
