-- ai_quota_reads: a partial index of the AI ledger for the month's tokens of an organization.
-- ext.ai_reserve compares the tokens an organization was charged this month and holds for calls
-- under way with its quota before every call it does not answer from the cache, under the
-- organization's AI lock, on one of the edge's ten connections; it read every row of the month
-- through (org_id, started_at), and the ledger keeps a row of every request, cached and failed
-- ones too, which cost no tokens and which only each member's hourly limit bounds (30 each): at
-- 100,000 such rows a check read 2,500 pages, and a month of many members' requests made it
-- seconds, every call of the organization waiting behind it (sql/tests/ai_ledger_reads.sql).
-- This index holds only the calls that carry tokens, which the quota bounds.
-- transactional: false
-- Made concurrently, outside a transaction: every AI call writes the ledger while it is built.
-- A build that failed (a timeout, a cancel) leaves an invalid index of the name; as the
-- migration runs only while it is not recorded as applied, an index of the name is such a
-- leftover, dropped before the build. The timeouts are the session's, set back when it is done.

set lock_timeout = '1min';
set statement_timeout = '30min';
drop index concurrently if exists app.ai_usage_charged_org_id_started_at_idx;
create index concurrently if not exists ai_usage_charged_org_id_started_at_idx on app.ai_usage
  using btree (org_id, started_at) where outcome in ('answered', 'reserved');
reset statement_timeout;
reset lock_timeout;
