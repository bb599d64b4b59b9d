/* Declines an invitation with the token from the mail (the invited account only). Under the
   organization's lock, as accepting and revoking it are, with the caller's session read again
   once it is held: a decline that waited while the session was revoked (a stolen one cut off)
   went through a moment after. */
create function api.decline_invitation(token text) returns void
language plpgsql volatile security definer set search_path = ''
as $$
declare
  v_user app.user_id := auth.require_account();
  v_invitation app.invitations;
begin
  v_invitation := app.presented_invitation(decline_invitation.token);
  perform app.lock_org(v_invitation.org_id);
  perform auth.require_live_session();
  -- Expired by the clock once the lock is held, as api.accept_invitation judges it.
  update app.invitations i set declined_at = pg_catalog.now()
   where i.id = v_invitation.id and i.accepted_at is null and i.declined_at is null and i.revoked_at is null
     and i.expires_at > pg_catalog.clock_timestamp();
  if not found then
    perform util.raise_error(400, 'invitation.invalid', 'This invitation is unknown, used, revoked or expired.');
  end if;
  perform app.org_audit(v_invitation.org_id, 'org.invitation_declined', v_invitation.id,
    pg_catalog.jsonb_build_object('user_id', v_user));
end
$$;

comment on function api.decline_invitation(text) is
  'Declines the invitation. Errors: 401 auth.not_signed_in, 400 invitation.invalid, 403 invitation.wrong_account, 500 server.invalid_setting.
@arg token text';
