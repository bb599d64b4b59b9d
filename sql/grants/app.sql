/*
 * Grants on schema app. No login role may touch a table here: the tables are reached through
 * the API and auth functions (which run as their owner) and the policies. The only grants are
 * to the no-login helper roles that nobody can become, each on exactly the columns its one
 * view or function reads or writes (sql/tests/roles.sql states them all).
 */
grant usage on schema app to membership_reader, org_lister, member_counter, invitation_revoker, session_reader, org_purger;

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
   only the owner's functions may call; and a deleted account's invitations, revoked without
   their sender (app.revoke_invitations_of_account). */
grant select (org_id, user_id, role) on app.memberships to invitation_revoker;
grant select (id, deleted_at) on app.organizations to invitation_revoker;
grant select (id, org_id, email, role, invited_by, expires_at, accepted_at, declined_at, revoked_at),
      update (revoked_at, invited_by) on app.invitations to invitation_revoker;
grant execute on function app.may_invite(app.org_role, app.org_role) to invitation_revoker;
/* And the owners of a deleted account's organizations (sql/functions/app/account_deletion.sql):
   the organizations' names for the refusal, the users' ids for the accounts still there. */
grant select (name) on app.organizations to invitation_revoker;
grant select (id) on app.users to invitation_revoker;
set local role invitation_revoker;
revoke all on function
  app.organizations_of_account(app.user_id),
  app.organizations_owned_alone(app.user_id),
  app.owns_an_organization(app.user_id),
  app.inviter_may_grant(app.org_id, app.user_id, app.org_role),
  app.revoke_invitations_beyond_grant(app.org_id, app.user_id),
  app.revoke_invitations_of_account(app.user_id),
  app.organization_exists(app.org_id),
  app.invitation_is_open(text),
  app.open_invitation_of(app.org_id, text),
  app.close_expired_invitations()
  from public;
grant execute on function
  app.organizations_of_account(app.user_id),
  app.organizations_owned_alone(app.user_id),
  app.owns_an_organization(app.user_id),
  app.inviter_may_grant(app.org_id, app.user_id, app.org_role),
  app.revoke_invitations_beyond_grant(app.org_id, app.user_id),
  app.revoke_invitations_of_account(app.user_id),
  app.organization_exists(app.org_id),
  app.invitation_is_open(text),
  app.open_invitation_of(app.org_id, text),
  app.close_expired_invitations()
  to blossom_owner;
/* The memberships' rule asks it after a purged organization's row went, whose cascade to its
   memberships (none left) fires the rule as the purge's owner. */
grant execute on function app.organization_exists(app.org_id) to org_purger;
set local role blossom_owner;

/* org_purger: the purge of the organizations their owners deleted
   (sql/functions/app/org_deletion.sql), which only the hourly housekeeping (pipeline.purge_auth,
   the owner's) calls; and the list of them, for the pipeline's export of the daily metrics. It
   reads which were deleted, and deletes their history by the columns that find it; the
   organization's row takes the rest (the foreign keys' cascades). */
grant select (id, deleted_at), delete on app.organizations to org_purger;
grant select (org_id, id), delete on app.invitations, app.ai_usage, app.membership_departures to org_purger;
grant select (org_id, request_hash), delete on app.ai_answers to org_purger;
set local role org_purger;
revoke all on function app.purge_deleted_organizations(integer), pipeline.deleted_organizations() from public;
grant execute on function app.purge_deleted_organizations(integer) to blossom_owner;
grant execute on function pipeline.deleted_organizations() to pipeline;
set local role blossom_owner;

/* session_reader: the pre-request's view of the presented session
   (sql/views/auth_presented_session.sql); the whole row, which the one rule for a dead session
   (auth.session_is_dead) takes, under the policy presented_only. */
grant select on app.sessions to session_reader;

/* admin_reader: the operators' views (sql/views/admin.sql), every tenant's rows under the policies
   admin_read, and only the columns that hold no secret: never a password hash, a token hash, or an
   outbox payload (which carries a mail's token until it is delivered). */
grant select (id, email, display_name, email_verified_at, created_at, updated_at, last_seen_at) on app.users to admin_reader;
grant select (id, name, slug, created_by, created_at, updated_at, member_count, deleted_at) on app.organizations to admin_reader;
grant select (id, org_id, user_id, role, joined_at) on app.memberships to admin_reader;
grant select (id, org_id, created_at, expires_at, accepted_at, declined_at, revoked_at) on app.invitations to admin_reader;
grant select (id, user_id, created_at, last_seen_at, expires_at, revoked_at, client_addr, user_agent)
  on app.sessions to admin_reader;
grant select (id, at, actor_id, action, org_id, target, client_addr, details) on app.audit_events to admin_reader;
grant select (id, topic, created_at, delivered_at, attempts, last_attempt_at, last_error, given_up_at)
  on app.outbox to admin_reader;
grant select (kind, key, at) on app.rate_limit_hits to admin_reader;
grant select (org_id, outcome, prompt_tokens, completion_tokens, reported_tokens, started_at) on app.ai_usage to admin_reader;
grant select (org_id, monthly_tokens) on app.ai_quotas to admin_reader;

/* metrics_reader: the pipeline's daily counts (sql/functions/pipeline/metrics.sql), every
   tenant's rows under the policies metrics_read, only the columns it counts by. */
grant select (id, created_at, deleted_at) on app.organizations to metrics_reader;
grant select (org_id, user_id, joined_at) on app.memberships to metrics_reader;
grant select (org_id, user_id, joined_at, departed_at) on app.membership_departures to metrics_reader;
grant select (org_id, created_at, accepted_at) on app.invitations to metrics_reader;
grant select (actor_id, action, at) on app.audit_events to metrics_reader;
grant select (org_id, outcome, prompt_tokens, completion_tokens, settled_at, reserved_tokens, started_at)
  on app.ai_usage to metrics_reader;
/* A lapsed reservation is charged from the moment it lapses, which the counts take from here. */
grant execute on function app.ai_reservation_lifetime() to metrics_reader;
/* And the weekly Slack digest's recipients: the organization's name, its working channel and the
   sealed bot token, which the pipeline's process opens to post. */
grant select (name) on app.organizations to metrics_reader;
grant select (org_id, channel, bot_token_key_id, bot_token_sealed, broken_at, connected_at) on app.slack_connections to metrics_reader;
