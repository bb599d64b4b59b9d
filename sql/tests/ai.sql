/*
 * AI metering (sql/schema/050_ai.sql, sql/functions/ext/ai.sql): what a caller may read of an
 * organization's activity, the response cache, the ledger's reservations and settlements, the
 * monthly quota and its override, api.get_ai_usage, and the policies that keep each
 * organization's rows to its members. The ext functions are called as the edge calls them, as
 * role edge with a session token. Calls made at once are tests/test_ai_quota.py's.
 */
begin;
select plan(67);

select tap.make_users(array['olga', 'adam', 'mia', 'otto']);
select tap.make_org('acme', '{"olga": "owner", "adam": "admin", "mia": "member"}');
select tap.make_org('globex', '{"otto": "owner"}');
select tap.fix(u || '_token', auth.issue_session(tap.id(u)::app.user_id, null, null) ->> 'token')
  from unnest(array['olga', 'adam', 'mia', 'otto']) u;
/* Event ids are time-ordered to the millisecond: a pause between the two keeps their order. */
insert into app.audit_events (actor_id, action, org_id, target, details)
values (tap.id('olga'), 'org.member_invited', tap.id('acme'), 'inv_x', '{"email": "new@example.com", "role": "admin"}');
select pg_sleep(0.002);
insert into app.audit_events (actor_id, action, org_id, target, details)
values (tap.id('olga'), 'org.member_role_changed', tap.id('acme'), tap.id('mia'), '{"from": "admin", "to": "member"}');

/* Runs sql as role edge (as the edge's /ext routes do) and answers as tap.outcome. */
create function pg_temp.as_edge(p_sql text) returns text
language plpgsql
as $$
declare
  v_outcome text;
begin
  perform set_config('role', 'edge', true);
  v_outcome := tap.outcome(tap.fill(p_sql));
  perform set_config('role', 'none', true);
  return v_outcome;
end
$$;

/* A reservation's id (or the cached answer) as role edge would get it. */
create function pg_temp.reserve(p_user text, p_org text, p_hash text, p_tokens integer default 100)
returns record
language plpgsql
as $$
declare
  v_result record;
begin
  perform set_config('role', 'edge', true);
  select * into v_result from ext.ai_reserve(tap.id(p_user || '_token'), tap.id(p_org), 'org_summary', 'gpt-test',
                                             sha256(convert_to(p_hash, 'UTF8')), p_tokens);
  perform set_config('role', 'none', true);
  return v_result;
end
$$;

/* A refusal ext.ai_reserve answers (rather than raises, so that the request is still counted), as
   tap.outcome shows an error. */
create function pg_temp.refused(p_user text, p_org text, p_hash text, p_tokens integer default 100) returns text
language sql
as $$
  select coalesce((r.refusal ->> 'status') || ' ' || (r.refusal ->> 'code')
                  || coalesce(' (Retry-After: ' || (r.refusal ->> 'retry_after') || ')', ''), 'not refused')
    from pg_temp.reserve(p_user, p_org, p_hash, p_tokens) as r(reservation_id bigint, cached_answer text, refusal jsonb)
$$;

create function pg_temp.ledger(p_org text) returns text
language sql
as $$
  select string_agg(u.outcome || ':' || (u.prompt_tokens + u.completion_tokens) || coalesce(':' || u.failure, ''), ' '
                    order by u.id)
    from app.ai_usage u where u.org_id = tap.id(p_org)
$$;

/* Structure */
select ok(bool_and(c.relrowsecurity and c.relforcerowsecurity), 'Row Level Security is enabled and forced on the AI tables')
  from pg_class c where c.oid in ('app.ai_usage'::regclass, 'app.ai_quotas'::regclass, 'app.ai_answers'::regclass);
select is((select count(*)::int from information_schema.role_table_grants g
            where g.table_schema = 'app' and g.table_name in ('ai_usage', 'ai_quotas', 'ai_answers')
              and g.grantee <> 'blossom_owner'
              and not (g.grantee = 'org_purger' and g.privilege_type = 'DELETE')),
  0, 'no role but the owner has a grant on them (and org_purger, which deletes a deleted organization''s)');
select ok(has_function_privilege('edge', 'ext.ai_reserve(text, text, text, text, bytea, integer)', 'execute')
          and not has_function_privilege('authenticated', 'ext.ai_reserve(text, text, text, text, bytea, integer)', 'execute')
          and not has_function_privilege('web_anon', 'ext.ai_settle(text, bigint, integer, integer, text)', 'execute'),
  'the edge calls the ext functions; the API''s roles cannot');
select is(pg_temp.as_edge('select * from app.ai_usage'), '42501 permission denied for schema app',
  'the edge cannot read the ledger directly');
select is(tap.call('mia', 'select * from app.ai_answers'), '42501 permission denied for schema app',
  'nor can a signed-in caller read the cache');

/* What a caller may read of the activity */
select is(pg_temp.as_edge('select ext.ai_org_activity(''not-a-token'', ''{acme}'')'), '401 auth.not_signed_in',
  'without a valid session the activity is refused');
select is(pg_temp.as_edge('select ext.ai_org_activity(''{otto_token}'', ''{acme}'')'), '404 org.not_found',
  'a non-member is told the organization does not exist');
select is(pg_temp.as_edge('select ext.ai_org_activity(''{otto_token}'', ''org_nonsense'')'), '404 org.not_found',
  'and so is anyone naming a malformed id');
set local role edge;
select tap.fix('olga_activity', ext.ai_org_activity(tap.id('olga_token'), tap.id('acme'))::text);
select tap.fix('mia_activity', ext.ai_org_activity(tap.id('mia_token'), tap.id('acme'))::text);
reset role;
select is(tap.id('olga_activity')::jsonb -> 'recent_events',
  jsonb_build_array(
    jsonb_build_object('at', to_char(now() at time zone 'UTC', 'YYYY-MM-DD HH24:MI'), 'action', 'org.member_role_changed',
                       'by', 'olga', 'role', 'member'),
    jsonb_build_object('at', to_char(now() at time zone 'UTC', 'YYYY-MM-DD HH24:MI'), 'action', 'org.member_invited',
                       'by', 'olga', 'role', 'admin')),
  'an owner''s activity has the audit events, newest first, with who and which role');
select is(tap.id('mia_activity')::jsonb -> 'recent_events', '[]',
  'a plain member''s has none: the audit trail is for owners and admins');
select is((select array_agg(m ->> 'name' order by m ->> 'name') from jsonb_array_elements(tap.id('mia_activity')::jsonb -> 'newest_members') m),
  array['adam', 'mia', 'olga'], 'but a member reads who joined, as in list_members');
select is(tap.id('mia_activity')::jsonb ->> 'organization', 'Acme', 'and the organization''s name');
select ok(tap.id('olga_activity') !~ '@' and tap.id('olga_activity') !~ '(usr|org|inv)_',
  'the activity holds no email address and no id');

/* Reserve, settle, cache */
select ok((select r.reservation_id is not null and r.cached_answer is null
             from pg_temp.reserve('mia', 'acme', 'one', 150) as r(reservation_id bigint, cached_answer text, refusal jsonb)),
  'a member''s first request gets a reservation');
select is(pg_temp.as_edge(format('select ext.ai_settle(''{otto_token}'', %s, 10, 10, ''stolen'')',
            (select max(id) from app.ai_usage))),
  '404 org.not_found', 'another organization''s member cannot settle it');
select is(pg_temp.as_edge(format('select ext.ai_settle(''{mia_token}'', %s, 100, 50, ''Acme is busy.'')',
            (select max(id) from app.ai_usage))), 'ok', 'the member settles it with the provider''s counts');
select is(pg_temp.ledger('acme'), 'answered:150', 'the ledger charges the tokens the provider counted (within the reservation: sql/tests/ai_charge_bound.sql)');
select is(pg_temp.as_edge(format('select ext.ai_settle(''{mia_token}'', %s, 100, 60, ''again'')',
            (select max(id) from app.ai_usage))),
  'ok', 'settled again (the edge''s next try, the first one''s acknowledgement lost), it is not an error');
select is(pg_temp.ledger('acme') || ' ' || (select answer from app.ai_answers where org_id = tap.id('acme')),
  'answered:150 Acme is busy.', 'but a reservation is settled once');
select is((select r.cached_answer from pg_temp.reserve('adam', 'acme', 'one') as r(reservation_id bigint, cached_answer text, refusal jsonb)),
  'Acme is busy.', 'the same request again is answered from the cache, for any member');
select is(pg_temp.ledger('acme'), 'answered:150 cached:0', 'and charged nothing');
select ok((select r.cached_answer is null from pg_temp.reserve('otto', 'globex', 'one') as r(reservation_id bigint, cached_answer text, refusal jsonb)),
  'another organization''s identical request does not see the answer');
select is(pg_temp.as_edge('select ext.ai_reserve(''{otto_token}'', ''{acme}'', ''org_summary'', ''gpt-test'', sha256(''one''), 1)'),
  '404 org.not_found', 'nor can its member reserve in Acme');
update app.ai_answers set expires_at = now() - interval '1 second' where org_id = tap.id('acme');
select ok((select r.reservation_id is not null from pg_temp.reserve('mia', 'acme', 'one') as r(reservation_id bigint, cached_answer text, refusal jsonb)),
  'an expired answer is not reused: the request is reserved again');
select is(pg_temp.as_edge(format('select ext.ai_release(''{mia_token}'', %s, ''ai.timeout'')',
            (select max(id) from app.ai_usage where org_id = tap.id('acme')))), 'ok', 'the member releases it when the call fails');
select is(pg_temp.ledger('acme'), 'answered:150 cached:0 failed:0:ai.timeout', 'a failed call is charged nothing');
set local app.settings.ai_cache_seconds = '60';
select ok((select r.reservation_id is not null from pg_temp.reserve('mia', 'acme', 'one') as r(reservation_id bigint, cached_answer text, refusal jsonb)),
  'reserved again');
select is(pg_temp.as_edge(format('select ext.ai_settle(''{mia_token}'', %s, 1, 1, ''Fresh.'')',
            (select max(id) from app.ai_usage where org_id = tap.id('acme')))), 'ok', 'and settled');
select is((select expires_at - created_at from app.ai_answers where org_id = tap.id('acme')), interval '60 seconds',
  'the answer is kept app.settings.ai_cache_seconds, replacing the expired one');
reset app.settings.ai_cache_seconds;

/* The quota */
set local app.settings.ai_monthly_tokens = '1000';
select ok((select r.reservation_id is not null from pg_temp.reserve('mia', 'acme', 'two', 900) as r(reservation_id bigint, cached_answer text, refusal jsonb)),
  'with 152 of 1000 tokens charged, a call reserving 900 is admitted');
select is(pg_temp.refused('adam', 'acme', 'three', 10),
  '429 ai.quota_exceeded (Retry-After: '
    || ceil(extract(epoch from date_trunc('month', now(), 'UTC') + interval '1 month' - now()))::bigint || ')',
  'the next is refused while 152 charged and 900 reserved hold the quota, until the next month (UTC)');
select is(pg_temp.ledger('acme'), 'answered:150 cached:0 failed:0:ai.timeout answered:2 reserved:0',
  'a refused request leaves no row');
select ok((select r.cached_answer = 'Fresh.' from pg_temp.reserve('adam', 'acme', 'one') as r(reservation_id bigint, cached_answer text, refusal jsonb)),
  'a cached answer is still served over the quota: it costs nothing');
update app.ai_usage set started_at = now() - interval '11 minutes' where outcome = 'reserved' and org_id = tap.id('acme');
select is((select (u.used_tokens, u.reserved_tokens)::text from app.ai_usage_view(tap.id('acme')) u), '(1052,0)',
  'a reservation never settled is held no more after 10 minutes, and charged what it reserved: its call was made, what it cost unknown to the ledger');
delete from app.ai_usage where outcome = 'reserved' and org_id = tap.id('acme');
select ok((select r.reservation_id is not null from pg_temp.reserve('adam', 'acme', 'three', 10) as r(reservation_id bigint, cached_answer text, refusal jsonb)),
  'with it gone (an operator''s reconciliation), the quota admits calls again');
select is(pg_temp.as_edge('select ext.ai_reserve(''{otto_token}'', ''{globex}'', ''org_summary'', ''gpt-test'', sha256(''four''), 10)'),
  'ok', 'another organization''s quota is its own');
insert into app.ai_quotas (org_id, monthly_tokens) values (tap.id('globex'), 0);
select is(pg_temp.refused('otto', 'globex', 'five', 10),
  '429 ai.quota_exceeded (Retry-After: '
    || ceil(extract(epoch from date_trunc('month', now(), 'UTC') + interval '1 month' - now()))::bigint || ')',
  'an organization''s own quota (app.ai_quotas) overrides the setting: 0 is no AI');
select is((select count(*)::int from app.rate_limit_hits where kind = 'ai.user' and key = tap.id('otto')), 3,
  'a request refused for the quota counts against the member''s hourly limit, as an answered one: the refusal is a result, not an error that undid the count (repeated without limit, each read the organization''s activity and summed its ledger)');
/* The quota starts again at the start of next month in UTC, whatever the session's time zone (a
   server's, which initdb takes from the machine). In a made-up zone five hours west of UTC whose
   summer time begins between this month's start and the next, a month added on its wall clock
   ended elsewhere than at the next month's start in UTC: in December, a day early. */
select set_config('timezone', format('XST5XDT,J%s/0,J%s/0', d, (d + 90) % 365 + 1), true)
  from (select extract(doy from date_trunc('month', now(), 'UTC') at time zone 'UTC')::int % 365 + 10 as d) switch;
select is(pg_temp.refused('otto', 'globex', 'five', 10),
  '429 ai.quota_exceeded (Retry-After: '
    || ceil(extract(epoch from (date_trunc('month', now() at time zone 'UTC') + interval '1 month') at time zone 'UTC'
                               - now()))::bigint || ')',
  'the refusal asks to wait until the next month in UTC, whatever the session''s time zone');
reset timezone;
update app.ai_quotas set monthly_tokens = 5000 where org_id = tap.id('globex');
select ok((select r.reservation_id is not null from pg_temp.reserve('otto', 'globex', 'five', 10) as r(reservation_id bigint, cached_answer text, refusal jsonb)),
  'and a larger one lets it past the database''s 1000');
update app.ai_usage set started_at = date_trunc('month', now(), 'UTC') - interval '1 second'
 where org_id = tap.id('acme') and outcome = 'answered' and prompt_tokens = 100;
select is((select used_tokens from app.ai_usage_view(tap.id('acme')::app.org_id)), 2,
  'tokens charged last month do not count this month');
reset app.settings.ai_monthly_tokens;

/* api.get_ai_usage */
select is(tap.call('mia', 'select api.get_ai_usage(''{acme}'')'), '403 org.forbidden', 'a plain member cannot read the usage');
select is(tap.call('otto', 'select api.get_ai_usage(''{acme}'')'), '404 org.not_found', 'a non-member is told there is no such organization');
select is(tap.call(null, 'select api.get_ai_usage(''{acme}'')'), '401 auth.not_signed_in', 'an anonymous caller is asked to sign in');
select tap.become('adam');
select is(
  (select (u.quota_tokens, u.used_tokens, u.reserved_tokens, u.calls, u.cached_calls, u.failed_calls)::text
     from api.get_ai_usage(tap.id('acme')) u),
  '(1000000,2,10,1,2,1)', 'an admin reads this month''s quota, tokens charged and held, and calls by outcome');
reset role;

/* The policies, under the functions' own role */
set local role blossom_owner;
do $$ begin perform set_config('app.user_id', tap.id('otto'), true); end $$;
select is((select count(*)::int from app.ai_usage where org_id = tap.id('acme')), 0,
  'a non-member sees none of an organization''s ledger');
select is((select count(*)::int from app.ai_answers where org_id = tap.id('acme')), 0, 'nor its cached answers');
select throws_ok(format($$ insert into app.ai_answers (org_id, request_hash, model, answer, expires_at)
                          values (%L, sha256('one'), 'm', 'planted', now() + interval '1 hour') $$, tap.id('acme')),
  '42501', null, 'nor can they plant an answer in its cache');
select throws_ok(format($$ insert into app.ai_usage (org_id, user_id, feature, model, request_hash, reserved_tokens)
                          values (%L, %L, 'org_summary', 'm', sha256('x'), 0) $$, tap.id('acme'), tap.id('otto')),
  '42501', null, 'or charge it');
do $$ begin perform set_config('app.user_id', tap.id('mia'), true); end $$;
select is((select count(*)::int from app.ai_usage where org_id = tap.id('globex')), 0,
  'and the other way round: a member of Acme sees nothing of Globex''s');
reset role;

/* The call was made: what the provider counted is charged even when the session that asked for
   it ended while it ran (a logout during the call left it uncharged, its reservation lapsing
   after 10 minutes: a quota a month became one every 10 minutes). */
select ok((select r.reservation_id is not null from pg_temp.reserve('mia', 'acme', 'ended', 10) as r(reservation_id bigint, cached_answer text, refusal jsonb)),
  'a call is reserved');
update app.sessions set revoked_at = now() where token_hash = util.token_hash(tap.id('mia_token'));
select is(pg_temp.as_edge(format('select ext.ai_settle(''{mia_token}'', %s, 7, 3, ''Late.'')',
            (select max(id) from app.ai_usage where org_id = tap.id('acme')))), 'ok',
  'its session logged out during the call, it is settled all the same');
select is((select u.outcome || ':' || (u.prompt_tokens + u.completion_tokens) from app.ai_usage u
            where u.id = (select max(id) from app.ai_usage where org_id = tap.id('acme'))), 'answered:10',
  'and charged');
select ok((select r.reservation_id is not null from pg_temp.reserve('adam', 'acme', 'ended too', 10) as r(reservation_id bigint, cached_answer text, refusal jsonb)),
  'another call is reserved');
update app.sessions set expires_at = now() - interval '1 second' where token_hash = util.token_hash(tap.id('adam_token'));
select is(pg_temp.as_edge(format('select ext.ai_release(''{adam_token}'', %s, ''ai.timeout'')',
            (select max(id) from app.ai_usage where org_id = tap.id('acme')))), 'ok',
  'a failed call whose session expired meanwhile is released');
select is(pg_temp.as_edge(format('select ext.ai_settle(%L, %s, 1, 1, ''x'')', repeat('A', 43),
            (select max(id) from app.ai_usage where org_id = tap.id('acme')))), '401 auth.not_signed_in',
  'a token of no session settles nothing');
select is(pg_temp.as_edge('select ext.ai_reserve(''{mia_token}'', ''{acme}'', ''org_summary'', ''gpt-test'', sha256(''later''), 1)'),
  '401 auth.not_signed_in', 'but an ended session reserves nothing new');

/* Each member's own limit on requests (app.settings.ai_calls_per_user_per_hour), counted before
   the cache: cached answers too, so that repeating one request cannot flood the ledger. */
delete from app.rate_limit_hits where kind = 'ai.user';
set local app.settings.ai_calls_per_user_per_hour = '2';
select ok((select r.reservation_id is not null from pg_temp.reserve('olga', 'acme', 'limited', 10) as r(reservation_id bigint, cached_answer text, refusal jsonb)),
  'a member''s first request of the hour is reserved');
select is((select r.cached_answer from pg_temp.reserve('olga', 'acme', 'one') as r(reservation_id bigint, cached_answer text, refusal jsonb)),
  'Fresh.', 'the second is answered from the cache');
select is(pg_temp.as_edge('select ext.ai_reserve(''{olga_token}'', ''{acme}'', ''org_summary'', ''gpt-test'', sha256(''one''), 1)'),
  '429 ai.user_rate_limited (Retry-After: 3600)', 'the third is refused, cached or not, until the first leaves the hour');
select is((select count(*)::int from app.ai_usage where org_id = tap.id('acme') and user_id = tap.id('olga')), 2,
  'and leaves no row in the ledger');
select is((select count(*)::int from app.rate_limit_hits where kind = 'ai.user' and key = tap.id('olga')), 2,
  'nor a hit');
select ok((select r.reservation_id is not null from pg_temp.reserve('otto', 'globex', 'six', 10) as r(reservation_id bigint, cached_answer text, refusal jsonb)),
  'another member''s requests are counted apart');
reset app.settings.ai_calls_per_user_per_hour;

/* The owner deletes the organization while a call is under way: its ledger goes with it, the
   reservation included, and settling or releasing the call finds no such organization (it
   answered 500). */
select ok((select r.reservation_id is not null from pg_temp.reserve('otto', 'globex', 'gone', 10) as r(reservation_id bigint, cached_answer text, refusal jsonb)),
  'a call is reserved');
select tap.fix('gone', (select max(id) from app.ai_usage where org_id = tap.id('globex'))::text);
select is(tap.call('otto', 'select api.delete_organization(''{globex}'')'), 'ok', 'its organization is deleted during the call');
select is(pg_temp.as_edge('select ext.ai_settle(''{otto_token}'', {gone}, 7, 3, ''Late.'')'), '404 org.not_found',
  'settling it finds no such organization');
select is(pg_temp.as_edge('select ext.ai_release(''{otto_token}'', {gone}, ''ai.timeout'')'), '404 org.not_found',
  'nor does releasing it');

select * from finish();
rollback;
