-- rollback of orgs
set local lock_timeout = '5s';
set local statement_timeout = '1min';
drop type if exists api.audit_event;
drop type if exists api.invitation;
drop type if exists api.member;
drop type if exists api.organization;
drop index if exists app.audit_events_org_id_id_idx;
drop table if exists app.invitations;
drop table if exists app.memberships;
drop table if exists app.organizations;
drop type if exists app.org_role;
