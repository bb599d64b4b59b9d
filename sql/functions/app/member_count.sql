/*
 * app.organizations.member_count: how many memberships an organization has, kept here so that
 * list_organizations reads one protected table, not a count of app.memberships per row (a
 * second table under its own policy, whose InitPlan costs more than the count itself).
 *
 * Kept by two statement-level triggers on app.memberships (insert, delete; a membership never
 * moves to another organization, tg_memberships__keep_identity refuses that), which add what
 * the statement added and subtract what it removed, in the statement's own transaction. The
 * UPDATE takes the organization row's lock and holds it to commit, so concurrent changes to
 * one organization's memberships apply their deltas one after the other, each on the last
 * committed count (READ COMMITTED re-reads the row after the wait; a stricter isolation level
 * fails the later transaction instead of losing an update). Nothing else needs the
 * per-organization advisory lock (app.lock_org) for the count: where the org functions take
 * it (remove, leave, delete, accept_invitation), it is taken before the membership changes,
 * and the row lock comes after, in that order everywhere (create_organization takes no advisory
 * lock); several organizations in one statement are locked in id order.
 *
 * Why a function owned by member_counter: the member whose membership changes is usually not
 * allowed to update the organization (joining as a member, leaving: RLS gives updates to
 * owners and admins, and a leaver is no member any more). So the count is written as
 * member_counter, a role that cannot log in, is granted the columns id and member_count of
 * app.organizations and nothing else, and has policies on that table for this function only
 * (sql/policies/orgs.sql). The function is SECURITY DEFINER, callable only as a trigger, and
 * changes the count only by the membership rows the statement changed, rows which passed the
 * memberships policies first. It is made here as member_counter so that it owns it (`just
 * migrate` drops it as that role too).
 */
/* Made by its owner, who may create in the schema only for that moment; what it may read and
   write, and who may call it, is in sql/grants/app.sql. */
grant usage, create on schema app to member_counter;
set local role member_counter;

create function app.tg_memberships__count() returns trigger
language plpgsql security definer set search_path = ''
as $$
declare
  v_sign integer := case tg_op when 'INSERT' then 1 when 'DELETE' then -1 end;
  v_org app.org_id;
  v_count integer;
begin
  /* `changed` is the statement's transition table: the new rows on insert, the old on delete. */
  for v_org, v_count in
    select c.org_id, pg_catalog.count(*)::integer from changed c group by c.org_id order by c.org_id
  loop
    update app.organizations o set member_count = o.member_count + v_sign * v_count
     where o.id = v_org;
  end loop;
  return null;
end
$$;

comment on function app.tg_memberships__count() is
  'Trigger: adds the memberships a statement inserted to their organizations'' member_count, subtracts those it deleted.';

set local role blossom_owner;
revoke create on schema app from member_counter;

create trigger count_members_added after insert on app.memberships
  referencing new table as changed
  for each statement execute function app.tg_memberships__count();

create trigger count_members_removed after delete on app.memberships
  referencing old table as changed
  for each statement execute function app.tg_memberships__count();
