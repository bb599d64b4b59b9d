/*
 * Row Level Security on the AI tables (sql/schema/050_ai.sql). No role but the owner has any
 * grant on them; the ext and api functions reach them as the session's user, and these
 * policies keep each organization's rows to its members, as the organization policies do
 * (sql/policies/orgs.sql says why each compares with an array of the caller's memberships).
 *
 * The ledger: members read their organization's (ext.ai_reserve sums it against the quota;
 * api.get_ai_usage shows it to owners and admins only); a member adds rows for themselves in
 * their organization; a caller settles only their own rows, and reads them to do so even once
 * they have left the organization, since the tokens were spent.
 */
create policy member_read on app.ai_usage for select to blossom_owner
  using (org_id = any (array(select mm.org_id from app.my_memberships mm))
         or user_id = (app.current_user_key() collate "C"));
create policy member_asks on app.ai_usage for insert to blossom_owner
  with check (user_id = (app.current_user_key() collate "C")
              and org_id = any (array(select mm.org_id from app.my_memberships mm)));
create policy own_settle on app.ai_usage for update to blossom_owner
  using (user_id = (app.current_user_key() collate "C"))
  with check (user_id = (app.current_user_key() collate "C"));

/* Quotas are set by operators (as the database's superuser, README "Configuration"); members
   read their organization's. */
create policy member_read on app.ai_quotas for select to blossom_owner
  using (org_id = any (array(select mm.org_id from app.my_memberships mm)));

/* The cache: an organization's answers are its members' alone. */
create policy member_cache on app.ai_answers to blossom_owner
  using (org_id = any (array(select mm.org_id from app.my_memberships mm)))
  with check (org_id = any (array(select mm.org_id from app.my_memberships mm)));

/* The count of the requests answered from the cache: its members read it, and a member's request
   answered from the cache counts itself (ext.ai_reserve). */
create policy member_read on app.ai_cached_calls for select to blossom_owner
  using (org_id = any (array(select mm.org_id from app.my_memberships mm)));
create policy member_counts on app.ai_cached_calls for insert to blossom_owner
  with check (org_id = any (array(select mm.org_id from app.my_memberships mm)));
create policy member_counts_again on app.ai_cached_calls for update to blossom_owner
  using (org_id = any (array(select mm.org_id from app.my_memberships mm)))
  with check (org_id = any (array(select mm.org_id from app.my_memberships mm)));

/* The purge of the organizations their owners deleted (sql/functions/app/org_deletion.sql):
   their ledger and cache, a batch at a time. */
create policy purge_deleted on app.ai_usage to org_purger using (true);
create policy purge_deleted on app.ai_answers to org_purger using (true);
