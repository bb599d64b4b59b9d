/* One organization, for its members. */
create function api.get_organization(org_id text) returns api.organization
language plpgsql stable security definer set search_path = ''
as $$
declare
  v_org app.org_id := util.parse_id(get_organization.org_id, 'org')::app.org_id;
begin
  perform auth.require_user();
  perform app.require_membership(v_org);
  return app.organization_view(v_org);
end
$$;

comment on function api.get_organization(text) is
  'The organization. Errors: 401 auth.not_signed_in, 404 org.not_found.
@arg org_id app.org_id';
