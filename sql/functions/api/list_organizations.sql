/* The caller's organizations, with their role and the member count, by name. The caller's own
   memberships come from app.my_memberships (the rows with user_id = the caller, under
   membership_reader's own_rows policy), which is what the policy on app.memberships would
   reduce them to but costs no InitPlan of its own; the organizations are read under their
   policies as always. The member count is the organization's member_count, which triggers on
   app.memberships keep (sql/functions/app/member_count.sql): counting the memberships here
   read a second protected table per statement, under its own policy. */
create function api.list_organizations() returns setof api.organization
language plpgsql stable security definer set search_path = ''
as $$
begin
  perform auth.require_user();
  return query
    select o.id, o.name, o.slug::text, m.role, o.member_count, o.created_at, o.updated_at
      from app.my_memberships m
      join app.organizations o on o.id = m.org_id
     order by pg_catalog.lower(o.name), o.id;
end
$$;

comment on function api.list_organizations() is
  'The organizations the caller belongs to, with their role and member count. Errors: 401 auth.not_signed_in.';
