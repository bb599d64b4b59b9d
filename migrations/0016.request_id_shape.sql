-- request_id_shape: the outbox's and the audit trail's request ids default to app.request_id
-- tested as a length and `+` instead of `{1,63}`, the same shape, which Postgres's regex engine
-- tested about 20 times slower (sql/schema/020_auth.sql).
set local lock_timeout = '5s';
set local statement_timeout = '1min';

alter table app.outbox alter column request_id set default
  case when pg_catalog.octet_length(pg_catalog.current_setting('app.request_id', true)) <= 63
        and pg_catalog.current_setting('app.request_id', true) ~ '^[A-Za-z0-9._:/+=-]+$'
       then pg_catalog.current_setting('app.request_id', true) end;
alter table app.audit_events alter column request_id set default
  case when pg_catalog.octet_length(pg_catalog.current_setting('app.request_id', true)) <= 63
        and pg_catalog.current_setting('app.request_id', true) ~ '^[A-Za-z0-9._:/+=-]+$'
       then pg_catalog.current_setting('app.request_id', true) end;
