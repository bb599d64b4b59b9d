/* Password change and reset: proofs, single-use tokens, the outbox, revocation; and the purge. */
begin;
select plan(49);
set local app.settings.bcrypt_cost = '4';
-- From the start: a function's calls are counted if it was on when its caller first looked it up.
set local track_functions = 'all';

select tap.fix('carol_token', auth.signup('carol@example.com', 'correct horse battery', 'Carol', '192.0.2.5', 'tap')
                              -> 'session' ->> 'token');
select tap.fix('carol_other_token', auth.login('carol@example.com', 'correct horse battery', '192.0.2.5', 'tap')
                                    -> 'session' ->> 'token');
select tap.fix('carol', id) from app.users where email = 'carol@example.com';

set local role edge;

/* Change */
select is(auth.change_password(tap.id('carol_token'), 'not my password', 'a new password 1', '192.0.2.5') ->> 'code',
  'auth.invalid_credentials',
  'a password change needs the current password (a wrong one is answered, not raised, so it is counted)');
reset role;
select results_eq(
  $$ select (select count(*)::int from app.rate_limit_hits where kind = 'login.pair' and key = '192.0.2.5 carol@example.com'),
            (select count(*)::int from app.audit_events where action = 'auth.password_change_failed' and actor_id = tap.id('carol')) $$,
  $$ values (1, 1) $$,
  'a wrong current password counts as a failed login of the account, and is audited');
set local role edge;
select throws_ok($$ select auth.change_password(tap.id('carol_token'), 'correct horse battery', 'short', null) $$,
  'PGRST', '{"code" : "auth.weak_password", "message" : "The password must have at least 10 characters.", "details" : null, "hint" : null}',
  'the new password must follow the rules');
select throws_ok($$ select auth.change_password('unknown', 'correct horse battery', 'a new password 1', null) $$,
  'PGRST', '{"code" : "auth.not_signed_in", "message" : "Sign in first.", "details" : null, "hint" : null}',
  'a password change needs a valid session');
select tap.fix('carol_new_token',
  auth.change_password(tap.id('carol_token'), 'correct horse battery', 'a new password 1', '192.0.2.5', null, 'tap')
    -> 'session' ->> 'token');
select isnt(tap.id('carol_new_token'), null, 'the signed-in user changes the password, and has a new session');
reset role;
select is((select count(*)::int from app.rate_limit_hits where kind = 'login.pair' and key = '192.0.2.5 carol@example.com'), 0,
  'proving the password clears the failed logins of this client (address and email)');
set local role edge;
select is(auth.login('carol@example.com', 'a new password 1', null, null) ->> 'ok', 'true', 'the new password works');
select is(auth.login('carol@example.com', 'correct horse battery', null, null) ->> 'ok', 'false', 'the old one does not');
select throws_ok($$ select auth.session_info(tap.id('carol_other_token')) $$, 'PGRST', null,
  'every other session was revoked');
select throws_ok($$ select auth.session_info(tap.id('carol_token')) $$, 'PGRST', null,
  'and the one that changed it (a copy of its token taken before is worth nothing)');
select is(auth.session_info(tap.id('carol_new_token')) -> 'user' ->> 'email', 'carol@example.com',
  'the new session is the user''s');

/* A stolen session cannot guess the password without limit: the guesses share the login budget. */
select tap.fix('dave_token', auth.signup('dave@example.com', 'correct horse battery', 'Dave', null, 'tap')
                             -> 'session' ->> 'token');
select is((select count(*)::int from generate_series(1, 10) i,
             lateral auth.change_password(tap.id('dave_token'), 'guess ' || i, 'a new password 1', '192.0.2.66') r
            where r ->> 'code' = 'auth.invalid_credentials'), 10,
  'ten wrong current passwords are refused');
select is((auth.change_password(tap.id('dave_token'), 'correct horse battery', 'a new password 1', '192.0.2.66')
           - 'retry_after'),
  '{"ok": false, "code": "auth.rate_limited", "status": 429, "message": "Too many failed logins; try again later."}',
  'then even the right one is refused for a while');
select cmp_ok((auth.change_password(tap.id('dave_token'), 'correct horse battery', 'a new password 1', '192.0.2.66')
               ->> 'retry_after')::int, '>', 0, 'with the seconds to wait');
select is(auth.login('dave@example.com', 'correct horse battery', '192.0.2.66', null) ->> 'code', 'auth.rate_limited',
  'and so is a login to that account from that address');

/* Reset request */
select lives_ok($$ select auth.request_password_reset('CAROL@example.com', '192.0.2.5') $$, 'a reset is requested');
select lives_ok($$ select auth.request_password_reset('nobody@example.com', '192.0.2.5') $$,
  'a reset for an unknown email answers the same');
reset role;
select is((select count(*)::int from app.outbox where topic = 'mail.password_reset'), 1,
  'one mail is queued, for the existing account only');
select is((select payload ->> 'to' from app.outbox where topic = 'mail.password_reset'), 'carol@example.com',
  'the mail goes to the account''s email');
select results_eq(
  $$ select actor_id::text, target from app.audit_events where action = 'auth.password_reset_requested' $$,
  $$ values (null::text, tap.id('carol')) $$,
  'the request is recorded against the account, by no one: anyone who knows the address may ask (the account counted as active in the daily metrics)'
);
select tap.fix('reset_token', tap.mailed_token('mail.password_reset', 'carol@example.com'));
select is((select count(*)::int from app.password_resets
            where token_hash = util.token_hash(tap.id('reset_token'))
              and expires_at between now() + interval '59 minutes' and now() + interval '61 minutes'), 1,
  'only the token''s hash is stored, valid for one hour');

/* Reset confirm */
set local role edge;
select throws_ok($$ select auth.confirm_password_reset('AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA', 'brand new secret', null) $$,
  'PGRST', '{"code" : "auth.invalid_token", "message" : "The reset link is unknown, used or expired.", "details" : null, "hint" : null}',
  'an unknown reset token is refused');
select throws_ok($$ select auth.confirm_password_reset(tap.id('reset_token'), 'tiny', null) $$,
  'PGRST', null, 'a weak new password is refused and the token not spent');
select lives_ok($$ select auth.confirm_password_reset(tap.id('reset_token'), 'brand new secret', '192.0.2.5') $$,
  'a valid token sets the new password');
select is(auth.login('carol@example.com', 'brand new secret', null, null) ->> 'ok', 'true', 'the reset password works');
select throws_ok($$ select auth.confirm_password_reset(tap.id('reset_token'), 'another new secret', null) $$,
  'PGRST', '{"code" : "auth.invalid_token", "message" : "The reset link is unknown, used or expired.", "details" : null, "hint" : null}',
  'a reset token works once');

reset role;
select is((select count(*)::int from app.sessions where user_id = tap.id('carol') and revoked_at is null
             and created_at < (select max(created_at) from app.sessions)), 0,
  'the reset revoked every session from before it');

/* Expired reset tokens */
reset role;
update app.password_resets set created_at = created_at - interval '11 minutes';
set local role edge;
select auth.request_password_reset('carol@example.com', '192.0.2.5') is null as requested \gset
reset role;
select tap.fix('second_reset_token', tap.mailed_token('mail.password_reset', 'carol@example.com'));
update app.password_resets set expires_at = now() - interval '1 second' where used_at is null;
set local role edge;
select throws_ok($$ select auth.confirm_password_reset(tap.id('second_reset_token'), 'brand new secret 2', null) $$,
  'PGRST', '{"code" : "auth.invalid_token", "message" : "The reset link is unknown, used or expired.", "details" : null, "hint" : null}',
  'an expired reset token is refused');

/* Purge */
reset role;
update app.sessions set expires_at = now() - interval '1 minute' where user_id = tap.id('carol') and revoked_at is null;
select is((select count(*)::int from app.outbox where topic = 'mail.password_reset' and payload ? 'token'), 2,
  'the reset mails hold their tokens until the purge');
update app.outbox set delivered_at = now() where payload ->> 'token' = tap.id('reset_token');
update app.outbox set payload = jsonb_set(payload, '{expires_at}', to_jsonb(now() - interval '1 second'))
 where payload ->> 'token' = tap.id('second_reset_token');
/* A mail delivered 31 days ago, and one 29 days ago: the first goes whole (its payload names the
   recipient), the second stays a while, for the operators' views and a question of support. */
insert into app.outbox (topic, payload, created_at, delivered_at)
values ('mail.password_reset', '{"to": "old@example.com"}', now() - interval '31 days', now() - interval '31 days'),
       ('mail.password_reset', '{"to": "recent@example.com"}', now() - interval '29 days', now() - interval '29 days');
set local role pipeline;
select results_eq($$ select sessions, outbox_secrets, outbox_delivered from pipeline.purge_auth() $$, $$ values (5, 2, 1) $$,
  'the pipeline role purges the five dead sessions, blanks the two spent tokens (one delivered, one expired) and deletes the mail delivered over 30 days ago');
reset role;
select is_empty($$ select from app.outbox where topic = 'mail.password_reset' and payload ? 'token' $$,
  'no reset token is left in the outbox');
select is((select count(*)::int from app.outbox where topic = 'mail.password_reset' and payload ? 'to'), 3,
  'the rest of each message is kept, and the message delivered 29 days ago');
select is_empty($$ select from app.outbox where payload ->> 'to' = 'old@example.com' $$,
  'the message delivered 31 days ago is gone');
select is((select count(*)::int from app.sessions where user_id = tap.id('carol')), 0,
  'the purge deleted every revoked and expired session');
select is((select count(*)::int from app.sessions), 1, 'and kept the live one (Dave''s)');

/* What a change or a reset leaves of the credentials before it: reset links sent before are
   spent, and the account's devices but the browser that made it are forgotten (a device is
   exempt from the account's own back-off: one made with the old password must not keep that). */
set local role edge;
select tap.fix('erin_token', auth.signup('erin@example.com', 'correct horse battery', 'Erin', null, 'tap')
                             -> 'session' ->> 'token');
reset role;
/* A reset of the account requested through the edge, and the token its mail carries. Earlier
   ones are made older than the 10 minutes in which a request sends no new mail. */
create function pg_temp.mailed_reset(p_email text) returns text
language plpgsql
as $$
begin
  update app.password_resets r set created_at = r.created_at - interval '11 minutes'
   where r.user_id = (select u.id from app.users u where u.email = p_email);
  perform pg_catalog.set_config('role', 'edge', true);
  perform auth.request_password_reset(p_email, null);
  perform pg_catalog.set_config('role', 'none', true);
  return tap.mailed_token('mail.password_reset', p_email);
end
$$;
select tap.fix('erin', id) from app.users where email = 'erin@example.com';
select tap.fix('erin_browser', auth.remember_device(tap.id('erin'), null));
select tap.fix('erin_stranger', auth.remember_device(tap.id('erin'), null));
select tap.fix('erin_reset', pg_temp.mailed_reset('erin@example.com'));
set local role edge;
select is(auth.change_password(tap.id('erin_token'), 'correct horse battery', 'a new password 2', null,
                               tap.id('erin_browser')) - 'session',
  pg_catalog.jsonb_build_object('ok', true, 'device_token', tap.id('erin_browser')),
  'Erin changes her password from her browser, which stays her device');
select throws_ok($$ select auth.confirm_password_reset(tap.id('erin_reset'), 'a third password 3', null) $$,
  'PGRST', '{"code" : "auth.invalid_token", "message" : "The reset link is unknown, used or expired.", "details" : null, "hint" : null}',
  'a password change spends the reset links sent before it');
reset role;
select results_eq($$ select token_hash from app.devices where user_id = tap.id('erin') $$,
  $$ values (util.token_hash(tap.id('erin_browser'))) $$,
  'a password change forgets the account''s devices but the browser that made it');

select tap.fix('erin_stranger_2', auth.remember_device(tap.id('erin'), null));
select tap.fix('erin_reset_2', pg_temp.mailed_reset('erin@example.com'));
set local role edge;
select lives_ok($$ select auth.confirm_password_reset(tap.id('erin_reset_2'), 'a fourth password 4', null,
                                                      tap.id('erin_browser')) $$,
  'Erin resets her password from her browser');
reset role;
select results_eq($$ select token_hash from app.devices where user_id = tap.id('erin') $$,
  $$ values (util.token_hash(tap.id('erin_browser'))) $$,
  'a reset forgets the account''s devices but the browser that made it');
select tap.fix('erin_reset_3', pg_temp.mailed_reset('erin@example.com'));
set local role edge;
select auth.confirm_password_reset(tap.id('erin_reset_3'), 'a fifth password 5', null) as erin_new_phone \gset
reset role;
select tap.fix('erin_new_phone', :'erin_new_phone');
select results_eq($$ select token_hash from app.devices where user_id = tap.id('erin') $$,
  $$ values (util.token_hash(tap.id('erin_new_phone'))) $$,
  'a reset from a browser that is none of the account''s devices forgets them all and makes it the one');
select isnt(tap.id('erin_new_phone'), tap.id('erin_browser'), 'that browser''s device is a new one');

/* Password changes that succeed: each spends two bcrypts of the edge's few hashing slots, which
   sign-ups and resets wait for too, and the right password passes every failed-login limit. So an
   account changes its password at most app.settings.password_changes_per_user_per_hour times an
   hour (16 accounts changing theirs in a loop from 8 addresses kept everyone's sign-ups 4-5 s
   and refused some 503 edge.auth_busy). Refused before any bcrypt, as a result (429). */
set local app.settings.password_changes_per_user_per_hour = '2';
select tap.fix('frank_token', auth.signup('frank@example.com', 'correct horse battery', 'Frank', null, 'tap')
                              -> 'session' ->> 'token');
select tap.fix('grace_token', auth.signup('grace@example.com', 'correct horse battery', 'Grace', null, 'tap')
                              -> 'session' ->> 'token');
set local role edge;
select tap.fix('frank_token_2',
  auth.change_password(tap.id('frank_token'), 'correct horse battery', 'a new password 1', '192.0.2.77') -> 'session' ->> 'token');
select tap.fix('frank_token_3',
  auth.change_password(tap.id('frank_token_2'), 'a new password 1', 'correct horse battery', '192.0.2.77') -> 'session' ->> 'token');
select is(auth.change_password(tap.id('frank_token_3'), 'correct horse battery', 'a new password 1', '192.0.2.78')
            - 'retry_after',
  '{"ok": false, "code": "auth.rate_limited", "status": 429, "message": "Too many password changes; try again later."}',
  'past the hour''s password changes of the account, the next is refused, from any address');
select cmp_ok((auth.change_password(tap.id('frank_token_3'), 'correct horse battery', 'a new password 1', '192.0.2.78')
               ->> 'retry_after')::int, '>', 3000, 'until the first of them is an hour old');
select is(auth.login('frank@example.com', 'correct horse battery', null, null) ->> 'ok', 'true',
  'the refused change changed nothing: the password is the one before');
select is(auth.change_password(tap.id('grace_token'), 'correct horse battery', 'a new password 1', '192.0.2.77') ? 'session',
  true, 'another account, from the same address, changes its own');
reset role;
/* A weak new password is refused before any bcrypt: after the check of the current one, it was
   a bcrypt that the refusal (422, raised, so nothing counted) left out of the quota, and a loop
   of them took the edge's hashing slots without limit, never reaching the account's changes. */
select tap.fix('heidi_token', auth.signup('heidi@example.com', 'correct horse battery', 'Heidi', null, 'tap')
                              -> 'session' ->> 'token');
create temporary table crypt_calls_before as
  select coalesce(sum(f.calls), 0) as calls from pg_stat_xact_user_functions f
   where f.schemaname = 'extensions' and f.funcname = 'crypt';
set local role edge;
select throws_ok($$ select auth.change_password(tap.id('heidi_token'), 'correct horse battery', 'short', '192.0.2.79') $$,
  'PGRST', '{"code" : "auth.weak_password", "message" : "The password must have at least 10 characters.", "details" : null, "hint" : null}',
  'a weak new password is refused with the right current one');
reset role;
select is((select coalesce(sum(f.calls), 0) from pg_stat_xact_user_functions f
            where f.schemaname = 'extensions' and f.funcname = 'crypt') - (select calls from crypt_calls_before),
          0::numeric, 'before any bcrypt, so that it spends none of the edge''s hashing slots');
select is((select count(*)::int from app.rate_limit_hits h join app.users u on u.id = h.key
            where h.kind = 'password.change' and u.email in ('frank@example.com', 'grace@example.com')), 3,
  'only the changes made are counted, each against its account');

select * from finish();
rollback;
