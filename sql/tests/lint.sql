/*
 * Lint over the catalog, for every table and function there is (not only the ones we know
 * of): Row Level Security on every app table, enabled, forced and with policies; every
 * SECURITY DEFINER function pinned to a search_path; every function of the API executable by
 * both API roles, unless its comment marks it @internal. First the rule finds nothing in the
 * schema as it is; then it must find each kind of breach, made here and rolled back.
 */
begin;
select plan(2);

create function pg_temp.lint_findings() returns table (rule text, object text)
language sql stable
as $$
  select 'rls not enabled', c.oid::regclass::text from pg_class c
   where c.relnamespace = 'app'::regnamespace and c.relkind in ('r', 'p') and not c.relrowsecurity
  union all
  /* Forced, so that it binds the tables' owner too, which the api functions run as. */
  select 'rls not forced', c.oid::regclass::text from pg_class c
   where c.relnamespace = 'app'::regnamespace and c.relkind in ('r', 'p') and not c.relforcerowsecurity
  union all
  /* Permissive: restrictive policies alone admit no row, which says nothing was written for it. */
  select 'no policy', c.oid::regclass::text from pg_class c
   where c.relnamespace = 'app'::regnamespace and c.relkind in ('r', 'p')
     and not exists (select from pg_policy p where p.polrelid = c.oid and p.polpermissive)
  union all
  select 'definer without search_path', p.oid::regprocedure::text from pg_proc p
   where p.prosecdef
     and p.pronamespace not in ('pg_catalog'::regnamespace, 'information_schema'::regnamespace)
     and not exists (select from unnest(p.proconfig) c where c like 'search_path=%')
  union all
  /* A forgotten grant: PostgREST would answer 401 42501, and the clients would still offer it.
     A function that is not part of the API's surface says @internal in its comment. */
  select 'api function not granted to the API roles', p.oid::regprocedure::text from pg_proc p
   where p.pronamespace = 'api'::regnamespace
     and coalesce(obj_description(p.oid, 'pg_proc'), '') !~ '(^|[^\w@])@internal\M'
     and not (has_function_privilege('web_anon', p.oid, 'execute')
              and has_function_privilege('authenticated', p.oid, 'execute'))
$$;

select is_empty($$ select * from pg_temp.lint_findings() $$,
  'every app table has RLS enabled, forced and a permissive policy; every definer function fixes its search_path; every API function is granted to the API roles');

/* Each breach, as a migration or a function file could make it. */
create table app.lint_open (id int);
create table app.lint_unforced (id int);
alter table app.lint_unforced enable row level security;
create policy everyone on app.lint_unforced using (true);
create table app.lint_unpoliced (id int);
alter table app.lint_unpoliced enable row level security;
alter table app.lint_unpoliced force row level security;
create policy never on app.lint_unpoliced as restrictive using (false);
create function api.lint_unpinned() returns int language sql security definer as $$ select 1 $$;
grant execute on function api.lint_unpinned() to web_anon, authenticated;
create function api.lint_ungranted() returns int language sql as $$ select 1 $$;
revoke execute on function api.lint_ungranted() from public;
grant execute on function api.lint_ungranted() to authenticated;
create function api.lint_internal() returns int language sql as $$ select 1 $$;
revoke execute on function api.lint_internal() from public;
comment on function api.lint_internal() is 'Not for clients. @internal';
select results_eq(
  $$ select rule, object from pg_temp.lint_findings() order by rule, object $$,
  $$ values ('api function not granted to the API roles', 'api.lint_ungranted()'),
            ('definer without search_path', 'api.lint_unpinned()'),
            ('no policy', 'app.lint_open'),
            ('no policy', 'app.lint_unpoliced'),
            ('rls not enabled', 'app.lint_open'),
            ('rls not forced', 'app.lint_open'),
            ('rls not forced', 'app.lint_unforced') $$,
  'the lint finds every breach: RLS off, RLS not forced, no permissive policy, an unpinned definer, an API function granted to too few');

select * from finish();
rollback;
