/*
 * The rules of the organization API beyond who may call what: input validation, the last
 * owner, what admins may not do to owners, invitations, and what each change leaves in the
 * audit trail and the outbox.
 */
begin;
select plan(96);

select tap.make_users(array['owner', 'owner2', 'admin', 'member', 'invitee', 'stranger']);

/* Creating: the caller owns it; names are validated; slugs come from the name, with a random
   suffix whether or not another tenant uses the name, so that they tell nothing about others. */
select is(tap.call('owner', $$ select api.create_organization('  Acme, Inc.  ') $$), 'ok',
  'a signed-in user creates an organization');
select tap.fix('acme', id) from app.organizations where created_by = tap.id('owner');
select results_eq(
  $$ select o.name, m.role::text from app.organizations o join app.memberships m on m.org_id = o.id
      where o.id = tap.id('acme') $$,
  $$ values ('Acme, Inc.', 'owner') $$,
  'the name is trimmed and the creator is the owner');
select matches((select slug::text from app.organizations where id = tap.id('acme')),
  '^acme-inc-[0-9a-hjkmnp-tv-z]{6}$', 'the slug is made from the name, with a random suffix though the name is new');
select is(tap.call('stranger', $$ select api.create_organization('ACME inc') $$), 'ok',
  'another tenant may use a similar name');
select matches((select slug::text from app.organizations where name = 'ACME inc'), '^acme-inc-[0-9a-hjkmnp-tv-z]{6}$',
  'a taken name gives a slug of the very same shape');
select is(tap.call('stranger', format($$ select api.create_organization(%L) $$, n)), 'ok',
  format('the organization %s is made', n))
  from unnest(array['Acme Inc', '!!!', repeat('Long name ', 10)]) n;
select results_eq(
  $$ select o.slug ~ '^[a-z0-9]+(-[a-z0-9]+)*-[0-9a-hjkmnp-tv-z]{6}$' and char_length(o.slug) <= 48, count(*)::int,
            count(distinct o.slug)::int
       from app.organizations o where o.name ilike 'acme%inc%' or o.name = '!!!' or o.name like 'Long name%'
      group by 1 $$,
  $$ values (true, 5, 5) $$,
  'every slug is the name''s part, a hyphen and six random characters, at most 48 in all, and unique');
select matches((select slug::text from app.organizations where name = '!!!'), '^org-[0-9a-hjkmnp-tv-z]{6}$',
  'a name without letters or digits gives org and the suffix');
select is(tap.call('owner', format($$ select api.create_organization(%L) $$, n)), '422 org.invalid_name',
  format('the name %s is refused', left(replace(quote_nullable(n), e'\n', '\\n'), 14)))
  from unnest(array['', '   ', repeat('x', 101), e'bad\nname', null]) n;
select is(tap.call(null, $$ select api.create_organization('Anon') $$), '401 auth.not_signed_in',
  'an anonymous caller must sign in');

/* Invitations: validated, one open per address, single use, for the right account only. */
select is(tap.call('owner', $$ select api.invite_member('{acme}', 'not an email', 'member') $$),
  '422 invitation.invalid_email', 'an invitation needs a valid email');
select is(tap.call('owner', $$ select api.invite_member('{acme}', 'x@example.com', 'boss') $$),
  '422 org.invalid_role', 'an invitation needs a known role');
select is(tap.call('owner', $$ select api.invite_member('{acme}', 'OWNER@example.com', 'member') $$),
  '409 org.already_member', 'a member cannot be invited again');
select is(tap.call('owner', $$ select api.invite_member('{acme}', 'admin@example.com', 'admin') $$), 'ok',
  'an owner invites an admin');
select tap.fix('admin_token', tap.mailed_token('mail.org_invitation', 'admin@example.com'));
select is(tap.call('admin', $$ select api.accept_invitation('{admin_token}') $$), 'ok',
  'the invitee accepts with the mailed token');
select is(tap.call('admin', $$ select api.accept_invitation('{admin_token}') $$), '400 invitation.invalid',
  'an invitation is single use');
select is(tap.call('admin', $$ select api.invite_member('{acme}', 'owner2@example.com', 'owner') $$),
  '403 org.forbidden', 'an admin cannot invite an owner');
select is(tap.call('admin', $$ select api.invite_member('{acme}', 'member@example.com', 'member') $$), 'ok',
  'an admin invites a member');
select tap.fix('member_token', tap.mailed_token('mail.org_invitation', 'member@example.com'));
select is(tap.call('stranger', $$ select api.accept_invitation('{member_token}') $$),
  '403 invitation.wrong_account', 'another account cannot accept it');
select is(tap.call('member', $$ select api.accept_invitation('{member_token}') $$), 'ok',
  'the invited account can');
select is(tap.call('member', $$ select api.accept_invitation('garbage') $$), '400 invitation.invalid',
  'a malformed token is invalid');
select is(tap.call('owner', $$ select api.invite_member('{acme}', 'invitee@example.com', 'member') $$), 'ok',
  'an owner invites once more');
set local session_replication_role = replica; -- skips the keep_identity trigger: time travel
update app.invitations set expires_at = now() - interval '1 second' where email = 'invitee@example.com';
set local session_replication_role = origin;
select is(tap.call('invitee', format($$ select api.accept_invitation(%L) $$,
            tap.mailed_token('mail.org_invitation', 'invitee@example.com'))),
  '400 invitation.invalid', 'an expired invitation is invalid');
select is_empty($$ select from app.invitations i join app.outbox o on o.payload ->> 'invitation_id' = i.id
                   where position(convert_to(o.payload ->> 'token', 'UTF8') in i.token_hash) > 0
                      or i.token_hash <> sha256(convert_to(o.payload ->> 'token', 'UTF8')) $$,
  'invitations keep only the SHA-256 of the mailed token');

/* Roles: admins never touch owners; an organization always keeps an owner. */
select is(tap.call('admin', $$ select api.change_member_role('{acme}', '{owner}', 'member') $$),
  '403 org.forbidden', 'an admin cannot demote an owner');
select is(tap.call('admin', $$ select api.remove_member('{acme}', '{owner}') $$),
  '403 org.forbidden', 'an admin cannot remove an owner');
select is(tap.call('owner', $$ select api.change_member_role('{acme}', '{owner}', 'admin') $$),
  '409 org.last_owner', 'the last owner cannot demote themselves');
select is(tap.call('owner', $$ select api.change_member_role('{acme}', '{stranger}', 'admin') $$),
  '404 member.not_found', 'a role is changed only for a member');
select is(tap.call('owner', $$ select api.transfer_ownership('{acme}', '{member}') $$), 'ok',
  'an owner transfers ownership to a member');
select results_eq(
  $$ select u.display_name, m.role::text from app.memberships m join app.users u on u.id = m.user_id
      where m.org_id = tap.id('acme') order by 1 $$,
  $$ values ('admin', 'admin'), ('member', 'owner'), ('owner', 'admin') $$,
  'the new owner is owner and the old one admin');

/* The audit trail and the outbox record each change, in the same transaction. */
select results_eq(
  $$ select action from app.audit_events where org_id = tap.id('acme') order by id $$,
  $$ values ('org.created'), ('org.member_invited'), ('org.invitation_accepted'), ('org.member_invited'),
            ('org.invitation_accepted'), ('org.member_invited'), ('org.ownership_transferred') $$,
  'every change of the organization is in its audit trail, in order');
select results_eq(
  $$ select topic, count(*)::int from app.outbox where payload ->> 'org_id' = tap.id('acme')
      group by topic order by topic $$,
  $$ values ('mail.org_invitation', 3), ('notify.member_joined', 2) $$,
  'invitations are mailed and joins notified through the outbox');

/* Bad input: a stable code, and nothing written (each call above and below that fails is undone). */
select is(tap.call('member', $$ select api.list_audit_events('{acme}', null, 0) $$), '422 audit.invalid_limit',
  'an audit page holds at least one event');
select is(tap.call('member', $$ select api.list_audit_events('{acme}', null, 201) $$), '422 audit.invalid_limit',
  'and at most 200');
select is(tap.call('member', $$ select api.list_audit_events('{acme}', 'evt_nope', 10) $$), '422 audit.invalid_cursor',
  'the cursor must be an event id');
select set_config('app.user_id', tap.id('member'), true);
select results_eq(
  $$ select id::text from api.list_audit_events(tap.id('acme'), null, 3) $$,
  $$ select id::text from app.audit_events where org_id = tap.id('acme')
      order by id desc limit 3 $$,
  'the first page is the newest events');
select results_eq(
  $$ select id::text from api.list_audit_events(tap.id('acme'),
       (select min(id) from (select id from app.audit_events where org_id = tap.id('acme')
                              order by id desc limit 3) page), 3) $$,
  $$ select id::text from app.audit_events where org_id = tap.id('acme')
      order by id desc limit 3 offset 3 $$,
  'the next page starts after the last id of the one before');
select is(tap.call('member', $$ select api.invite_member('{acme}', 'gone@example.com', 'member') $$), 'ok',
  'an owner invites');
select is(tap.call('member', format($$ select api.revoke_invitation(%L) $$,
            (select id from app.invitations where email = 'gone@example.com'))), 'ok',
  'and revokes the invitation');
select is(tap.call('member', format($$ select api.revoke_invitation(%L) $$,
            (select id from app.invitations where email = 'gone@example.com'))),
  '409 invitation.not_pending', 'a revoked invitation cannot be revoked again');
select is(tap.call('member', $$ select api.invite_member('{acme}', 'boss@example.com', 'owner') $$), 'ok',
  'an owner invites an owner');
select is(tap.call('admin', format($$ select api.revoke_invitation(%L) $$,
            (select id from app.invitations where email = 'boss@example.com'))),
  '403 org.forbidden', 'an admin cannot revoke an owner''s invitation');
select is(tap.call('member', $$ select api.remove_member('{acme}', '{stranger}') $$), '404 member.not_found',
  'only a member is removed');
select is(tap.call('member', $$ select api.transfer_ownership('{acme}', '{stranger}') $$), '404 member.not_found',
  'ownership goes only to a member');
select is(tap.call('member', $$ select api.change_member_role('{acme}', '{admin}', 'boss') $$), '422 org.invalid_role',
  'a role is owner, admin or member');
select is(tap.call('member', $$ select api.change_member_role('{acme}', '{admin}', null) $$), '422 org.invalid_role',
  'and never missing');
select is(tap.call('member', $$ select api.update_organization('{acme}', '   ') $$), '422 org.invalid_name',
  'a rename needs a name');
select is(tap.call('member', $$ select api.invite_member('{acme}', null, 'member') $$), '422 invitation.invalid_email',
  'an invitation needs an email');
select is(tap.call('member', format($$ select api.invite_member('{acme}', %L, 'member') $$, repeat('a', 250) || '@example.com')),
  '422 invitation.invalid_email', 'of at most 254 characters');
select is(tap.call('member', $$ select api.invite_member('{acme}', 'new@example.com', null) $$), '422 org.invalid_role',
  'and a role');
select results_eq(
  $$ select tap.call('member', c) from unnest(array[
       'select api.get_organization(''org_nope'')', 'select api.get_organization(null)',
       'select api.list_members(''usr_00000000000000000000000000'')',
       'select api.remove_member(''{acme}'', ''usr_bad'')', 'select api.revoke_invitation(''inv_bad'')']) c $$,
  $$ values ('404 org.not_found'), ('404 org.not_found'), ('404 org.not_found'),
            ('404 member.not_found'), ('404 invitation.not_found') $$,
  'a malformed, missing or wrong-kind id is simply not found');
select is((select count(*)::int from app.invitations where email in ('new@example.com', 'boss@example.com')), 1,
  'the refused calls wrote nothing (only the owner''s invitation is there)');

/* Invitations die with their sender's authority: removed, gone or demoted, a member's pending
   invitations that their role now could not send are revoked at once, and audited; accepting
   checks it again. Organization beta: chief and deputy own it, aide, aide2 and aide3 are
   admins; aide is also an admin of gamma. alt is a second account of aide's. */
select tap.make_users(array['chief', 'deputy', 'aide', 'aide2', 'aide3', 'alt']);
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
select is(tap.call('invitee', $$ select api.accept_invitation('{invitee_beta_token}') $$), 'ok',
  'and may still be accepted');
select is(tap.call('chief', $$ select api.transfer_ownership('{beta}', '{deputy}') $$), 'ok',
  'an owner transfers ownership and becomes admin');
select is(pg_temp.pending('beta', 'chief'), '{"m2@example.com member"}',
  'the old owner''s owner invitation is revoked, their member invitation stands');
select is((select count(*)::int from app.invitations i
            where i.org_id = tap.id('beta') and i.revoked_at is not null),
  6, 'six invitations of beta were revoked, each by the change of its sender''s role');

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

/* Quotas (counted in app.rate_limit_hits; in this one transaction now() stands still, so a
   refusal waits exactly the window): 20 invitations an hour per sender, 50 per organization,
   10 new organizations a day per user; each a setting of its own. */
select tap.make_users(array['sender', 'sender2', 'sender3', 'founder', 'reviser']);
select tap.make_org('delta', '{"sender": "owner", "sender2": "admin", "sender3": "admin"}');
select tap.make_org('epsilon', '{"sender": "owner", "sender3": "admin", "reviser": "admin"}');
create function pg_temp.invitations(p_sender text, p_org text, p_count integer, p_first integer default 1)
returns text[]
language sql
as $$
  select array_agg(distinct tap.call(p_sender, format('select api.invite_member(%L, %L, ''member'')',
           tap.id(p_org), p_sender || '.' || p_org || '.' || n || '@example.com')))
    from generate_series(p_first, p_first + p_count - 1) n
$$;
select is(pg_temp.invitations('sender', 'delta', 20), '{ok}', 'a sender sends 20 invitations in an hour');
select is(pg_temp.invitations('sender', 'delta', 1, 21), '{"429 invitation.rate_limited (Retry-After: 3600)"}',
  'the 21st is refused, with the seconds until the oldest leaves the hour');
select is(pg_temp.invitations('sender', 'epsilon', 1), '{"429 invitation.rate_limited (Retry-After: 3600)"}',
  'the quota is the sender''s, in any organization');
select is(pg_temp.invitations('sender2', 'delta', 20), '{ok}', 'another sender in the same organization is not affected');
select is(pg_temp.invitations('sender3', 'delta', 10), '{ok}', 'a third one sends the organization''s 50th invitation');
select is(pg_temp.invitations('sender3', 'delta', 1, 11), '{"429 invitation.rate_limited (Retry-After: 3600)"}',
  'the organization''s 51st is refused, though its sender has sent only 10');
select is(pg_temp.invitations('sender3', 'epsilon', 1), '{ok}', 'another organization is not affected');
select is((select count(*)::int from app.invitations where org_id = tap.id('delta')),
  50, 'the refused invitations were not made');

select set_config('app.settings.invitations_per_user_per_hour', '2', true);
select is(pg_temp.invitations('reviser', 'epsilon', 1), '{ok}',
  'a sender limited to 2 an hour (app.settings.invitations_per_user_per_hour) sends one');
select is(tap.call('reviser', format('select api.revoke_invitation(%L)',
            (select id from app.invitations where email = 'reviser.epsilon.1@example.com'))), 'ok', 'revokes it');
select is(pg_temp.invitations('reviser', 'epsilon', 1, 2), '{ok}', 'sends another');
select is(tap.call('reviser', format('select api.revoke_invitation(%L)',
            (select id from app.invitations where email = 'reviser.epsilon.2@example.com'))), 'ok', 'and revokes that too');
select is(pg_temp.invitations('reviser', 'epsilon', 1, 3), '{"429 invitation.rate_limited (Retry-After: 3600)"}',
  'revoked invitations still count: revoking and sending again buys nothing');
select set_config('app.settings.invitations_per_user_per_hour', '', true);
select set_config('app.settings.invitations_per_org_per_hour', '4', true);
select is(pg_temp.invitations('sender3', 'epsilon', 1, 2), '{ok}',
  'an organization limited to 4 an hour (app.settings.invitations_per_org_per_hour) sends its 4th');
select is(pg_temp.invitations('sender3', 'epsilon', 1, 3), '{"429 invitation.rate_limited (Retry-After: 3600)"}',
  'but not a 5th, revoked ones counted');

select is(array_agg(distinct tap.call('founder', format('select api.create_organization(''Venture %s'')', n))), '{ok}',
  'a user creates 10 organizations in a day') from generate_series(1, 10) n;
select is(tap.call('founder', $$ select api.create_organization('Venture 11') $$),
  '429 org.rate_limited (Retry-After: 86400)', 'the 11th is refused, with the seconds until the oldest leaves the day');
select is(tap.call('sender', $$ select api.create_organization('Venture 11') $$), 'ok', 'another user is not affected');
select set_config('app.settings.organizations_per_user_per_day', '12', true);
select is(tap.call('founder', $$ select api.create_organization('Venture 11') $$), 'ok',
  'app.settings.organizations_per_user_per_day raises the limit');

select * from finish();
rollback;
