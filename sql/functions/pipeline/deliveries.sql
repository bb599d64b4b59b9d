/* Failed deliveries, for the pipeline's alert (pipeline/sensors.py): the queue's failures (a
   message given up: a permanent refusal, or its last try), each with its job, its outbox
   message's topic, tries and last error, and when the message was delivered since (a DBA mended
   the cause and tried it again: delivery.try_again makes a new job, and the failed one stays),
   never its payload. Oldest first, after the last failure
   the caller has seen, so a sensor reads each failure once. A failure is the queue's event (its
   id grows as failures are recorded), not the job: a mail retried for hours fails after jobs
   made later, and a cursor on the job id passed it over. (Two failures recorded at one instant
   may commit in the other order than their ids; a read between the two commits would pass the
   first over. Each is one short statement of a worker: left as it is.) Runs as the owner, whose policies reach the
   queue and the outbox. */
create function pipeline.failed_deliveries(p_after_failure_id bigint, p_limit integer default 100)
returns table (
  failure_id bigint,
  job_id bigint,
  event_id text,
  topic text,
  attempts integer,
  last_error text,
  failed_at timestamptz,
  delivered_at timestamptz
)
language plpgsql stable security definer set search_path = ''
as $$
begin
  if p_limit is null or p_limit not between 1 and 1000 then
    perform util.raise_error(422, 'pipeline.invalid_limit', 'The limit must be between 1 and 1000.');
  end if;
  return query
    select e.id, j.id, o.id::text, o.topic, o.attempts, o.last_error, e.at, o.delivered_at
      from jobs.procrastinate_events e
      join jobs.procrastinate_jobs j on j.id = e.job_id
      left join app.outbox o on o.id = j.args ->> 'event_id'
     where e.type = 'failed' and e.id > coalesce(p_after_failure_id, 0)
     order by e.id
     limit p_limit;
end
$$;

comment on function pipeline.failed_deliveries(bigint, integer) is
  'The queue''s failed deliveries after failure p_after_failure_id (null: from the first), oldest first, at most p_limit: the failure''s id, its job, the outbox message''s topic, tries, last error, when it failed, and when the message was delivered since (tried again), if it was. '
  'Errors: 422 pipeline.invalid_limit.';

/* The newest failure at or before failure p_failure_id that is still there, for the sensor to
   tell why the last failure it saw is gone. A failed job run again (procrastinate's retry) that
   succeeds is deleted, and its events with it, its failure too: the failures before it are as
   they were, none of them failed after it. A database restored from an older backup gives the
   ids out again: failures at or before it failed after it. */
create function pipeline.last_failure_through(p_failure_id bigint)
returns table (failure_id bigint, failed_at timestamptz)
language plpgsql stable security definer set search_path = ''
as $$
begin
  if p_failure_id is null then
    perform util.raise_error(422, 'pipeline.invalid_failure_id', 'The id of a failure must be given.');
  end if;
  return query
    select e.id, e.at
      from jobs.procrastinate_events e
     where e.type = 'failed' and e.id <= p_failure_id
     order by e.id desc
     limit 1;
end
$$;

comment on function pipeline.last_failure_through(bigint) is
  'The newest of the queue''s failures whose id is at most p_failure_id, and when it failed; none when there is none. '
  'Errors: 422 pipeline.invalid_failure_id.';
