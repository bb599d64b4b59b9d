/* An owner makes another member owner and becomes admin. At most 20 an hour per organization,
   unless the setting says otherwise (sql/functions/app/rate_limits.sql): each posts to its
   Slack channel, in the job queue every tenant's posts wait in, and two accounts of one owner
   passed it back and forth 119 times a second. */
create function api.transfer_ownership(org_id text, user_id text) returns api.organization
language plpgsql volatile security definer set search_path = ''
as $$
declare
  v_user app.user_id := auth.require_user();
  v_org app.org_id := util.parse_id(transfer_ownership.org_id, 'org')::app.org_id;
  v_target app.user_id := util.parse_id(transfer_ownership.user_id, 'usr')::app.user_id;
begin
  perform app.lock_org_as_member(v_org);
  perform app.require_role(v_org, '{owner}');
  /* To an owner it makes no one owner: the caller stepped down to admin while the trail and the
     Slack channel told of a transfer. Stepping down is change_member_role's. */
  if app.require_member(v_org, v_target) = 'owner' and v_target <> v_user then
    perform util.raise_error(409, 'org.already_owner',
      'This member is already an owner of this organization; to step down, change your own role.');
  end if;
  if v_target <> v_user then
    perform app.spend_quota('org.transfer', v_org, util.limit_setting('transfers_per_org_per_hour', 20),
                            interval '1 hour', 'org.rate_limited',
                            'Too many ownership transfers of this organization; try again later.');
    /* Each membership was read before its row was waited for, and an account deleted meanwhile
       takes its memberships with it: the caller made admin beside a new owner that is gone left
       the organization with no owner. Nothing changes unless both rows are still there. */
    update app.memberships m set role = 'owner' where m.org_id = v_org and m.user_id = v_target;
    if not found then
      perform util.raise_error(404, 'member.not_found', 'No such member in this organization.');
    end if;
    update app.memberships m set role = 'admin' where m.org_id = v_org and m.user_id = v_user;
    if not found then
      perform util.raise_error(404, 'org.not_found', 'No such organization.');
    end if;
    perform app.org_audit(v_org, 'org.ownership_transferred', v_target,
      pg_catalog.jsonb_build_object('from', v_user));
    perform app.org_notify('notify.ownership_transferred', pg_catalog.jsonb_build_object(
      'org_id', v_org, 'user_id', v_target, 'by', v_user));
  end if;
  return app.organization_view(v_org);
end
$$;

comment on function api.transfer_ownership(text, text) is
  'Makes a member owner (one who is not yet); the caller becomes admin. Errors: 401 auth.not_signed_in, 404 org.not_found, 404 member.not_found, 403 org.forbidden, 409 org.already_owner, 429 org.rate_limited, 500 server.invalid_setting.
@arg org_id app.org_id
@arg user_id app.user_id';
