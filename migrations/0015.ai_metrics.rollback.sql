-- rollback of ai_metrics
set local lock_timeout = '5s';
set local statement_timeout = '60s';

alter table analytics.org_daily_metrics drop column ai_tokens;
