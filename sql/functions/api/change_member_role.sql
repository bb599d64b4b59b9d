/* Changes a member's role: an owner any member's to any role (never leaving no owner); an
   admin between member and admin only, never an owner's. Serialized per organization, so two
   owners demoting each other at once cannot both succeed when they are the last two. At most 100
   changes an hour per member who makes them, unless the setting says otherwise
   (sql/functions/app/rate_limits.sql). */
create function api.change_member_role(org_id text, user_id text, role text) returns api.member
language plpgsql volatile security definer set search_path = ''
as $$
declare
  v_user app.user_id := auth.require_user();
  v_org app.org_id := util.parse_id(change_member_role.org_id, 'org')::app.org_id;
  v_target app.user_id := util.parse_id(change_member_role.user_id, 'usr')::app.user_id;
  v_role app.org_role;
  v_my_role app.org_role;
  v_old app.org_role;
  v_member api.member;
begin
  -- The role is checked before the organization's lock is waited for, as invite_member's: a
  -- malformed change must hold no connection in the queue for it.
  v_role := app.parse_role(change_member_role.role);
  perform app.lock_org_as_member(v_org);
  v_my_role := app.require_role(v_org, '{owner,admin}');
  v_old := app.require_member(v_org, v_target);
  if v_my_role <> 'owner' and (v_old = 'owner' or v_role = 'owner') then
    perform util.raise_error(403, 'org.forbidden', 'Only an owner may make or change an owner.');
  end if;
  if v_old = 'owner' and v_role <> 'owner' then
    perform app.require_another_owner(v_org);
  end if;
  if v_old <> v_role then
    /* Each change is an event of the audit trail, which only grows: unlimited, one owner's two
       accounts toggled a member between member and admin 480 times a second from one
       connection, 500 bytes of the trail each. The quota is the caller's, in every organization,
       not the organization's: an admin who spent it would keep the owners from demoting him. */
    perform app.spend_quota('org.role_change', v_user, util.limit_setting('role_changes_per_user_per_hour', 100),
                            interval '1 hour', 'org.rate_limited', 'Too many role changes; try again later.');
    update app.memberships m set role = v_role where m.org_id = v_org and m.user_id = v_target;
    /* The membership was read before its row was waited for: an account deleted meanwhile (its
       memberships go with it) leaves nothing to change, and nothing to audit. */
    if not found then
      perform util.raise_error(404, 'member.not_found', 'No such member in this organization.');
    end if;
    perform app.org_audit(v_org, 'org.member_role_changed', v_target,
      pg_catalog.jsonb_build_object('from', v_old, 'to', v_role));
  end if;
  select m.id, m.user_id, u.email::text, u.display_name, m.role, m.joined_at into v_member
    from app.memberships m join app.users u on u.id = m.user_id
   where m.org_id = v_org and m.user_id = v_target;
  if not found then
    perform util.raise_error(404, 'member.not_found', 'No such member in this organization.');
  end if;
  return v_member;
end
$$;

comment on function api.change_member_role(text, text, text) is
  'Sets a member''s role (owner: any; admin: member/admin, not owners). Errors: 401 auth.not_signed_in, 404 org.not_found, 404 member.not_found, 403 org.forbidden, 409 org.last_owner, 422 org.invalid_role, 429 org.rate_limited, 500 server.invalid_setting.
@arg org_id app.org_id
@arg user_id app.user_id
@arg role app.org_role';
