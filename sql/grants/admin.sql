/* Grants on schema admin: operators (panopticon) read its views, and nothing else (but the idle
   timeout's reader the sessions' view calls, sql/grants/util.sql). The views belong to
   admin_reader (sql/views/admin.sql), who grants them. */
grant usage on schema admin to panopticon;
set local role admin_reader;
grant select on all tables in schema admin to panopticon;
set local role blossom_owner;
