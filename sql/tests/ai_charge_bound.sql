/*
 * A call is charged at most the tokens it reserved (ext.ai_settle, sql/functions/ext/ai.sql).
 * The reservation is the most the call can use, and the quota admits calls by it; a provider (or
 * a proxy in between) that reported 10,000,000 tokens of a call that reserved a few hundred had
 * the organization charged all of them, its month's AI spent at once. What the provider reported
 * beyond the reservation is kept apart (app.ai_usage.reported_tokens) for the operators
 * (admin.ai_usage), never charged. The rest of the ledger is sql/tests/ai.sql's.
 */
begin;
select plan(17);

select tap.make_users(array['mia', 'otto']);
select tap.make_org('acme', '{"mia": "member"}');
select tap.make_org('globex', '{"otto": "owner"}');
select tap.fix(u || '_token', auth.issue_session(tap.id(u)::app.user_id, null, null) ->> 'token')
  from unnest(array['mia', 'otto']) u;

/* A reservation of p_tokens for p_user's organization, settled as the edge settles it with the
   counts and the answer given; the reservation's id, kept under p_name. Read as tap.outcome
   answers (or 'refused: <status> <code>' when the call is not admitted). */
create function pg_temp.settled(p_name text, p_user text, p_org text, p_tokens integer, p_prompt integer,
                                p_completion integer, p_answer text default 'An answer.') returns text
language plpgsql
as $$
declare
  v_id bigint;
  v_refusal jsonb;
  v_outcome text;
begin
  perform set_config('role', 'edge', true);
  select r.reservation_id, r.refusal into v_id, v_refusal
    from ext.ai_reserve(tap.id(p_user || '_token'), tap.id(p_org), 'org_summary', 'gpt-test',
                        sha256(convert_to(p_name, 'UTF8')), p_tokens) r;
  perform set_config('role', 'none', true);
  if v_id is null then
    return 'refused: ' || (v_refusal ->> 'status') || ' ' || (v_refusal ->> 'code');
  end if;
  perform tap.fix(p_name, v_id::text);
  perform set_config('role', 'edge', true);
  v_outcome := tap.outcome(pg_catalog.format('select ext.ai_settle(%L, %s, %s, %s, %L)',
                                             tap.id(p_user || '_token'), v_id, coalesce(p_prompt::text, 'null'),
                                             coalesce(p_completion::text, 'null'), p_answer));
  perform set_config('role', 'none', true);
  return v_outcome;
end
$$;

/* Whether p_user's organization admits a call reserving p_tokens (left under way). */
create function pg_temp.admitted(p_user text, p_org text, p_name text, p_tokens integer) returns boolean
language plpgsql
as $$
declare
  v_admitted boolean;
begin
  perform set_config('role', 'edge', true);
  select r.reservation_id is not null into v_admitted
    from ext.ai_reserve(tap.id(p_user || '_token'), tap.id(p_org), 'org_summary', 'gpt-test',
                        sha256(convert_to(p_name, 'UTF8')), p_tokens) r;
  perform set_config('role', 'none', true);
  return v_admitted;
end
$$;

/* A settled row as 'outcome prompt+completion (reported)': what it was charged, and what the
   provider reported beyond its reservation (read as jsonb, so that a ledger without the column
   answers null rather than failing the file). */
create function pg_temp.row(p_name text) returns text
language sql
as $$
  select u.outcome || ' ' || u.prompt_tokens || '+' || u.completion_tokens
         || coalesce(' (reported ' || (pg_catalog.to_jsonb(u) ->> 'reported_tokens') || ')', '')
    from app.ai_usage u where u.id = tap.id(p_name)::bigint
$$;

set local app.settings.ai_monthly_tokens = '1000';

/* Within the reservation: charged what the provider counted. */
select is(pg_temp.settled('fair', 'mia', 'acme', 500, 300, 150), 'ok', 'a call is settled within its reservation');
select is(pg_temp.row('fair'), 'answered 300+150', 'and charged what the provider counted, nothing kept apart');
select is(pg_temp.settled('exact', 'mia', 'acme', 50, 40, 10), 'ok', 'a call that used all it reserved is settled');
select is(pg_temp.row('exact'), 'answered 40+10', 'and charged all of it: the reservation is not exceeded');

/* Past the reservation: charged the reservation, the rest kept apart. */
delete from app.ai_usage where org_id = tap.id('acme');
select is(pg_temp.settled('absurd', 'mia', 'acme', 500, 10000000, 10000000), 'ok',
  'a call the provider says used 20,000,000 tokens is settled');
select is(pg_temp.row('absurd'), 'answered 500+0 (reported 20000000)',
  'but charged the 500 it reserved, prompt tokens first; what was reported is kept apart');
select is((select used_tokens from app.ai_usage_view(tap.id('acme')::app.org_id)), 500,
  'the month''s charge counts the reservation, not the report');
select ok(pg_temp.admitted('mia', 'acme', 'next', 10),
  'so the organization, 500 of its 1000 tokens spent, is still admitted: it was locked out for the month');
select is(pg_temp.settled('long answer', 'mia', 'acme', 400, 300, 5000), 'ok',
  'a call whose answer alone is reported past the reservation is settled');
select is(pg_temp.row('long answer'), 'answered 300+100 (reported 5300)',
  'its prompt charged as counted, its completion up to the reservation');

/* What the operators see. */
set local role panopticon;
select is((select (pg_catalog.to_jsonb(a) ->> 'over_reported')::int from admin.ai_usage a where a.org_id = tap.id('acme')), 2,
  'admin.ai_usage counts the calls reported past their reservation');
select is((select (pg_catalog.to_jsonb(a) ->> 'over_reported_tokens')::int from admin.ai_usage a where a.org_id = tap.id('acme')),
  19999500 + 4900, 'and the tokens reported past them, which nobody was charged');
reset role;

/* The rule is the function's, whoever calls it: no count is read as none. */
select matches(pg_temp.settled('no count', 'otto', 'globex', 100, null, 5),
  '^P0001 token counts of AI reservation \d+ must be whole numbers from 0$',
  'a missing count is refused: least() would have read it as the whole reservation');
select is(pg_temp.row('no count'), 'reserved 0+0', 'and the reservation is left under way');

/* An answer the provider counted, and bills us for, but whose text the edge cannot keep or show
   (none, NUL, over 20,000 characters): settled without one. Released instead, it was charged
   nothing and cached nothing, so the same request was sent and billed again and again while the
   quota never counted it. */
select is(pg_temp.settled('unkept', 'otto', 'globex', 400, 120, 7, null), 'ok',
  'a call answered with no text that can be kept is settled without an answer');
select is(pg_temp.row('unkept'), 'answered 120+7', 'and charged what the provider counted');
select is((select count(*)::int from app.ai_answers a where a.org_id = tap.id('globex')), 0,
  'and nothing is cached: the next asking is a call of its own');

select * from finish();
rollback;
