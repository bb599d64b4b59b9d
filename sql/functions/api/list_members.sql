/* The members of an organization, for its members, a page at a time, in the order they joined
   (their membership ids, made in that order); `limit` (1-500, default 100) after the membership
   `after` (the last one of the page before). Unpaged, an organization of 100,000 members was
   22.5 MB an answer and 1.6 s of PostgREST's work, and three clients asking it at once slowed
   every other tenant's calls tenfold.
   The order is the immutable id, not the role first: a page read after a member's role changed
   skipped or repeated others, and a role's comparison (an enum's) is no index condition under
   the table's row security (it is not leakproof), so every page read all the members before
   it. `after` is compared, not looked up: one who left since is still a place to start after.
   The page is read in the index on (org_id, id), from its cursor on, as list_audit_events reads
   its own (and says why the organization is a range, the cursor a bound of its own, both
   variables, and no sort planned): where most memberships were the organization's, a page of 100 walked every
   organization's memberships in id order on the primary key, 12,000 pages of tables at 20,000
   others; and, the policy's `org_id = any (…)` a condition of the index scan, every page walked
   the organization's memberships before its cursor (9,500 pages at 20,000). */
create function api.list_members(org_id text, after text default null, "limit" integer default 100)
returns setof api.member
language plpgsql stable security definer set search_path = '' set enable_sort = off
as $$
declare
  v_org app.org_id := util.parse_id(list_members.org_id, 'org')::app.org_id;
  v_limit integer := coalesce(list_members."limit", 100);
  v_after app.membership_id := util.parse_id(list_members.after, 'mem')::app.membership_id;
  v_lower text collate "C" := coalesce(v_after, 'mem_');  -- 'mem_' is before every membership id
begin
  perform auth.require_user();
  perform app.require_membership(v_org);
  if v_limit not between 1 and 500 then
    perform util.raise_error(422, 'member.invalid_limit', 'limit is between 1 and 500.');
  end if;
  if list_members.after is not null and v_after is null then
    perform util.raise_error(422, 'member.invalid_cursor', 'after must be the id of a membership (mem_...).');
  end if;
  return query
    select m.id, m.user_id, u.email::text, u.display_name, m.role, m.joined_at
      from app.memberships m
      join app.users u on u.id = m.user_id
     where m.org_id >= v_org and m.org_id <= v_org and m.id > v_lower
     order by m.org_id, m.id
     limit v_limit;
end
$$;

comment on function api.list_members(text, text, integer) is
  'The organization''s members in the order they joined, a page of `limit` (1-500, default 100) after the membership `after`: user id, email, display name, role, joined at. Errors: 401 auth.not_signed_in, 404 org.not_found, 422 member.invalid_limit, 422 member.invalid_cursor.
@arg org_id app.org_id
@arg after app.membership_id?
@arg limit integer';
