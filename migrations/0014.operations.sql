-- operations: one request id from the edge (or a trusted proxy) into audit events and outbox
-- rows (sql/schema/020_auth.sql). The pre-request (or the edge, for its own calls) sets
-- app.request_id; the columns' default records it, so no function that writes them changes.
set local lock_timeout = '5s';
set local statement_timeout = '1min';

-- The column comes null for existing rows, its default follows: neither rewrites the table.
alter table app.audit_events add column request_id text
  constraint audit_events_request_id_shape check (request_id ~ '^[A-Za-z0-9._:/+=-]{1,63}$');
alter table app.audit_events alter column request_id
  set default substring(pg_catalog.current_setting('app.request_id', true) from '^[A-Za-z0-9._:/+=-]{1,63}$');
comment on column app.audit_events.request_id is
  'The request that caused it (app.request_id, set by the pre-request or the edge), as in the logs.';

alter table app.outbox add column request_id text
  constraint outbox_request_id_shape check (request_id ~ '^[A-Za-z0-9._:/+=-]{1,63}$');
alter table app.outbox alter column request_id
  set default substring(pg_catalog.current_setting('app.request_id', true) from '^[A-Za-z0-9._:/+=-]{1,63}$');
comment on column app.outbox.request_id is
  'The request that queued it (app.request_id, set by the pre-request or the edge); its delivery job carries it.';
