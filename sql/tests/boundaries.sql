/*
 * Every boundary of time and count, at it, just before it and just after it (a microsecond,
 * timestamptz's resolution): links and invitations that expire, sessions that age or idle, the
 * rate limits' windows and their Retry-After, the AI reservation's lapse, the daily metrics'
 * UTC days, the weekly digest's "refreshed after the day was over" rule, and the purge's
 * cut-offs. Within this transaction now() stands still: time passes by moving rows' times; an
 * answer to an invitation and a link followed, judged again once a lock is held, go by the clock.
 * Each boundary is the one docs/api.md, docs/security.md, docs/services.md and docs/pipeline.md
 * state: a link or session "valid until" its end is no longer valid at it; a window "of an hour"
 * counts what is younger than an hour.
 */
begin;
select plan(50);
set local app.settings.bcrypt_cost = '4';

select tap.make_users(array['owner', 'guest', 'reader']);
select tap.make_org('acme', '{"owner": "owner"}');
select tap.fix('tick', '1 microsecond');

/* Invitations: valid 7 days; accepted at the last microsecond, refused at the 7 days. */
create function pg_temp.invitation(p_email text, p_expires_at timestamptz) returns text
language plpgsql as $$
declare
  v_token text := util.new_token();
begin
  insert into app.invitations (org_id, email, role, token_hash, invited_by, expires_at)
  values (tap.id('acme'), p_email, 'member', util.token_hash(v_token), tap.id('owner'), p_expires_at);
  return v_token;
end
$$;
select tap.fix('at_expiry', pg_temp.invitation('guest@example.com', now()));
select is(tap.call('guest', format('select api.accept_invitation(%L)', tap.id('at_expiry'))), '400 invitation.invalid',
  'an invitation is refused at the moment it expires');
/* Judged again by the clock once the organization's lock is held (the transaction's start came
   before any wait for it): one that expired since the transaction began is refused, though
   now() stands before its end. */
set local session_replication_role = replica; -- past the keep_identity trigger: time travel
update app.invitations set expires_at = now() + interval '1 microsecond' where email = 'guest@example.com';
set local session_replication_role = origin;
select is(tap.call('guest', format('select api.accept_invitation(%L)', tap.id('at_expiry'))), '400 invitation.invalid',
  'an invitation that expired since the transaction began is refused by the clock');
set local session_replication_role = replica;
update app.invitations set expires_at = clock_timestamp() + interval '1 minute' where email = 'guest@example.com';
set local session_replication_role = origin;
select is(tap.call('guest', format('select api.accept_invitation(%L)', tap.id('at_expiry'))), 'ok',
  'and accepted before it expires by the clock');

/* Password reset links: an hour; email verification links: 24 hours. */
select auth.request_password_reset('reader@example.com', '192.0.2.50');
select tap.fix('reset', tap.mailed_token('mail.password_reset', 'reader@example.com'));
select is((select expires_at - now() from app.password_resets where user_id = tap.id('reader')), interval '1 hour',
  'a reset link is valid an hour');
update app.password_resets set expires_at = now() where user_id = tap.id('reader');
select is(tap.outcome(format('select auth.confirm_password_reset(%L, ''a new long password'')', tap.id('reset'))),
  '400 auth.invalid_token', 'a reset link is refused at the moment it expires');
update app.password_resets set expires_at = now() + interval '1 microsecond' where user_id = tap.id('reader');
select is(tap.outcome(format('select auth.confirm_password_reset(%L, ''a new long password'')', tap.id('reset'))),
  '400 auth.invalid_token', 'a reset link that expired since the transaction began is refused by the clock');
update app.password_resets set expires_at = clock_timestamp() + interval '1 minute' where user_id = tap.id('reader');
select is(tap.outcome(format('select auth.confirm_password_reset(%L, ''a new long password'')', tap.id('reset'))),
  'ok', 'and taken before it expires by the clock');

select auth.send_email_verification(u) from app.users u where u.id = tap.id('reader');
select tap.fix('verify', tap.mailed_token('mail.email_verification', 'reader@example.com'));
select is((select expires_at - now() from app.email_verifications where user_id = tap.id('reader')), interval '24 hours',
  'a verification link is valid 24 hours');
update app.email_verifications set expires_at = now() where user_id = tap.id('reader');
select is(tap.outcome(format('select auth.verify_email(%L)', tap.id('verify'))), '400 auth.invalid_token',
  'a verification link is refused at the moment it expires');
update app.email_verifications set expires_at = now() + interval '1 microsecond' where user_id = tap.id('reader');
select is(tap.outcome(format('select auth.verify_email(%L)', tap.id('verify'))), '400 auth.invalid_token',
  'a verification link that expired since the transaction began is refused by the clock');
update app.email_verifications set expires_at = clock_timestamp() + interval '1 minute' where user_id = tap.id('reader');
select is(tap.outcome(format('select auth.verify_email(%L)', tap.id('verify'))), 'ok',
  'and taken before it expires by the clock');

/* Sessions: under 30 days old, used within the last 7 days, marked used at most once a minute. */
select tap.fix('session', auth.issue_session(tap.id('reader'), '192.0.2.50', 'tap') ->> 'token');
select is((select expires_at - created_at from app.sessions where token_hash = util.token_hash(tap.id('session'))),
  interval '30 days', 'a session lasts 30 days');
create function pg_temp.session_user(p_expires_at interval, p_last_seen_ago interval) returns text
language plpgsql as $$
declare
  v_active bigint;
begin
  reset role;
  update app.sessions set expires_at = now() + p_expires_at, last_seen_at = now() - p_last_seen_ago
   where token_hash = util.token_hash(tap.id('session'));
  select count(*) into v_active from admin.active_sessions a
   where a.id = (select s.id from app.sessions s where s.token_hash = util.token_hash(tap.id('session')));
  perform tap.request('GET', tap.cookie(tap.id('session')));
  return current_user || ' ' || v_active;
end
$$;
select is(pg_temp.session_user('0', '1 day'), 'web_anon 0', 'a session is refused at the moment it expires (and not active)');
select is(pg_temp.session_user('1 microsecond', '1 day'), 'authenticated 1', 'and taken a microsecond before');
reset role;
select is(pg_temp.session_user('1 day', '7 days'), 'web_anon 0', 'a session unused for exactly 7 days is refused');
select is(pg_temp.session_user('1 day', '7 days' ::interval - interval '1 microsecond'), 'authenticated 1',
  'and taken a microsecond before');
reset role;
select is((select count(*)::int from app.sessions s where auth.session_is_dead(s) and s.user_id = tap.id('reader')), 0,
  'that session is alive');

/* The once-a-minute mark: a session used a minute ago exactly is not marked; a microsecond more is. */
update app.sessions set last_seen_at = now() - interval '1 minute' where token_hash = util.token_hash(tap.id('session'));
select is((select stale from auth.presented_session p, (select tap.request('GET', tap.cookie(tap.id('session')))) r), false,
  'a session used a minute ago is not due to be marked');
reset role;
update app.sessions set last_seen_at = now() - interval '1 minute 1 microsecond' where token_hash = util.token_hash(tap.id('session'));
select tap.request('POST', tap.cookie(tap.id('session')));
reset role;
select is((select last_seen_at = now() from app.sessions where token_hash = util.token_hash(tap.id('session'))), true,
  'one used a minute and a microsecond ago is marked by a write');

/* Rate limits: the Nth allowed, the N+1th refused, and Retry-After exactly when one is allowed again. */
create function pg_temp.later(p_seconds numeric) returns void
language sql as $$ update app.rate_limit_hits set at = at - make_interval(secs => p_seconds) $$;
create function pg_temp.resend() returns text
language sql as $$ select tap.outcome(format('select auth.resend_email_verification(%L)', tap.id('guest_session'))) $$;
select tap.fix('guest_session', auth.issue_session(tap.id('guest'), '192.0.2.51', 'tap') ->> 'token');
update app.users set email_verified_at = null where id = tap.id('guest');
select is(array[pg_temp.resend(), pg_temp.resend(), pg_temp.resend()], '{ok,ok,ok}',
  'three verification mails asked for again in an hour');
select is(pg_temp.resend(), '429 auth.rate_limited (Retry-After: 3600)', 'the fourth refused, for an hour');
select pg_temp.later(0.25);
select is(pg_temp.resend(), '429 auth.rate_limited (Retry-After: 3600)', 'a quarter of a second later: still 3600, rounded up');
select pg_temp.later(3599);
select is(pg_temp.resend(), '429 auth.rate_limited (Retry-After: 1)', 'a second early it is still refused, for that second');
select pg_temp.later(1);
select is(pg_temp.resend(), 'ok', 'at Retry-After it is taken');
select is(pg_temp.resend(), 'ok', 'and so is the next: the others, counted at the same moment, left with it');
update app.rate_limit_hits set at = now() - interval '1 hour' where kind = 'verify.resend';
select is(pg_temp.resend(), 'ok', 'a hit exactly an hour old is out of the window');

/* The account's back-off: after 20 failures, the wait ends exactly at Retry-After. */
insert into app.rate_limit_hits (kind, key, at)
select 'login.email', 'reader@example.com', now() from generate_series(1, 21);
select is(auth.failed_logins_retry_after('reader@example.com', '203.0.113.9', null), 2, '21 failures: 2 seconds after the last');
update app.rate_limit_hits set at = now() - interval '1 second' where kind = 'login.email';
select is(auth.failed_logins_retry_after('reader@example.com', '203.0.113.9', null), 1, 'a second later, one more');
update app.rate_limit_hits set at = now() - interval '2 seconds' where kind = 'login.email';
select is(auth.failed_logins_retry_after('reader@example.com', '203.0.113.9', null), null, 'at it, none');

/* The AI reservation: held 10 minutes, then charged. */
insert into app.ai_usage (org_id, user_id, feature, model, request_hash, reserved_tokens, started_at)
values (tap.id('acme'), tap.id('owner'), 'tap', 'tap-model', sha256('tap'), 100, now() - interval '10 minutes');
select is((select (used_tokens, reserved_tokens)::text from app.ai_usage_view(tap.id('acme'))), '(100,0)',
  'a reservation 10 minutes old is held no more: charged what it reserved');
update app.ai_usage set started_at = started_at + interval '1 microsecond' where org_id = tap.id('acme');
select is((select (used_tokens, reserved_tokens)::text from app.ai_usage_view(tap.id('acme'))), '(0,100)',
  'a microsecond younger, it is held, not charged');
update app.ai_usage set started_at = app.ai_month_start() - interval '1 microsecond', outcome = 'answered',
                        prompt_tokens = 5, completion_tokens = 5, settled_at = app.ai_month_start()
 where org_id = tap.id('acme');
select is((select used_tokens from app.ai_usage_view(tap.id('acme'))), 0, 'a call begun in the last microsecond of last month is last month''s');
update app.ai_usage set started_at = app.ai_month_start() where org_id = tap.id('acme');
select is((select used_tokens from app.ai_usage_view(tap.id('acme'))), 10, 'one begun at the month''s first is this month''s');
select is(extract(epoch from app.ai_next_month_start() - app.ai_month_start()) / 86400 between 28 and 31
          and extract(day from app.ai_next_month_start() at time zone 'UTC') = 1
          and extract(hour from app.ai_next_month_start() at time zone 'UTC') = 0, true,
  'the next month starts at midnight UTC on the first');

/* The daily metrics: a UTC day is [00:00, 24:00). */
select tap.fix('day', ((now() at time zone 'UTC')::date - 10)::text);
select tap.fix('day_end', (((now() at time zone 'UTC')::date - 9)::timestamp at time zone 'UTC')::text);
select tap.make_org('metro', '{}');
update app.organizations set created_at = tap.id('day_end')::timestamptz - interval '5 days' where id = tap.id('metro');
insert into app.memberships (org_id, user_id, role, joined_at) values
  (tap.id('metro'), tap.id('owner'), 'owner', tap.id('day_end')::timestamptz - interval '1 microsecond'),
  (tap.id('metro'), tap.id('guest'), 'member', tap.id('day_end')::timestamptz);
insert into app.membership_departures (org_id, user_id, joined_at, departed_at) values
  (tap.id('metro'), tap.id('reader'), tap.id('day_end')::timestamptz - interval '3 days', tap.id('day_end')::timestamptz);
insert into app.membership_departures (org_id, user_id, joined_at, departed_at)
select tap.id('metro'), u.id, tap.id('day_end')::timestamptz - interval '3 days', tap.id('day_end')::timestamptz - interval '1 microsecond'
  from app.users u where u.id = tap.id('guest');
insert into app.invitations (org_id, email, role, token_hash, created_at, expires_at) values
  (tap.id('metro'), 'a@example.com', 'member', sha256('a'), tap.id('day_end')::timestamptz - interval '1 microsecond', now() + interval '1 day'),
  (tap.id('metro'), 'b@example.com', 'member', sha256('b'), tap.id('day_end')::timestamptz, now() + interval '1 day'),
  (tap.id('metro'), 'c@example.com', 'member', sha256('c'), tap.id('day_end')::timestamptz - interval '1 day', now() + interval '1 day'),
  (tap.id('metro'), 'd@example.com', 'member', sha256('d'), tap.id('day_end')::timestamptz - interval '1 day 1 microsecond', now() + interval '1 day');
select results_eq(
  format($$ select members, invitations_sent from pipeline.org_daily_counts(%L) where org_id = %L $$, tap.id('day'), tap.id('metro')),
  $$ values (2::bigint, 2::bigint) $$,
  'a day counts who joined before its end and who left at its end (not who joined at it, nor who left before it), and invitations from its 00:00:00 to before the next day''s');

/* The weekly digest: a day counts as refreshed when computed at or after the next midnight. */
select tap.fix('week', (date_trunc('week', now() at time zone 'UTC')::date - 14)::text);
insert into app.slack_connections (org_id, team_id, team_name, channel, bot_token_key_id, bot_token_sealed)
select tap.id('metro'), 'T1', 'Metro', 'C1', 'k1', decode(repeat('00', 40), 'hex');
insert into analytics.org_daily_metrics (day, org_id, members, invitations_sent, invitations_accepted, logins, active_users, computed_at)
select tap.id('week')::date + n, tap.id('metro'), 1, 0, 0, 0, 0, ((tap.id('week')::date + n + 1)::timestamp at time zone 'UTC')
  from generate_series(0, 6) n;
select is(tap.outcome(format('select pipeline.slack_digest_targets(%L)', tap.id('week'))), 'ok',
  'a week whose every day was computed at the next midnight is ready');
update analytics.org_daily_metrics set computed_at = computed_at - interval '1 microsecond'
 where org_id = tap.id('metro') and day = tap.id('week')::date + 6;
select is(tap.outcome(format('select pipeline.slack_digest_targets(%L)', tap.id('week'))), '409 pipeline.week_not_ready',
  'one whose Sunday was computed in its last microsecond is not');

/* The purge: what is due exactly at its cut-off stays; a microsecond more, it goes. */
delete from app.rate_limit_hits;
insert into app.rate_limit_hits (kind, key, at) values
  ('tap.kept', 'k', now() - interval '24 hours'), ('tap.gone', 'k', now() - interval '24 hours 1 microsecond');
update app.password_resets set expires_at = now() - interval '1 day', used_at = now();
update app.email_verifications set expires_at = now() - interval '1 day';
select (pipeline.purge_auth()).rate_limit_hits as purged_hits \gset
select is(array(select kind from app.rate_limit_hits order by kind), '{tap.kept}',
  'the purge keeps hits exactly 24 hours old, deletes older ones');
select is((select count(*)::int from app.password_resets where user_id = tap.id('reader')), 1,
  'and a reset link exactly a day past its expiry');
update app.password_resets set expires_at = now() - interval '1 day 1 microsecond';
select is((pipeline.purge_auth()).password_resets, 1, 'a microsecond more, it goes');
update app.sessions set expires_at = now() where token_hash = util.token_hash(tap.id('session'));
select is((pipeline.purge_auth()).sessions, 1, 'a session is purged at the moment it expires');
update app.sessions set expires_at = now() + interval '1 day', last_seen_at = now() - interval '7 days'
 where token_hash = util.token_hash(tap.id('guest_session'));
select is((pipeline.purge_auth()).sessions, 1, 'and at the moment it has been idle 7 days');
/* Its days are UTC's whatever the caller's session says (PGTZ, or a URL's options, give the
   pipeline's login another zone than its role's): in one whose summer time began at today's
   first hour, a day back on its wall clock is 23 hours, 30 days are 719. */
select set_config('timezone',
                  format('XXX0YYY,%s/0,%s/0', extract(doy from now() at time zone 'UTC')::int - 1,
                         (extract(doy from now() at time zone 'UTC')::int + 180) % 365),
                  true);
select is(extract(epoch from now() - (now() - interval '1 day')) / 3600, 23::numeric,
  'a day of the session''s wall clock is 23 hours here');
insert into app.password_resets (token_hash, user_id, expires_at)
values (sha256('tz reset'), tap.id('reader'), now() - interval '23 hours 30 minutes');
update app.email_verifications set expires_at = now() - interval '23 hours 30 minutes';
insert into app.outbox (topic, payload, created_at, delivered_at)
values ('mail.tap_zone', '{}', now() - interval '720 hours', now() - interval '719 hours 30 minutes');
select results_eq(
  $$ select password_resets, email_verifications, outbox_delivered from pipeline.purge_auth() $$,
  $$ values (0, 0, 0) $$,
  'the purge keeps a reset or a verification link less than 24 hours past its expiry, and a mail delivered less than 720 hours ago, in any session''s zone');
reset timezone;

/* Pages of the audit trail: a limit of 1 and of 200 are taken, 0 and 201 refused; after the first
   row of a page comes the rest, after the last row nothing. */
reset role;
delete from app.audit_events where org_id = tap.id('acme');
insert into app.audit_events (org_id, action, actor_id) select tap.id('acme'), 'org.updated', tap.id('owner') from generate_series(1, 3);
select is(tap.call('owner', $$ select api.list_audit_events('{acme}', null, 0) $$), '422 audit.invalid_limit', 'a limit of 0 is refused');
select is(tap.call('owner', $$ select api.list_audit_events('{acme}', null, 201) $$), '422 audit.invalid_limit', 'and one of 201');
select tap.become('owner');
select is((select count(*)::int from api.list_audit_events(tap.id('acme'), null, 1)), 1, 'a limit of 1 is a page of one');
select is((select count(*)::int from api.list_audit_events(tap.id('acme'), null, 200)), 3, 'one of 200 is taken');
select is((select count(*)::int from api.list_audit_events(tap.id('acme'),
            (select id from api.list_audit_events(tap.id('acme'), null, 1)), 200)), 2,
  'after the newest event come the other two');
select is((select count(*)::int from api.list_audit_events(tap.id('acme'),
            (select min(id) from api.list_audit_events(tap.id('acme'), null, 200)), 200)), 0,
  'after the oldest, nothing');
reset role;

select * from finish();
rollback;
