/* An organization's pending invitations (owners and admins), newest first, a page at a time:
   `limit` (1-500, default 100) before the invitation `before` (the last one of the page before),
   as list_members and list_audit_events page theirs. An organization may hold thousands (50
   sent an hour, each pending a week), all of them one answer before.
   The page is read in the index of the open invitations on (org_id, id), from its cursor on, as
   list_audit_events reads its own (and says why the organization is a range, the cursor a bound
   of its own, both variables, and no sort planned): each page read every invitation the
   organization ever sent, accepted ones too, and sorted them. */
create function api.list_invitations(org_id text, before text default null, "limit" integer default 100)
returns setof api.invitation
language plpgsql stable security definer set search_path = '' set enable_sort = off
as $$
declare
  v_org app.org_id := util.parse_id(list_invitations.org_id, 'org')::app.org_id;
  v_limit integer := coalesce(list_invitations."limit", 100);
  v_before app.invitation_id := util.parse_id(list_invitations.before, 'inv')::app.invitation_id;
  v_upper text collate "C" := coalesce(v_before, 'inv_~');  -- 'inv_~' is after every invitation id
begin
  perform auth.require_user();
  perform app.require_role(v_org, '{owner,admin}');
  if v_limit not between 1 and 500 then
    perform util.raise_error(422, 'invitation.invalid_limit', 'limit is between 1 and 500.');
  end if;
  if list_invitations.before is not null and v_before is null then
    perform util.raise_error(422, 'invitation.invalid_cursor', 'before must be the id of an invitation (inv_...).');
  end if;
  return query
    select i.id, i.org_id, i.email::text, i.role, i.invited_by, i.created_at, i.expires_at
      from app.invitations i
     where i.org_id >= v_org and i.org_id <= v_org and i.id < v_upper
       and i.accepted_at is null and i.declined_at is null and i.revoked_at is null
       and i.expires_at > pg_catalog.now()
     order by i.org_id desc, i.id desc
     limit v_limit;
end
$$;

comment on function api.list_invitations(text, text, integer) is
  'The organization''s pending invitations (owner, admin), newest first, a page of `limit` (1-500, default 100) before the invitation `before`. Errors: 401 auth.not_signed_in, 404 org.not_found, 403 org.forbidden, 422 invitation.invalid_limit, 422 invitation.invalid_cursor.
@arg org_id app.org_id
@arg before app.invitation_id?
@arg limit integer';
