/*
 * The outbox: every message to the outside world is a row of app.outbox, written in the
 * transaction of the change that causes it (app.org_notify, the auth functions). A mail's row
 * also defers its delivery job in that same transaction, through the job queue's own SQL
 * function: a rolled-back change sends nothing, a committed one is never lost, and the worker
 * (worker/) is woken by the queue's NOTIFY. Notifications (notify.*) are posted to the
 * organization's Slack channel when it has one (app.slack_topics); the others stay in the
 * outbox as the record of what happened.
 */

/* The organization events that its Slack channel hears of, when it has a working one. */
create function app.slack_topics() returns text[]
language sql immutable parallel safe
return array['notify.member_joined', 'notify.member_left', 'notify.member_removed',
             'notify.org_renamed', 'notify.ownership_transferred'];

comment on function app.slack_topics() is 'The notification topics posted to an organization''s Slack channel.';

/* A delivery job's priority in the job queue, which hands out the highest first (then the oldest).
   Mail a person asked for to get into their own account (a password reset, a verification link)
   comes first: a tenant's invitations, each a mail to someone else, share one queue with every
   other tenant's, and its accounts together can fill it (each sends 20 an hour): a reset queued
   after them waited for every one, while its link's hour ran. Then the other mail, then the
   Slack posts: no mail waits behind an organization's notifications, however many one tenant
   makes. */
create function app.delivery_priority(p_topic text) returns integer
language sql immutable parallel safe
return case
  when p_topic in ('mail.password_reset', 'mail.email_verification') then 2
  when p_topic like 'mail.%' then 1
  else 0
end;

comment on function app.delivery_priority(text) is
  'The job queue priority of the delivery job of an outbox topic: a reset or a verification mail (2), other mail (1), a Slack post (0).';

/* The job that delivers an outbox event: its queue's task, priority and lock, and its arguments
   (the event, and the request that queued it, which the worker's lines for it name). The lock
   names the event, so that one job at a time delivers it; the operators' view of the outbox
   (admin.outbox_health) finds a message's jobs by it. */
create function app.delivery_lock(p_event_id text) returns text
language sql immutable parallel safe
return 'outbox:' || p_event_id;

comment on function app.delivery_lock(text) is 'The job queue lock of the jobs that deliver an outbox event.';

create function app.delivery_job(p_queue text, p_topic text, p_event_id text, p_request_id text)
returns jobs.procrastinate_job_to_defer_v1
language sql immutable parallel safe
return row(
  p_queue, case p_queue when 'mail' then 'deliver_mail' when 'slack' then 'post_to_slack' end,
  app.delivery_priority(p_topic), app.delivery_lock(p_event_id), null,
  pg_catalog.jsonb_build_object('event_id', p_event_id, 'request_id', p_request_id), null
)::jobs.procrastinate_job_to_defer_v1;

comment on function app.delivery_job(text, text, text, text) is
  'The job (for jobs.procrastinate_defer_jobs_v1) that delivers an outbox event of the topic by the queue mail (task deliver_mail) or slack (task post_to_slack), at the topic''s priority.';

/* procrastinate's functions name their tables without a schema: this function runs with the
   job queue's schema on its path, and names everything of its own in full. */
create function app.tg_outbox__defer_delivery() returns trigger
language plpgsql
set search_path = jobs
as $$
begin
  perform jobs.procrastinate_defer_jobs_v1(pg_catalog.array_agg(app.delivery_job('mail', n.topic, n.id, n.request_id)))
    from added n
   where n.topic like 'mail.%'
  having pg_catalog.count(*) > 0;
  perform jobs.procrastinate_defer_jobs_v1(pg_catalog.array_agg(app.delivery_job('slack', n.topic, n.id, n.request_id)))
    from added n
   where n.topic = any (app.slack_topics())
     and exists (select from app.slack_connections c
                  where c.org_id = (n.payload ->> 'org_id') collate "C" and c.broken_at is null)
  having pg_catalog.count(*) > 0;
  return null;
end
$$;

comment on function app.tg_outbox__defer_delivery() is
  'Trigger: defers one delivery job per message added to the outbox, locked per event and with the request id that queued it: each mail (queue mail, task deliver_mail), and each organization event whose organization has a working Slack channel (queue slack, task post_to_slack).';

create trigger defer_delivery after insert on app.outbox
  referencing new table as added
  for each statement execute function app.tg_outbox__defer_delivery();

/* The worker's wake-up: a NOTIFY on the job queue's channels for each job queued, as
   procrastinate's own trigger sent it (migration 0037 drops that one), but only while
   Postgres's notification queue is nearly empty. The queue keeps every
   notification until each listening session has read it, and a session that listens and keeps
   a transaction open reads none; any login may send them (panopticon, in a read-only session
   too). Once the queue was full (8 GB), every commit that queued a job failed at its NOTIFY:
   sign-ups, password resets and invitations refused for as long as that session stayed open. A
   hundredth full (80 MB), a listener has stopped reading: the job is queued without a wake-up,
   and the worker finds it at its next poll (BLOSSOM_WORKER_POLL_SECONDS, 2 s). */
create function app.tg_jobs__wake_the_worker() returns trigger
language plpgsql
as $$
declare
  v_payload constant text := pg_catalog.json_build_object('type', 'job_inserted', 'job_id', new.id)::text;
begin
  if pg_catalog.pg_notification_queue_usage() < 0.01 then
    perform pg_catalog.pg_notify('procrastinate_queue_v1#' || new.queue_name, v_payload);
    perform pg_catalog.pg_notify('procrastinate_any_queue_v1', v_payload);
  end if;
  return null;
end
$$;

comment on function app.tg_jobs__wake_the_worker() is
  'Trigger: wakes the worker for a job queued (procrastinate''s notification on its queue''s channel and on the channel of any queue), unless Postgres''s notification queue is a hundredth full: a listener has stopped reading, and a full queue failed the commit.';

create trigger wake_the_worker after insert on jobs.procrastinate_jobs
  for each row when (new.status = 'todo')
  execute function app.tg_jobs__wake_the_worker();

/* A message withdrawn at its claim: there is nothing to send any more (an invitation taken back,
   delivery.claim; a Slack connection gone, delivery.claim_slack_post), and nothing failed. Given
   up, its token (if any) taken out, and its reason written as `withdrawn: …`, the mark by which
   the operators' views (admin.outbox_health, admin.failed_deliveries) tell it from a failure.
   One given up already (an account's deletion withdraws its mail given up in an SMTP outage)
   keeps when it was given up and its error after the reason: rewritten as the deletion's, the
   outage's record (when, and the server's answer) was lost, and the failed-deliveries alert
   (pipeline.failed_deliveries), reading the job's failure after the deletion, told the outage's
   incident by its last error `withdrawn: its account was deleted before it went`. */
create function app.withdraw_message(p_event_id app.event_id, p_reason text) returns void
language sql volatile
begin atomic
  update app.outbox o
     set given_up_at = coalesce(o.given_up_at, pg_catalog.now()), payload = o.payload - 'token',
         last_error = 'withdrawn: ' || p_reason
                      || case when o.given_up_at is not null
                              then pg_catalog.format(' (given up before: %s)', o.last_error) else '' end
   where o.id = p_event_id;
end;

comment on function app.withdraw_message(app.event_id, text) is
  'Gives an outbox message up as withdrawn (nothing to send any more, no failure): last_error ''withdrawn: '' and the reason, its token removed; one given up already keeps when, and its error after the reason.';
