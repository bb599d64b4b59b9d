/*
 * What the worker calls to deliver the outbox's mail (worker/delivery.py), as role worker, which
 * may call these and nothing else of ours. One delivery, in one transaction of the worker's:
 *
 *   delivery.claim(event)      the message, its row locked until the transaction ends, or
 *                              nothing when it was delivered or given up already;
 *   (the worker talks to the SMTP server)
 *   delivery.still_wanted(event)  asked just before the message is handed over (DATA): an
 *                              invitation taken back or a link spent meanwhile withdraws it,
 *                              and it is not sent;
 *   (the worker hands it over)
 *   delivery.delivered(event)  done: the secrets it carried (its token) leave the payload;
 *   delivery.failed(event, …)  a try that failed, counted, with its error; give_up ends it.
 *
 * The row lock held while sending is what makes delivery at most once: a second worker that
 * claims the same event waits, then finds it delivered. A worker killed while sending loses
 * its transaction and its lock, and the event is claimed again. The SMTP server has the message
 * only once it accepted its end, and a message is marked delivered only once it did.
 */

/* Why a message is no longer to be sent, or null while it is: its link would only answer
   "invalid" on arrival. An invitation's mail whose invitation is no longer open (revoked, replaced
   or answered, or deleted with its organization); a reset or verification mail whose link was
   spent while it waited or was being sent: a password change or a reset by another link spends
   the account's reset links, a verification (by a link, or by an accepted invitation) every
   verification link of the account. Those went all the same, a reset mail inviting its reader to
   reset a password just changed, by a link refused as auth.invalid_token. A link merely expired
   is left to the worker, which gives its mail up as expired (worker/messages.py); one not found
   (its token purged, its account deleted) is withdrawn where it goes. */
create function delivery.withdrawal_reason(p_topic text, p_payload jsonb) returns text
language sql stable
begin atomic
  select case
    when p_topic = 'mail.org_invitation' and not app.invitation_is_open(p_payload ->> 'invitation_id')
      then 'the invitation was revoked, replaced or answered, or its organization deleted, before its mail went'
    when (p_topic = 'mail.password_reset'
          and exists (select from app.password_resets r
                       where r.token_hash = util.token_hash(p_payload ->> 'token') and r.used_at is not null))
      or (p_topic = 'mail.email_verification'
          and exists (select from app.email_verifications v
                       where v.token_hash = util.token_hash(p_payload ->> 'token') and v.used_at is not null))
      then 'its link was spent (the password changed or reset, or the address verified) before it went'
  end;
end;

comment on function delivery.withdrawal_reason(text, jsonb) is
  'Why a message is no longer to be sent (an invitation no longer open, a reset or verification link spent), or null while it is.';

create function delivery.claim(
  p_event_id text, out topic text, out payload jsonb, out attempts integer, out queued_at timestamptz,
  out claimed_at timestamptz
)
language plpgsql volatile security definer set search_path = ''
as $$
declare
  v_withdrawn text;
begin
  select o.topic, o.payload, o.attempts, o.created_at into topic, payload, attempts, queued_at
    from app.outbox o
   where o.id = util.parse_id(p_event_id, 'evt')::app.event_id
     and o.delivered_at is null and o.given_up_at is null
     for update;
  -- An invitation revoked, replaced or answered, or gone with its deleted organization, or a reset
  -- or verification link spent, while its mail waited (the worker down, the SMTP server
  -- retrying): the mail went all the same, by a link that only answers "invalid". It is withdrawn
  -- instead, its token taken out, and nothing is claimed: no try is made, so none fails.
  -- Asked again just before the message is handed over (delivery.still_wanted).
  if found then
    v_withdrawn := delivery.withdrawal_reason(topic, payload);
    if v_withdrawn is not null then
      perform app.withdraw_message(util.parse_id(p_event_id, 'evt')::app.event_id, v_withdrawn);
      topic := null; payload := null; attempts := null; queued_at := null;
    end if;
  end if;
  -- The database's time once the row is ours (the lock may have been waited for): the worker
  -- decides by it whether the message's link expired, and how long it waited, as the clock of
  -- its own machine may be off this one's (docs/mail.md).
  claimed_at := pg_catalog.clock_timestamp();
end
$$;

comment on function delivery.claim(text) is
  'The message of an outbox event, when it was queued and the database''s time of the claim, locked for the rest of the transaction; nulls but claimed_at when it is delivered, given up or unknown, or no longer wanted (delivery.withdrawal_reason: withdrawn, given up, its token removed).';

/* The claim decided whether a mail was wanted (delivery.withdrawal_reason), and the SMTP
   conversation that follows (connecting, TLS, the login, MAIL, RCPT) takes hundreds of milliseconds
   against a real relay, up to minutes against a slow one: an invitation revoked, replaced or
   answered, or its organization deleted, meanwhile was mailed all the same, its link dead on
   arrival. So the worker asks again just before the message is handed over (DATA), in the claim's
   transaction: whatever took it back (or spent its link) and committed by then is seen, and the
   mail withdrawn as the claim withdraws it. Neither the invitation nor the link is held after the
   question (a share lock on its row until the record): a revocation, which holds its
   organization's lock, or a password change, under its account's, would wait for the server's
   answer to the message's end, up to the send's bound (worker/delivery.py), and the calls behind
   it. One that commits while the message is transferred comes after a mail that goes; its link
   answers invalid. An account's deletion withdraws its reset and verification mail under the outbox row's
   lock, which the claim holds, so it waits for the claim's end
   (sql/functions/app/account_deletion.sql). False too for a message no longer claimable
   (delivered, given up). One call, which also proves the claim's session alive
   (worker/delivery.py). */
create function delivery.still_wanted(p_event_id text) returns boolean
language plpgsql volatile security definer set search_path = ''
as $$
declare
  v_event_id constant app.event_id := util.parse_id(p_event_id, 'evt')::app.event_id;
  v_message app.outbox%rowtype;
  v_withdrawn text;
begin
  -- The claim's row: this transaction holds its lock already, nothing waits.
  select * into v_message from app.outbox o
   where o.id = v_event_id and o.delivered_at is null and o.given_up_at is null
     for update;
  if not found then
    return false;
  end if;
  v_withdrawn := delivery.withdrawal_reason(v_message.topic, v_message.payload);
  if v_withdrawn is null then
    return true;
  end if;
  perform app.withdraw_message(v_event_id, v_withdrawn);
  return false;
end
$$;

comment on function delivery.still_wanted(text) is
  'Whether a claimed message is still to be handed over, asked just before it is: not an invitation''s mail whose invitation is no longer open, nor a reset or verification mail whose link was spent; such a mail is withdrawn (given up, its token removed), and false.';

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

/* For a DBA, as the owner (nobody else may call it): a mail that no job will try any more, tried
   again from the start after its cause was mended (a mailbox full, a wrong SMTP setting). That is
   a mail given up, or one whose job ended without delivering it or giving it up: the job failed
   on an error the worker did not expect, or a DBA cancelled it (admin.outbox_health counts it
   unsent). A mail whose job will still run (todo, doing, aborting: as admin.outbox_health counts
   pending) is left to it: reset, it had a second job beside that one and its tries counted from
   zero again, past BLOSSOM_MAIL_MAX_ATTEMPTS. */
create function delivery.try_again(p_event_id text) returns boolean
language plpgsql volatile security definer set search_path = jobs
as $$
declare
  v_event_id constant app.event_id := util.parse_id(p_event_id, 'evt')::app.event_id;
  v_mail app.outbox%rowtype;
begin
  -- Locked first, and the queue read after (a statement of its own, so seeing what committed
  -- meanwhile): a second call for the same mail waits here, then finds the job the first made.
  select * into v_mail from app.outbox o
   where o.id = v_event_id and o.topic like 'mail.%' and o.delivered_at is null
     for update;
  -- A withdrawn mail (app.withdraw_message) has nothing left to send: its invitation was taken
  -- back and its token removed, and the claim would only withdraw it again.
  if not found or v_mail.last_error like 'withdrawn: %' then
    return false;
  end if;
  if v_mail.given_up_at is null
     and exists (select from jobs.procrastinate_jobs j
                  where j.lock = app.delivery_lock(v_event_id) and j.status in ('todo', 'doing', 'aborting')) then
    return false;
  end if;
  update app.outbox o set given_up_at = null, attempts = 0, last_error = null where o.id = v_event_id;
  -- With the request that queued the mail, as the outbox trigger's job: the worker's lines for
  -- this try name it too (docs/operations.md, one request id end to end).
  perform jobs.procrastinate_defer_jobs_v1(array[app.delivery_job('mail', v_mail.topic, v_event_id, v_mail.request_id)]);
  return true;
end
$$;

comment on function delivery.try_again(text) is
  'Tries again from its first try a mail that no job will try any more (given up, or its job failed or was cancelled): a DBA''s call, after mending the cause; false when there is no such mail (unknown, delivered, withdrawn, or its job will still try it).';
