-- rollback of organization_deletions
-- An organization its owner deleted that the housekeeping has not purged yet would be, without
-- the column, an organization again: with no member and no one who could delete it, among the
-- operators' organizations and in every day's metrics. It is deleted here whole, every row of it
-- with it, as the release before deleted an organization. A long history may outlast the
-- statement timeout: the rollback then fails, this migration still applied; migrate again, run
-- the housekeeping (`just pipeline-run auth_housekeeping`) until admin.organization_deletions is
-- empty, and roll back then.

set local lock_timeout = '500ms';
set local statement_timeout = '1min';

delete from app.organizations o where o.deleted_at is not null;

alter table app.organizations drop column deleted_at;
