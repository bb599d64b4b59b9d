-- rollback of organization_deletions
-- An organization its owner deleted that the housekeeping has not purged yet is, without the
-- column, an organization again, with no member: delete those first, as the database's admin
-- (`delete from app.organizations where deleted_at is not null`), then roll back.

set local lock_timeout = '500ms';
set local statement_timeout = '1min';

alter table app.organizations drop column deleted_at;
