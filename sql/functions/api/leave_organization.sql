/* Leaves an organization; the last owner cannot (transfer ownership or delete it first). */
create function api.leave_organization(org_id text) returns void
language plpgsql volatile security definer set search_path = ''
as $$
declare
  v_user app.user_id := auth.require_user();
  v_org app.org_id := util.parse_id(leave_organization.org_id, 'org')::app.org_id;
  v_my_role app.org_role;
begin
  perform app.lock_org_as_member(v_org);
  v_my_role := app.require_membership(v_org);
  if v_my_role = 'owner' then
    perform app.require_another_owner(v_org, 'You are the last owner; transfer ownership or delete the organization.');
  end if;
  perform app.org_audit(v_org, 'org.member_left', v_user, pg_catalog.jsonb_build_object('role', v_my_role));
  perform app.org_notify('notify.member_left', pg_catalog.jsonb_build_object('org_id', v_org, 'user_id', v_user));
  -- Always found: only the caller's own account's deletion could take it meanwhile, and then the
  -- event above, by that account, is refused by its foreign key first.
  perform app.end_membership(v_org, v_user);
end
$$;

comment on function api.leave_organization(text) is
  'The caller leaves the organization. Errors: 401 auth.not_signed_in, 404 org.not_found, 409 org.last_owner, 500 server.invalid_setting.
@arg org_id app.org_id';
