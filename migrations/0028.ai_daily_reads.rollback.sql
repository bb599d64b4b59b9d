-- rollback of ai_daily_reads
-- transactional: false
-- The comments take a lock of their table (and type), so the timeouts are set, as the session's.

set lock_timeout = '1min';
set statement_timeout = '1min';
drop index concurrently if exists app.ai_usage_reserved_started_at_idx;
drop index concurrently if exists app.ai_usage_answered_settled_at_idx;
comment on column analytics.org_daily_metrics.ai_tokens is
  'AI tokens charged that day (prompt and completion of the calls answered; cached and failed ones are free).';
comment on column app.ai_usage.outcome is 'reserved, answered, failed or cached; only answered is charged.';
comment on type app.ai_outcome is
  'What became of an AI request: reserved (under way), answered (charged), failed or cached (both free).';
reset statement_timeout;
reset lock_timeout;
