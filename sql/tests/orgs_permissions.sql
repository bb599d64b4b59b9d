/*
 * The permission matrix of the organization API: every function, called by an owner, an admin,
 * a member, a signed-in non-member and an anonymous caller. Each call runs in a subtransaction
 * that is undone afterwards, so every cell starts from the same organization.
 */
begin;
select plan(19);

/* Test helpers (rolled back with the test). */
create schema tap_orgs;
create table tap_orgs.ids (name text primary key, id text not null);

with made as (
  insert into app.users (email, display_name)
  select n || '@example.com', n
    from unnest(array['owner', 'admin', 'member', 'target', 'outsider', 'invitee']) n
  returning id, display_name)
insert into tap_orgs.ids select display_name, id from made;
insert into tap_orgs.ids values ('acme', app.gen_id('org')), ('other', app.gen_id('org')),
  ('invitation', app.gen_id('inv')), ('token', repeat('t', 43));
insert into app.organizations (id, name, slug, created_by)
select (select id from tap_orgs.ids where name = o), initcap(o), o, null from unnest(array['acme', 'other']) o;
insert into app.memberships (org_id, user_id, role)
select (select id from tap_orgs.ids where name = o), (select id from tap_orgs.ids where name = u), r::app.org_role
  from (values ('acme', 'owner', 'owner'), ('acme', 'admin', 'admin'), ('acme', 'member', 'member'),
               ('acme', 'target', 'member'), ('other', 'outsider', 'owner')) as m (o, u, r);
insert into app.invitations (id, org_id, email, role, token_hash, invited_by)
values ((select id from tap_orgs.ids where name = 'invitation'), (select id from tap_orgs.ids where name = 'acme'),
        'Invitee@Example.com', 'member', util.token_hash(repeat('t', 43)),
        (select id from tap_orgs.ids where name = 'owner'));

/* What a call answers: 'ok', or the HTTP status and our code ('404 org.not_found'), or the
   SQLSTATE of any other error. `{name}` in the SQL stands for that fixture's id. */
create function tap_orgs.outcome(p_caller text, p_sql text) returns text
language plpgsql
as $$
declare
  v_sql text := p_sql;
  v_fixture record;
  v_message text;
  v_detail text;
begin
  for v_fixture in select * from tap_orgs.ids loop
    v_sql := replace(v_sql, '{' || v_fixture.name || '}', v_fixture.id);
  end loop;
  begin
    if p_caller is null then
      perform set_config('app.user_id', '', true);
      set local role web_anon;
    else
      perform set_config('app.user_id', (select id from tap_orgs.ids where name = p_caller), true);
      set local role authenticated;
    end if;
    execute v_sql;
    raise exception 'undo' using errcode = 'T0001';
  exception
    when sqlstate 'T0001' then
      return 'ok';
    when sqlstate 'PGRST' then
      get stacked diagnostics v_message = message_text, v_detail = pg_exception_detail;
      return (v_detail::json ->> 'status') || ' ' || (v_message::json ->> 'code');
    when others then
      return sqlstate || ' ' || sqlerrm;
  end;
end
$$;

create function tap_orgs.matrix(p_sql text) returns text[]
language sql
as $$
  select array_agg(tap_orgs.outcome(c, p_sql) order by i)
    from unnest(array['owner', 'admin', 'member', 'outsider', null]) with ordinality as t (c, i)
$$;

/* Columns: owner, admin, member, non-member, anonymous. */
select is(tap_orgs.matrix($$ select api.create_organization('New') $$),
  array['ok', 'ok', 'ok', 'ok', '401 auth.not_signed_in'],
  'create_organization: anyone signed in');
select is(tap_orgs.matrix($$ select api.list_organizations() $$),
  array['ok', 'ok', 'ok', 'ok', '401 auth.not_signed_in'],
  'list_organizations: anyone signed in');
select is(tap_orgs.matrix($$ select api.get_organization('{acme}') $$),
  array['ok', 'ok', 'ok', '404 org.not_found', '401 auth.not_signed_in'],
  'get_organization: members; a non-member is told it does not exist');
select is(tap_orgs.matrix($$ select api.update_organization('{acme}', 'Renamed') $$),
  array['ok', 'ok', '403 org.forbidden', '404 org.not_found', '401 auth.not_signed_in'],
  'update_organization: owners and admins');
select is(tap_orgs.matrix($$ select api.delete_organization('{acme}') $$),
  array['ok', '403 org.forbidden', '403 org.forbidden', '404 org.not_found', '401 auth.not_signed_in'],
  'delete_organization: owners');
select is(tap_orgs.matrix($$ select api.list_members('{acme}') $$),
  array['ok', 'ok', 'ok', '404 org.not_found', '401 auth.not_signed_in'],
  'list_members: members');
select is(tap_orgs.matrix($$ select api.invite_member('{acme}', 'new@example.com', 'member') $$),
  array['ok', 'ok', '403 org.forbidden', '404 org.not_found', '401 auth.not_signed_in'],
  'invite_member: owners and admins');
select is(tap_orgs.matrix($$ select api.list_invitations('{acme}') $$),
  array['ok', 'ok', '403 org.forbidden', '404 org.not_found', '401 auth.not_signed_in'],
  'list_invitations: owners and admins');
select is(tap_orgs.matrix($$ select api.revoke_invitation('{invitation}') $$),
  array['ok', 'ok', '403 org.forbidden', '404 invitation.not_found', '401 auth.not_signed_in'],
  'revoke_invitation: owners and admins; a non-member is told it does not exist');
select is(tap_orgs.matrix($$ select api.accept_invitation('{token}') $$),
  array['403 invitation.wrong_account', '403 invitation.wrong_account', '403 invitation.wrong_account',
        '403 invitation.wrong_account', '401 auth.not_signed_in'],
  'accept_invitation: nobody but the invitee');
select is(tap_orgs.outcome('invitee', $$ select api.accept_invitation('{token}') $$), 'ok',
  'accept_invitation: the invitee');
select is(tap_orgs.matrix($$ select api.decline_invitation('{token}') $$),
  array['403 invitation.wrong_account', '403 invitation.wrong_account', '403 invitation.wrong_account',
        '403 invitation.wrong_account', '401 auth.not_signed_in'],
  'decline_invitation: nobody but the invitee');
select is(tap_orgs.outcome('invitee', $$ select api.decline_invitation('{token}') $$), 'ok',
  'decline_invitation: the invitee');
select is(tap_orgs.matrix($$ select api.change_member_role('{acme}', '{target}', 'admin') $$),
  array['ok', 'ok', '403 org.forbidden', '404 org.not_found', '401 auth.not_signed_in'],
  'change_member_role: owners and admins');
select is(tap_orgs.matrix($$ select api.remove_member('{acme}', '{target}') $$),
  array['ok', 'ok', '403 org.forbidden', '404 org.not_found', '401 auth.not_signed_in'],
  'remove_member: owners and admins');
select is(tap_orgs.matrix($$ select api.leave_organization('{acme}') $$),
  array['409 org.last_owner', 'ok', 'ok', '404 org.not_found', '401 auth.not_signed_in'],
  'leave_organization: any member but the last owner');
select is(tap_orgs.matrix($$ select api.transfer_ownership('{acme}', '{target}') $$),
  array['ok', '403 org.forbidden', '403 org.forbidden', '404 org.not_found', '401 auth.not_signed_in'],
  'transfer_ownership: owners');
select is(tap_orgs.matrix($$ select api.list_audit_events('{acme}') $$),
  array['ok', 'ok', '403 org.forbidden', '404 org.not_found', '401 auth.not_signed_in'],
  'list_audit_events: owners and admins');

/* Every function of the organization API is in the matrix above, and has the signature used. */
select is_empty(
  $$ select f from unnest(array[
       'create_organization(text)', 'list_organizations()', 'get_organization(text)',
       'update_organization(text,text)', 'delete_organization(text)', 'list_members(text)',
       'invite_member(text,text,text)', 'list_invitations(text)', 'revoke_invitation(text)',
       'accept_invitation(text)', 'decline_invitation(text)', 'change_member_role(text,text,text)',
       'remove_member(text,text)', 'leave_organization(text)', 'transfer_ownership(text,text)',
       'list_audit_events(text,text,integer)']) f
      where to_regprocedure('api.' || f) is null $$,
  'the matrix covers the sixteen functions of the organization API');

select * from finish();
rollback;
