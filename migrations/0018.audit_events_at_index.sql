-- audit_events_at_index: an index on app.audit_events (at), so that the pipeline's daily metrics
-- (pipeline.org_daily_counts) read the day's events, not the whole trail, which only grows.
-- transactional: false
-- Made concurrently, outside a transaction: the trail takes every login's event while the index
-- is built (the build's lock blocks no write, so it may wait). The timeouts are the session's,
-- set back when it is done. A build that failed (a timeout, a cancel) leaves an invalid index of
-- the name; as the migration runs only while it is not recorded as applied, an index of the name
-- is such a leftover, dropped before the build.

set lock_timeout = '1min';
set statement_timeout = '30min';
drop index concurrently if exists app.audit_events_at_idx;
create index concurrently if not exists audit_events_at_idx on app.audit_events using btree (at);
reset statement_timeout;
reset lock_timeout;
