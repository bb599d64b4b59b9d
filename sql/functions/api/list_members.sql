/* The members of an organization, owners first, for its members. */
create function api.list_members(org_id text) returns setof api.member
language plpgsql stable security definer set search_path = ''
as $$
declare
  v_org app.org_id := util.parse_id(list_members.org_id, 'org')::app.org_id;
begin
  perform auth.require_user();
  perform app.require_membership(v_org);
  return query
    select m.id, m.user_id, u.email::text, u.display_name, m.role, m.joined_at
      from app.memberships m
      join app.users u on u.id = m.user_id
     where m.org_id = v_org
     order by m.role, m.joined_at, m.id;
end
$$;

comment on function api.list_members(text) is
  'The organization''s members: user id, email, display name, role, joined at. Errors: 401 auth.not_signed_in, 404 org.not_found.
@arg org_id app.org_id';
