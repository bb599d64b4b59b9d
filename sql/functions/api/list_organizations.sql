/* The caller's organizations, with their role and the member count, by name. */
create function api.list_organizations() returns setof api.organization
language plpgsql stable security definer set search_path = ''
as $$
declare
  v_user app.user_id := auth.require_user();
begin
  return query
    select o.id, o.name, o.slug::text, m.role,
           (select pg_catalog.count(*)::integer from app.memberships c where c.org_id = o.id),
           o.created_at, o.updated_at
      from app.memberships m
      join app.organizations o on o.id = m.org_id
     where m.user_id = v_user
     order by pg_catalog.lower(o.name), o.id;
end
$$;

comment on function api.list_organizations() is
  'The organizations the caller belongs to, with their role and member count. Errors: 401 auth.not_signed_in.';
