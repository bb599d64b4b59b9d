/*
 * Row Level Security for the organization tables: the isolation boundary between tenants.
 *
 * The api functions run as blossom_owner (SECURITY DEFINER), and RLS is forced, so these
 * policies bind every query those functions make. They are written in terms of the caller of
 * the request through app.my_memberships: the caller's own memberships (below: why it is a
 * view owned by membership_reader). Each policy compares with
 * `array(select org_id from app.my_memberships ...)`: an InitPlan, run once per statement
 * (and only if needed), an index-only scan of (user_id, org_id, role). Postgres never turns a
 * subquery in a policy into a join, and an array here costs less than a hashed subplan.
 *
 * Cost, measured by bench/orgs.py: what RLS adds to these short queries is mostly fixed work
 * per statement (every InitPlan is set up at executor start, run or not, and every function
 * in a policy is permission-checked there). So each policy has at most one subquery, and the
 * caller is named by `(app.current_user_key() collate "C")`, the setting itself: one function,
 * where `(select app.current_user_id())` was an InitPlan of its own whose cast to app.user_id
 * adds four more functions and the domain's regex CHECK. As an index condition it is read
 * once per scan; as a filter, once per row at most, the lookup of a setting. It needs no
 * validation here: auth.pre_request set it from a session row, and '' (signed
 * out) equals no id, as null did. `collate "C"` is the id columns' collation; it keeps the
 * comparison an index condition (without it the comparison fails loudly, for want of one).
 *
 * Reads are scoped to the tenant: a member sees the rows of their organizations and nothing
 * else. Writes also need the role floor (owner/admin); the finer rules (an admin never touches
 * an owner, the last owner stays) live in the functions, under a per-organization lock.
 */

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

/* No subquery in own_rows: Postgres takes any subquery in the policy of a relation it is
   already expanding for a policy as recursion. The comparison is an index condition, evaluated
   once per scan, and each view runs once per statement. */
create policy own_rows on app.memberships for select to membership_reader, org_lister
  using (user_id = (app.current_user_key() collate "C"));
create policy lister_read on app.organizations for select to org_lister using (true);
grant select (org_id, user_id, role) on app.memberships to membership_reader, org_lister;
grant select (id, name, slug, member_count, created_at, updated_at) on app.organizations to org_lister;
grant usage, create on schema app to membership_reader, org_lister;

set local role membership_reader;
create view app.my_memberships as
  select m.org_id, m.role
    from app.memberships m;
comment on view app.my_memberships is
  'The signed-in user''s own memberships (organization, role), by the policy own_rows; read as membership_reader, for the policies.';
revoke all on app.my_memberships from membership_reader;
grant select on app.my_memberships to membership_reader, blossom_owner;

set local role org_lister;
create view app.my_organizations as
  select o.id, o.name, o.slug, m.role, o.member_count, o.created_at, o.updated_at
    from app.memberships m
    join app.organizations o on o.id = m.org_id;
comment on view app.my_organizations is
  'The signed-in user''s organizations with their role, by the policy own_rows on app.memberships; read as org_lister, for api.list_organizations.';
revoke all on app.my_organizations from org_lister;
grant select on app.my_organizations to org_lister, blossom_owner;

set local role blossom_owner;
revoke create on schema app from membership_reader, org_lister;

/* Organizations: members read; owners and admins rename; owners delete; anyone signed in
   creates one (and sees it in the transaction that made it, to become its owner). */
create policy member_read on app.organizations for select to blossom_owner
  using (id = any (array(select mm.org_id from app.my_memberships mm)));
create policy creator_read on app.organizations for select to blossom_owner
  using (created_by = (app.current_user_key() collate "C") and created_at = now());
create policy create_own on app.organizations for insert to blossom_owner
  with check (created_by = (app.current_user_key() collate "C"));
create policy manage on app.organizations for update to blossom_owner
  using (id = any (array(select mm.org_id from app.my_memberships mm where mm.role in ('owner', 'admin'))))
  with check (id = any (array(select mm.org_id from app.my_memberships mm where mm.role in ('owner', 'admin'))));
create policy owner_delete on app.organizations for delete to blossom_owner
  using (id = any (array(select mm.org_id from app.my_memberships mm where mm.role = 'owner')));

/* member_counter: the role of app.tg_memberships__count() alone (sql/functions/app/member_count.sql),
   which adds to and subtracts from member_count what a statement changed in app.memberships.
   It reads and writes any organization's row, because the member joining or leaving may not
   (yet, or any more), but only the columns id and member_count, and only through that trigger. */
create policy member_count_read on app.organizations for select to member_counter using (true);
create policy member_count_upkeep on app.organizations for update to member_counter
  using (true) with check (true);

/* invitation_revoker: the role of app.inviter_may_grant and app.revoke_invitations_beyond_grant
   alone (sql/functions/app/inviter_authority.sql). It reads any membership's role, whether any
   organization exists, and revokes any invitation, because the member whose authority went
   down, or the invitee, may not; only the columns those two functions use. */
create policy inviter_authority_read on app.memberships for select to invitation_revoker using (true);
create policy inviter_authority_read on app.organizations for select to invitation_revoker using (true);
create policy inviter_authority_read on app.invitations for select to invitation_revoker using (true);
create policy inviter_authority_revoke on app.invitations for update to invitation_revoker
  using (true) with check (true);

/* Memberships: the rows of one's organizations (one's own among them, since app.my_memberships
   holds exactly one's own). One joins only as a
   new organization's creator or with a valid invitation; owners and admins change roles and
   remove; anyone removes themselves. */
create policy member_read on app.memberships for select to blossom_owner
  using (org_id = any (array(select mm.org_id from app.my_memberships mm)));
create policy join_self on app.memberships for insert to blossom_owner
  with check (user_id = (app.current_user_key() collate "C") and app.may_join(org_id, role));
create policy manage on app.memberships for update to blossom_owner
  using (org_id = any (array(select mm.org_id from app.my_memberships mm where mm.role in ('owner', 'admin'))))
  with check (org_id = any (array(select mm.org_id from app.my_memberships mm where mm.role in ('owner', 'admin'))));
create policy manage_or_leave on app.memberships for delete to blossom_owner
  using (user_id = (app.current_user_key() collate "C")
         or org_id = any (array(select mm.org_id from app.my_memberships mm where mm.role in ('owner', 'admin'))));

/* Invitations: members of the organization read; owners and admins send and revoke; the holder
   of the token (accept, decline) reads and answers that one invitation. */
create policy member_read on app.invitations for select to blossom_owner
  using (org_id = any (array(select mm.org_id from app.my_memberships mm)));
create policy token_holder on app.invitations for select to blossom_owner
  using (token_hash = (select app.presented_invitation_hash()));
create policy invite on app.invitations for insert to blossom_owner
  with check (org_id = any (array(select mm.org_id from app.my_memberships mm where mm.role in ('owner', 'admin')))
              and invited_by = (app.current_user_key() collate "C"));
create policy answer_or_revoke on app.invitations for update to blossom_owner
  using (org_id = any (array(select mm.org_id from app.my_memberships mm where mm.role in ('owner', 'admin')))
         or token_hash = (select app.presented_invitation_hash()))
  with check (org_id = any (array(select mm.org_id from app.my_memberships mm where mm.role in ('owner', 'admin')))
              or token_hash = (select app.presented_invitation_hash()));
create policy manage_delete on app.invitations for delete to blossom_owner
  using (org_id = any (array(select mm.org_id from app.my_memberships mm where mm.role in ('owner', 'admin'))));

/* Audit events of an organization: only its owners and admins read them. RESTRICTIVE, so it
   holds whatever permissive policy the auth layer has on this table; events without an
   organization (sign-in, ...) are left to those. */
create policy org_events_read on app.audit_events as restrictive for select to blossom_owner
  using (coalesce(org_id = any (array(select mm.org_id from app.my_memberships mm
                                      where mm.role in ('owner', 'admin'))), true));

/* The API: granted to web_anon too, so an anonymous call is answered 401 auth.not_signed_in. */
grant execute on function
  api.create_organization(text),
  api.list_organizations(),
  api.get_organization(text),
  api.update_organization(text, text),
  api.delete_organization(text),
  api.list_members(text),
  api.invite_member(text, text, text),
  api.list_invitations(text),
  api.revoke_invitation(text),
  api.accept_invitation(text),
  api.decline_invitation(text),
  api.change_member_role(text, text, text),
  api.remove_member(text, text),
  api.leave_organization(text),
  api.transfer_ownership(text, text),
  api.list_audit_events(text, text, integer)
  to web_anon, authenticated;
