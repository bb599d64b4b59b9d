-- rollback of org_member_count
-- The stateless layer that reads the column (its triggers, app.organization_view) must be the
-- previous release's, re-applied by `just migrate` of that release, before the column goes.
set local lock_timeout = '5s';
set local statement_timeout = '1min';
alter table app.organizations drop column if exists member_count;
