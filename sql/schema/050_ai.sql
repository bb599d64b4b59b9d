/*
 * AI: what the edge's /ext/ai routes cost each organization, and the answers it may reuse.
 *
 * Every call to the provider is metered here, per organization, in tokens: a row of
 * app.ai_usage is made before the call (a reservation of at most as many tokens as the call can
 * use, checked against the month's quota under the organization's lock), then settled with the
 * tokens the provider counted, at most those reserved (what it reported beyond them is kept in
 * reported_tokens, charged to nobody), or marked failed and charged nothing. An identical request
 * (same model, messages and parameters: its SHA-256, request_hash) within the cache's time to
 * live is answered from app.ai_answers without a call and without a charge.
 *
 * No credential is stored here: the provider's key is the edge's setting (OPENAI_API_KEY).
 * No role but the owner has any grant on these tables; the ext and api functions reach them as
 * the session's user, bound by the policies of sql/policies/ai.sql.
 */

/* What became of a metered call: reserved (under way; one left unsettled, its call's end never
   recorded, is charged what it reserved once it lapses, app.ai_reservation_lifetime() after it
   began), answered (charged what the provider counted, at most what was reserved), failed (the
   provider failed or timed out: charged nothing), cached (served from app.ai_answers: charged
   nothing). The comments below said so from migration 0028 on. */
create type app.ai_outcome as enum ('reserved', 'answered', 'failed', 'cached');
comment on type app.ai_outcome is
  'What became of an AI request: reserved (under way, and charged what it reserved once it lapses unsettled), answered (charged), failed or cached (both free).';

create table app.ai_usage (
  id bigint generated always as identity,
  org_id app.org_id not null references app.organizations (id) on delete cascade,
  user_id app.user_id references app.users (id) on delete set null,
  feature text not null constraint ai_usage_feature_shape check (feature ~ '^[a-z][a-z_]{0,39}$'),
  model text not null constraint ai_usage_model_length check (char_length(model) between 1 and 100),
  request_hash bytea not null constraint ai_usage_request_hash_length check (octet_length(request_hash) = 32),
  outcome app.ai_outcome not null default 'reserved',
  reserved_tokens bigint not null
    constraint ai_usage_reserved_tokens_range check (reserved_tokens between 0 and 10000000),
  prompt_tokens bigint not null default 0
    constraint ai_usage_prompt_tokens_range check (prompt_tokens between 0 and 10000000),
  completion_tokens bigint not null default 0
    constraint ai_usage_completion_tokens_range check (completion_tokens between 0 and 10000000),
  failure text constraint ai_usage_failure_shape check (failure ~ '^[a-z_]+\.[a-z_]+$'),
  started_at timestamptz not null default now(),
  settled_at timestamptz,
  -- Added by migration 0024, hence last; without a check, which would have scanned the ledger.
  reported_tokens bigint,
  constraint ai_usage_free_unless_answered check (
    outcome = 'answered' or (prompt_tokens = 0 and completion_tokens = 0)),
  -- Keyed by tenant first, so that the ledger can be distributed by org_id (docs/deployment.md).
  constraint ai_usage_pkey primary key (org_id, id)
);
/* The edge settles a reservation by its number alone. */
create index ai_usage_id_idx on app.ai_usage (id);
/* The month's requests of an organization: those answered from the cache are counted from it
   once, for a month app.ai_cached_calls holds no count of (app.ai_cached_calls_in_ledger). */
create index ai_usage_org_id_started_at_idx on app.ai_usage (org_id, started_at);
/* The month's tokens of an organization, charged and held (app.ai_charges): what the quota
   admits each call by. Only the calls that carry tokens, which the quota bounds; the free ones,
   cached and failed, which only each member's hourly limit bounds, are left out (migration 0032). */
create index ai_usage_charged_org_id_started_at_idx on app.ai_usage (org_id, started_at)
  where outcome in ('answered', 'reserved');
/* The month's failed calls of an organization (api.get_ai_usage), which only the provider's
   failures make (migration 0035). */
create index ai_usage_failed_org_id_started_at_idx on app.ai_usage (org_id, started_at) where outcome = 'failed';
/* A day's charges for the daily metrics (pipeline.org_daily_counts): the calls answered that
   day, and the reservations that lapsed that day. Without them every refresh read the whole
   ledger, which keeps a row of every call (migration 0028). The reservations' index is small:
   a reservation is settled within seconds, and only those left unsettled stay in it. */
create index ai_usage_answered_settled_at_idx on app.ai_usage (settled_at) where outcome = 'answered';
create index ai_usage_reserved_started_at_idx on app.ai_usage (started_at) where outcome = 'reserved';
alter table app.ai_usage enable row level security;
alter table app.ai_usage force row level security;
comment on table app.ai_usage is
  'The AI ledger: one row per request of an organization''s member, with the tokens it was charged.';
comment on column app.ai_usage.id is 'The row''s number; the edge settles a reservation by it.';
comment on column app.ai_usage.org_id is 'The organization charged.';
comment on column app.ai_usage.user_id is 'The member who asked (null once that account is deleted).';
comment on column app.ai_usage.feature is 'What was asked for, e.g. org_summary.';
comment on column app.ai_usage.model is 'The provider''s model.';
comment on column app.ai_usage.request_hash is 'SHA-256 of the request (model, messages, parameters): the cache key.';
comment on column app.ai_usage.outcome is
  'reserved, answered, failed or cached; answered is charged, and reserved once it lapses (app.ai_reservation_lifetime() after started_at, unsettled) is charged reserved_tokens; failed and cached are free.';
comment on column app.ai_usage.reserved_tokens is
  'The most the call could use (prompt and completion), held against the quota while it is reserved.';
comment on column app.ai_usage.prompt_tokens is
  'Prompt tokens charged: those the provider counted, within reserved_tokens (0 unless answered).';
comment on column app.ai_usage.completion_tokens is
  'Completion tokens charged: those the provider counted, within what reserved_tokens leaves after the prompt''s (0 unless answered).';
comment on column app.ai_usage.failure is 'The error code of a failed call, e.g. ai.timeout.';
comment on column app.ai_usage.started_at is 'When it was asked; the month it counts in.';
comment on column app.ai_usage.settled_at is 'When it was answered, failed or served from the cache.';
comment on column app.ai_usage.reported_tokens is
  'Tokens (prompt and completion) the provider reported for an answered call when that was more than reserved_tokens, which is what it was charged instead; null otherwise.';

/* An organization's own monthly token quota, set by an operator; without a row, the database
   setting app.settings.ai_monthly_tokens applies. */
create table app.ai_quotas (
  org_id app.org_id primary key references app.organizations (id) on delete cascade,
  monthly_tokens bigint not null
    constraint ai_quotas_monthly_tokens_range check (monthly_tokens between 0 and 1000000000),
  updated_at timestamptz not null default now()
);
alter table app.ai_quotas enable row level security;
alter table app.ai_quotas force row level security;
comment on table app.ai_quotas is
  'Per-organization AI quotas, over app.settings.ai_monthly_tokens; set by operators (0: no AI).';
comment on column app.ai_quotas.org_id is 'The organization.';
comment on column app.ai_quotas.monthly_tokens is 'Tokens (prompt and completion) it may be charged per calendar month (UTC).';
comment on column app.ai_quotas.updated_at is 'When it was last set.';

/* The requests of an organization answered from the cache, counted by month as they are made
   (ext.ai_reserve), for api.get_ai_usage: each is a row of the ledger too, free, and only each
   member's hourly limit bounds them, so counting the rows read a month of them on every call
   (migration 0034). */
create table app.ai_cached_calls (
  org_id app.org_id not null references app.organizations (id) on delete cascade,
  month_start timestamptz not null,
  calls bigint not null constraint ai_cached_calls_calls_range check (calls >= 0),
  primary key (org_id, month_start)
);
alter table app.ai_cached_calls enable row level security;
alter table app.ai_cached_calls force row level security;
comment on table app.ai_cached_calls is
  'How many requests of each organization were answered from the cache, by calendar month (UTC); the ledger''s cached rows, counted.';
comment on column app.ai_cached_calls.org_id is 'The organization.';
comment on column app.ai_cached_calls.month_start is 'The start of the month (UTC).';
comment on column app.ai_cached_calls.calls is 'Its requests answered from the cache that month.';

/* The response cache: an answer per organization and request, reused until expires_at. */
create table app.ai_answers (
  org_id app.org_id not null references app.organizations (id) on delete cascade,
  request_hash bytea not null constraint ai_answers_request_hash_length check (octet_length(request_hash) = 32),
  model text not null constraint ai_answers_model_length check (char_length(model) between 1 and 100),
  answer text not null constraint ai_answers_answer_length check (char_length(answer) between 1 and 20000),
  created_at timestamptz not null default now(),
  expires_at timestamptz not null,
  primary key (org_id, request_hash)
);
alter table app.ai_answers enable row level security;
alter table app.ai_answers force row level security;
comment on table app.ai_answers is
  'Answers of the AI provider, by organization and request hash, reused without charge until they expire.';
comment on column app.ai_answers.org_id is 'The organization whose request it answered.';
comment on column app.ai_answers.request_hash is 'SHA-256 of the request (model, messages, parameters).';
comment on column app.ai_answers.model is 'The model that answered.';
comment on column app.ai_answers.answer is 'The answer''s text.';
comment on column app.ai_answers.created_at is 'When the provider answered.';
comment on column app.ai_answers.expires_at is 'From then on it is not reused (app.settings.ai_cache_seconds after created_at).';

/* What api.get_ai_usage returns: this month's spend against the quota. Integers, as the
   generated clients read them as numbers: a quota is at most 10^9 tokens, and a month's charge
   stays below the quota plus one call's worth (at most 10^7 tokens), far from 2^31. */
create type api.ai_usage as (
  org_id app.org_id,
  month_start timestamptz,
  quota_tokens integer,
  used_tokens integer,
  reserved_tokens integer,
  calls integer,
  cached_calls integer,
  failed_calls integer
);
comment on type api.ai_usage is 'An organization''s AI spend in the current calendar month (UTC).';
comment on column api.ai_usage.org_id is 'The organization. @notnull';
comment on column api.ai_usage.month_start is 'The start of the month counted (UTC). @notnull';
comment on column api.ai_usage.quota_tokens is 'Tokens it may be charged this month. @notnull';
comment on column api.ai_usage.used_tokens is 'Tokens charged this month (prompt and completion). @notnull';
comment on column api.ai_usage.reserved_tokens is 'Tokens held for calls under way. @notnull';
comment on column api.ai_usage.calls is 'Calls answered by the provider this month. @notnull';
comment on column api.ai_usage.cached_calls is 'Requests answered from the cache this month (free). @notnull';
comment on column api.ai_usage.failed_calls is 'Calls the provider failed this month (free). @notnull';
