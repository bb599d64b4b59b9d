/*
 * What Postgres lets every role do in any database unless told otherwise, told otherwise: none of
 * it is a grant of ours, so the grants of sql/grants/ cannot take it back. `just migrate` runs
 * this file after sql/roles.sql, every time, as the admin user: in the application's database,
 * and in the server's `postgres` database, which every role may connect to as well (our login
 * roles could write there what they may not write in ours).
 *
 * - Temporary tables and functions: TEMPORARY on the database is PUBLIC's. A role that can only
 *   read (panopticon) could write into a table of its own, or make the function that sees what a
 *   view filters out. Only the owner keeps it (deploy/migrate.py grants it).
 * - Large objects: PUBLIC may create them, a write outside every schema, of any size, that stays
 *   after the session. No role of ours needs one.
 * - Messages in the write-ahead log (pg_logical_emit_message): PUBLIC may write them, of any size,
 *   as often as it likes, in a read-only transaction too (panopticon wrote 48 MB a call). They fill
 *   the disk and every replica's, and no role of ours sends one.
 * - Advisory locks: PUBLIC may take them, and the application serializes on them (app.lock_*: a
 *   rate-limit key, an organization, its AI quota). panopticon held the lock of an address's
 *   logins, and that address could not log in. Only the owner takes them, in the SECURITY
 *   DEFINER functions of auth and api that call app.lock_*.
 * - The lock table (pg_locks, which pg_lock_status reads): PUBLIC may read every session's locks,
 *   of every database of the server. A login holds the lock of the text typed as its address
 *   while bcrypt runs, keyed by an unsalted hash of it (app.lock_rate_key): panopticon read the
 *   key and found the text by a dictionary, text that is often a password typed in the wrong
 *   field. No role of ours reads it; an operator reads it as a superuser.
 *
 * - Default privileges (ALTER DEFAULT PRIVILEGES): every role may set them for itself, rows of the
 *   database's catalog that stay; panopticon, read-only, wrote them. They grant nothing while the
 *   role creates nothing (no role of ours but the owner may), but a role a session can be keeps
 *   none of its own: they are undone here every time, as sql/roles.sql undoes the settings a role
 *   gave itself. The owner's stay (sql/schema/000_database.sql).
 *
 * The functions are the system catalog's, which only a superuser may change: an admin user that
 * is not one (a managed server's) gets a warning that they stay PUBLIC's, and migrates all the
 * same. sql/tests/roles.sql states the result; tests/test_migrate.py tries it as each login role.
 * What is the server's, not a database's, is sql/server.sql's.
 */
do $$
declare
  v_function regprocedure;
begin
  execute pg_catalog.format('revoke temporary on database %I from public', pg_catalog.current_database());
  if not (select r.rolsuper from pg_catalog.pg_roles r where r.rolname = current_user) then
    raise warning 'sql/database.sql, database %: % is not a superuser, so every role may still take advisory locks, read the lock table, create large objects and write messages into the write-ahead log',
      pg_catalog.current_database(), current_user;
    return;
  end if;
  for v_function in
    select p.oid::regprocedure from pg_catalog.pg_proc p
     where p.pronamespace = 'pg_catalog'::regnamespace
       and (p.proname ~ '^pg_(try_)?advisory_'
            or p.proname in ('lo_creat', 'lo_create', 'lo_from_bytea', 'lo_import', 'pg_logical_emit_message',
                            'pg_lock_status'))
  loop
    execute pg_catalog.format('revoke execute on function %s from public', v_function);
  end loop;
  grant execute on function pg_catalog.pg_advisory_xact_lock(bigint) to blossom_owner;
end
$$;

/* Each row undone as the role itself could: every grantee's privileges taken back (a row of one
   schema is then gone), and a row of no schema, which stands in for Postgres's defaults, given
   those again (its owner all, PUBLIC the functions' EXECUTE and the types' USAGE). Only for a
   member of the role, which a superuser is. */
do $$
declare
  v_default record;
  v_objects text;
  v_scope text;
  v_grantee text;
begin
  for v_default in
    select r.rolname as role_name, n.nspname as schema_name, d.defaclobjtype as kind, d.defaclacl as acl
      from pg_catalog.pg_default_acl d
      join pg_catalog.pg_roles r on r.oid = d.defaclrole
      left join pg_catalog.pg_namespace n on n.oid = d.defaclnamespace
     where r.rolname in ('authenticator', 'web_anon', 'authenticated', 'edge', 'worker', 'pipeline', 'panopticon')
  loop
    if not pg_catalog.pg_has_role(v_default.role_name, 'member') then
      raise warning 'sql/database.sql, database %: % is not a member of %, so the default privileges % gave itself stay',
        pg_catalog.current_database(), current_user, v_default.role_name, v_default.role_name;
      continue;
    end if;
    v_objects := case v_default.kind when 'r' then 'tables' when 'S' then 'sequences' when 'f' then 'functions'
                                     when 'T' then 'types' when 'n' then 'schemas' end;
    v_scope := case when v_default.schema_name is null then ''
                    else pg_catalog.format('in schema %I', v_default.schema_name) end;
    for v_grantee in
      select distinct case when a.grantee = 0 then 'public' else pg_catalog.quote_ident(g.rolname) end
        from pg_catalog.aclexplode(v_default.acl) a
        left join pg_catalog.pg_roles g on g.oid = a.grantee
    loop
      execute pg_catalog.format('alter default privileges for role %I %s revoke all on %s from %s',
                                v_default.role_name, v_scope, v_objects, v_grantee);
    end loop;
    if v_default.schema_name is null then
      execute pg_catalog.format('alter default privileges for role %I grant all on %s to %I',
                                v_default.role_name, v_objects, v_default.role_name);
      if v_default.kind in ('f', 'T') then
        execute pg_catalog.format('alter default privileges for role %I grant %s on %s to public',
                                  v_default.role_name, case v_default.kind when 'f' then 'execute' else 'usage' end,
                                  v_objects);
      end if;
    end if;
  end loop;
end
$$;
