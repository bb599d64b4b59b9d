-- ai_failed_calls_index: the month's failed AI calls of an organization, for api.get_ai_usage,
-- which counted them, with the month's every other request, from every row of the month
-- (0034 says why that was too much). Only the provider's failures make such rows.
-- transactional: false
-- Made concurrently, outside a transaction: every AI call writes the ledger while it is built.
-- A build that failed (a timeout, a cancel) leaves an invalid index of the name; as the
-- migration runs only while it is not recorded as applied, an index of the name is such a
-- leftover, dropped before the build. The timeouts are the session's, set back when it is done.

set lock_timeout = '1min';
set statement_timeout = '30min';
drop index concurrently if exists app.ai_usage_failed_org_id_started_at_idx;
create index concurrently if not exists ai_usage_failed_org_id_started_at_idx on app.ai_usage
  using btree (org_id, started_at) where outcome = 'failed';
reset statement_timeout;
reset lock_timeout;
