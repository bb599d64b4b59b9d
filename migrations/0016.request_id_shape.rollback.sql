-- rollback of request_id_shape: the request ids' default written with {1,63} again.
set local lock_timeout = '5s';
set local statement_timeout = '1min';

alter table app.outbox alter column request_id set default
  substring(pg_catalog.current_setting('app.request_id', true) from '^[A-Za-z0-9._:/+=-]{1,63}$');
alter table app.audit_events alter column request_id set default
  substring(pg_catalog.current_setting('app.request_id', true) from '^[A-Za-z0-9._:/+=-]{1,63}$');
