/* Failed deliveries, for the pipeline's alert (pipeline/sensors.py): the jobs of the queue that
   ended failed (a message given up: a permanent refusal, or its last try), each with its outbox
   message's topic, tries and last error, never its payload. Oldest first, after a job id the
   caller has seen already, so a sensor reads each failure once. Runs as the owner, whose
   policies reach the queue and the outbox. */
create function pipeline.failed_deliveries(p_after_job_id bigint, p_limit integer default 100)
returns table (
  job_id bigint,
  event_id text,
  topic text,
  attempts integer,
  last_error text,
  failed_at timestamptz
)
language plpgsql stable security definer set search_path = ''
as $$
begin
  if p_limit is null or p_limit not between 1 and 1000 then
    perform util.raise_error(422, 'pipeline.invalid_limit', 'The limit must be between 1 and 1000.');
  end if;
  return query
    select j.id, o.id::text, o.topic, o.attempts, o.last_error,
           (select pg_catalog.max(e.at) from jobs.procrastinate_events e where e.job_id = j.id and e.type = 'failed')
      from jobs.procrastinate_jobs j
      left join app.outbox o on o.id = j.args ->> 'event_id'
     where j.status = 'failed' and j.id > coalesce(p_after_job_id, 0)
     order by j.id
     limit p_limit;
end
$$;

comment on function pipeline.failed_deliveries(bigint, integer) is
  'Jobs of the queue that ended failed, after job p_after_job_id (null: from the first), oldest first, at most p_limit: the outbox message''s topic, tries, last error and when the job failed. '
  'Errors: 422 pipeline.invalid_limit.';
