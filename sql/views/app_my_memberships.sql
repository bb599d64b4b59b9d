/* The caller's own memberships, through two views that read app.memberships as no-login roles
   under the policy own_rows (user_id = the caller), which is the views' only filter: RLS, not
   the view text, bounds what they show. Each role owns its view, is granted nothing else but
   the columns it reads, bypasses nothing, and nobody can become it (sql/tests/roles.sql).
   Being views, not functions, they are planned into the query that uses them (no call, no
   per-statement re-planning of a function body). The role makes its view here, so it may
   create in the schema only for that moment (`just migrate` drops the view as that role too,
   hence its usage of the schema).

   app.my_memberships (owner membership_reader): for the policies. The policy on
   app.memberships must show a member the other members of their organizations: it asks
   "which organizations am I in?", a query on app.memberships under that same policy, which
   Postgres refuses as infinite recursion. Read as membership_reader, under own_rows alone, it
   does not look at app.memberships again.

   app.my_organizations (owner org_lister): for api.list_organizations, the caller's
   organizations and their role in each. Read as blossom_owner, the join would check each
   organization under member_read, whose InitPlan scans the caller's memberships a second
   time: what the query already did (bench/orgs.py measured 1.7x the same query without RLS).
   org_lister reads app.organizations under a policy that admits every row, so the organizations
   it shows are exactly those its inner join reaches from the caller's own memberships, which
   own_rows bounds; it reads nothing else (1.15x; sql/tests/orgs_views.sql tries to get more). */

/* Made by its owner, who may create in the schema only for that moment. */
grant usage, create on schema app to membership_reader;
set local role membership_reader;
create view app.my_memberships as
  select m.org_id, m.role
    from app.memberships m;
comment on view app.my_memberships is
  'The signed-in user''s own memberships (organization, role), by the policy own_rows; read as membership_reader, for the policies.';
revoke all on app.my_memberships from membership_reader;

set local role blossom_owner;
revoke create on schema app from membership_reader;
