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

/* The policies read the caller's own memberships through the view app.my_memberships
   (sql/views/app_my_memberships.sql says why a view, owned by membership_reader), and
   api.list_organizations through app.my_organizations (owned by org_lister). The policy
   own_rows, below, is what bounds both. */

/* No subquery in own_rows: Postgres takes any subquery in the policy of a relation it is
   already expanding for a policy as recursion. The comparison is an index condition, evaluated
   once per scan, and each view runs once per statement. */
create policy own_rows on app.memberships for select to membership_reader, org_lister
  using (user_id = (app.current_user_key() collate "C"));
create policy lister_read on app.organizations for select to org_lister using (true);

/* Organizations: members read; owners and admins rename; owners delete; anyone signed in
   creates one (and sees it in the transaction that made it, to become its owner). */
create policy member_read on app.organizations for select to blossom_owner
  using (id = any (array(select mm.org_id from app.my_memberships mm)));
create policy creator_read on app.organizations for select to blossom_owner
  using (created_by = (app.current_user_key() collate "C") and created_at = pg_catalog.now());
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
   down, or the invitee, may not; only the columns those two functions use. And, for an
   account's deletion (sql/functions/app/account_deletion.sql), the owners of its organizations,
   their names, and which accounts are still there: the operator's session may see none. */
create policy inviter_authority_read on app.memberships for select to invitation_revoker using (true);
create policy inviter_authority_read on app.organizations for select to invitation_revoker using (true);
create policy inviter_authority_read on app.invitations for select to invitation_revoker using (true);
create policy inviter_authority_read on app.users for select to invitation_revoker using (true);
create policy inviter_authority_revoke on app.invitations for update to invitation_revoker
  using (true) with check (true);

/* org_purger: the role of app.purge_deleted_organizations alone (sql/functions/app/org_deletion.sql),
   which deletes the rows of the organizations their owners deleted, and then those. Its grants
   are the columns that find a row, and delete; the function deletes only deleted organizations'. */
create policy purge_deleted on app.organizations to org_purger using (true);
create policy purge_deleted on app.invitations to org_purger using (true);
create policy purge_deleted on app.membership_departures to org_purger using (true);

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
/* A membership's end is recorded by whoever may end it (app.end_membership); no one reads it but
   the pipeline's counts (sql/policies/analytics.sql). */
create policy record_end on app.membership_departures for insert to blossom_owner
  with check (user_id = (app.current_user_key() collate "C")
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
