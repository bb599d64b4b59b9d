/* Accepts an invitation with the token from the mail: only the signed-in account whose email
   is the invitation's, once, within 7 days, while its sender may still grant its role. Two
   accepts at once: the second waits for the first's row lock on the invitation, then finds it
   spent (400 invitation.invalid). */
create function api.accept_invitation(token text) returns api.organization
language plpgsql volatile security definer set search_path = ''
as $$
declare
  v_user app.user_id := auth.require_account();
  v_invitation app.invitations;
begin
  v_invitation := app.presented_invitation(accept_invitation.token);
  /* The organization's lock, as inviting, removing and deleting take it: an invitation made
     while this accept runs sees the new member (no open invitation of a member is left), and a
     deletion comes wholly before or after (the two deadlocked, answering 40P01). A revocation
     of the caller's session while it waited comes before too (auth.require_live_session). */
  perform app.lock_org(v_invitation.org_id);
  perform auth.require_live_session();
  /* The trigger on app.memberships revokes an invitation as soon as its sender may no longer
     grant its role (sql/functions/app/inviter_authority.sql). Checked again here, so that one
     that escaped it (sent before the trigger existed, or by an account since deleted) still
     cannot make anyone more than its sender now may. */
  if not app.inviter_may_grant(v_invitation.org_id, v_invitation.invited_by, v_invitation.role) then
    perform util.raise_error(400, 'invitation.invalid', 'This invitation is unknown, used, revoked or expired.');
  end if;
  if app.is_member(v_invitation.org_id) then
    perform util.raise_error(409, 'org.already_member', 'You are already a member of this organization.');
  end if;
  /* Expired by the clock, now that the lock is held: now() and statement_timestamp() are both
     the call's start, before its wait for the lock, and an invitation that expired meanwhile was
     accepted a moment after. */
  update app.invitations i set accepted_at = pg_catalog.now(), accepted_by = v_user
   where i.id = v_invitation.id and i.accepted_at is null and i.declined_at is null and i.revoked_at is null
     and i.expires_at > pg_catalog.clock_timestamp();
  if not found then
    perform util.raise_error(400, 'invitation.invalid', 'This invitation is unknown, used, revoked or expired.');
  end if;
  begin
    insert into app.memberships (org_id, user_id, role) values (v_invitation.org_id, v_user, v_invitation.role);
  exception when unique_violation then
    perform util.raise_error(409, 'org.already_member', 'You are already a member of this organization.');
  end;
  /* The invitation was mailed to this address, and its token came back: the address is
     verified, under the lock auth.verify_email takes (and auth.resend_email_verification before
     it reads the account): a verification mail asked for meanwhile was sent to an address
     verified by then. */
  perform app.lock_rate_key('verify', v_user);
  perform auth.mark_email_verified(v_user, null);
  perform app.org_audit(v_invitation.org_id, 'org.invitation_accepted', v_invitation.id,
    pg_catalog.jsonb_build_object('user_id', v_user, 'role', v_invitation.role));
  perform app.org_notify('notify.member_joined', pg_catalog.jsonb_build_object(
    'org_id', v_invitation.org_id, 'user_id', v_user, 'role', v_invitation.role,
    'invited_by', v_invitation.invited_by));
  return app.organization_view(v_invitation.org_id);
end
$$;

comment on function api.accept_invitation(text) is
  'Joins the organization with the invitation''s role, and verifies the caller''s email. Errors: 401 auth.not_signed_in, 400 invitation.invalid, 403 invitation.wrong_account, 409 org.already_member, 500 server.invalid_setting.
@arg token text';
