/* Deletes an organization (owners); its memberships and invitations go with it. The audit
   events stay (they carry the id), readable by nobody through the API any more. */
create function api.delete_organization(org_id text) returns void
language plpgsql volatile security definer set search_path = ''
as $$
declare
  v_user app.user_id := auth.require_user();
  v_org app.org_id := util.parse_id(delete_organization.org_id, 'org')::app.org_id;
  v_members app.user_id[];
begin
  perform app.lock_org_as_member(v_org);
  perform app.require_role(v_org, '{owner}');
  select pg_catalog.array_agg(m.user_id) into v_members from app.memberships m where m.org_id = v_org;
  perform app.org_audit(v_org, 'org.deleted', v_org);
  perform app.org_notify('notify.org_deleted', pg_catalog.jsonb_build_object(
    'org_id', v_org, 'deleted_by', v_user, 'members', pg_catalog.to_jsonb(v_members)));
  delete from app.organizations o where o.id = v_org;
end
$$;

comment on function api.delete_organization(text) is
  'Deletes the organization with its memberships and invitations (owner). Errors: 401 auth.not_signed_in, 404 org.not_found, 403 org.forbidden.
@arg org_id app.org_id';
