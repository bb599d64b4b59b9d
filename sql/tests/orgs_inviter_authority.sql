/*
 * Invitations die with their sender's authority (sql/functions/app/inviter_authority.sql):
 * removed, gone or demoted, a member's pending invitations that their role now could not send
 * are revoked at once, and audited; accepting checks it again.
 */
begin;
select plan(39);

/* Organization beta: chief and deputy own it, aide, aide2 and aide3 are admins; aide is also an
   admin of gamma. alt is a second account of aide's. */
select tap.make_users(array['chief', 'deputy', 'aide', 'aide2', 'aide3', 'alt', 'invitee']);
select tap.make_org('beta',
  '{"chief": "owner", "deputy": "owner", "aide": "admin", "aide2": "admin", "aide3": "admin"}');
select tap.make_org('gamma', '{"chief": "owner", "aide": "admin"}');
create function pg_temp.pending(p_org text, p_inviter text) returns text[]
language sql
as $$
  select coalesce(array_agg(i.email::text || ' ' || i.role order by i.email), '{}') from app.invitations i
   where i.org_id = tap.id(p_org)
     and i.invited_by = tap.id(p_inviter)
     and i.accepted_at is null and i.declined_at is null and i.revoked_at is null
$$;
select is(array[tap.call('aide', $$ select api.invite_member('{beta}', 'alt@example.com', 'admin') $$),
                tap.call('aide', $$ select api.invite_member('{beta}', 'x1@example.com', 'member') $$),
                tap.call('aide', $$ select api.invite_member('{gamma}', 'alt@example.com', 'admin') $$),
                tap.call('aide2', $$ select api.invite_member('{beta}', 'y1@example.com', 'admin') $$),
                tap.call('aide3', $$ select api.invite_member('{beta}', 'z1@example.com', 'member') $$),
                tap.call('deputy', $$ select api.invite_member('{beta}', 'o1@example.com', 'owner') $$),
                tap.call('deputy', $$ select api.invite_member('{beta}', 'invitee@example.com', 'admin') $$),
                tap.call('chief', $$ select api.invite_member('{beta}', 'o2@example.com', 'owner') $$),
                tap.call('chief', $$ select api.invite_member('{beta}', 'm2@example.com', 'member') $$)],
  array_fill('ok'::text, array[9]), 'the owners and admins of beta send their invitations');
select tap.fix('alt_beta_token', tap.mailed_token('mail.org_invitation', 'alt@example.com', 'beta'));
select tap.fix('alt_gamma_token', tap.mailed_token('mail.org_invitation', 'alt@example.com', 'gamma'));
select tap.fix('invitee_beta_token', tap.mailed_token('mail.org_invitation', 'invitee@example.com', 'beta'));

select is(tap.call('chief', $$ select api.remove_member('{beta}', '{aide}') $$), 'ok', 'an owner removes an admin');
select is(pg_temp.pending('beta', 'aide'), '{}', 'the removed admin''s pending invitations are revoked');
select is(tap.call('alt', $$ select api.accept_invitation('{alt_beta_token}') $$), '400 invitation.invalid',
  'so their second account cannot come back as admin');
select is(pg_temp.pending('gamma', 'aide'), '{"alt@example.com admin"}',
  'their invitations to another organization, where they still are admin, stand');
select results_eq(
  $$ select a.actor_id::text collate "default", i.email::text, a.details ->> 'invited_by', a.details ->> 'inviter_role'
       from app.audit_events a join app.invitations i on i.id = a.target
      where a.org_id = tap.id('beta') and a.action = 'org.invitation_revoked'
      order by i.email $$,
  $$ select tap.id('chief'), e, tap.id('aide'), null from unnest(array['alt@example.com', 'x1@example.com']) e
      order by e $$,
  'each revocation is in the audit trail: by the remover, of the removed admin''s invitation');

select is(tap.call('aide2', $$ select api.leave_organization('{beta}') $$), 'ok', 'an admin leaves');
select is(pg_temp.pending('beta', 'aide2'), '{}', 'the pending invitations of a member who left are revoked');
select is(tap.call('chief', $$ select api.change_member_role('{beta}', '{aide3}', 'member') $$), 'ok',
  'an owner demotes an admin to member');
select is(pg_temp.pending('beta', 'aide3'), '{}', 'a member invites nobody: all their pending invitations are revoked');
select is(tap.call('chief', $$ select api.change_member_role('{beta}', '{deputy}', 'admin') $$), 'ok',
  'an owner demotes another owner to admin');
select is(pg_temp.pending('beta', 'deputy'), '{"invitee@example.com admin"}',
  'the demoted owner''s owner invitation is revoked, their admin invitation stands');
select is((select email_verified_at from app.users where id = tap.id('invitee')), null,
  'the invitee''s email is not verified yet');
select auth.send_email_verification(u) from app.users u where u.id = tap.id('invitee');
select tap.fix('invitee_link', tap.mailed_token('mail.email_verification', 'invitee@example.com'));
select is(tap.call('invitee', $$ select api.accept_invitation('{invitee_beta_token}') $$), 'ok',
  'and may still be accepted');
select isnt((select email_verified_at from app.users where id = tap.id('invitee')), null,
  'accepting an invitation, which came by mail to that address, verifies it');
select is((select count(*)::int from app.audit_events
            where actor_id = tap.id('invitee') and action = 'auth.email_verified' and target = tap.id('invitee')), 1,
  'and the verification is in the audit trail, as one by the mailed link is');
select is(tap.outcome(format('select auth.verify_email(%L, null)', tap.id('invitee_link'))), '400 auth.invalid_token',
  'the verification link mailed before is spent with it, as following one spends the others (it verified again, audited twice)');
select is(tap.call('chief', $$ select api.transfer_ownership('{beta}', '{deputy}') $$), 'ok',
  'an owner transfers ownership and becomes admin');
select is(pg_temp.pending('beta', 'chief'), '{"m2@example.com member"}',
  'the old owner''s owner invitation is revoked, their member invitation stands');
select is((select count(*)::int from app.invitations i
            where i.org_id = tap.id('beta') and i.revoked_at is not null),
  6, 'six invitations of beta were revoked, each by the change of its sender''s role');

/* Inviting an address again replaces its open invitation: only one its sender could revoke
   (an admin may not undo an owner's invitation of an owner that way), and each replaced one is
   audited as revoked. */
select tap.make_users(array['boss', 'helper']);
select tap.make_org('delta', '{"boss": "owner", "helper": "admin"}');
select is(tap.call('boss', $$ select api.invite_member('{delta}', 'heir@example.com', 'owner') $$), 'ok',
  'an owner invites an owner');
select is(tap.call('helper', $$ select api.invite_member('{delta}', 'HEIR@example.com', 'member') $$),
  '403 org.forbidden', 'an admin may not replace it with an invitation of their own');
select is(pg_temp.pending('delta', 'boss'), '{"heir@example.com owner"}', 'the owner''s invitation stands');
select is(tap.call('boss', $$ select api.invite_member('{delta}', 'heir@example.com', 'admin') $$), 'ok',
  'its sender may replace it');
select results_eq(
  $$ select a.actor_id::text collate "default", i.role::text from app.audit_events a join app.invitations i on i.id = a.target
      where a.org_id = tap.id('delta') and a.action = 'org.invitation_revoked' $$,
  $$ values (tap.id('boss'), 'owner') $$,
  'the replaced invitation is in the audit trail as revoked, by whoever replaced it');

/* Defence in depth: an invitation that escaped the trigger (here, with the trigger switched off)
   is refused at acceptance once its sender may no longer grant its role. */
alter table app.memberships disable trigger revoke_invitations_beyond_grant;
delete from app.memberships
 where org_id = tap.id('gamma') and user_id = tap.id('aide');
alter table app.memberships enable trigger revoke_invitations_beyond_grant;
select is(tap.call('alt', $$ select api.accept_invitation('{alt_gamma_token}') $$), '400 invitation.invalid',
  'accepting checks that the sender may still grant the role');

/* A deleted organization takes its invitations along; nothing is revoked or audited after it. */
select is(tap.call('deputy', $$ select api.delete_organization('{beta}') $$), 'ok',
  'an owner deletes an organization with pending invitations');
select is((select count(*)::int from app.audit_events
            where org_id = tap.id('beta') and action = 'org.invitation_revoked'),
  6, 'deleting it revokes nothing more');

/* A large organization deleted: each membership the delete took ran the rule, calling functions
   that found the organization gone and did nothing, 68 us each; at 100,000 members the call
   outlived the statement timeout every time, holding a PostgREST connection for 5 s. The rule
   now runs once per statement, and only where the organization still exists. */
select tap.make_users(array(select 'crowd' || n from generate_series(1, 200) n));
select tap.make_org('crowded', (select jsonb_object_agg('crowd' || n, case n when 1 then 'owner' else 'admin' end)
                                  from generate_series(1, 200) n));
set local track_functions = 'all';
create function pg_temp.rule_calls() returns table (function text, calls bigint)
language sql
as $$
  select p.oid::regproc::text, coalesce(pg_stat_get_xact_function_calls(p.oid), 0) from pg_proc p
   where p.oid in ('app.revoke_for_member'::regproc, 'app.organization_exists'::regproc)
$$;
create temporary table rule_calls_before as select * from pg_temp.rule_calls();
select is(tap.call('crowd1', $$ select api.delete_organization('{crowded}') $$), 'ok',
  'an owner deletes an organization of 200 members');
select results_eq(
  $$ select a.function, a.calls - b.calls from pg_temp.rule_calls() a join rule_calls_before b using (function)
      order by 1 $$,
  $$ values ('app.organization_exists', 1::bigint), ('app.revoke_for_member', 0) $$,
  'the rule looked once whether the organization still exists, and ran for none of its members');

/* An owner who sent many invitations demoted to admin, who may still send them all: the rule
   asked for the sender's role once per invitation (a call of app.inviter_may_grant, a definer
   function the planner cannot fold into the update), 2,000 lookups of one role, 0.8 s at 20,000.
   It is asked once. */
select tap.make_users(array['sender', 'cosender']);
select tap.make_org('sending', '{"sender": "owner", "cosender": "owner"}');
insert into app.invitations (org_id, email, role, invited_by, token_hash)
select tap.id('sending'), 'many' || n || '@example.com', 'member', tap.id('sender'), sha256(convert_to('m' || n, 'UTF8'))
  from generate_series(1, 2000) n;
create temporary table grant_calls_before as
  select coalesce(pg_stat_get_xact_function_calls('app.inviter_may_grant'::regproc), 0) as calls;
select is(tap.call('cosender', $$ select api.change_member_role('{sending}', '{sender}', 'admin') $$), 'ok',
  'an owner demotes another, who sent 2,000 invitations of members, to admin');
select is(pg_catalog.array_length(pg_temp.pending('sending', 'sender'), 1), 2000,
  'an admin may still send them: none is revoked');
select cmp_ok(coalesce(pg_stat_get_xact_function_calls('app.inviter_may_grant'::regproc), 0)
                - (select calls from grant_calls_before), '<=', 2::bigint,
  'the sender''s role was looked up once, not once per invitation');

/* An account an operator deletes (`delete from app.users`, docs/operations.md) may grant nothing
   any more: its pending invitations are revoked and audited, as a leaver's are. The memberships
   its deletion takes cannot do it: their trigger runs after the delete's set-null of invited_by,
   and found none, so the invitations stayed listed, sender null, and could never be accepted. */
select tap.make_users(array['founder', 'deputy2', 'leaver', 'guest']);
select tap.make_org('epsilon', '{"founder": "owner", "deputy2": "owner", "leaver": "admin"}');
select tap.make_org('zeta', '{"founder": "owner", "leaver": "owner"}');
select is(array[tap.call('leaver', $$ select api.invite_member('{epsilon}', 'guest@example.com', 'admin') $$),
                tap.call('leaver', $$ select api.invite_member('{zeta}', 'guest@example.com', 'owner') $$),
                tap.call('founder', $$ select api.invite_member('{epsilon}', 'stays@example.com', 'member') $$)],
  array_fill('ok'::text, array[3]), 'an admin and an owner send invitations');
select tap.fix('guest_epsilon_invitation',
  (select i.id from app.invitations i where i.org_id = tap.id('epsilon') and i.email = 'guest@example.com'));
select tap.fix('guest_epsilon_token', tap.mailed_token('mail.org_invitation', 'guest@example.com', 'epsilon'));
set local role blossom_owner;
delete from app.users where id = tap.id('leaver');
reset role;
select is((select coalesce(array_agg(i.email::text || case when i.org_id = tap.id('epsilon') then ' epsilon' else ' zeta' end order by i.email), '{}')
             from app.invitations i
            where i.org_id in (tap.id('epsilon'), tap.id('zeta'))
              and i.accepted_at is null and i.declined_at is null and i.revoked_at is null),
  '{"stays@example.com epsilon"}'::text[],
  'an operator deletes the admin: their pending invitations are revoked in each organization, another sender''s stand');
select is(app.invitation_is_open(tap.id('guest_epsilon_invitation')), false,
  'so the worker does not mail a link that cannot work');
select is(tap.call('guest', $$ select api.accept_invitation('{guest_epsilon_token}') $$), '400 invitation.invalid',
  'and the invitee is told it was revoked, as any revoked invitation''s');
select results_eq(
  $$ select a.org_id::text collate "default", a.actor_id::text collate "default", a.details ->> 'email',
            a.details ->> 'invited_by', a.details ->> 'inviter_role'
       from app.audit_events a
      where a.org_id in (tap.id('epsilon'), tap.id('zeta')) and a.action = 'org.invitation_revoked'
      order by a.org_id = tap.id('epsilon') desc $$,
  $$ values (tap.id('epsilon'), null::text, 'guest@example.com', tap.id('leaver'), null::text),
            (tap.id('zeta'), null, 'guest@example.com', tap.id('leaver'), null) $$,
  'each revocation is in the audit trail: by no one (an operator), of the deleted sender, who holds no role now');
select is(tap.call('founder', $$ select api.invite_member('{epsilon}', 'guest@example.com', 'member') $$), 'ok',
  'the address may be invited again');

select * from finish();
rollback;
