/*
 * Lint over the catalog, for every table and function there is (not only the ones we know
 * of): Row Level Security on every table of our schemas, enabled, forced and with policies; no
 * table or view in api, and none a request role reaches but through functions; every
 * SECURITY DEFINER function pinned to a search_path no one else can plant in; every function
 * of the API executable by both API roles, unless its comment marks it @internal; nothing of
 * ours granted to PUBLIC (schemas, tables, sequences, functions). First the rule finds nothing in the
 * schema as it is; then it must find each kind of breach, made here and rolled back.
 */
begin;
select plan(2);

create function pg_temp.lint_findings() returns table (rule text, object text)
language sql stable
as $$
  /* Every table of every schema of ours (the owner's, but yoyo's bookkeeping): app holds the
     tables, and one made elsewhere by mistake is no less a table. */
  with ours as (
    select n.oid from pg_namespace n
     where n.nspowner = 'blossom_owner'::regrole and n.nspname <> 'blossom_meta'
  ), tables as (
    select c.oid, c.relrowsecurity, c.relforcerowsecurity from pg_class c
     where c.relnamespace in (select oid from ours) and c.relkind in ('r', 'p')
  )
  select 'rls not enabled', t.oid::regclass::text from tables t where not t.relrowsecurity
  union all
  /* Forced, so that it binds the tables' owner too, which the api functions run as. */
  select 'rls not forced', t.oid::regclass::text from tables t where not t.relforcerowsecurity
  union all
  /* Permissive: restrictive policies alone admit no row, which says nothing was written for it. */
  select 'no policy', t.oid::regclass::text from tables t
   where not exists (select from pg_policy p where p.polrelid = t.oid and p.polpermissive)
  union all
  /* PostgREST serves every table and view of api beside its functions (GET /name), read with the
     view owner's rights: the API is functions only. */
  select 'relation in api', c.oid::regclass::text from pg_class c
   where c.relnamespace = 'api'::regnamespace and c.relkind in ('r', 'p', 'v', 'm', 'f')
  union all
  /* The request roles reach data through functions and policies only; the pre-request reads the
     one view made for it (auth.presented_session, owned by session_reader, under its policy). */
  select distinct 'relation a request role reaches', c.oid::regclass::text from pg_class c
   cross join unnest(array['authenticator', 'web_anon', 'authenticated']) r
   where c.relnamespace in (select oid from ours) and c.relkind in ('r', 'p', 'v', 'm', 'f', 'S')
     and (has_table_privilege(r, c.oid, 'select, insert, update, delete, truncate, references, trigger')
          or has_any_column_privilege(r, c.oid, 'select, insert, update, references'))
     and not (c.oid = 'auth.presented_session'::regclass and r <> 'authenticator'
              and not has_table_privilege(r, c.oid, 'insert, update, delete, truncate, references, trigger'))
  union all
  select 'definer without search_path', p.oid::regprocedure::text from pg_proc p
   where p.prosecdef
     and p.pronamespace not in ('pg_catalog'::regnamespace, 'information_schema'::regnamespace)
     and not exists (select from unnest(p.proconfig) c where c like 'search_path=%')
  union all
  /* A definer's search_path names pg_catalog and schemas of the owner's that no one else may
     create in (pg_temp only last): an operator or function made in any other (public, which is
     the database owner's and, on a server upgraded from Postgres 14, anyone's) would run with
     the definer's rights, as bare operators resolve on the path. */
  select distinct 'definer search_path names a schema others may plant in', p.oid::regprocedure::text
    from pg_proc p
   cross join unnest(p.proconfig) c
   cross join lateral unnest(string_to_array(substr(c, length('search_path=') + 1), ','))
              with ordinality as e (entry, position)
   where p.prosecdef and c like 'search_path=%'
     and p.pronamespace not in ('pg_catalog'::regnamespace, 'information_schema'::regnamespace)
     and btrim(btrim(e.entry), '"') not in ('', 'pg_catalog')
     and case
           when btrim(btrim(e.entry), '"') = 'pg_temp'
             then e.position < cardinality(string_to_array(substr(c, length('search_path=') + 1), ','))
           else not exists (
             select from pg_namespace n
              where n.nspname = btrim(btrim(e.entry), '"') and n.nspowner = 'blossom_owner'::regrole
                and not exists (select from pg_roles o
                                 where not o.rolsuper and o.rolname <> 'blossom_owner'
                                   and has_schema_privilege(o.oid, n.oid, 'create')))
         end
  union all
  /* PUBLIC is every role, the login roles (edge, worker, pipeline, panopticon) and any made later:
     a grant to it reaches past the one list of who may do what (sql/grants/). A function without
     a grant of its own is PUBLIC's to execute, as Postgres makes it; the default privileges
     (sql/roles.sql) and migrate's revokes take that back. pgcrypto's functions are its own. */
  select distinct 'granted to public', o.kind || ' ' || o.name from (
    select 'schema' as kind, n.oid::regnamespace::text as name, n.nspacl as acl,
           acldefault('n', n.nspowner) as fallback, n.oid, 'pg_namespace'::regclass as catalog
      from pg_namespace n where n.oid in (select oid from ours)
    union all
    select case c.relkind when 'S' then 'sequence' else 'relation' end, c.oid::regclass::text,
           c.relacl, acldefault((case c.relkind when 'S' then 's' else 'r' end)::"char", c.relowner),
           c.oid, 'pg_class'::regclass
      from pg_class c where c.relnamespace in (select oid from ours)
       and c.relkind in ('r', 'p', 'v', 'm', 'f', 'S')
    union all
    select 'function', p.oid::regprocedure::text, p.proacl, acldefault('f', p.proowner), p.oid,
           'pg_proc'::regclass
      from pg_proc p where p.pronamespace in (select oid from ours)
  ) o
   cross join aclexplode(coalesce(o.acl, o.fallback)) a
   where a.grantee = 0
     and not exists (select from pg_depend d
                      where d.classid = o.catalog and d.objid = o.oid and d.deptype = 'e')
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
  'every app table has RLS enabled, forced and a permissive policy; every definer function fixes its search_path; every API function is granted to the API roles; nothing is granted to PUBLIC');

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
/* A table outside app is a table too. */
create table auth.lint_elsewhere (id int);
/* A view in api is served by PostgREST beside the functions, with its owner's rights: here every
   account's email, to anyone. */
create view api.lint_directory as select u.id, u.email from app.users u;
grant select on api.lint_directory to web_anon, authenticated;
/* A request role reaching a relation of ours directly, whole or by a column. */
create view util.lint_granted as select 1 as one;
grant select on util.lint_granted to authenticated;
create view util.lint_column_granted as select 1 as one;
grant select (one) on util.lint_column_granted to web_anon;
/* A definer whose search_path names a schema that is not the owner's alone (public is the
   database owner's, and on a server upgraded from Postgres 14 anyone's to create in), or pg_temp
   before the end: an operator or a function made there runs as the definer. */
create function util.lint_public_path() returns int language sql security definer
  set search_path = public, pg_catalog as $$ select 1 $$;
create function util.lint_temp_path() returns int language sql security definer
  set search_path = pg_temp, pg_catalog as $$ select 1 $$;
create function util.lint_pinned() returns int language sql security definer
  set search_path = app, pg_temp as $$ select 1 $$;
/* Made here by the test's role, not the owner, whose default privileges grant PUBLIC nothing:
   each is PUBLIC's to execute until told otherwise, which is not the breach planted above. */
revoke execute on function api.lint_unpinned(), util.lint_public_path(), util.lint_temp_path(),
  util.lint_pinned() from public;
/* Anything of ours granted to PUBLIC, which is every role: a function (the owner's default
   privileges take its implicit grant away, a grant gives it back), a schema, a table. */
create function util.lint_public_function() returns int language sql as $$ select 1 $$;
grant execute on function util.lint_public_function() to public;
grant usage on schema app to public;
create table app.lint_public_table (id int);
alter table app.lint_public_table enable row level security;
alter table app.lint_public_table force row level security;
create policy everyone on app.lint_public_table using (true);
grant select on app.lint_public_table to public;
select results_eq(
  $$ select rule, object from pg_temp.lint_findings() order by rule, object $$,
  $$ values ('api function not granted to the API roles', 'api.lint_ungranted()'),
            ('definer search_path names a schema others may plant in', 'util.lint_public_path()'),
            ('definer search_path names a schema others may plant in', 'util.lint_temp_path()'),
            ('definer without search_path', 'api.lint_unpinned()'),
            ('granted to public', 'function util.lint_public_function()'),
            ('granted to public', 'relation app.lint_public_table'),
            ('granted to public', 'schema app'),
            ('no policy', 'app.lint_open'),
            ('no policy', 'app.lint_unpoliced'),
            ('no policy', 'auth.lint_elsewhere'),
            ('relation a request role reaches', 'api.lint_directory'),
            ('relation a request role reaches', 'app.lint_public_table'),
            ('relation a request role reaches', 'util.lint_column_granted'),
            ('relation a request role reaches', 'util.lint_granted'),
            ('relation in api', 'api.lint_directory'),
            ('rls not enabled', 'app.lint_open'),
            ('rls not enabled', 'auth.lint_elsewhere'),
            ('rls not forced', 'app.lint_open'),
            ('rls not forced', 'app.lint_unforced'),
            ('rls not forced', 'auth.lint_elsewhere') $$,
  'the lint finds every breach: RLS off, RLS not forced, no permissive policy (in any schema of ours), an unpinned definer or one pinned to a schema others may create in, an API function granted to too few, a relation in api, a relation a request role may read or write, anything granted to PUBLIC');

select * from finish();
rollback;
