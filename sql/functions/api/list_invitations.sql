/* Pending invitations of an organization, newest first (owners and admins). */
create function api.list_invitations(org_id text) returns setof api.invitation
language plpgsql stable security definer set search_path = ''
as $$
declare
  v_org app.org_id := util.parse_id(list_invitations.org_id, 'org')::app.org_id;
begin
  perform auth.require_user();
  perform app.require_role(v_org, '{owner,admin}');
  return query
    select i.id, i.org_id, i.email::text, i.role, i.invited_by, i.created_at, i.expires_at
      from app.invitations i
     where i.org_id = v_org
       and i.accepted_at is null and i.declined_at is null and i.revoked_at is null
       and i.expires_at > pg_catalog.now()
     order by i.id desc;
end
$$;

comment on function api.list_invitations(text) is
  'The organization''s pending invitations (owner, admin). Errors: 401 auth.not_signed_in, 404 org.not_found, 403 org.forbidden.
@arg org_id app.org_id';
