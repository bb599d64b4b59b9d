/* Mail: the delivery job deferred with the outbox row, the worker's four calls, and email
   verification (sign-up, the link, resending, invitations). */
begin;
select plan(76);
set local app.settings.bcrypt_cost = '4';

/* The outbox defers one delivery job per mail, in the same transaction. */
select tap.fix('erin_token', auth.signup('erin@example.com', 'correct horse battery', 'Erin', '192.0.2.7', 'tap')
                             -> 'session' ->> 'token');
select tap.fix('erin', id) from app.users where email = 'erin@example.com';
select tap.fix('erin_mail', id) from app.outbox where topic = 'mail.email_verification' and payload ->> 'to' = 'erin@example.com';
select results_eq(
  $$ select queue_name::text, task_name::text, lock::text, args, status::text from jobs.procrastinate_jobs
      where args ->> 'event_id' = tap.id('erin_mail') $$,
  $$ values ('mail', 'deliver_mail', 'outbox:' || tap.id('erin_mail'), jsonb_build_object('event_id', tap.id('erin_mail'), 'request_id', null), 'todo') $$,
  'the sign-up''s verification mail has its delivery job: queue mail, task deliver_mail, one at a time per event'
);

set local role blossom_owner;
insert into app.outbox (topic, payload)
values ('mail.password_reset', '{"to": "a@example.com"}'), ('notify.member_left', '{}'), ('mail.password_reset', '{"to": "b@example.com"}');
reset role;
select is(
  (select count(*)::int from jobs.procrastinate_jobs j join app.outbox o on o.id = j.args ->> 'event_id'
    where o.payload ->> 'to' in ('a@example.com', 'b@example.com')),
  2, 'a statement adding several messages defers one job per mail');
select is_empty(
  $$ select from jobs.procrastinate_jobs j join app.outbox o on o.id = j.args ->> 'event_id' where o.topic not like 'mail.%' $$,
  'a notification defers no delivery job');

savepoint before_reset;
select auth.request_password_reset('erin@example.com', '192.0.2.7');
select is((select count(*)::int from app.outbox where topic = 'mail.password_reset' and payload ->> 'to' = 'erin@example.com'), 1,
  'a reset request writes its mail');
rollback to savepoint before_reset;
select is_empty(
  $$ select from jobs.procrastinate_jobs j
      where not exists (select from app.outbox o where o.id = j.args ->> 'event_id') $$,
  'a rolled-back change leaves no job behind: every job names a message that exists');

/* The worker's calls. */
set local role worker;
select results_eq(
  $$ select topic, payload ->> 'token' is not null, attempts from delivery.claim(tap.id('erin_mail')) $$,
  $$ values ('mail.email_verification', true, 0) $$,
  'claim answers the message with its token and the tries so far');
select throws_ok($$ select * from app.outbox $$, '42501', null, 'the worker cannot read the outbox itself');
select throws_ok($$ select auth.verify_email('x', null) $$, '42501', null, 'nor call any function but its own');
select delivery.failed(tap.id('erin_mail'), 'smtp down: ' || repeat('x', 2000), false);
reset role;
select results_eq(
  $$ select attempts, length(last_error), last_attempt_at is not null, delivered_at, given_up_at, payload ? 'token'
       from app.outbox where id = tap.id('erin_mail') $$,
  $$ values (1, 1000, true, null::timestamptz, null::timestamptz, true) $$,
  'a failed try is counted, with its error (cut to 1000 characters); the message stays to be tried again');
set local role worker;
select delivery.delivered(tap.id('erin_mail'));
reset role;
select results_eq(
  $$ select attempts, last_error, delivered_at is not null, payload ? 'token', payload ->> 'to'
       from app.outbox where id = tap.id('erin_mail') $$,
  $$ values (2, null::text, true, false, 'erin@example.com') $$,
  'a delivered message is marked, and its token is gone from the outbox');
set local role worker;
select results_eq($$ select topic, payload, attempts from delivery.claim(tap.id('erin_mail')) $$,
  $$ values (null::text, null::jsonb, null::integer) $$, 'a delivered message is never claimed again');
reset role;
select tap.fix('a_mail', (select id from app.outbox where payload ->> 'to' = 'a@example.com'));
set local role worker;
select delivery.failed(tap.id('a_mail'), '550 no such user', true);
select results_eq($$ select topic from delivery.claim(tap.id('a_mail')) $$, $$ values (null::text) $$,
  'a given-up message is never claimed again');
select results_eq($$ select topic from delivery.claim('evt_00000000000000000000000000') $$, $$ values (null::text) $$,
  'an unknown event is nothing to deliver');
select results_eq($$ select topic from delivery.claim('usr_00000000000000000000000000') $$, $$ values (null::text) $$,
  'nor is an id that is not an event''s');
reset role;
select results_eq(
  $$ select attempts, last_error, given_up_at is not null, delivered_at from app.outbox where id = tap.id('a_mail') $$,
  $$ values (1, '550 no such user', true, null::timestamptz) $$,
  'a DBA sees a given-up message: its tries, its last error and when it was given up');
set local role worker;
select throws_ok(format('select delivery.try_again(%L)', tap.id('a_mail')), '42501', null,
  'the worker cannot bring a given-up mail back');
reset role;
update app.outbox set request_id = 'req-of-the-reset' where id = tap.id('a_mail');
select ok(delivery.try_again(tap.id('a_mail')), 'a DBA tries a given-up mail again');
select results_eq(
  $$ select j.args from jobs.procrastinate_jobs j where j.args ->> 'event_id' = tap.id('a_mail') order by j.id desc limit 1 $$,
  $$ values (jsonb_build_object('event_id', tap.id('a_mail'), 'request_id', 'req-of-the-reset')) $$,
  'its new job names the request that queued the mail, as the first did: the worker''s lines for it say so');
select results_eq(
  $$ select o.attempts, o.last_error, o.given_up_at, (select count(*)::int from jobs.procrastinate_jobs j
                                                       where j.args ->> 'event_id' = o.id and j.status = 'todo')
       from app.outbox o where o.id = tap.id('a_mail') $$,
  $$ values (0, null::text, null::timestamptz, 2) $$,
  'from its first try, with a new job to deliver it (the first one is still there: no worker runs here)');
select is(delivery.try_again(tap.id('erin_mail')), false, 'a delivered mail is not sent again');
select tap.fix('b_mail', (select id from app.outbox where payload ->> 'to' = 'b@example.com'));
update app.outbox set attempts = 3, last_error = '451 try later' where id = tap.id('b_mail');
select is(delivery.try_again(tap.id('b_mail')), false,
  'a mail still being tried (not given up) is left to its own tries');
select results_eq(
  $$ select o.attempts, o.last_error, (select count(*)::int from jobs.procrastinate_jobs j where j.args ->> 'event_id' = o.id)
       from app.outbox o where o.id = tap.id('b_mail') $$,
  $$ values (3, '451 try later', 1) $$,
  'its tries are not reset past BLOSSOM_MAIL_MAX_ATTEMPTS, and no second job runs beside its own');
-- A job can end without delivering its mail or giving it up: it failed on an error the worker did
-- not expect, or a DBA cancelled it. No job will try that mail again (admin.outbox_health: unsent).
-- (The job queue's triggers name its types without a schema.)
set local search_path = jobs, public;
update jobs.procrastinate_jobs set status = 'failed' where lock = 'outbox:' || tap.id('b_mail');
reset search_path;
select ok(delivery.try_again(tap.id('b_mail')), 'a mail whose job failed is tried again, though never given up');
select results_eq(
  $$ select o.attempts, o.last_error, (select array_agg(j.status::text order by j.id) from jobs.procrastinate_jobs j
                                         where j.lock = 'outbox:' || o.id)
       from app.outbox o where o.id = tap.id('b_mail') $$,
  $$ values (0, null::text, array['failed', 'todo']) $$,
  'from its first try, by a new job beside the one that ended');
select is(delivery.try_again(tap.id('b_mail')), false, 'once its new job waits, it is left to it');
set local search_path = jobs, public;
update jobs.procrastinate_jobs set status = 'cancelled' where lock = 'outbox:' || tap.id('b_mail') and status = 'todo';
reset search_path;
select ok(delivery.try_again(tap.id('b_mail')), 'a mail whose job a DBA cancelled is tried again too');
-- Withdrawn (its invitation taken back while it waited): its token is gone and the claim would
-- withdraw it again. It answered true all the same, and a job ran to send nothing.
set local search_path = jobs, public;
update jobs.procrastinate_jobs set status = 'cancelled' where lock = 'outbox:' || tap.id('b_mail') and status = 'todo';
reset search_path;
select app.withdraw_message(tap.id('b_mail')::app.event_id, 'the invitation was revoked');
select is(delivery.try_again(tap.id('b_mail')), false, 'a withdrawn mail is not tried again: there is nothing to send');
select results_eq(
  $$ select o.given_up_at is not null, o.last_error, (select count(*)::int from jobs.procrastinate_jobs j
                                                       where j.lock = 'outbox:' || o.id and j.status = 'todo')
       from app.outbox o where o.id = tap.id('b_mail') $$,
  $$ values (true, 'withdrawn: the invitation was revoked', 0) $$,
  'it stays withdrawn, and no job is queued for it');

/* Just before a claimed mail is handed over to the SMTP server, the worker asks whether it is
   still wanted (delivery.still_wanted): an invitation taken back since the claim withdraws its mail
   as the claim would have. (That a revocation after the question does not wait for the delivery
   takes two sessions: tests/test_worker.py.) */
select tap.make_users(array['hana']);
select tap.make_org('hanas', '{"hana": "owner"}');
select is(array[tap.call('hana', $$ select api.invite_member('{hanas}', 'stays@example.com', 'member') $$),
                tap.call('hana', $$ select api.invite_member('{hanas}', 'goes@example.com', 'member') $$)],
  array['ok', 'ok'], 'an owner sends two invitations');
select tap.fix('stays_mail', (select id from app.outbox where topic = 'mail.org_invitation' and payload ->> 'to' = 'stays@example.com'));
select tap.fix('goes_mail', (select id from app.outbox where topic = 'mail.org_invitation' and payload ->> 'to' = 'goes@example.com'));
select tap.fix('goes_invitation', (select id from app.invitations where email = 'goes@example.com'));
set local role worker;
select is((select topic from delivery.claim(tap.id('goes_mail'))), 'mail.org_invitation',
  'the worker claims an invitation''s mail, its invitation open');
reset role;
select is(tap.call('hana', $$ select api.revoke_invitation('{goes_invitation}') $$), 'ok',
  'the invitation is revoked while the worker talks to the SMTP server');
set local role worker;
select is(delivery.still_wanted(tap.id('goes_mail')), false, 'so its mail is no longer wanted when it is about to be handed over');
select is(delivery.still_wanted(tap.id('stays_mail')), true, 'one whose invitation is open is');
select is(delivery.still_wanted(tap.id('a_mail')), true, 'as is a mail of another kind');
reset role;
select results_eq(
  $$ select given_up_at is not null, last_error, payload ? 'token', attempts, delivered_at
       from app.outbox where id = tap.id('goes_mail') $$,
  $$ values (true, 'withdrawn: the invitation was revoked, replaced or answered, or its organization deleted, before its mail went',
             false, 0, null::timestamptz) $$,
  'the mail no longer wanted is withdrawn as the claim withdraws one: given up, its token out, no try counted');
set local role worker;
select is(delivery.still_wanted(tap.id('erin_mail')), false, 'a mail delivered already is no longer wanted either');
reset role;

/* Email verification. */
select is((auth.session_info(tap.id('erin_token')) -> 'user' ->> 'email_verified')::boolean, false,
  'a new account''s email is not verified');
-- The delivered mail's token was taken out of the outbox above; a new link goes on from here.
set local role edge;
select lives_ok($$ select auth.resend_email_verification(tap.id('erin_token'), '192.0.2.7') $$,
  'the signed-in account asks for another link');
reset role;
select tap.fix('erin_link2', tap.mailed_token('mail.email_verification', 'erin@example.com'));
select isnt(tap.id('erin_link2'), null, 'it is mailed through the outbox');
select is((select count(*)::int from app.email_verifications where user_id = tap.id('erin')), 2,
  'each link is its own token (only its hash is kept)');
select is_empty($$ select from app.email_verifications where token_hash = convert_to(tap.id('erin_link2'), 'UTF8') $$,
  'the token itself is not stored');
set local role edge;
select is(tap.outcome($$ select auth.verify_email('not a token', null) $$), '400 auth.invalid_token',
  'a malformed token is refused');
select is(tap.outcome($$ select auth.verify_email(repeat('A', 43), null) $$), '400 auth.invalid_token',
  'an unknown token is refused');
select is(tap.outcome($$ select auth.verify_email(null, null) $$), '400 auth.invalid_token', 'no token is refused');
select lives_ok(format('select auth.verify_email(%L, %L)', tap.id('erin_link2'), '192.0.2.7'), 'the link verifies the email');
select is((auth.session_info(tap.id('erin_token')) -> 'user' ->> 'email_verified')::boolean, true,
  'the session says the email is verified');
select is(tap.outcome(format('select auth.verify_email(%L, null)', tap.id('erin_link2'))), '400 auth.invalid_token',
  'a link works once');
select is(tap.outcome(format('select auth.resend_email_verification(%L, null)', tap.id('erin_token'))),
  '409 auth.email_already_verified', 'a verified account gets no more links');
select is(tap.outcome($$ select auth.resend_email_verification('unknown', null) $$), '401 auth.not_signed_in',
  'resending needs a session');
reset role;
select results_eq(
  $$ select count(*)::int, count(used_at)::int from app.email_verifications where user_id = tap.id('erin') $$,
  $$ values (2, 2) $$, 'verifying spends every link of the account');
select is((select count(*)::int from app.audit_events where actor_id = tap.id('erin') and action like 'auth.email_%'), 2,
  'sending a link again and verifying are audited');

/* An expired link is refused; resending is limited to 3 an hour. */
select tap.fix('finn_token', auth.signup('finn@example.com', 'correct horse battery', 'Finn', '192.0.2.8', 'tap')
                             -> 'session' ->> 'token');
select tap.fix('finn_link', tap.mailed_token('mail.email_verification', 'finn@example.com'));
update app.email_verifications set expires_at = now() - interval '1 second'
 where token_hash = util.token_hash(tap.id('finn_link'));
set local role edge;
select is(tap.outcome(format('select auth.verify_email(%L, null)', tap.id('finn_link'))), '400 auth.invalid_token',
  'an expired link is refused');
select is((select count(*)::int from generate_series(1, 3) i,
             lateral tap.outcome(format('select auth.resend_email_verification(%L, null) -- try %s', tap.id('finn_token'), i)) r
            where r = 'ok'), 3, 'three more links in an hour are sent');
select matches(tap.outcome(format('select auth.resend_email_verification(%L, null)', tap.id('finn_token'))),
  '^429 auth\.rate_limited \(Retry-After: [0-9]+\)$', 'the fourth is refused, with the seconds to wait');
reset role;
select is((select count(*)::int from app.outbox where topic = 'mail.email_verification' and payload ->> 'to' = 'finn@example.com'), 4,
  'and sends nothing');

/* ... and 20 an hour from one client address, whatever the account: each is a mail the queue
   hands out before every invitation, and the accounts one address signs up add up (20 an hour,
   each its own 3). */
select tap.fix('resender' || n || '_token',
               auth.signup('resender' || n || '@example.com', 'correct horse battery', 'R', ('198.51.100.' || n)::inet, 'tap')
               -> 'session' ->> 'token')
  from generate_series(1, 22) n;
set local role edge;
select is((select array_agg(distinct tap.outcome(format('select auth.resend_email_verification(%L, %L)',
             tap.id('resender' || n || '_token'), '192.0.2.30'))) from generate_series(1, 20) n),
  '{ok}', 'one address has links sent again for 20 accounts in an hour');
select matches(tap.outcome(format('select auth.resend_email_verification(%L, %L)', tap.id('resender21_token'), '192.0.2.30')),
  '^429 auth\.rate_limited \(Retry-After: [0-9]+\)$', 'a 21st account''s from that address is refused');
select is(tap.outcome(format('select auth.resend_email_verification(%L, %L)', tap.id('resender22_token'), '192.0.2.31')),
  'ok', 'another address''s is sent');
reset role;

/* The purge removes the links that can no longer be used. */
update app.email_verifications set expires_at = now() - interval '2 days'
 where token_hash = util.token_hash(tap.id('finn_link'));
select cmp_ok((select email_verifications from pipeline.purge_auth()), '>=', 1,
  'the purge counts the links expired for more than a day');
select is_empty($$ select from app.email_verifications where token_hash = util.token_hash(tap.id('finn_link')) $$,
  'an expired link is purged');

/* An operator deletes an account (docs/operations.md): its links (a reset, a verification) go with
   it, so its mail not yet delivered would only carry a link that cannot work. It is withdrawn, as
   an invitation's is once the invitation is taken back, a mail given up already too (its token
   kept: a DBA's delivery.try_again, once an SMTP outage that gave mail up is over, sent it to an
   address no account holds, its link answering invalid); another account's mail to a like
   address, an invitation to its address (which still stands), and what was delivered are left
   as they are. */
select tap.fix('gus_token', auth.signup('gus@example.com', 'correct horse battery', 'Gus', '192.0.2.9', 'tap')
                             -> 'session' ->> 'token');
select tap.fix('gus', id) from app.users where email = 'gus@example.com';
select tap.fix('gus_delivered', id) from app.outbox where topic = 'mail.email_verification' and payload ->> 'to' = 'gus@example.com';
select delivery.delivered(tap.id('gus_delivered'));
select auth.send_email_verification(u) from app.users u where u.id = tap.id('gus');
select tap.fix('gus_given_up', id) from app.outbox
 where topic = 'mail.email_verification' and payload ->> 'to' = 'gus@example.com' and delivered_at is null;
select delivery.failed(tap.id('gus_given_up'), '421 4.3.2 System not accepting network messages', true);
update app.outbox set given_up_at = given_up_at - interval '2 hours' where id = tap.id('gus_given_up');
select tap.fix('gus_given_up_at', given_up_at::text) from app.outbox where id = tap.id('gus_given_up');
select auth.request_password_reset('Gus@example.com', '192.0.2.9');
select tap.fix('hal_token', auth.signup('hal@example.com', 'correct horse battery', 'Hal', '192.0.2.9', 'tap')
                             -> 'session' ->> 'token');
select auth.request_password_reset('hal@example.com', '192.0.2.9');
insert into app.outbox (topic, payload)
values ('mail.org_invitation', jsonb_build_object('to', 'gus@example.com', 'token', util.new_token(), 'invitation_id', 'inv_x'));
select tap.fix('gus_reset', id) from app.outbox where topic = 'mail.password_reset' and payload ->> 'to' = 'gus@example.com';
set local role blossom_owner;
delete from app.users where id = tap.id('gus');
reset role;
select results_eq(
  $$ select o.topic, o.given_up_at is not null, coalesce(o.last_error like 'withdrawn: %', false), o.payload ? 'token'
       from app.outbox o where o.payload ->> 'to' = 'gus@example.com' and o.delivered_at is null
      order by o.topic $$,
  $$ values ('mail.email_verification', true, true, false), ('mail.org_invitation', false, false, true),
            ('mail.password_reset', true, true, false) $$,
  'the deleted account''s reset and verification mail is withdrawn, its token taken out; an invitation to its address stands');
select is((select o.last_error from app.outbox o where o.id = tap.id('gus_delivered')), null,
  'mail it was delivered stays as it was');
select is(delivery.try_again(tap.id('gus_given_up')), false,
  'its mail given up before the deletion is not tried again: its link went with the account');
select results_eq(
  $$ select o.given_up_at, o.last_error from app.outbox o where o.id = tap.id('gus_given_up') $$,
  $$ values (tap.id('gus_given_up_at')::timestamptz,
             'withdrawn: its account was deleted before it went (given up before: '
             '421 4.3.2 System not accepting network messages)') $$,
  'and it keeps when and why it was given up: the failure is not rewritten as the deletion''s');
select results_eq(
  $$ select o.given_up_at is null, o.last_error is null, o.payload ? 'token'
       from app.outbox o where o.payload ->> 'to' = 'hal@example.com' order by o.topic $$,
  $$ values (true, true, true), (true, true, true) $$,
  'another account''s mail is not withdrawn');
set local role worker;
select is((select topic from delivery.claim(tap.id('gus_reset'))), null, 'and the worker finds nothing to send');
reset role;

/* A link spent before its mail went: the mail would carry a link that answers only "invalid".
   A password change (or a reset by another link) spends the account's reset links; a
   verification, by a link or by an accepted invitation, spends every verification link of the
   account. Mail still waiting with such a link (the SMTP server down, its tries going on) is
   withdrawn at its claim, or just before it is handed over (delivery.still_wanted), as an
   invitation's taken back is; mail whose link is still good goes. */
select tap.fix('jo_token', auth.signup('jo@example.com', 'correct horse battery', 'Jo', '192.0.2.11', 'tap')
                           -> 'session' ->> 'token');
select tap.fix('jo_verification', id) from app.outbox where topic = 'mail.email_verification' and payload ->> 'to' = 'jo@example.com';
select auth.request_password_reset('jo@example.com', '192.0.2.11');
select tap.fix('jo_reset', id) from app.outbox where topic = 'mail.password_reset' and payload ->> 'to' = 'jo@example.com';
set local role edge;
select is((auth.change_password(tap.id('jo_token'), 'correct horse battery', 'battery staple horse', null) ->> 'ok')::boolean,
  true, 'Jo changes the password while the reset mail waits: its link is spent');
reset role;
set local role worker;
select results_eq($$ select topic, payload from delivery.claim(tap.id('jo_reset')) $$,
  $$ values (null::text, null::jsonb) $$, 'so the reset mail is not claimed to be sent');
select results_eq($$ select topic from delivery.claim(tap.id('jo_verification')) $$,
  $$ values ('mail.email_verification') $$, 'the verification mail, its link good, is claimed');
reset role;
select results_eq(
  $$ select given_up_at is not null, last_error, payload ? 'token', attempts from app.outbox where id = tap.id('jo_reset') $$,
  $$ values (true, 'withdrawn: its link was spent (the password changed or reset, or the address verified) before it went', false, 0) $$,
  'the reset mail is withdrawn: given up, its token out, no try counted');
-- Jo, signed in again, asks for another verification link and follows it while the first mail is
-- being sent: the first link is spent with it.
select tap.fix('jo_token2', auth.login('jo@example.com', 'battery staple horse', '192.0.2.11', 'tap') -> 'session' ->> 'token');
set local role edge;
select lives_ok(format('select auth.resend_email_verification(%L, null)', tap.id('jo_token2')), 'Jo asks for another link');
reset role;
select tap.fix('jo_link2', tap.mailed_token('mail.email_verification', 'jo@example.com'));
set local role edge;
select lives_ok(format('select auth.verify_email(%L, null)', tap.id('jo_link2')), 'and follows it');
reset role;
set local role worker;
select is(delivery.still_wanted(tap.id('jo_verification')), false,
  'the first verification mail, its link spent since its claim, is no longer wanted when it is about to be handed over');
reset role;
select results_eq(
  $$ select given_up_at is not null, last_error like 'withdrawn: its link was spent%', payload ? 'token', delivered_at
       from app.outbox where id = tap.id('jo_verification') $$,
  $$ values (true, true, false, null::timestamptz) $$, 'and is withdrawn');

/* One tenant's invitations, however many it sends, do not hold back the mail another person asked
   for to get into their account: a reset or a verification queued after them is handed out first
   (the invitations of every tenant share one queue, which all of its accounts together can fill). */
select tap.make_users(array['flooder', 'kim']);
select tap.make_org('spam', '{"flooder": "owner"}');
select is((select array_agg(distinct tap.call('flooder', format('select api.invite_member(%L, %L, ''member'')',
             tap.id('spam'), 'stranger' || n || '@example.com'))) from generate_series(1, 20) n),
  '{ok}', 'a tenant sends its 20 invitations of the hour');
select auth.request_password_reset('kim@example.com', '192.0.2.10');
select auth.signup('ivy@example.com', 'correct horse battery', 'Ivy', '192.0.2.10', 'tap');
set local search_path = jobs, public;  -- procrastinate names its tables without a schema
select tap.fix('mail_worker', (select worker_id::text from procrastinate_register_worker_v1()));
create temporary table handed_out as
  select row_number() over () as turn, o.topic, o.payload ->> 'to' as recipient
    from generate_series(1, (select count(*)::int from procrastinate_jobs where queue_name = 'mail' and status = 'todo')) n
    -- + 0 * n: one call per row, not one call's job replayed
    cross join lateral procrastinate_fetch_job_v2(array['mail'], tap.id('mail_worker')::bigint + 0 * n) j
    join app.outbox o on o.id = j.args ->> 'event_id';
reset search_path;
select results_eq(
  $$ select topic, recipient, turn < (select min(turn) from handed_out where topic = 'mail.org_invitation')
       from handed_out where recipient in ('kim@example.com', 'ivy@example.com') order by topic $$,
  $$ values ('mail.email_verification', 'ivy@example.com', true), ('mail.password_reset', 'kim@example.com', true) $$,
  'the job queue hands out Kim''s reset and Ivy''s verification, queued after them, before any invitation');

select * from finish();
rollback;
