/*
 * Row Level Security for the organization tables: the isolation boundary between tenants.
 *
 * The api functions run as blossom_owner (SECURITY DEFINER), and RLS is forced, so these
 * policies bind every query those functions make. They are written in terms of the caller of
 * the request, app.current_user_id(), through app.my_org_ids(roles): an array computed once
 * per statement (the `(select ...)` wrapper makes it an InitPlan) and compared with
 * `org_id = any (...)`, which an index can use.
 *
 * Reads are scoped to the tenant: a member sees the rows of their organizations and nothing
 * else. Writes also need the role floor (owner/admin); the finer rules (an admin never touches
 * an owner, the last owner stays) live in the functions, under a per-organization lock.
 */

/* Organizations: members read; owners and admins rename; owners delete; anyone signed in
   creates one (and sees it in the transaction that made it, to become its owner). */
create policy member_read on app.organizations for select to blossom_owner
  using (id = any ((select app.my_org_ids())::app.org_id[]));
create policy creator_read on app.organizations for select to blossom_owner
  using (created_by = (select app.current_user_id()) and created_at = now());
create policy create_own on app.organizations for insert to blossom_owner
  with check (created_by = (select app.current_user_id()));
create policy manage on app.organizations for update to blossom_owner
  using (id = any ((select app.my_org_ids('{owner,admin}'))::app.org_id[]))
  with check (id = any ((select app.my_org_ids('{owner,admin}'))::app.org_id[]));
create policy owner_delete on app.organizations for delete to blossom_owner
  using (id = any ((select app.my_org_ids('{owner}'))::app.org_id[]));

/* Memberships: one's own rows, and the rows of one's organizations (see app.my_org_ids for
   how the recursion ends). One joins only as a new organization's creator or with a valid
   invitation; owners and admins change roles and remove; anyone removes themselves. */
create policy member_read on app.memberships for select to blossom_owner
  using (user_id = (select app.current_user_id()) or org_id = any ((select app.my_org_ids())::app.org_id[]));
create policy join_self on app.memberships for insert to blossom_owner
  with check (user_id = (select app.current_user_id()) and app.may_join(org_id, role));
create policy manage on app.memberships for update to blossom_owner
  using (org_id = any ((select app.my_org_ids('{owner,admin}'))::app.org_id[]))
  with check (org_id = any ((select app.my_org_ids('{owner,admin}'))::app.org_id[]));
create policy manage_or_leave on app.memberships for delete to blossom_owner
  using (user_id = (select app.current_user_id())
         or org_id = any ((select app.my_org_ids('{owner,admin}'))::app.org_id[]));

/* Invitations: members of the organization read; owners and admins send and revoke; the holder
   of the token (accept, decline) reads and answers that one invitation. */
create policy member_read on app.invitations for select to blossom_owner
  using (org_id = any ((select app.my_org_ids())::app.org_id[]));
create policy token_holder on app.invitations for select to blossom_owner
  using (token_hash = (select app.presented_invitation_hash()));
create policy invite on app.invitations for insert to blossom_owner
  with check (org_id = any ((select app.my_org_ids('{owner,admin}'))::app.org_id[])
              and invited_by = (select app.current_user_id()));
create policy answer_or_revoke on app.invitations for update to blossom_owner
  using (org_id = any ((select app.my_org_ids('{owner,admin}'))::app.org_id[])
         or token_hash = (select app.presented_invitation_hash()))
  with check (org_id = any ((select app.my_org_ids('{owner,admin}'))::app.org_id[])
              or token_hash = (select app.presented_invitation_hash()));
create policy manage_delete on app.invitations for delete to blossom_owner
  using (org_id = any ((select app.my_org_ids('{owner,admin}'))::app.org_id[]));

/* Audit events of an organization: only its owners and admins read them. RESTRICTIVE, so it
   holds whatever permissive policy the auth layer has on this table; events without an
   organization (sign-in, ...) are left to those: for them the comparison is null, hence true.
   (Written with coalesce rather than `org_id is null or`, which the planner turns into a
   BitmapOr of two index scans.) */
create policy org_events_read on app.audit_events as restrictive for select to blossom_owner
  using (coalesce(org_id = any ((select app.my_org_ids('{owner,admin}'))::app.org_id[]), true));

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
