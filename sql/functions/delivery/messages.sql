/*
 * What the worker calls to deliver the outbox's mail (worker/delivery.py), as role worker, which
 * may call these and nothing else of ours. One delivery, in one transaction of the worker's:
 *
 *   delivery.claim(event)      the message, its row locked until the transaction ends, or
 *                              nothing when it was delivered or given up already;
 *   (the worker sends it)
 *   delivery.delivered(event)  done: the secrets it carried (its token) leave the payload;
 *   delivery.failed(event, …)  a try that failed, counted, with its error; give_up ends it.
 *
 * The row lock held while sending is what makes delivery at most once: a second worker that
 * claims the same event waits, then finds it delivered. A worker killed while sending loses
 * its transaction and its lock, and the event is claimed again. The SMTP server has the message
 * only once it accepted its end, and a message is marked delivered only once it did.
 */
create function delivery.claim(
  p_event_id text, out topic text, out payload jsonb, out attempts integer, out queued_at timestamptz
)
language plpgsql volatile security definer set search_path = ''
as $$
begin
  select o.topic, o.payload, o.attempts, o.created_at into topic, payload, attempts, queued_at
    from app.outbox o
   where o.id = util.parse_id(p_event_id, 'evt')::app.event_id
     and o.delivered_at is null and o.given_up_at is null
     for update;
end
$$;

comment on function delivery.claim(text) is
  'The message of an outbox event and when it was queued, locked for the rest of the transaction; nulls when it is delivered, given up or unknown.';

create function delivery.delivered(p_event_id text) returns void
language plpgsql volatile security definer set search_path = ''
as $$
begin
  update app.outbox o
     set delivered_at = pg_catalog.now(), attempts = o.attempts + 1, last_attempt_at = pg_catalog.now(),
         last_error = null, payload = o.payload - 'token'
   where o.id = util.parse_id(p_event_id, 'evt')::app.event_id;
end
$$;

comment on function delivery.delivered(text) is
  'Marks an outbox event delivered and takes its one-time secret (token) out of its payload.';

create function delivery.failed(p_event_id text, p_error text, p_give_up boolean) returns void
language plpgsql volatile security definer set search_path = ''
as $$
begin
  update app.outbox o
     set attempts = o.attempts + 1, last_attempt_at = pg_catalog.now(),
         last_error = pg_catalog.left(p_error, 1000),
         given_up_at = case when p_give_up then pg_catalog.now() end
   where o.id = util.parse_id(p_event_id, 'evt')::app.event_id;
end
$$;

comment on function delivery.failed(text, text, boolean) is
  'Counts a failed try of an outbox event with its error; with p_give_up, no try follows (given_up_at).';

/* For a DBA, as the owner (nobody else may call it): a given-up mail tried again from the start,
   after its cause was mended (a mailbox full, a wrong SMTP setting). */
create function delivery.try_again(p_event_id text) returns boolean
language plpgsql volatile security definer set search_path = jobs
as $$
declare
  v_request_id text;
begin
  update app.outbox o set given_up_at = null, attempts = 0, last_error = null
   where o.id = util.parse_id(p_event_id, 'evt')::app.event_id
     and o.topic like 'mail.%' and o.delivered_at is null
     -- Given up only: a mail still being tried has its job, waiting out its back-off; reset, it
     -- had a second job beside that one and its tries counted from zero again, past
     -- BLOSSOM_MAIL_MAX_ATTEMPTS.
     and o.given_up_at is not null
  returning o.request_id into v_request_id;
  if not found then
    return false;
  end if;
  -- The request that queued the mail, as the outbox trigger's job carries it: the worker's lines
  -- for this try name it too (docs/operations.md, one request id end to end).
  perform jobs.procrastinate_defer_jobs_v1(array[row(
    'mail', 'deliver_mail', app.delivery_priority('mail'), 'outbox:' || p_event_id, null,
    pg_catalog.jsonb_build_object('event_id', p_event_id, 'request_id', v_request_id), null
  )::jobs.procrastinate_job_to_defer_v1]);
  return true;
end
$$;

comment on function delivery.try_again(text) is
  'Tries a given-up mail again from its first try (a DBA''s call, after mending the cause); false when there is no such mail (unknown, delivered, or still being tried).';
