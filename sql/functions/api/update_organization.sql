/* Renames an organization (owners and admins); the slug stays, so links keep working. At most 20
   an hour per organization, unless the setting says otherwise (sql/functions/app/rate_limits.sql):
   each posts to its Slack channel, in the job queue every tenant's posts wait in. */
create function api.update_organization(org_id text, name text) returns api.organization
language plpgsql volatile security definer set search_path = ''
as $$
declare
  v_org app.org_id := util.parse_id(update_organization.org_id, 'org')::app.org_id;
  v_name text;
begin
  perform auth.require_user();
  -- The name is checked before the organization's lock is waited for: a malformed rename must
  -- hold no connection in the queue for it.
  v_name := app.valid_org_name(update_organization.name);
  -- The organization's lock before the role is read: a demotion, which takes it too, comes
  -- wholly before or after (a rename that waited for the quota's lock was judged by the role
  -- its author had before it waited).
  perform app.lock_org_as_member(v_org);
  perform app.require_role(v_org, '{owner,admin}');
  /* The name it has already renames nothing, as a role the member has changes none
     (api.change_member_role): it was counted against the quota, audited as org.updated and
     posted to the Slack channel as a rename. */
  if exists (select from app.organizations o where o.id = v_org and o.name = v_name) then
    return app.organization_view(v_org);
  end if;
  perform app.spend_quota('org.rename', v_org, util.limit_setting('renames_per_org_per_hour', 20),
                          interval '1 hour', 'org.rate_limited', 'Too many renames of this organization; try again later.');
  update app.organizations o set name = v_name, updated_at = pg_catalog.now() where o.id = v_org;
  if not found then
    perform util.raise_error(404, 'org.not_found', 'No such organization.');
  end if;
  perform app.org_audit(v_org, 'org.updated', v_org, pg_catalog.jsonb_build_object('name', v_name));
  perform app.org_notify('notify.org_renamed', pg_catalog.jsonb_build_object(
    'org_id', v_org, 'new_name', v_name, 'by', app.current_user_id()));
  return app.organization_view(v_org);
end
$$;

comment on function api.update_organization(text, text) is
  'Renames the organization (owner, admin). Errors: 401 auth.not_signed_in, 404 org.not_found, 403 org.forbidden, 422 org.invalid_name, 429 org.rate_limited, 500 server.invalid_setting.
@arg org_id app.org_id
@arg name text';
