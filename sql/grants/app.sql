/*
 * Grants on schema app. No login role may touch a table here: the tables are reached through
 * the API and auth functions (which run as their owner) and the policies. The only grants are
 * to the no-login helper roles that nobody can become, each on exactly the columns its one
 * view or function reads or writes (sql/tests/roles.sql states them all).
 */
grant usage on schema app to membership_reader, org_lister, member_counter, invitation_revoker, session_reader;

/* membership_reader and org_lister: their views of the caller's own memberships
   (sql/views/app_my_memberships.sql, app_my_organizations.sql). */
grant select (org_id, user_id, role) on app.memberships to membership_reader, org_lister;
grant select (id, name, slug, member_count, created_at, updated_at) on app.organizations to org_lister;
set local role membership_reader;
grant select on app.my_memberships to membership_reader, blossom_owner;
set local role org_lister;
grant select on app.my_organizations to org_lister, blossom_owner;
set local role blossom_owner;

/* member_counter: the member count trigger (sql/functions/app/member_count.sql), which only
   blossom_owner's triggers may call. */
grant select (id, member_count), update (member_count) on app.organizations to member_counter;
set local role member_counter;
revoke all on function app.tg_memberships__count() from public;
grant execute on function app.tg_memberships__count() to blossom_owner;
set local role blossom_owner;

/* invitation_revoker: the inviter's authority (sql/functions/app/inviter_authority.sql), which
   only the owner's functions may call. */
grant select (org_id, user_id, role) on app.memberships to invitation_revoker;
grant select (id) on app.organizations to invitation_revoker;
grant select (id, org_id, email, role, invited_by, expires_at, accepted_at, declined_at, revoked_at),
      update (revoked_at) on app.invitations to invitation_revoker;
grant execute on function app.may_invite(app.org_role, app.org_role) to invitation_revoker;
set local role invitation_revoker;
revoke all on function
  app.inviter_may_grant(app.org_id, app.user_id, app.org_role),
  app.revoke_invitations_beyond_grant(app.org_id, app.user_id)
  from public;
grant execute on function
  app.inviter_may_grant(app.org_id, app.user_id, app.org_role),
  app.revoke_invitations_beyond_grant(app.org_id, app.user_id)
  to blossom_owner;
set local role blossom_owner;

/* session_reader: the pre-request's view of the presented session
   (sql/views/auth_presented_session.sql); the whole row, which the one rule for a dead session
   (auth.session_is_dead) takes, under the policy presented_only. */
grant select on app.sessions to session_reader;
