/* app.my_organizations: the signed-in user's organizations and their role in each, for
   api.list_organizations; sql/views/app_my_memberships.sql says why these are views owned by
   no-login roles, and why this one is owned by org_lister. */

/* Made by its owner, who may create in the schema only for that moment. */
grant usage, create on schema app to org_lister;
set local role org_lister;
create view app.my_organizations as
  select o.id, o.name, o.slug, m.role, o.member_count, o.created_at, o.updated_at
    from app.memberships m
    join app.organizations o on o.id = m.org_id;
comment on view app.my_organizations is
  'The signed-in user''s organizations with their role, by the policy own_rows on app.memberships; read as org_lister, for api.list_organizations.';
revoke all on app.my_organizations from org_lister;

set local role blossom_owner;
revoke create on schema app from org_lister;
