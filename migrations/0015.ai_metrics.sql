-- ai_metrics: the AI tokens an organization was charged each day, in its daily metrics
-- (sql/schema/040_analytics.sql).
set local lock_timeout = '5s';
set local statement_timeout = '60s';

alter table analytics.org_daily_metrics add column ai_tokens bigint not null default 0
  constraint org_daily_metrics_ai_tokens_not_negative check (ai_tokens >= 0);
comment on column analytics.org_daily_metrics.ai_tokens is
  'AI tokens charged that day (prompt and completion of the calls answered; cached and failed ones are free).';
