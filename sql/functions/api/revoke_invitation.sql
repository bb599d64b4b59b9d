/* Revokes a pending invitation (owners and admins of its organization), under the
   organization's lock. */
create function api.revoke_invitation(invitation_id text) returns void
language plpgsql volatile security definer set search_path = ''
as $$
declare
  v_id app.invitation_id := util.parse_id(revoke_invitation.invitation_id, 'inv')::app.invitation_id;
  v_invitation app.invitations;
  v_my_role app.org_role;
begin
  perform auth.require_user();
  select i.* into v_invitation from app.invitations i where i.id = v_id;
  /* Then the organization's lock, as every change to it takes it, and the invitation read
     again: only a member sees it to wait for the lock, and a deletion or a demotion comes
     wholly before or after (one revoked while its organization was deleted answered 409
     invitation.not_pending, of an invitation gone with it); so does a revocation of the
     caller's session (auth.require_live_session). */
  if found then
    perform app.lock_org(v_invitation.org_id);
    perform auth.require_live_session();
    select i.* into v_invitation from app.invitations i where i.id = v_id;
  end if;
  if not found then
    perform util.raise_error(404, 'invitation.not_found', 'No such invitation.');
  end if;
  v_my_role := app.require_role(v_invitation.org_id, '{owner,admin}');
  if v_invitation.role = 'owner' and v_my_role <> 'owner' then
    perform util.raise_error(403, 'org.forbidden', 'Only an owner may revoke an invitation of an owner.');
  end if;
  -- An expired one is no longer pending either: nobody can accept it, list_invitations does not
  -- show it, and the trail recorded the revocation of an invitation that had lapsed. Expired by
  -- the clock once the lock is held, as api.accept_invitation judges it.
  update app.invitations i set revoked_at = pg_catalog.now()
   where i.id = v_id and i.accepted_at is null and i.declined_at is null and i.revoked_at is null
     and i.expires_at > pg_catalog.clock_timestamp();
  if not found then
    perform util.raise_error(409, 'invitation.not_pending', 'The invitation was already accepted, declined or revoked, or it expired.');
  end if;
  perform app.org_audit(v_invitation.org_id, 'org.invitation_revoked', v_id,
    pg_catalog.jsonb_build_object('email', v_invitation.email));
end
$$;

comment on function api.revoke_invitation(text) is
  'Revokes a pending invitation (owner, admin). Errors: 401 auth.not_signed_in, 404 invitation.not_found, 404 org.not_found, 403 org.forbidden, 409 invitation.not_pending, 500 server.invalid_setting.
@arg invitation_id app.invitation_id';
