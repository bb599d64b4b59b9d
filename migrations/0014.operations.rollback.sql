-- rollback of operations
set local lock_timeout = '5s';
set local statement_timeout = '1min';

alter table app.outbox drop column request_id;
alter table app.audit_events drop column request_id;
