-- rollback of ai_reported_tokens
set local lock_timeout = '5s';
set local statement_timeout = '1min';
alter table app.ai_usage drop column reported_tokens;
comment on column app.ai_usage.prompt_tokens is 'Prompt tokens the provider counted (0 unless answered).';
comment on column app.ai_usage.completion_tokens is 'Completion tokens the provider counted (0 unless answered).';
