/* An organization's audit trail, newest first (owners and admins). Keyset pagination: pass
   the last id of a page as `before` to get the next one.
   The page is read in the index on (org_id, id), and only there, from its cursor on:
   - The organization is a range of the index bounded on both sides (org_id >= and <= it), not
     an equality, so the order (org_id, id) is one that only this index gives. With
     `org_id = …`, the organization's id was a constant of the order, which the primary key gave
     as well, and where the statistics said most events were the organization's the planner
     walked the whole trail back on it, every tenant's events and everyone's logins, to keep the
     organization's: 60 ms a page where 200,000 newer events were others'.
   - The cursor is a bound of its own on id: the index scan starts at it whatever other condition
     on org_id it has (a policy's `org_id = any (…)` is one). As the row (org_id, id) compared,
     it bounded the start only while no such condition did.
   - The bounds are variables, never expressions: the planner does not know `coalesce(…)` to
     be leakproof, so under the table's row security, in a generic plan (which a session's cached
     plan becomes after five calls where the planner finds it no dearer), it was a filter after
     the policy and a page walked every event of the organization newer than its cursor.
   - No sort (enable_sort off): the planner counts no bound on id after a range on org_id, so it
     costs this index's scan as a walk of all the organization's events, and for a page near the
     organization's oldest, where few events of anyone are older than the cursor, it chose the
     primary key from the cursor back and a sort: every event older than the cursor, anyone's,
     read and sorted for 50 (pgTAP orgs_audit_pages). The index gives the order; nothing here
     ever needs a sort.
   'evt_~' is after every event id (their letters and digits come before '~'). */
create function api.list_audit_events(org_id text, before text default null, "limit" integer default 50)
returns setof api.audit_event
language plpgsql stable security definer set search_path = '' set enable_sort = off
as $$
declare
  v_org app.org_id := util.parse_id(list_audit_events.org_id, 'org')::app.org_id;
  v_before app.event_id;
  v_upper text collate "C" := 'evt_~';
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
    v_upper := v_before;
  end if;
  return query
    select e.id, e.at, e.actor_id, e.action, e.target, e.details
      from app.audit_events e
     where e.org_id >= v_org and e.org_id <= v_org and e.id < v_upper
     order by e.org_id desc, e.id desc
     limit v_limit;
end
$$;

comment on function api.list_audit_events(text, text, integer) is
  'The organization''s audit events, newest first, `limit` (1-200, default 50) before the event id `before`. Errors: 401 auth.not_signed_in, 404 org.not_found, 403 org.forbidden, 422 audit.invalid_limit, 422 audit.invalid_cursor.
@arg org_id app.org_id
@arg before app.event_id?
@arg limit integer';
