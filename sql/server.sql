/*
 * What Postgres lets every role do on the server beyond a database, told otherwise. `just
 * migrate` runs this file after sql/database.sql, every time, as the admin user, while it holds
 * the server's migrate lock: these are rows of the server's catalog, which two sessions granting
 * at once failed to update ("tuple concurrently updated").
 *
 * - template1: PUBLIC may connect to it. Every new database copies what is in it, so a role that
 *   wrote there (a large object) wrote into the databases made after. No role of ours connects to
 *   it, nor does any tool but as a superuser.
 *
 * Only template1's owner (a superuser) may change it: another admin user leaves it as it is.
 * sql/tests/roles.sql states the result; tests/test_migrate.py tries it as each login role.
 */
do $$
begin
  if (select r.rolsuper from pg_catalog.pg_roles r where r.rolname = current_user)
     and exists (select from pg_catalog.pg_database d,
                        pg_catalog.aclexplode(coalesce(d.datacl, pg_catalog.acldefault('d', d.datdba))) a
                  where d.datname = 'template1' and a.grantee = 0 and a.privilege_type = 'CONNECT') then
    revoke connect on database template1 from public;
  end if;
end
$$;
