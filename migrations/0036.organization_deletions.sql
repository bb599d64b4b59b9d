-- organization_deletions: when an owner deleted an organization (api.delete_organization), which
-- from then on is out of every reader's sight while the hourly housekeeping purges its rows, a
-- bounded batch at a time, and then it. Deleting the row in the owner's call took every row of it
-- with it (its every invitation and AI request), past the API's statement timeout once its
-- history was long. A column without a default: no rewrite, and the lock only for a moment.

set local lock_timeout = '500ms';
set local statement_timeout = '1min';

alter table app.organizations add column deleted_at timestamp with time zone;

comment on column app.organizations.deleted_at is 'When its owner deleted it; set, it is gone for every reader, and the hourly housekeeping purges its rows, then it.';
