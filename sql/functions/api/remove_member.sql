/* Removes a member: an owner anyone but the last owner, an admin members and themselves. */
create function api.remove_member(org_id text, user_id text) returns void
language plpgsql volatile security definer set search_path = ''
as $$
declare
  v_user app.user_id := auth.require_user();
  v_org app.org_id := util.parse_id(remove_member.org_id, 'org')::app.org_id;
  v_target app.user_id := util.parse_id(remove_member.user_id, 'usr')::app.user_id;
  v_my_role app.org_role;
  v_old app.org_role;
begin
  perform app.lock_org_as_member(v_org);
  v_my_role := app.require_role(v_org, '{owner,admin}');
  v_old := app.require_member(v_org, v_target);
  if v_my_role <> 'owner' and v_old <> 'member' and v_target <> v_user then
    perform util.raise_error(403, 'org.forbidden', 'An admin may remove members only.');
  end if;
  if v_old = 'owner' then
    perform app.require_another_owner(v_org);
  end if;
  perform app.org_audit(v_org, 'org.member_removed', v_target, pg_catalog.jsonb_build_object('role', v_old));
  perform app.org_notify('notify.member_removed', pg_catalog.jsonb_build_object(
    'org_id', v_org, 'user_id', v_target, 'removed_by', v_user));
  -- Found no more when the account was deleted meanwhile: the event and the notice above go
  -- back with the error.
  if not app.end_membership(v_org, v_target) then
    perform util.raise_error(404, 'member.not_found', 'No such member in this organization.');
  end if;
end
$$;

comment on function api.remove_member(text, text) is
  'Removes a member (owner: anyone but the last owner; admin: members, and themselves). Errors: 401 auth.not_signed_in, 404 org.not_found, 404 member.not_found, 403 org.forbidden, 409 org.last_owner, 500 server.invalid_setting.
@arg org_id app.org_id
@arg user_id app.user_id';
