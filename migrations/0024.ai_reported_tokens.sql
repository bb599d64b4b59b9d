-- ai_reported_tokens: an AI call is charged at most the tokens it reserved (ext.ai_settle); what
-- the provider reported beyond that is kept apart, for the operators (admin.ai_usage), and the
-- prompt and completion columns say what was charged. A column without a default or a check: no
-- rewrite of the ledger and no scan of it under its lock (ext.ai_settle is its only writer).
set local lock_timeout = '5s';
set local statement_timeout = '1min';
alter table app.ai_usage add column reported_tokens bigint;
comment on column app.ai_usage.reported_tokens is
  'Tokens (prompt and completion) the provider reported for an answered call when that was more than reserved_tokens, which is what it was charged instead; null otherwise.';
comment on column app.ai_usage.prompt_tokens is
  'Prompt tokens charged: those the provider counted, within reserved_tokens (0 unless answered).';
comment on column app.ai_usage.completion_tokens is
  'Completion tokens charged: those the provider counted, within what reserved_tokens leaves after the prompt''s (0 unless answered).';
