/*
 * What ext.ai_reserve reads of an organization's AI ledger (app.ai_usage) to admit a call: the
 * tokens charged this month and held by calls under way, against the quota (app.ai_charges), under
 * the organization's AI lock, before every call not answered from the cache. The ledger keeps a
 * row of every request, the free ones too (cached, failed), which only each member's hourly limit
 * bounds: a month of many members' requests. Those rows were read too, every one, before each
 * call: 2,500 pages at 100,000, seconds at millions, while the organization's other calls waited
 * for the lock and the edge's connections (ten, for every sign-in too) for the call.
 */
begin;
select plan(9);

select tap.make_users(array['keeper', 'crowd']);
select tap.make_org('busy', '{"keeper": "owner", "crowd": "member"}');
select tap.fix('keeper_token', auth.issue_session(tap.id('keeper')::app.user_id, null, null) ->> 'token');
/* A month of free requests (cached, and a few failed: only the provider's failures make those),
   and the calls that carry tokens: answered, one under way, and one that lapsed unsettled. */
insert into app.ai_usage (org_id, user_id, feature, model, request_hash, outcome, reserved_tokens, failure, settled_at)
select tap.id('busy'), tap.id('crowd'), 'org_summary', 'gpt-test', sha256(convert_to('c' || (n % 50), 'UTF8')),
       o, 0, case when o = 'failed' then 'ai.timeout' end, now()
  from generate_series(1, 25000) n,
       lateral (select (case when n % 500 = 0 then 'failed' else 'cached' end)::app.ai_outcome as o) outcome;
insert into app.ai_usage (org_id, user_id, feature, model, request_hash, outcome, reserved_tokens,
                          prompt_tokens, completion_tokens, settled_at)
select tap.id('busy'), tap.id('keeper'), 'org_summary', 'gpt-test', sha256(convert_to('a' || n, 'UTF8')),
       'answered', 1000, 400, 300, now()
  from generate_series(1, 200) n;
insert into app.ai_usage (org_id, user_id, feature, model, request_hash, outcome, reserved_tokens, started_at)
values (tap.id('busy'), tap.id('keeper'), 'org_summary', 'gpt-test', sha256('held'), 'reserved', 900, now()),
       (tap.id('busy'), tap.id('keeper'), 'org_summary', 'gpt-test', sha256('lapsed'), 'reserved', 800,
        greatest(now() - interval '1 hour', app.ai_month_start()));
analyze app.ai_usage;

select is((select (used_tokens, reserved_tokens, calls, cached_calls, failed_calls)::text
             from app.ai_usage_view(tap.id('busy'))),
  (200 * 700 + 800, 900, 200, 24950, 50)::text,
  'the month''s tokens (answered, and lapsed), those held, and the requests by outcome');

set local role edge;
select is((select (r.reservation_id is not null, r.refusal) from ext.ai_reserve(tap.id('keeper_token'), tap.id('busy'),
             'org_summary', 'gpt-test', sha256('first'), 1000) r)::text, '(t,)', 'a call is admitted below the quota');
/* Some 60 pages; the month's rows, which it read every one of, are 632. */
select tap.fewer_blocks($$ select ext.ai_reserve('{keeper_token}', '{busy}', 'org_summary', 'gpt-test', sha256('second'), 1000) $$,
  150, 'reading the calls that carry tokens, not the 25,000 free requests of the month');
set local plan_cache_mode = force_generic_plan;
select tap.fewer_blocks($$ select ext.ai_reserve('{keeper_token}', '{busy}', 'org_summary', 'gpt-test', sha256('third'), 1000) $$,
  150, 'and so under a generic plan');
reset plan_cache_mode;
reset role;

/* Past the quota, a refusal reads no more. */
insert into app.ai_quotas (org_id, monthly_tokens) values (tap.id('busy'), 100000);
set local role edge;
select is((select r.refusal ->> 'code' from ext.ai_reserve(tap.id('keeper_token'), tap.id('busy'),
             'org_summary', 'gpt-test', sha256('fourth'), 1000) r), 'ai.quota_exceeded', 'past the quota, a call is refused');
select tap.fewer_blocks($$ select ext.ai_reserve('{keeper_token}', '{busy}', 'org_summary', 'gpt-test', sha256('fifth'), 1000) $$,
  150, 'having read no more to find it');
reset role;

/* api.get_ai_usage, for the organization's owners and admins, counted the month's requests by
   outcome, and so read every row of the month, the free ones too, on each call: 632 pages here,
   each call unlimited, on one of PostgREST's ten connections. The requests answered from the cache
   are counted as they are made (app.ai_cached_calls, by ext.ai_reserve, under the AI lock), the
   failed ones read in an index of their own (which only the provider's failures fill, a page each
   here at most). */
insert into app.ai_answers (org_id, request_hash, model, answer, expires_at)
values (tap.id('busy'), sha256('asked'), 'gpt-test', 'An answer.', now() + interval '1 hour');
set local role edge;
select is((select r.cached_answer from ext.ai_reserve(tap.id('keeper_token'), tap.id('busy'), 'org_summary', 'gpt-test',
             sha256('asked'), 1000) r), 'An answer.', 'one in the cache is answered from it');
reset role;
select tap.become('keeper');
select is((select (cached_calls, failed_calls)::text from api.get_ai_usage(tap.id('busy'))), (24951, 50)::text,
  'and counted with the month''s others');
select tap.fewer_blocks($$ select api.get_ai_usage('{busy}') $$, 150,
  'the usage reads the month''s count of them, not their 24,950 rows');
reset role;

select * from finish();
rollback;
