/*
 * Lint over the catalog, for every table and function there is (not only the ones we know
 * of): Row Level Security on every app table, enabled, forced and with policies, and every
 * SECURITY DEFINER function pinned to a search_path.
 */
begin;
select plan(4);

select is_empty(
  $$ select c.oid::regclass::text from pg_class c
      where c.relnamespace = 'app'::regnamespace and c.relkind in ('r', 'p') and not c.relrowsecurity $$,
  'every table in app has Row Level Security enabled');
select is_empty(
  $$ select c.oid::regclass::text from pg_class c
      where c.relnamespace = 'app'::regnamespace and c.relkind in ('r', 'p') and not c.relforcerowsecurity $$,
  'every table in app has Row Level Security forced, so it binds the owner too');
select is_empty(
  $$ select c.oid::regclass::text from pg_class c
      where c.relnamespace = 'app'::regnamespace and c.relkind in ('r', 'p')
        and not exists (select from pg_policy p where p.polrelid = c.oid and p.polpermissive) $$,
  'every table in app has at least one permissive policy written for it');
select is_empty(
  $$ select p.oid::regprocedure::text from pg_proc p
      where p.prosecdef
        and p.pronamespace not in ('pg_catalog'::regnamespace, 'information_schema'::regnamespace)
        and not exists (select from unnest(p.proconfig) c where c like 'search_path=%') $$,
  'every SECURITY DEFINER function fixes its search_path');

select * from finish();
rollback;
