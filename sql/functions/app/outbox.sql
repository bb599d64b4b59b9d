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

/* A delivery job's priority in the job queue, which hands out the highest first (then the oldest):
   mail before Slack, so that a mail to a person (a password reset, a verification, an
   invitation) waits behind no organization's notifications, however many one tenant makes. */
create function app.delivery_priority(p_queue text) returns integer
language sql immutable parallel safe
return case p_queue when 'mail' then 1 else 0 end;

comment on function app.delivery_priority(text) is
  'The job queue priority of a delivery job of the queue: mail (1) before slack (0).';

/* procrastinate's functions name their tables without a schema: this function runs with the
   job queue's schema on its path, and names everything of its own in full. */
create function app.tg_outbox__defer_delivery() returns trigger
language plpgsql
set search_path = jobs
as $$
begin
  perform jobs.procrastinate_defer_jobs_v1(pg_catalog.array_agg(row(
    'mail', 'deliver_mail', app.delivery_priority('mail'), 'outbox:' || n.id, null, pg_catalog.jsonb_build_object('event_id', n.id, 'request_id', n.request_id), null
  )::jobs.procrastinate_job_to_defer_v1))
    from added n
   where n.topic like 'mail.%'
  having pg_catalog.count(*) > 0;
  perform jobs.procrastinate_defer_jobs_v1(pg_catalog.array_agg(row(
    'slack', 'post_to_slack', app.delivery_priority('slack'), 'outbox:' || n.id, null, pg_catalog.jsonb_build_object('event_id', n.id, 'request_id', n.request_id), null
  )::jobs.procrastinate_job_to_defer_v1))
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
