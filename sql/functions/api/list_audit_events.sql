/* An organization's audit trail, newest first (owners and admins). Keyset pagination: pass
   the last id of a page as `before` to get the next one. */
create function api.list_audit_events(org_id text, before text default null, "limit" integer default 50)
returns setof api.audit_event
language plpgsql stable security definer set search_path = ''
as $$
declare
  v_org app.org_id := util.parse_id(list_audit_events.org_id, 'org')::app.org_id;
  v_before app.event_id;
  v_limit integer := coalesce(list_audit_events."limit", 50);
begin
  perform auth.require_user();
  perform app.require_role(v_org, '{owner,admin}');
  if v_limit not between 1 and 200 then
    perform util.raise_error(422, 'audit.invalid_limit', 'limit is between 1 and 200.');
  end if;
  if list_audit_events.before is not null then
    v_before := util.parse_id(list_audit_events.before, 'evt')::app.event_id;
    if v_before is null then
      perform util.raise_error(422, 'audit.invalid_cursor', 'before must be the id of an event (evt_...).');
    end if;
  end if;
  return query
    select e.id, e.at, e.actor_id, e.action, e.target, e.details
      from app.audit_events e
     where e.org_id = v_org and (v_before is null or e.id < v_before)
     order by e.id desc
     limit v_limit;
end
$$;

comment on function api.list_audit_events(text, text, integer) is
  'The organization''s audit events, newest first, `limit` (1-200, default 50) before the event id `before`. Errors: 401 auth.not_signed_in, 404 org.not_found, 403 org.forbidden, 422 audit.invalid_limit, 422 audit.invalid_cursor.
@arg org_id app.org_id
@arg before app.event_id?
@arg limit integer';
