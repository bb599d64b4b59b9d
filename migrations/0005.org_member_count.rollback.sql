-- rollback of org_member_count
-- The stateless layer that reads the column (its triggers, app.organization_view) must be the
-- previous release's, re-applied by `just migrate` of that release, before the column goes.
alter table app.organizations drop column if exists member_count;
