/*
 * Cluster-wide roles. Roles belong to the cluster, not to one database, so they are neither
 * schema nor migration: `just migrate` runs this file first, every time, as the admin user.
 * It only creates what is missing and (re)states each role's attributes and session defaults;
 * a role that existed with more (a reused server, a restore into one) loses what this file does
 * not give it: SUPERUSER, CREATEDB, CREATEROLE, REPLICATION, BYPASSRLS, another connection limit,
 * membership of another role.
 * What every role may do in this database beyond its grants is sql/database.sql, run next.
 */

do $$
declare
  wanted constant jsonb := '{
    "blossom_owner": "nologin noinherit",
    "authenticator": "login noinherit",
    "web_anon":      "nologin noinherit",
    "authenticated": "nologin noinherit",
    "edge":          "login noinherit",
    "panopticon":    "login noinherit connection limit 10",
    "pipeline":      "login noinherit connection limit 20",
    "worker":        "login noinherit",
    "membership_reader": "nologin noinherit",
    "member_counter":    "nologin noinherit",
    "org_lister":        "nologin noinherit",
    "session_reader":    "nologin noinherit",
    "invitation_revoker": "nologin noinherit",
    "org_purger":        "nologin noinherit",
    "admin_reader":      "nologin noinherit",
    "metrics_reader":    "nologin noinherit"
  }';
  /* The only roles a role of ours is a member of: those granted below. */
  memberships constant jsonb := '{"authenticator": ["web_anon", "authenticated"]}';
  role_name text;
  attributes text;
  database_name name;
  granted_role name;
  grantor_name name;
  existing pg_roles;
begin
  for role_name, attributes in select key, value from jsonb_each_text(wanted) loop
    /* No connection limit but the one stated (Postgres's default for a new role). */
    if attributes !~* 'connection\s+limit' then
      attributes := attributes || ' connection limit -1';
    end if;
    select * into existing from pg_roles where rolname = role_name;
    if not found then
      execute format('create role %I %s', role_name, attributes);
    else
      execute format('alter role %I %s', role_name, attributes);
      /* A role that existed before (a reused server, a restore into one) keeps whatever it was
         given there unless it is taken back: a worker that is a superuser, an `authenticated`
         that bypasses Row Level Security. Stated only where it differs, since an admin user
         without SUPERUSER may not name SUPERUSER, REPLICATION or BYPASSRLS even to deny them
         (one that may not take them back fails here, and migrate with it, naming the role). */
      if existing.rolsuper then execute format('alter role %I nosuperuser', role_name); end if;
      if existing.rolcreatedb then execute format('alter role %I nocreatedb', role_name); end if;
      if existing.rolcreaterole then execute format('alter role %I nocreaterole', role_name); end if;
      if existing.rolreplication then execute format('alter role %I noreplication', role_name); end if;
      if existing.rolbypassrls then execute format('alter role %I nobypassrls', role_name); end if;
      /* Nor is it a member of any role this file does not grant it (pg_read_all_data reads
         every table, another application's role its rights). Each grant is taken back as the
         grant of its grantor: from Postgres 16 on, a role may hold one membership from several
         grantors, and a plain revoke takes back only the current user's (another grantor's
         stays, with a warning). Postgres 15 accepts GRANTED BY and takes the one membership
         back whoever is named; it keeps the oid of a grantor since dropped, which has no name
         to give, and there the plain revoke does it. */
      for granted_role, grantor_name in
        select granted.rolname, grantor.rolname
          from pg_auth_members m join pg_roles granted on granted.oid = m.roleid
          left join pg_roles grantor on grantor.oid = m.grantor
         where m.member = existing.oid
           and not coalesce(memberships -> role_name, '[]') ? granted.rolname
      loop
        if grantor_name is null then
          execute format('revoke %I from %I', granted_role, role_name);
        else
          execute format('revoke %I from %I granted by %I', granted_role, role_name, grantor_name);
        end if;
      end loop;
    end if;
    /* A role may change its own session defaults (ALTER ROLE itself SET), for good: whatever
       it set is undone here, and what this file states below is all there is. In every
       database it set them for: panopticon may connect to the server's `postgres` as well. */
    execute format('alter role %I reset all', role_name);
    for database_name in
      select d.datname from pg_db_role_setting s join pg_database d on d.oid = s.setdatabase
       where s.setrole = (select r.oid from pg_roles r where r.rolname = role_name)
    loop
      begin
        execute format('alter role %I in database %I reset all', role_name, database_name);
      exception when undefined_object or invalid_catalog_name then
        /* Dropped since it was listed ("database … was concurrently dropped", or no longer
           found by its name), its settings with it: nothing is left to undo there. A drop of
           another deployment's database, or a test's, failed the migrate. */
        null;
      end;
    end loop;
  end loop;
end
$$;

/* PostgREST logs in as authenticator and switches to one of these per request. */
grant web_anon, authenticated to authenticator;

/* membership_reader owns app.my_memberships and org_lister app.my_organizations (see
   sql/views/app_my_memberships.sql): views of the caller's own memberships, read as these roles, which
   see only the caller's own rows. `just migrate` makes and drops the views as them. */
grant membership_reader, org_lister to current_user;

/* session_reader owns auth.presented_session (see sql/views/auth_presented_session.sql): the session of the
   token a PostgREST request presents, for the pre-request. */
grant session_reader to current_user;

/* member_counter owns the trigger function that keeps app.organizations.member_count (see
   sql/functions/app/member_count.sql); `just migrate` makes and drops that function as it. */
grant member_counter to current_user;

/* invitation_revoker owns the functions that revoke the invitations a member may no longer
   grant and check that at acceptance (see sql/functions/app/inviter_authority.sql); `just
   migrate` makes and drops them as it. */
grant invitation_revoker to current_user;

/* org_purger owns the function that purges the rows of deleted organizations (see
   sql/functions/app/org_deletion.sql); `just migrate` makes and drops it as it. */
grant org_purger to current_user;

/* admin_reader owns the views of schema admin (see sql/views/admin.sql): it reads every tenant's
   rows, but only their columns that hold no secret; panopticon selects the views. metrics_reader
   owns pipeline.org_daily_counts (see sql/functions/pipeline/metrics.sql), the pipeline's counts
   across tenants. `just migrate` makes and drops them as these roles. */
grant admin_reader, metrics_reader to current_user;

/* panopticon reads; its sessions start read-only (privileges are the fence, this the guard rail),
   and a statement or an open transaction of a person at psql does not hold on for long. Its
   connection limit (above) and the pipeline's keep them from taking every connection. */
alter role panopticon set default_transaction_read_only = on;
alter role panopticon set statement_timeout = '2min';
alter role panopticon set idle_in_transaction_session_timeout = '5min';
/* Its reads scan every tenant's rows, and their plans' costs pass jit_above_cost, where
   compiling costs more than it saves: admin.users on the bench's data (100,000 accounts) took
   0.31 s, 0.09 s of it compiling, and 0.22 s without. */
alter role panopticon set jit = off;
/* A query needs no table to write to disk: a large sort or hash, or only `select count(*) from
   generate_series(1, 1e10)`, spills into temporary files, of any size, until the disk is full,
   where Postgres cannot write its write-ahead log, and stops every session. Any login can run
   such a query (the services' too, with their password or through a bug). A statement timeout
   does not bound it (a role may lift its own), but this is a superuser's setting, which the role
   may neither lift nor reset (ALTER ROLE itself RESET ALL keeps it): at most this much a session
   (and each of its parallel workers). A query that would write more fails; one with a LIMIT
   sorts in memory.
   - panopticon, a person's reads across every tenant: 1 GB (10 GB in all, its 10 connections).
   - pipeline: the daily counts hash a day's actors in memory (work_mem 64 MB,
     sql/functions/pipeline/metrics.sql, and spill nothing on the bench's data); 2 GB leaves that
     room to grow, and a refresh that needs more fails its run, to be seen.
   - authenticator, edge, worker: one caller's or one message's rows, a page at most; they sort
     in memory. 256 MB.
   Only a superuser (or a role granted SET on it) may set it for another role: an admin user that
   may not (a managed server's) gets a warning, and migrates all the same. */
do $$
declare
  limits constant jsonb := '{
    "panopticon": "1GB", "pipeline": "2GB", "authenticator": "256MB", "edge": "256MB", "worker": "256MB"
  }';
  role_name text;
  temp_file_limit text;
begin
  for role_name, temp_file_limit in select key, value from jsonb_each_text(limits) loop
    execute format('alter role %I set temp_file_limit = %L', role_name, temp_file_limit);
  end loop;
exception when insufficient_privilege then
  raise warning 'sql/roles.sql: % may not set temp_file_limit, so the login roles'' temporary files are not bounded',
    current_user;
end
$$;
/* The edge's statements carry passwords and tokens as their parameters (a login's, a sign-up's,
   a change's and a reset's password; a session's, a reset's or a verification link's token), and
   PostgREST's a call's JSON body (an invitation's token). Postgres writes a statement's parameters
   into its log with the statement, whenever it logs one (log_min_duration_statement, log_statement)
   or one that failed (log_min_error_statement), as far as these two settings allow: a server's
   defaults allow every parameter of a logged statement whole, and a login, one or two bcrypts
   behind the edge's few turns of them, often takes the half second an operator logs statements
   past. Superusers' settings, as temp_file_limit above: the roles may not lift them. */
do $$
declare
  role_name text;
  setting_name text;
begin
  foreach role_name in array array['authenticator', 'edge'] loop
    foreach setting_name in array array['log_parameter_max_length', 'log_parameter_max_length_on_error'] loop
      execute format('alter role %I set %I = 0', role_name, setting_name);
    end loop;
  end loop;
exception when insufficient_privilege then
  raise warning 'sql/roles.sql: % may not set log_parameter_max_length, so a statement the server logs of the edge or PostgREST is logged with its parameters (passwords, tokens)',
    current_user;
end
$$;
/* The services' logins: a transaction one of them leaves open (a bug, or whoever holds its
   password) does not keep its locks for ever: an account's login lock, the job queue, which every
   call that queues mail writes in. Longer than any wait inside their transactions: the worker
   holds its claim on a message while the SMTP server or Slack answers. The guard rail of a
   mistake, not a bound: a role may set its own. */
alter role authenticator set idle_in_transaction_session_timeout = '1min';
alter role edge set idle_in_transaction_session_timeout = '1min';
alter role worker set idle_in_transaction_session_timeout = '5min';
alter role pipeline set idle_in_transaction_session_timeout = '5min';

/* The worker's transaction holds its claim on a message (the outbox row's lock, which an account's
   deletion waits for to withdraw its mail), idle while the SMTP server answers. A worker gone without
   a word (its machine, its network: no RST ever comes) left it held until the idle timeout above,
   5 min, as the server probes a silent client only at the system's keepalive timings (two hours on
   Linux). The server's side of its sessions now probes as the client's side does
   (blossom_db/settings.py CONNECTION_DEFAULTS): found dead and ended in about a minute. Nothing on
   a Unix-domain socket. */
alter role worker set tcp_keepalives_idle = 30;
alter role worker set tcp_keepalives_interval = 10;
alter role worker set tcp_keepalives_count = 3;
alter role worker set tcp_user_timeout = 60000;

/* The API's statements (PostgREST's connections log in as authenticator, whatever role a request
   becomes next) end after 5 s: no call needs seconds, and one that ran on, by a bug or by what a
   caller sent, held one of PostgREST's few connections. Shorter than the edge's wait for an
   answer (BLOSSOM_EDGE_UPSTREAM_TIMEOUT, 30 s), so that the database gives up first. */
alter role authenticator set statement_timeout = '5s';
/* The other services' statements: a guard rail against a statement that runs on (a bug, a plan
   gone wrong as the data grew), holding its locks and a connection, as for the idle
   transactions above; a role may set its own. The edge's auth calls bcrypt in Postgres, one or
   two hashes under the account's lock, behind at most the few other password checks the edge
   lets run at once, and the worker's are one message's or the job queue's: a minute is far past
   either. The pipeline's refresh reads every tenant's day (0.3 s on the bench's data) and its
   housekeeping deletes what expired since the last run: ten minutes is room to grow, and a
   statement past it fails its run, to be seen, rather than hold the organizations' rows it
   inserted (a deletion's wait, api.delete_organization) for as long as it runs. */
alter role edge set statement_timeout = '1min';
alter role worker set statement_timeout = '1min';
alter role pipeline set statement_timeout = '10min';

/* Every login's sessions are in UTC, whatever the server's time zone (initdb takes the machine's,
   and a managed server's may be any): a timestamp the API answers (PostgREST writes it in the
   session's zone), the admin views show or the worker and the pipeline read is written with
   +00:00, and a day or month counted from a session's clock is the UTC one the docs name. On a
   server in New York, get_ai_usage's month_start of December read 2026-11-30T19:00:00-05:00,
   a date of November to a client that reads the date. */
do $$
declare
  role_name text;
begin
  foreach role_name in array array['authenticator', 'edge', 'worker', 'pipeline', 'panopticon'] loop
    execute format('alter role %I set timezone = %L', role_name, 'UTC');
  end loop;
end
$$;

/* Migrations run as the owner (`set role`), so the admin user must be able to become it. */
grant blossom_owner to current_user;
