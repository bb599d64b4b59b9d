-- ai_daily_reads: partial indexes of the AI ledger for a day's charges, and its comments made true.
-- pipeline.org_daily_counts reads, for one UTC day, the calls answered that day (by settled_at)
-- and the reservations that lapsed that day (by started_at); app.ai_usage had indexes only on
-- (org_id, started_at) and (id), so every daily refresh read the whole ledger, which keeps a row
-- of every call for ever: a day's refresh read 1,352 pages more once the ledger held 90 days
-- more (sql/tests/pipeline_ai_reads.sql), 5 now. Each arm of the query's OR is served by the
-- index whose predicate is its outcome (a BitmapOr), in a custom plan and in the generic one.
-- The reservations' index is small: a reservation is settled within seconds, and only those
-- left unsettled stay in it.
-- The comments: a reservation left unsettled is charged what it reserved once it lapses
-- (app.ai_usage_view), and the daily metric counts it on the day it lapsed, where they said
-- only answered calls were charged.
-- transactional: false
-- Made concurrently, outside a transaction: every AI call writes the ledger while they are built.
-- A build that failed (a timeout, a cancel) leaves an invalid index of the name; as the migration
-- runs only while it is not recorded as applied, an index of the name is such a leftover, dropped
-- before the build. The comments are set again as they are on a run after such a failure. The
-- timeouts are the session's, set back when it is done.

set lock_timeout = '1min';
set statement_timeout = '30min';
comment on type app.ai_outcome is
  'What became of an AI request: reserved (under way, and charged what it reserved once it lapses unsettled), answered (charged), failed or cached (both free).';
comment on column app.ai_usage.outcome is
  'reserved, answered, failed or cached; answered is charged, and reserved once it lapses (app.ai_reservation_lifetime() after started_at, unsettled) is charged reserved_tokens; failed and cached are free.';
comment on column analytics.org_daily_metrics.ai_tokens is
  'AI tokens charged that day: prompt and completion of the calls answered that day, and the reserved tokens of the reservations that lapsed unsettled that day (cached and failed calls are free).';
drop index concurrently if exists app.ai_usage_answered_settled_at_idx;
create index concurrently if not exists ai_usage_answered_settled_at_idx on app.ai_usage using btree (settled_at)
  where outcome = 'answered';
drop index concurrently if exists app.ai_usage_reserved_started_at_idx;
create index concurrently if not exists ai_usage_reserved_started_at_idx on app.ai_usage using btree (started_at)
  where outcome = 'reserved';
reset statement_timeout;
reset lock_timeout;
