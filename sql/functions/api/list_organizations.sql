/* The caller's organizations, with their role and the member count, by name. They come from
   app.my_organizations, the caller's own memberships joined to their organizations, read as
   org_lister under the policy own_rows (sql/views/app_my_organizations.sql says why this read is a view).
   The member count is the organization's member_count, which triggers on app.memberships keep
   (sql/functions/app/member_count.sql): counting the memberships here would read a second
   protected table per statement, under its own policy. */
create function api.list_organizations() returns setof api.organization
language plpgsql stable security definer set search_path = ''
as $$
begin
  perform auth.require_user();
  return query
    select o.id, o.name, o.slug::text, o.role, o.member_count, o.created_at, o.updated_at
      from app.my_organizations o
     order by pg_catalog.lower(o.name), o.id;
end
$$;

comment on function api.list_organizations() is
  'The organizations the caller belongs to, with their role and member count. Errors: 401 auth.not_signed_in.';
