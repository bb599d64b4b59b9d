/*
 * The permission matrix of the organization API: every function, called by an owner, an admin,
 * a member, a signed-in non-member and an anonymous caller. Each call runs in a subtransaction
 * that is undone afterwards, so every cell starts from the same organization.
 */
begin;
select plan(19);

/* Acme: an owner, an admin, two members and a pending invitation; Other: the outsider's. */
select tap.make_users(array['owner', 'admin', 'member', 'target', 'outsider', 'invitee']);
select tap.make_org('acme', '{"owner": "owner", "admin": "admin", "member": "member", "target": "member"}');
select tap.make_org('other', '{"outsider": "owner"}');
select tap.fix('invitation', app.gen_id('inv'));
select tap.fix('token', repeat('t', 43));
insert into app.invitations (id, org_id, email, role, token_hash, invited_by)
values (tap.id('invitation'), tap.id('acme'), 'Invitee@Example.com', 'member', util.token_hash(tap.id('token')),
        tap.id('owner'));

/* What each caller's call answers (tap.call_undone): owner, admin, member, non-member, anonymous. */
create function pg_temp.matrix(p_sql text) returns text[]
language sql
as $$
  select array_agg(tap.call_undone(c, p_sql) order by i)
    from unnest(array['owner', 'admin', 'member', 'outsider', null]) with ordinality as t (c, i)
$$;

/* Columns: owner, admin, member, non-member, anonymous. */
select is(pg_temp.matrix($$ select api.create_organization('New') $$),
  array['ok', 'ok', 'ok', 'ok', '401 auth.not_signed_in'],
  'create_organization: anyone signed in');
select is(pg_temp.matrix($$ select api.list_organizations() $$),
  array['ok', 'ok', 'ok', 'ok', '401 auth.not_signed_in'],
  'list_organizations: anyone signed in');
select is(pg_temp.matrix($$ select api.get_organization('{acme}') $$),
  array['ok', 'ok', 'ok', '404 org.not_found', '401 auth.not_signed_in'],
  'get_organization: members; a non-member is told it does not exist');
select is(pg_temp.matrix($$ select api.update_organization('{acme}', 'Renamed') $$),
  array['ok', 'ok', '403 org.forbidden', '404 org.not_found', '401 auth.not_signed_in'],
  'update_organization: owners and admins');
select is(pg_temp.matrix($$ select api.delete_organization('{acme}') $$),
  array['ok', '403 org.forbidden', '403 org.forbidden', '404 org.not_found', '401 auth.not_signed_in'],
  'delete_organization: owners');
select is(pg_temp.matrix($$ select api.list_members('{acme}') $$),
  array['ok', 'ok', 'ok', '404 org.not_found', '401 auth.not_signed_in'],
  'list_members: members');
select is(pg_temp.matrix($$ select api.invite_member('{acme}', 'new@example.com', 'member') $$),
  array['ok', 'ok', '403 org.forbidden', '404 org.not_found', '401 auth.not_signed_in'],
  'invite_member: owners and admins');
select is(pg_temp.matrix($$ select api.list_invitations('{acme}') $$),
  array['ok', 'ok', '403 org.forbidden', '404 org.not_found', '401 auth.not_signed_in'],
  'list_invitations: owners and admins');
select is(pg_temp.matrix($$ select api.revoke_invitation('{invitation}') $$),
  array['ok', 'ok', '403 org.forbidden', '404 invitation.not_found', '401 auth.not_signed_in'],
  'revoke_invitation: owners and admins; a non-member is told it does not exist');
select is(pg_temp.matrix($$ select api.accept_invitation('{token}') $$),
  array['403 invitation.wrong_account', '403 invitation.wrong_account', '403 invitation.wrong_account',
        '403 invitation.wrong_account', '401 auth.not_signed_in'],
  'accept_invitation: nobody but the invitee');
select is(tap.call_undone('invitee', $$ select api.accept_invitation('{token}') $$), 'ok',
  'accept_invitation: the invitee');
select is(pg_temp.matrix($$ select api.decline_invitation('{token}') $$),
  array['403 invitation.wrong_account', '403 invitation.wrong_account', '403 invitation.wrong_account',
        '403 invitation.wrong_account', '401 auth.not_signed_in'],
  'decline_invitation: nobody but the invitee');
select is(tap.call_undone('invitee', $$ select api.decline_invitation('{token}') $$), 'ok',
  'decline_invitation: the invitee');
select is(pg_temp.matrix($$ select api.change_member_role('{acme}', '{target}', 'admin') $$),
  array['ok', 'ok', '403 org.forbidden', '404 org.not_found', '401 auth.not_signed_in'],
  'change_member_role: owners and admins');
select is(pg_temp.matrix($$ select api.remove_member('{acme}', '{target}') $$),
  array['ok', 'ok', '403 org.forbidden', '404 org.not_found', '401 auth.not_signed_in'],
  'remove_member: owners and admins');
select is(pg_temp.matrix($$ select api.leave_organization('{acme}') $$),
  array['409 org.last_owner', 'ok', 'ok', '404 org.not_found', '401 auth.not_signed_in'],
  'leave_organization: any member but the last owner');
select is(pg_temp.matrix($$ select api.transfer_ownership('{acme}', '{target}') $$),
  array['ok', '403 org.forbidden', '403 org.forbidden', '404 org.not_found', '401 auth.not_signed_in'],
  'transfer_ownership: owners');
select is(pg_temp.matrix($$ select api.list_audit_events('{acme}') $$),
  array['ok', 'ok', '403 org.forbidden', '404 org.not_found', '401 auth.not_signed_in'],
  'list_audit_events: owners and admins');

/* Every function of the organization API is in the matrix above, and has the signature used. */
select is_empty(
  $$ select f from unnest(array[
       'create_organization(text)', 'list_organizations()', 'get_organization(text)',
       'update_organization(text,text)', 'delete_organization(text)', 'list_members(text,text,integer)',
       'invite_member(text,text,text)', 'list_invitations(text,text,integer)', 'revoke_invitation(text)',
       'accept_invitation(text)', 'decline_invitation(text)', 'change_member_role(text,text,text)',
       'remove_member(text,text)', 'leave_organization(text)', 'transfer_ownership(text,text)',
       'list_audit_events(text,text,integer)']) f
      where to_regprocedure('api.' || f) is null $$,
  'the matrix covers the sixteen functions of the organization API');

select * from finish();
rollback;
