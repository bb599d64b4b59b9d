/* Invites an email to an organization: owners with any role, admins as member or admin. The
   token goes only into the outbox (mail.org_invitation); the table keeps its SHA-256. A
   still-open invitation to the same address is replaced, under the organization's lock, so
   that two invitations of one address at once replace each other instead of colliding; only
   one the caller could revoke (api.revoke_invitation's rule: an owner's invitation of an owner
   only by an owner, unless it expired), and each that had not expired is audited as revoked. Each
   sends a mail, so each counts against three quotas (sql/functions/app/rate_limits.sql): the
   sender's, 20 an hour, the organization's, 50 an hour, and the address's in the organization,
   3 an hour (each invitation again replaces the last and mails again), unless the settings say
   otherwise. Not a quota of the address across organizations: one tenant would use it up to
   keep every other from inviting that person, and its Retry-After would tell it who had. */
create function api.invite_member(org_id text, email text, role text) returns api.invitation
language plpgsql volatile security definer set search_path = ''
as $$
declare
  v_user app.user_id := auth.require_user();
  v_org app.org_id := util.parse_id(invite_member.org_id, 'org')::app.org_id;
  v_my_role app.org_role;
  v_role app.org_role;
  v_email app.email;
  v_token text := util.new_token();
  v_invitation app.invitations;
  v_org_name text;
  v_retry integer;
  v_open app.invitation_id;
  v_replaced app.invitation_id;
begin
  -- The arguments are checked before the organization's lock is waited for: a malformed
  -- invitation must hold no connection in the queue for it.
  v_role := app.parse_role(invite_member.role);
  v_email := app.mailable_email(pg_catalog.btrim(invite_member.email));
  if v_email is null then
    perform util.raise_error(422, 'invitation.invalid_email', 'That is not an email address.');
  end if;
  perform app.lock_org_as_member(v_org);
  v_my_role := app.require_role(v_org, '{owner,admin}');
  if not app.may_invite(v_my_role, v_role) then
    perform util.raise_error(403, 'org.forbidden', 'Only an owner may invite an owner.');
  end if;
  -- The address's open invitation, found past the policies (app.open_invitation_of says why:
  -- compared as lower(email) under them, it read every pending invitation of the organization),
  -- then read and revoked by its id as the caller.
  v_open := app.open_invitation_of(v_org, v_email);
  -- Only a live one: an expired invitation of an owner, which no one can accept any more and
  -- api.list_invitations no longer shows, kept an admin from inviting that address for good.
  -- Expired by the clock, the lock held, as api.accept_invitation judges it (one that expired
  -- while this call waited was live by now(), the call's start).
  if v_my_role <> 'owner' and exists (
       select from app.invitations i
        where i.id = v_open and i.role = 'owner'
          and i.accepted_at is null and i.declined_at is null and i.revoked_at is null
          and i.expires_at > pg_catalog.clock_timestamp()) then
    perform util.raise_error(403, 'org.forbidden', 'Only an owner may replace an invitation of an owner.');
  end if;
  if exists (select from app.memberships m join app.users u on u.id = m.user_id
              where m.org_id = v_org and pg_catalog.lower(u.email) = pg_catalog.lower(v_email)) then
    perform util.raise_error(409, 'org.already_member', 'That person is already a member.');
  end if;
  v_retry := greatest(
    app.take_quota('invite.user', v_user, util.limit_setting('invitations_per_user_per_hour', 20), interval '1 hour'),
    app.take_quota('invite.org', v_org, util.limit_setting('invitations_per_org_per_hour', 50), interval '1 hour'),
    app.take_quota('invite.address', v_org || ' ' || pg_catalog.lower(v_email),
                   util.limit_setting('invitations_per_address_per_org_per_hour', 3), interval '1 hour'));
  if v_retry is not null then
    perform util.raise_error(429, 'invitation.rate_limited', 'Too many invitations sent; try again later.', null,
                             pg_catalog.jsonb_build_object('Retry-After', v_retry::text));
  end if;
  -- An expired one is closed too (it holds the address's place among the open ones) but not
  -- audited: nobody could accept it, and the trail said the caller revoked it (an admin, an
  -- owner's invitation of an owner), as api.revoke_invitation no longer does.
  for v_replaced in
    with closed as (
      update app.invitations i set revoked_at = pg_catalog.now()
       where i.id = v_open
         and i.accepted_at is null and i.declined_at is null and i.revoked_at is null
      returning i.id, i.expires_at)
    select closed.id from closed where closed.expires_at > pg_catalog.clock_timestamp()
  loop
    perform app.org_audit(v_org, 'org.invitation_revoked', v_replaced,
      pg_catalog.jsonb_build_object('email', v_email, 'replaced', true));
  end loop;
  insert into app.invitations (org_id, email, role, token_hash, invited_by)
  values (v_org, v_email, v_role, util.token_hash(v_token), v_user)
  returning * into v_invitation;
  select o.name into v_org_name from app.organizations o where o.id = v_org;
  perform app.org_audit(v_org, 'org.member_invited', v_invitation.id,
    pg_catalog.jsonb_build_object('email', v_email, 'role', v_role));
  perform app.org_notify('mail.org_invitation', pg_catalog.jsonb_build_object(
    'to', v_email, 'token', v_token, 'invitation_id', v_invitation.id, 'org_id', v_org,
    'org_name', v_org_name, 'role', v_role, 'invited_by', v_user, 'expires_at', v_invitation.expires_at));
  return (v_invitation.id, v_invitation.org_id, v_invitation.email, v_invitation.role,
          v_invitation.invited_by, v_invitation.created_at, v_invitation.expires_at)::api.invitation;
end
$$;

comment on function api.invite_member(text, text, text) is
  'Invites an email (owner: any role; admin: member or admin); the token is mailed through the outbox. Errors: 401 auth.not_signed_in, 404 org.not_found, 403 org.forbidden, 409 org.already_member, 422 org.invalid_role, 422 invitation.invalid_email, 429 invitation.rate_limited, 500 server.invalid_setting.
@arg org_id app.org_id
@arg email text
@arg role app.org_role';
