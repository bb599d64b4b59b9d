-- audit_events_at_index: an index on app.audit_events (at), so that the pipeline's daily metrics
-- (pipeline.org_daily_counts) read the day's events, not the whole trail, which only grows.
-- transactional: false
-- Made concurrently, outside a transaction: the trail takes every login's event while the index
-- is built. So the timeouts are the session's, set back when it is done.

set lock_timeout = '5s';
set statement_timeout = '30min';
create index concurrently if not exists audit_events_at_idx on app.audit_events using btree (at);
reset statement_timeout;
reset lock_timeout;

-- A build that failed (a timeout, a cancel) leaves an invalid index behind, which `if not
-- exists` would take for done when migrating again.
do $$
begin
  if exists (select from pg_catalog.pg_index i
              where i.indexrelid = 'app.audit_events_at_idx'::regclass and not i.indisvalid) then
    raise exception 'app.audit_events_at_idx is invalid (an earlier build of it failed)'
      using hint = 'drop index concurrently app.audit_events_at_idx; then migrate again';
  end if;
end
$$;
