-- ai_cached_calls: the requests of each organization answered from the AI cache, counted by month.
-- api.get_ai_usage counted the month's requests by outcome from the ledger, a row of every
-- request, the free ones too, which only each member's hourly limit bounds: it read every row of
-- the month on each call (2,500 pages at 100,000, sql/tests/ai_ledger_reads.sql), unlimited, on
-- one of PostgREST's ten connections. ext.ai_reserve counts those answered from the cache here as
-- they are made; a month begun before this table holds no row of an organization, and is counted
-- from the ledger once, at its first such request. The failed calls' index is 0035's.

set local lock_timeout = '500ms';
set local statement_timeout = '1min';

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
