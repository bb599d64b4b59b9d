/*
 * The rules of the organization API beyond who may call what: input validation, the last
 * owner, what admins may not do to owners, invitations, and what each change leaves in the
 * audit trail and the outbox. Who may call what is orgs_permissions.sql; what becomes of an
 * invitation when its sender's role changes, orgs_inviter_authority.sql; the quotas,
 * orgs_quotas.sql.
 */
begin;
select plan(90);

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
/* Latin letters with accents, and the few that do not decompose, keep their word in the slug as
   their base letters: Café Crème was caf-cr-me. */
select is(app.slugify(n), want, format('the slug of %s keeps its words: %s', n, want))
  from (values ('Café Crème', 'cafe-creme'), ('Ünïcödé GmbH', 'unicode-gmbh'), ('Straße AG', 'strasse-ag'),
               ('Ærø Øl', 'aero-ol'), ('Łódź Œuvre', 'lodz-oeuvre'), ('İstanbul Þing', 'istanbul-thing'),
               (normalize('Zoë Åberg', NFD), 'zoe-aberg'), ('Guðrún Sigurðardóttir', 'gudrun-sigurdardottir'),
               ('ÐAKOVO', 'dakovo'), ('株式会社', 'org')) as names (n, want);
select is(tap.call('owner', format($$ select api.create_organization(%L) $$, n)), '422 org.invalid_name',
  format('the name %s is refused', left(replace(quote_nullable(n), e'\n', '\\n'), 14)))
  from unnest(array['', '   ', repeat('x', 101), e'bad\nname', null]) n;
select is(tap.call(null, $$ select api.create_organization('Anon') $$), '401 auth.not_signed_in',
  'an anonymous caller must sign in');
/* A caller whose account is gone (an operator deleted it after the pre-request read the
   session) is no signed-in user: not a 409 of Postgres's own 23503, the organization's creator
   missing from app.users. */
select tap.fix('ghost', app.gen_id('usr'));
select is(tap.call('ghost', $$ select api.create_organization('Ghost Town') $$), '401 auth.not_signed_in',
  'an account that is gone creates nothing: 401 auth.not_signed_in');

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

/* Ownership goes to a member who is not an owner yet: to one who is, the caller stepped down
   to admin, and the trail and the Slack channel were told of a transfer that made no one owner.
   Refused, and nothing written: no role changed, no event, no post, no transfer counted. */
select tap.make_org('twins', '{"owner": "owner", "owner2": "owner", "admin": "member"}');
select is(tap.call('owner', $$ select api.transfer_ownership('{twins}', '{owner2}') $$), '409 org.already_owner',
  'ownership is not transferred to an owner');
select results_eq(
  $$ select u.display_name, m.role::text from app.memberships m join app.users u on u.id = m.user_id
      where m.org_id = tap.id('twins') order by 1 $$,
  $$ values ('admin', 'member'), ('owner', 'owner'), ('owner2', 'owner') $$,
  'and the caller stays an owner');
select is((select count(*)::int from app.audit_events where org_id = tap.id('twins')), 0,
  'the trail records no transfer');
select is((select count(*)::int from app.outbox where payload ->> 'org_id' = tap.id('twins')), 0,
  'and the Slack channel is told of none');
select is((select count(*)::int from app.rate_limit_hits where kind = 'org.transfer' and key = tap.id('twins')), 0,
  'nor is one counted against the hour''s transfers');
/* To oneself, an owner already, it is no transfer: answered with the organization, nothing written. */
select is(tap.call('owner', $$ select api.transfer_ownership('{twins}', '{owner}') $$), 'ok',
  'an owner''s transfer to themselves is answered');
select is((select count(*)::int from app.audit_events where org_id = tap.id('twins'))
          + (select count(*)::int from app.outbox where payload ->> 'org_id' = tap.id('twins'))
          + (select count(*)::int from app.rate_limit_hits where kind = 'org.transfer' and key = tap.id('twins')), 0,
  'and changes, records, posts and counts nothing');
select is(tap.call('owner', $$ select api.transfer_ownership('{twins}', '{admin}') $$), 'ok',
  'a member who is no owner still is made one');

/* The audit trail and the outbox record each change, in the same transaction. */
select results_eq(
  $$ select action from app.audit_events where org_id = tap.id('acme') order by id $$,
  $$ values ('org.created'), ('org.member_invited'), ('org.invitation_accepted'), ('org.member_invited'),
            ('org.invitation_accepted'), ('org.member_invited'), ('org.ownership_transferred') $$,
  'every change of the organization is in its audit trail, in order');
select results_eq(
  $$ select topic, count(*)::int from app.outbox where payload ->> 'org_id' = tap.id('acme')
      group by topic order by topic $$,
  $$ values ('mail.org_invitation', 3), ('notify.member_joined', 2), ('notify.ownership_transferred', 1) $$,
  'invitations are mailed, joins and the ownership''s transfer notified through the outbox');

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
select is(tap.call('member', format($$ select api.invite_member('{acme}', %L, 'member') $$, e)),
  '422 invitation.invalid_email', format('%s is no address mail can be sent to', e))
  from unnest(array['.dot@example.com', 'dot.@example.com', 'a..b@example.com', '=?utf-8?b?QUFB?=@example.com']) e;
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

/* An invitation past its expiry is dead: nobody can accept it, and list_invitations no longer
   shows it. An admin inviting that address as a member is not stopped by an owner's invitation
   that expired (which the admin could neither see nor revoke): it is replaced like any other. */
select is(tap.call('member', $$ select api.invite_member('{acme}', 'lapsed@example.com', 'owner') $$), 'ok',
  'an owner invites an owner');
set local session_replication_role = replica;
update app.invitations set expires_at = now() where email = 'lapsed@example.com';
set local session_replication_role = origin;
select is(tap.call('admin', $$ select api.invite_member('{acme}', 'lapsed@example.com', 'member') $$), 'ok',
  'an admin invites, as a member, an address whose owner invitation expired this very moment');
select results_eq(
  $$ select role::text, revoked_at is not null from app.invitations where email = 'lapsed@example.com' order by created_at, id $$,
  $$ values ('owner', true), ('member', false) $$,
  'the expired owner invitation is replaced by the admin''s');
select is((select count(*)::int from app.audit_events where action = 'org.invitation_revoked'
             and target = (select id from app.invitations where email = 'lapsed@example.com' and role = 'owner')),
  0, 'and the trail records no revocation of the expired one (the admin revoked nobody''s invitation)');
/* Nor is it revoked: revoking one that expired answered ok, and the trail recorded a revocation
   of an invitation that could no longer be accepted. */
set local session_replication_role = replica;
update app.invitations set expires_at = now() where email = 'lapsed@example.com' and revoked_at is null;
set local session_replication_role = origin;
select tap.fix('lapsed', (select id from app.invitations where email = 'lapsed@example.com' and revoked_at is null));
select is(tap.call('member', $$ select api.revoke_invitation('{lapsed}') $$),
  '409 invitation.not_pending', 'an expired invitation is not revoked');
select is((select count(*)::int from app.audit_events where action = 'org.invitation_revoked' and target = tap.id('lapsed')),
  0, 'and the trail records no revocation of it');

/* The ghost of the creation's test above, invited before its account went. */
select is(tap.call('admin', $$ select api.invite_member('{acme}', 'ghost@example.com', 'member') $$), 'ok',
  'an admin invites an address whose account will be gone');
select is(tap.call('ghost', format($$ select api.accept_invitation(%L) $$,
            tap.mailed_token('mail.org_invitation', 'ghost@example.com'))),
  '401 auth.not_signed_in', 'an account that is gone accepts nothing: 401, not the invitation''s wrong account');
select is(tap.call('ghost', format($$ select api.decline_invitation(%L) $$,
            tap.mailed_token('mail.org_invitation', 'ghost@example.com'))),
  '401 auth.not_signed_in', 'nor declines: 401');

select * from finish();
rollback;
