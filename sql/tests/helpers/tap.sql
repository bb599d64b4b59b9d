/*
 * Schema tap: what the pgTAP tests in sql/tests share, and nothing of the application's.
 * ops/run_tests.py installs this file into its pgTAP database after `create extension pgtap`
 * and before pg_prove runs the tests; by hand, run it first (docs/testing.md). It never is
 * part of a migrated database: migrations and the stateless layer do not know it.
 *
 * Fixtures have names: tap.fix keeps a value (an id, a token) under a name for the test's
 * transaction, which rolls it back with the rest; tap.id reads it back; in the SQL that tap.call
 * runs, `{name}` stands for it.
 *
 *   tap.fix(name, value)            keep value under name
 *   tap.id(name)                    the value kept under name (an error if there is none)
 *   tap.fill(sql)                   sql with each {name} of a fixture replaced by its value
 *   tap.make_users(names)           users n (email n@example.com, display name n), kept under n
 *   tap.make_org(name, members)     organization `name` with members {"user": "role"}, kept under name
 *   tap.become(user)                for the rest of the transaction, what the pre-request makes of
 *                                   a valid session of user: app.user_id and role authenticated
 *                                   (null: no session, web_anon); no app.session_id (a user
 *                                   acting without a session, as the operators' tools do)
 *   tap.outcome(sql)                run sql as it is, keep its effects; answer 'ok',
 *                                   '<status> <code>' of a coded error (with ' (Retry-After: N)'
 *                                   when it carries that header), or '<sqlstate> <message>'
 *   tap.call(user, sql)             tap.outcome of tap.fill(sql) run as user (null: anonymous);
 *                                   then the identity it was called with again
 *   tap.call_undone(user, sql)      what tap.call answers, its effects undone
 *   tap.call_with_setting(setting, value, user, sql)
 *                                   what tap.call answers while app.settings.<setting> is
 *                                   value; the setting then as it was
 *   tap.request(method, cookies, headers)
 *                                   a request as PostgREST starts it, in a transaction of its
 *                                   own: empty local settings, request.*, role web_anon, then
 *                                   auth.pre_request()
 *   tap.cookie(token)               the request cookies of a session token
 *   tap.mailed_token(topic, to, org)
 *                                   the token of the newest outbox message of topic to an
 *                                   address (about fixture org, when given)
 *   tap.blocks(sql)                 how many pages of our tables and indexes (not the
 *                                   catalogs') running tap.fill(sql) fetched (found in shared
 *                                   buffers or read, the functions it calls included): the
 *                                   work of a query, which its data decides and no machine's
 *                                   speed does
 *   tap.blocks_by_relation(sql)     the same pages, by table or index
 *   tap.fewer_blocks(sql, bound, description)
 *                                   the test that tap.blocks(sql) is under bound; when it is
 *                                   not, its diagnostics name the pages by table and index
 *   tap.fix_blocks_by_plan(sql)     tap.blocks(sql) kept under 'custom', and again with its
 *                                   statements' generic plans (as a session's cached plan may
 *                                   become after five calls) under 'generic': what a later count
 *                                   of the same query, more data added, is compared with
 *
 * Everything here runs with the rights of whoever calls it (the tests switch roles), so the
 * schema is open to every role; tables of the application are reached only as the caller may.
 */
drop schema if exists tap cascade;
create schema tap;
comment on schema tap is 'Helpers of the pgTAP tests (sql/tests/helpers/tap.sql); never part of the application.';

create table tap.fixtures (
  name text primary key,
  value text not null
);
comment on table tap.fixtures is 'The values a test keeps under a name; each test''s rows go with its transaction.';

create function tap.fix(p_name text, p_value text) returns void
language sql
as $$ insert into tap.fixtures (name, value) values (p_name, p_value) $$;

create function tap.id(p_name text) returns text
language plpgsql stable
as $$
declare
  v_value text;
begin
  select f.value into v_value from tap.fixtures f where f.name = p_name;
  if not found then
    raise exception 'tap: no fixture named %', coalesce(p_name, 'null');
  end if;
  return v_value;
end
$$;

create function tap.fill(p_sql text) returns text
language plpgsql stable
as $$
declare
  v_sql text := p_sql;
  v_fixture record;
begin
  for v_fixture in select f.name, f.value from tap.fixtures f order by length(f.name) desc, f.name loop
    v_sql := replace(v_sql, '{' || v_fixture.name || '}', v_fixture.value);
  end loop;
  return v_sql;
end
$$;

/* Fixtures straight into the tables. An organization's name is its fixture's with a capital
   (make_org('acme', …) is Acme), its slug the fixture's name (lower-case letters and digits)
   with a suffix like those new organizations get. */
create function tap.make_users(p_names text[]) returns void
language sql
as $$
  with made as (
    insert into app.users (email, display_name)
    select n || '@example.com', n from unnest(p_names) n
    returning id, display_name)
  insert into tap.fixtures (name, value) select display_name, id from made
$$;

create function tap.make_org(p_name text, p_members jsonb) returns void
language sql
as $$
  insert into tap.fixtures (name, value) values (p_name, app.gen_id('org'));
  insert into app.organizations (id, name, slug) values (tap.id(p_name), initcap(p_name), p_name || '-x2k9qm');
  insert into app.memberships (org_id, user_id, role)
  select tap.id(p_name), tap.id(m.key), m.value::app.org_role from jsonb_each_text(p_members) m
$$;

create function tap.become(p_user text) returns void
language plpgsql
as $$
begin
  perform set_config('app.user_id', case when p_user is null then '' else tap.id(p_user) end, true);
  -- Another's session, left by an earlier call (tap.request, an ext function), is not this user's.
  perform set_config('app.session_id', '', true);
  perform set_config('role', case when p_user is null then 'web_anon' else 'authenticated' end, true);
end
$$;

/* What a statement raised: '<status> <code>' of a coded error, with its Retry-After, or with
   p_with_message its message ('<status> <code>: <message>'); else the SQLSTATE and message; 'ok'
   when it raised nothing. */
create function tap.outcome(p_sql text, p_with_message boolean default false) returns text
language plpgsql
as $$
declare
  v_message text;
  v_detail json;
begin
  execute p_sql;
  return 'ok';
exception
  when sqlstate 'PGRST' then
    get stacked diagnostics v_message = message_text, v_detail = pg_exception_detail;
    return (v_detail ->> 'status') || ' ' || (v_message::json ->> 'code')
           || case when p_with_message then ': ' || (v_message::json ->> 'message')
                   else coalesce(' (Retry-After: ' || (v_detail -> 'headers' ->> 'Retry-After') || ')', '') end;
  when others then
    return sqlstate || ' ' || sqlerrm;
end
$$;

create function tap.call(p_user text, p_sql text) returns text
language plpgsql
as $$
declare
  v_user_id text := current_setting('app.user_id', true);
  v_session_id text := current_setting('app.session_id', true);
  v_role text := case when current_user = session_user then 'none' else current_user end;
  v_sql text := tap.fill(p_sql);
  v_outcome text;
begin
  perform tap.become(p_user);
  v_outcome := tap.outcome(v_sql);
  perform set_config('app.user_id', coalesce(v_user_id, ''), true);
  perform set_config('app.session_id', coalesce(v_session_id, ''), true);
  perform set_config('role', v_role, true);
  return v_outcome;
end
$$;

create function tap.call_with_setting(p_setting text, p_value text, p_user text, p_sql text) returns text
language plpgsql
as $$
declare
  v_name text := 'app.settings.' || p_setting;
  v_before text := current_setting(v_name, true);
  v_outcome text;
begin
  perform set_config(v_name, p_value, true);
  v_outcome := tap.call(p_user, p_sql);
  perform set_config(v_name, coalesce(v_before, ''), true);
  return v_outcome;
end
$$;

create function tap.call_undone(p_user text, p_sql text) returns text
language plpgsql
as $$
begin
  raise exception using errcode = 'T0001', message = tap.call(p_user, p_sql);
exception when sqlstate 'T0001' then
  return sqlerrm;
end
$$;

/* PostgREST runs each request in a transaction of its own, whose local settings start empty. */
create function tap.request(p_method text, p_cookies jsonb, p_headers jsonb default '{}') returns void
language plpgsql
as $$
begin
  reset role;
  perform set_config(setting, '', true)
     from unnest(array['app.user_id', 'app.session_id', 'app.request_id', 'response.headers']) setting;
  perform set_config('request.method', p_method, true);
  perform set_config('request.headers', (jsonb_build_object('content-type', 'application/json') || p_headers)::text, true);
  perform set_config('request.cookies', coalesce(p_cookies, '{}')::text, true);
  set local role web_anon;
  perform auth.pre_request();
end
$$;

/* Under the name the pre-request reads (auth.session_cookie_name: __Host- prefixed unless
   app.settings.cookie_insecure is 1). */
create function tap.cookie(p_token text) returns jsonb
language sql stable security definer set search_path = ''
return pg_catalog.jsonb_build_object(auth.session_cookie_name(), p_token);

create function tap.mailed_token(p_topic text, p_to text, p_org text default null) returns text
language sql stable
as $$
  select o.payload ->> 'token' from app.outbox o
   where o.topic = p_topic and o.payload ->> 'to' = p_to
     and (p_org is null or o.payload ->> 'org_id' = tap.id(p_org))
   order by o.created_at desc, o.id desc
   limit 1
$$;

/* The pages of each of our tables and indexes (every schema but the catalogs') this transaction
   has fetched, read or found in the buffers. tap.blocks counts their growth, not the buffers of
   the run's plan: those counted what a function's run read of the catalogs to plan its
   statements again (hundreds of pages), whenever its cached plans or this session's catalog
   caches had been emptied, by an analyze or by other sessions' catalog changes on a busy server. */
create function tap.pages_fetched() returns table (relation oid, pages bigint)
language sql volatile
as $$
  select c.oid, pg_catalog.pg_stat_get_xact_blocks_fetched(c.oid)
    from pg_catalog.pg_class c
   where c.relnamespace not in ('pg_catalog'::regnamespace, 'information_schema'::regnamespace, 'pg_toast'::regnamespace)
     and c.relkind in ('r', 'i', 'm', 'p', 'I')
$$;

create function tap.blocks_by_relation(p_sql text) returns table (relation text, pages bigint)
language plpgsql
as $$
declare
  v_sql constant text := tap.fill(p_sql);  -- which reads tap.fixtures
  v_before constant jsonb := (select pg_catalog.jsonb_object_agg(f.relation, f.pages) from tap.pages_fetched() f);
begin
  execute 'explain (analyze, costs off, timing off, summary off) ' || v_sql;
  return query
    select f.relation::regclass::text, f.pages - coalesce((v_before ->> f.relation::text)::bigint, 0)
      from tap.pages_fetched() f
     where f.pages > coalesce((v_before ->> f.relation::text)::bigint, 0)
     order by 2 desc, 1;
end
$$;

create function tap.blocks(p_sql text) returns bigint
language sql
as $$ select coalesce(pg_catalog.sum(b.pages), 0)::bigint from tap.blocks_by_relation(p_sql) b $$;

/* A rule that failed only now and then, under load, said only its total; the pages by relation
   tell which table or index the extra pages were of. */
create function tap.fewer_blocks(p_sql text, p_bound bigint, p_description text) returns text
language plpgsql
as $$
declare
  v_pages bigint;
  v_by_relation text;
begin
  select coalesce(pg_catalog.sum(b.pages), 0)::bigint,
         pg_catalog.string_agg(b.relation || ': ' || b.pages, ', ' order by b.pages desc, b.relation)
    into v_pages, v_by_relation
    from tap.blocks_by_relation(p_sql) b;
  return cmp_ok(v_pages, '<', p_bound, p_description)
         || case when v_pages >= p_bound then E'\n' || diag('pages by relation: ' || v_by_relation) else '' end;
end
$$;

create function tap.fix_blocks_by_plan(p_sql text) returns void
language plpgsql
as $$
declare
  v_plan_cache_mode constant text := pg_catalog.current_setting('plan_cache_mode');
begin
  perform tap.fix('custom', tap.blocks(p_sql)::text);
  perform pg_catalog.set_config('plan_cache_mode', 'force_generic_plan', true);
  perform tap.blocks(p_sql);  -- the generic plans made, and not counted
  perform tap.fix('generic', tap.blocks(p_sql)::text);
  perform pg_catalog.set_config('plan_cache_mode', v_plan_cache_mode, true);
end
$$;

grant usage on schema tap to public;
grant select, insert on tap.fixtures to public;
grant execute on all functions in schema tap to public;
