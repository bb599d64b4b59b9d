/* Grants on schema jobs (the job queue, procrastinate's): the worker takes, runs and finishes
   jobs with procrastinate's own queries and functions, on its tables only. */
grant usage on schema jobs to worker;
grant select, insert, update, delete on all tables in schema jobs to worker;
grant usage, select on all sequences in schema jobs to worker;
grant execute on all functions in schema jobs to worker;
