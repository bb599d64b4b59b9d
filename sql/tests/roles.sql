/*
 * Roles and privileges: least privilege for every role of the system.
 * Only blossom_owner (which cannot log in) owns or touches the tables in app.
 */
begin;
select plan(115);

/* Who exists, and what each may do at login. */
select has_role(r, format('role %s exists', r))
  from unnest(array['blossom_owner', 'authenticator', 'web_anon', 'authenticated',
                    'edge', 'panopticon', 'pipeline', 'worker']) as r;

select results_eq(
  $$ select rolname::text collate "default", rolcanlogin, rolinherit, rolsuper, rolcreaterole, rolcreatedb, rolbypassrls
       from pg_roles
      where rolname in ('blossom_owner', 'authenticator', 'web_anon', 'authenticated',
                        'edge', 'panopticon', 'pipeline', 'membership_reader', 'member_counter',
                        'org_lister', 'session_reader', 'invitation_revoker', 'worker')
      order by rolname $$,
  $$ values ('authenticated', false, false, false, false, false, false),
            ('authenticator', true,  false, false, false, false, false),
            ('blossom_owner', false, false, false, false, false, false),
            ('edge',          true,  false, false, false, false, false),
            ('invitation_revoker', false, false, false, false, false, false),
            ('member_counter', false, false, false, false, false, false),
            ('membership_reader', false, false, false, false, false, false),
            ('org_lister',    false, false, false, false, false, false),
            ('panopticon',    true,  false, false, false, false, false),
            ('pipeline',      true,  false, false, false, false, false),
            ('session_reader', false, false, false, false, false, false),
            ('web_anon',      false, false, false, false, false, false),
            ('worker',        true,  false, false, false, false, false) $$,
  'only the service roles can log in, none is privileged, none inherits'
);

select is_member_of('web_anon', 'authenticator', 'authenticator can become web_anon');
select is_member_of('authenticated', 'authenticator', 'authenticator can become authenticated');
select ok(not pg_has_role('authenticator', 'blossom_owner', 'member'), 'authenticator can never become the owner');
select ok(not pg_has_role('edge', 'blossom_owner', 'member'), 'edge can never become the owner');
select ok(not pg_has_role('pipeline', 'blossom_owner', 'member'), 'pipeline can never become the owner');
select ok(not pg_has_role('panopticon', 'blossom_owner', 'member'), 'panopticon can never become the owner');
select ok(not pg_has_role('worker', 'blossom_owner', 'member'), 'worker can never become the owner');
select is_empty(
  $$ select r from unnest(array['blossom_owner', 'authenticator', 'web_anon', 'authenticated',
                               'edge', 'panopticon', 'pipeline', 'worker']) as r
      where pg_has_role(r, 'membership_reader', 'member') $$,
  'no role of the system can become membership_reader (the owner of app.my_memberships)'
);
select is_empty(
  $$ select r from unnest(array['blossom_owner', 'authenticator', 'web_anon', 'authenticated',
                               'edge', 'panopticon', 'pipeline', 'worker', 'membership_reader']) as r
      where pg_has_role(r, 'member_counter', 'member') $$,
  'no role of the system can become member_counter (the owner of the member count trigger)'
);
select is_empty(
  $$ select r from unnest(array['blossom_owner', 'authenticator', 'web_anon', 'authenticated',
                               'edge', 'panopticon', 'pipeline', 'membership_reader', 'member_counter']) as r
      where pg_has_role(r, 'org_lister', 'member') $$,
  'no role of the system can become org_lister (the owner of app.my_organizations)'
);
select is_empty(
  $$ select r from unnest(array['blossom_owner', 'authenticator', 'web_anon', 'authenticated',
                               'edge', 'panopticon', 'pipeline', 'worker', 'membership_reader',
                               'member_counter', 'org_lister']) as r
      where pg_has_role(r, 'session_reader', 'member') $$,
  'no role of the system can become session_reader (the owner of auth.presented_session)'
);
select is_empty(
  $$ select r from unnest(array['blossom_owner', 'authenticator', 'web_anon', 'authenticated', 'edge', 'panopticon',
                               'pipeline', 'worker', 'membership_reader', 'member_counter', 'org_lister',
                               'session_reader']) as r
      where pg_has_role(r, 'invitation_revoker', 'member') $$,
  'no role of the system can become invitation_revoker (the owner of the functions that revoke invitations beyond their sender''s role)'
);

/* Schemas: owned by blossom_owner; each opened only to the roles that need it. */
select schema_owner_is(s, 'blossom_owner', format('schema %s belongs to blossom_owner', s))
  from unnest(array['util', 'app', 'auth', 'api', 'admin', 'pipeline', 'delivery', 'jobs', 'extensions']) as s;
select schema_privs_are('util', r, array['USAGE'], format('%s may only use schema util (the pre-request''s helpers)', r))
  from unnest(array['web_anon', 'authenticated']) as r;
select schema_privs_are('util', r, array[]::text[], format('%s has no privilege on schema util', r))
  from unnest(array['authenticator', 'edge', 'worker']) as r;
select schema_privs_are('util', r, array['USAGE'], format('%s may only use schema util (one function, sql/tests/admin_views.sql, pipeline.sql)', r))
  from unnest(array['panopticon', 'pipeline']) as r;

select schema_privs_are('app', r, array[]::text[], format('%s has no privilege on schema app', r))
  from unnest(array['authenticator', 'web_anon', 'authenticated', 'edge', 'panopticon', 'pipeline', 'worker']) as r;
select schema_privs_are('app', 'membership_reader', array['USAGE'], 'membership_reader may only use schema app, never create in it');
select schema_privs_are('app', 'member_counter', array['USAGE'], 'member_counter may only use schema app, never create in it');
select schema_privs_are('app', 'org_lister', array['USAGE'], 'org_lister may only use schema app, never create in it');
select schema_privs_are('app', 'session_reader', array['USAGE'], 'session_reader may only use schema app, never create in it');
select schema_privs_are('auth', 'session_reader', array['USAGE'], 'session_reader may only use schema auth, never create in it');
select schema_privs_are('app', 'invitation_revoker', array['USAGE'], 'invitation_revoker may only use schema app, never create in it');
select schema_privs_are('api', 'web_anon', array['USAGE'], 'web_anon may only use schema api');
select schema_privs_are('api', 'authenticated', array['USAGE'], 'authenticated may only use schema api');
select schema_privs_are('api', 'authenticator', array[]::text[], 'authenticator itself reaches nothing in api');
select schema_privs_are('admin', 'panopticon', array['USAGE'], 'panopticon may only use schema admin');
select schema_privs_are('admin', 'web_anon', array[]::text[], 'web_anon cannot see schema admin');
select schema_privs_are('pipeline', 'pipeline', array['USAGE'], 'pipeline may only use schema pipeline');
select schema_privs_are('pipeline', 'authenticated', array[]::text[], 'authenticated cannot see schema pipeline');
select schema_privs_are('extensions', 'web_anon', array[]::text[], 'web_anon cannot see schema extensions');
select schema_privs_are('delivery', 'worker', array['USAGE'], 'worker may only use schema delivery');
select schema_privs_are('jobs', 'worker', array['USAGE'], 'worker may only use schema jobs');
select schema_privs_are(s, r, array[]::text[], format('%s has no privilege on schema %s', r, s))
  from unnest(array['delivery', 'jobs']) as s
 cross join unnest(array['authenticator', 'web_anon', 'authenticated', 'edge', 'panopticon', 'pipeline']) as r;
select schema_privs_are(s, 'worker', array[]::text[], format('worker has no privilege on schema %s', s))
  from unnest(array['auth', 'api', 'admin', 'pipeline']) as s;

/* No role but the owner can touch any table in app, whatever tables there are. */
select is_empty(
  $$ select r, c.oid::regclass
       from pg_class c
       cross join unnest(array['authenticator', 'web_anon', 'authenticated',
                               'edge', 'panopticon', 'pipeline', 'worker']) as r
      where c.relnamespace = 'app'::regnamespace and c.relkind in ('r', 'p', 'v', 'm', 'S')
        and has_table_privilege(r, c.oid, 'select, insert, update, delete, truncate, references, trigger') $$,
  'no role but the owner has any privilege on a table in app'
);
select is_empty(
  $$ select grantee, table_name, column_name, privilege_type from information_schema.role_column_grants
      where table_schema = 'app' and grantee not in ('blossom_owner')
     except
     select 'membership_reader', t, c, 'SELECT'
       from unnest(array['memberships', 'my_memberships']) t, unnest(array['org_id', 'user_id', 'role']) c
     except
     values ('member_counter', 'organizations', 'id', 'SELECT'),
            ('member_counter', 'organizations', 'member_count', 'SELECT'),
            ('member_counter', 'organizations', 'member_count', 'UPDATE')
     except
     select 'org_lister', 'memberships', c, 'SELECT' from unnest(array['org_id', 'user_id', 'role']) c
     except
     select 'org_lister', 'organizations', c, 'SELECT'
       from unnest(array['id', 'name', 'slug', 'member_count', 'created_at', 'updated_at']) c
     except
     select 'org_lister', 'my_organizations', c, 'SELECT'
       from unnest(array['id', 'name', 'slug', 'role', 'member_count', 'created_at', 'updated_at']) c
     except
     select 'session_reader', 'sessions', column_name::text, 'SELECT'
       from information_schema.columns where table_schema = 'app' and table_name = 'sessions'
     except
     select 'invitation_revoker', 'memberships', c, 'SELECT' from unnest(array['org_id', 'user_id', 'role']) c
     except
     values ('invitation_revoker', 'organizations', 'id', 'SELECT'),
            ('invitation_revoker', 'organizations', 'name', 'SELECT'),
            ('invitation_revoker', 'organizations', 'deleted_at', 'SELECT'),
            ('invitation_revoker', 'users', 'id', 'SELECT'),
            ('invitation_revoker', 'invitations', 'revoked_at', 'UPDATE'),
            ('invitation_revoker', 'invitations', 'invited_by', 'UPDATE')
     except
     select 'invitation_revoker', 'invitations', c, 'SELECT'
       from unnest(array['id', 'org_id', 'email', 'role', 'invited_by', 'expires_at', 'accepted_at',
                         'declined_at', 'revoked_at']) c
     except
     select 'admin_reader', t, c, 'SELECT' from (values
       ('users', array['id', 'email', 'display_name', 'email_verified_at', 'created_at', 'updated_at', 'last_seen_at']),
       ('organizations', array['id', 'name', 'slug', 'created_by', 'created_at', 'updated_at', 'member_count', 'deleted_at']),
       ('memberships', array['id', 'org_id', 'user_id', 'role', 'joined_at']),
       ('invitations', array['id', 'org_id', 'created_at', 'expires_at', 'accepted_at', 'declined_at', 'revoked_at']),
       ('sessions', array['id', 'user_id', 'created_at', 'last_seen_at', 'expires_at', 'revoked_at', 'client_addr', 'user_agent']),
       ('audit_events', array['id', 'at', 'actor_id', 'action', 'org_id', 'target', 'client_addr', 'details']),
       ('outbox', array['id', 'topic', 'created_at', 'delivered_at', 'attempts', 'last_attempt_at', 'last_error', 'given_up_at']),
       ('rate_limit_hits', array['kind', 'key', 'at']),
       ('ai_usage', array['org_id', 'outcome', 'prompt_tokens', 'completion_tokens', 'reported_tokens', 'started_at']),
       ('ai_quotas', array['org_id', 'monthly_tokens'])) as g (t, cs), unnest(g.cs) c
     except
     select 'metrics_reader', t, c, 'SELECT' from (values
       ('organizations', array['id', 'created_at', 'name', 'deleted_at']),
       ('memberships', array['org_id', 'user_id', 'joined_at']),
       ('membership_departures', array['org_id', 'user_id', 'joined_at', 'departed_at']),
       ('invitations', array['org_id', 'created_at', 'accepted_at']),
       ('audit_events', array['actor_id', 'action', 'at']),
       ('slack_connections', array['org_id', 'channel', 'bot_token_key_id', 'bot_token_sealed', 'broken_at', 'connected_at']),
       ('ai_usage', array['org_id', 'outcome', 'prompt_tokens', 'completion_tokens', 'settled_at', 'reserved_tokens', 'started_at'])) as g (t, cs),
       unnest(g.cs) c
     except
     select 'org_purger', t, c, 'SELECT' from (values
       ('organizations', array['id', 'deleted_at']),
       ('invitations', array['org_id', 'id']),
       ('ai_usage', array['org_id', 'id']),
       ('membership_departures', array['org_id', 'id']),
       ('ai_answers', array['org_id', 'request_hash'])) as g (t, cs),
       unnest(g.cs) c $$,
  'membership_reader may only read the three columns of app.memberships, through its view app.my_memberships; org_lister those and the listed columns of app.organizations, through app.my_organizations; member_counter only keep app.organizations.member_count; session_reader only read app.sessions; invitation_revoker only read roles, organizations'' names and which accounts exist, and revoke invitations'
);
/* The helper roles (no login, and nobody can become them): exactly their policies, their
   tables, and the views they own. */
select results_eq(
  $$ select r.rolname::text collate "default", array_agg(format('%s on %s', p.polname, p.polrelid::regclass) collate "default"
                                                          order by p.polname, p.polrelid::regclass::text)
       from pg_roles r join pg_policy p on r.oid = any (p.polroles)
      where r.rolname in ('membership_reader', 'org_lister', 'member_counter', 'session_reader', 'invitation_revoker')
      group by r.rolname order by r.rolname $$,
  $$ values ('invitation_revoker', array['inviter_authority_read on app.invitations', 'inviter_authority_read on app.memberships',
                                         'inviter_authority_read on app.organizations', 'inviter_authority_read on app.users',
                                         'inviter_authority_revoke on app.invitations']),
            ('member_counter', array['member_count_read on app.organizations', 'member_count_upkeep on app.organizations']),
            ('membership_reader', array['own_rows on app.memberships']),
            ('org_lister', array['lister_read on app.organizations', 'own_rows on app.memberships']),
            ('session_reader', array['presented_only on app.sessions']) $$,
  'member_counter keeps app.organizations.member_count; invitation_revoker reads roles and revokes invitations; the view owners read the caller''s own memberships (and org_lister any organization), session_reader the one session whose token the request presents'
);
select is_empty(
  $$ select r, c.oid::regclass::text from pg_class c
       cross join unnest(array['membership_reader', 'org_lister', 'member_counter', 'session_reader', 'invitation_revoker']) r
      where c.relnamespace = 'app'::regnamespace and c.relkind in ('r', 'p', 'v', 'm', 'S')
        and has_table_privilege(r, c.oid, 'select, insert, update, delete, truncate, references, trigger')
     except
     values ('membership_reader', 'app.my_memberships'), ('org_lister', 'app.my_organizations'),
            ('session_reader', 'app.sessions') $$,
  'the helper roles have no table privilege in app but on the view each owns (session_reader: reading app.sessions, for its view)'
);
select ok(not has_table_privilege('session_reader', 'app.sessions', 'insert, update, delete, truncate, references, trigger'),
  'session_reader may only read app.sessions');
select results_eq(
  $$ select c.relowner::regrole::text collate "default", c.relkind::text, c.oid::regclass::text from pg_class c
      where c.relowner in ('membership_reader'::regrole, 'org_lister'::regrole, 'member_counter'::regrole,
                           'session_reader'::regrole, 'invitation_revoker'::regrole)
      order by 1 $$,
  $$ values ('membership_reader', 'v', 'app.my_memberships'), ('org_lister', 'v', 'app.my_organizations'),
            ('session_reader', 'v', 'auth.presented_session') $$,
  'membership_reader, org_lister and session_reader own one view each, member_counter and invitation_revoker no relation'
);
select is_empty(
  $$ select grantee, table_name from information_schema.role_table_grants
      where table_schema = 'app' and grantee not in ('blossom_owner')
        and not (grantee = grantor and privilege_type = 'SELECT'
                 and (table_name, grantee) in (('my_memberships', 'membership_reader'),
                                               ('my_organizations', 'org_lister')))
        and not (grantee = 'session_reader' and table_name = 'sessions' and privilege_type = 'SELECT')
        and not (grantee = 'org_purger' and privilege_type = 'DELETE'
                 and table_name in ('organizations', 'invitations', 'ai_usage', 'membership_departures', 'ai_answers')) $$,
  'no table in app is granted to anyone (membership_reader and org_lister hold only what they own, their views; session_reader reads app.sessions, under its policy presented_only; org_purger deletes the rows of deleted organizations, by its function)'
);

/* Functions: nothing executable by PUBLIC by default; every api function granted explicitly. */
set local role blossom_owner;
create function app.tap_default_privileges_probe() returns int language sql immutable as $$ select 1 $$;
reset role;
select ok(
  not has_function_privilege('web_anon', 'app.tap_default_privileges_probe()', 'execute'),
  'a new function is not executable by PUBLIC'
);
select is_empty(
  $$ select p.oid::regprocedure from pg_proc p
      where p.pronamespace = 'api'::regnamespace
        and (p.proacl is null or exists (select from aclexplode(p.proacl) a where a.grantee = 0)) $$,
  'every api function is granted explicitly, none to PUBLIC'
);
select is_empty(
  $$ select p.oid::regprocedure from pg_proc p
      where p.pronamespace in ('util'::regnamespace, 'app'::regnamespace, 'auth'::regnamespace, 'api'::regnamespace,
                               'admin'::regnamespace, 'pipeline'::regnamespace, 'delivery'::regnamespace,
                               'jobs'::regnamespace)
        and p.proowner <> 'blossom_owner'::regrole
     except
     select 'app.tg_memberships__count()'::regprocedure
      where (select proowner from pg_proc where oid = 'app.tg_memberships__count()'::regprocedure)
            = 'member_counter'::regrole
     except
     select p.oid::regprocedure from pg_proc p
      where p.oid in ('app.inviter_may_grant(app.org_id, app.user_id, app.org_role)'::regprocedure,
                      'app.revoke_invitations_beyond_grant(app.org_id, app.user_id)'::regprocedure,
                      'app.revoke_invitations_of_account(app.user_id)'::regprocedure,
                      'app.organization_exists(app.org_id)'::regprocedure,
                      'app.invitation_is_open(text)'::regprocedure,
                      'app.open_invitation_of(app.org_id, text)'::regprocedure,
                      'app.organizations_of_account(app.user_id)'::regprocedure,
                      'app.organizations_owned_alone(app.user_id)'::regprocedure,
                      'app.owns_an_organization(app.user_id)'::regprocedure,
                      'app.close_expired_invitations()'::regprocedure)
        and p.proowner = 'invitation_revoker'::regrole
     except
     select p.oid::regprocedure from pg_proc p
      where p.oid in ('pipeline.org_daily_counts(date)'::regprocedure, 'pipeline.slack_digest_targets(date)'::regprocedure)
        and p.proowner = 'metrics_reader'::regrole
     except
     select p.oid::regprocedure from pg_proc p
      where p.oid in ('app.purge_deleted_organizations(integer)'::regprocedure, 'pipeline.deleted_organizations()'::regprocedure)
        and p.proowner = 'org_purger'::regrole $$,
  'every function of ours belongs to blossom_owner, but the member count trigger''s (member_counter''s), the ten of invitation_revoker, the pipeline''s two of metrics_reader and the two of org_purger'
);
select results_eq(
  $$ select p.oid::regprocedure::text, p.prosecdef, array_agg(a.grantee::regrole::text order by a.grantee::regrole::text)
       from pg_proc p cross join aclexplode(p.proacl) a
      where p.proowner = 'org_purger'::regrole and a.privilege_type = 'EXECUTE'
      group by p.oid order by 1 $$,
  $$ values ('app.purge_deleted_organizations(integer)', true, array['blossom_owner', 'org_purger']),
            ('pipeline.deleted_organizations()', true, array['org_purger', 'pipeline']) $$,
  'org_purger owns two definer functions: the purge, which only the owner (the housekeeping''s) may execute, and the list of deleted organizations, for the pipeline'
);
select is_empty(
  $$ select r from unnest(array['blossom_owner', 'authenticator', 'web_anon', 'authenticated', 'edge', 'panopticon',
                               'pipeline', 'worker', 'membership_reader', 'member_counter', 'org_lister',
                               'session_reader', 'invitation_revoker', 'admin_reader', 'metrics_reader']) as r
      where pg_has_role(r, 'org_purger', 'member') $$,
  'no role of the system can become org_purger (the owner of the purge of deleted organizations)'
);
select results_eq(
  $$ select n.nspname::text collate "C" from pg_namespace n
      where has_schema_privilege('org_purger', n.oid, 'usage')
        and n.nspname not like 'pg\_%' and n.nspname not in ('information_schema', 'public', 'tap')
      order by 1 $$,
  $$ values ('app' collate "C"), ('pipeline') $$,
  'org_purger uses the schemas of its two functions and the tables it purges, no other (the cascades to analytics run as that schema''s tables'' owner)'
);
select is_empty(
  $$ select p.oid::regprocedure from pg_proc p
      where p.proowner = 'member_counter'::regrole
        and not (p.oid = 'app.tg_memberships__count()'::regprocedure and p.prosecdef
                 and p.prorettype = 'trigger'::regtype
                 and not has_function_privilege('public', p.oid, 'execute')) $$,
  'member_counter owns one function, a definer trigger function that PUBLIC cannot execute'
);
select results_eq(
  $$ select p.oid::regprocedure::text, p.prosecdef, array_agg(a.grantee::regrole::text order by a.grantee::regrole::text)
       from pg_proc p cross join aclexplode(p.proacl) a
      where p.proowner = 'invitation_revoker'::regrole and a.privilege_type = 'EXECUTE'
      group by p.oid order by 1 $$,
  $$ values ('app.close_expired_invitations()', true, array['blossom_owner', 'invitation_revoker']),
            ('app.invitation_is_open(text)', true, array['blossom_owner', 'invitation_revoker']),
            ('app.inviter_may_grant(app.org_id,app.user_id,app.org_role)', true, array['blossom_owner', 'invitation_revoker']),
            ('app.open_invitation_of(app.org_id,text)', true, array['blossom_owner', 'invitation_revoker']),
            ('app.organization_exists(app.org_id)', true, array['blossom_owner', 'invitation_revoker', 'org_purger']),
            ('app.organizations_of_account(app.user_id)', true, array['blossom_owner', 'invitation_revoker']),
            ('app.organizations_owned_alone(app.user_id)', true, array['blossom_owner', 'invitation_revoker']),
            ('app.owns_an_organization(app.user_id)', true, array['blossom_owner', 'invitation_revoker']),
            ('app.revoke_invitations_beyond_grant(app.org_id,app.user_id)', true, array['blossom_owner', 'invitation_revoker']),
            ('app.revoke_invitations_of_account(app.user_id)', true, array['blossom_owner', 'invitation_revoker']) $$,
  'invitation_revoker owns ten definer functions, which only the owner (and their own owner) may execute'
);

/* The worker: the delivery calls (mail and Slack), and the job queue's tables and functions
   (procrastinate's own queries); nothing else of ours. */
select results_eq(
  $$ select p.oid::regprocedure::text from pg_proc p
      where p.pronamespace in ('util'::regnamespace, 'app'::regnamespace, 'auth'::regnamespace, 'api'::regnamespace,
                               'admin'::regnamespace, 'pipeline'::regnamespace, 'delivery'::regnamespace,
                               'ext'::regnamespace)
        and has_function_privilege('worker', p.oid, 'execute')
      order by 1 $$,
  $$ values ('delivery.claim(text)'), ('delivery.claim_slack_post(text)'), ('delivery.delivered(text)'),
            ('delivery.failed(text,text,boolean)'), ('delivery.slack_broken(text,text,timestamp with time zone)'),
            ('delivery.still_wanted(text)') $$,
  'worker may execute the six delivery functions and no other function of ours outside the job queue'
);
select is_empty(
  $$ select c.oid::regclass from pg_class c
      where c.relnamespace in ('util'::regnamespace, 'app'::regnamespace, 'auth'::regnamespace, 'api'::regnamespace,
                               'admin'::regnamespace, 'pipeline'::regnamespace, 'delivery'::regnamespace)
        and c.relkind in ('r', 'p', 'v', 'm', 'S')
        and has_table_privilege('worker', c.oid, 'select, insert, update, delete, truncate, references, trigger') $$,
  'worker has no privilege on any table or view of ours outside the job queue'
);
select is_empty(
  $$ select r, p.oid::regprocedure::text from pg_proc p
       cross join unnest(array['authenticator', 'web_anon', 'authenticated', 'edge', 'panopticon', 'pipeline']) r
      where p.pronamespace = 'jobs'::regnamespace and has_function_privilege(r, p.oid, 'execute')
     union all
     select r, c.oid::regclass::text from pg_class c
       cross join unnest(array['authenticator', 'web_anon', 'authenticated', 'edge', 'panopticon', 'pipeline']) r
      where c.relnamespace = 'jobs'::regnamespace
        and has_table_privilege(r, c.oid, 'select, insert, update, delete') $$,
  'no role but the worker (and the owner) reaches the job queue'
);

/* Definer functions are few and pinned: each has a fixed search_path. */
select is_empty(
  $$ select p.oid::regprocedure from pg_proc p
      where p.prosecdef
        and p.pronamespace not in ('pg_catalog'::regnamespace, 'information_schema'::regnamespace)
        and not exists (select from unnest(p.proconfig) c where c like 'search_path=%') $$,
  'every SECURITY DEFINER function fixes its search_path'
);

/* Row Level Security is enabled and forced on every table in app. */
select is_empty(
  $$ select c.oid::regclass from pg_class c
      where c.relnamespace = 'app'::regnamespace and c.relkind in ('r', 'p')
        and not (c.relrowsecurity and c.relforcerowsecurity) $$,
  'every table in app has Row Level Security enabled and forced'
);
select is_empty(
  $$ select c.oid::regclass from pg_class c
      where c.relnamespace = 'jobs'::regnamespace and c.relkind in ('r', 'p')
        and not (c.relrowsecurity and c.relforcerowsecurity) $$,
  'every table of the job queue has Row Level Security enabled and forced'
);

/* What Postgres lets every role do in any database unless told otherwise, told otherwise
   (sql/database.sql): a role of ours that can read may not write through a side door, nor stall
   what the application serializes. */
select is_empty(
  $$ select r.rolname::text, p.oid::regprocedure::text from pg_roles r, pg_proc p
      where not r.rolsuper and r.rolname !~ '^pg_' and r.rolname <> 'blossom_owner'
        and p.pronamespace = 'pg_catalog'::regnamespace and p.proname ~ '^pg_(try_)?advisory_'
        and has_function_privilege(r.oid, p.oid, 'execute') $$,
  'no role but the owner may take or release an advisory lock (the app''s locks are app.lock_*, which run as the owner)'
);
select is_empty(
  $$ select p.oid::regprocedure::text from pg_proc p
      where p.pronamespace = 'pg_catalog'::regnamespace and p.proname ~ '^pg_(try_)?advisory_'
        and p.proname !~ 'unlock' and has_function_privilege('public', p.oid, 'execute') $$,
  'PUBLIC may take no advisory lock'
);
select is_empty(
  $$ select r.rolname::text, p.oid::regprocedure::text from pg_roles r, pg_proc p
      where not r.rolsuper and r.rolname !~ '^pg_'
        and p.oid in ('pg_catalog.lo_creat(integer)'::regprocedure, 'pg_catalog.lo_create(oid)'::regprocedure,
                      'pg_catalog.lo_from_bytea(oid, bytea)'::regprocedure, 'pg_catalog.lo_import(text)'::regprocedure,
                      'pg_catalog.lo_import(text, oid)'::regprocedure)
        and has_function_privilege(r.oid, p.oid, 'execute') $$,
  'no role of ours may create a large object (a write outside every schema, of any size)'
);
select is_empty(
  $$ select r.rolname::text, p.oid::regprocedure::text from pg_roles r, pg_proc p
      where not r.rolsuper and r.rolname !~ '^pg_'
        and p.pronamespace = 'pg_catalog'::regnamespace and p.proname = 'pg_logical_emit_message'
        and has_function_privilege(r.oid, p.oid, 'execute') $$,
  'no role of ours may write a message into the write-ahead log (any size, as often as it likes, in a read-only transaction too)'
);
select is_empty(
  $$ select r.rolname::text from pg_roles r
      where not r.rolsuper and r.rolname !~ '^pg_'
        and has_function_privilege(r.oid, 'pg_catalog.pg_lock_status()', 'execute') $$,
  'no role of ours may read the lock table (a login''s lock is keyed by a hash of what was typed as its address)'
);
select is_empty(
  $$ select r.rolname::text from pg_roles r
      where not r.rolsuper and r.rolname !~ '^pg_' and r.rolname <> 'blossom_owner'
        and has_database_privilege(r.oid, current_database(), 'temporary') $$,
  'no role but the owner may make temporary tables or functions'
);
select is_empty(
  $$ select r.rolname::text from pg_roles r
      where not r.rolsuper and r.rolname !~ '^pg_'
        and (has_database_privilege(r.oid, 'template1', 'connect')
             or has_database_privilege(r.oid, 'postgres', 'temporary')) $$,
  'no role of ours may connect to template1, which every new database copies, nor make temporary objects in the server''s postgres database'
);
select results_eq(
  $$ select rolname::text collate "default", rolconnlimit from pg_roles
      where rolname in ('panopticon', 'pipeline') order by rolname $$,
  $$ values ('panopticon', 10), ('pipeline', 20) $$,
  'the roles people and the pipeline log in as have a connection limit, so that they cannot take every connection'
);
select ok(
  (select 'idle_in_transaction_session_timeout=5min' = any (s.setconfig)
          and 'statement_timeout=2min' = any (s.setconfig)
     from pg_db_role_setting s where s.setrole = 'panopticon'::regrole and s.setdatabase = 0),
  'panopticon''s sessions start with a statement and an idle-in-transaction timeout'
);
select ok(
  (select 'jit=off' = any (s.setconfig)
     from pg_db_role_setting s where s.setrole = 'panopticon'::regrole and s.setdatabase = 0),
  'panopticon''s reads are not compiled: admin.users on the bench''s data took 0.31 s with JIT, 0.09 s of it compiling, 0.22 s without'
);
select ok(
  (select 'temp_file_limit=1GB' = any (s.setconfig)
     from pg_db_role_setting s where s.setrole = 'panopticon'::regrole and s.setdatabase = 0),
  'panopticon''s sessions write at most 1 GB of temporary files, a limit it may not lift: a sort of generate_series could fill the disk'
);
select results_eq(
  $$ select r.rolname::text collate "default", c.setting collate "default"
       from pg_roles r
       join pg_db_role_setting s on s.setrole = r.oid and s.setdatabase = 0
      cross join lateral unnest(s.setconfig) c(setting)
      where r.rolname in ('authenticator', 'edge', 'worker', 'pipeline')
        and c.setting like 'idle_in_transaction_session_timeout=%'
      order by 1 $$,
  $$ values ('authenticator', 'idle_in_transaction_session_timeout=1min'),
            ('edge', 'idle_in_transaction_session_timeout=1min'),
            ('pipeline', 'idle_in_transaction_session_timeout=5min'),
            ('worker', 'idle_in_transaction_session_timeout=5min') $$,
  'a transaction a service''s login leaves open ends: its locks (a login''s, the job queue''s) are not held for ever'
);

select ok(
  (select array['tcp_keepalives_idle=30', 'tcp_keepalives_interval=10', 'tcp_keepalives_count=3',
                'tcp_user_timeout=60000'] <@ s.setconfig
     from pg_db_role_setting s where s.setrole = 'worker'::regrole and s.setdatabase = 0),
  'the server probes a silent worker''s connection after 30 s: a worker gone without a word (its machine, its network) no longer holds an invitation it is mailing, which revocations wait for, until its idle transaction''s 5 min end'
);

select ok(
  (select 'statement_timeout=5s' = any (s.setconfig)
     from pg_db_role_setting s where s.setrole = 'authenticator'::regrole and s.setdatabase = 0),
  'a statement of the API (PostgREST''s connections, whatever role a request becomes) ends after 5 s, before the edge stops waiting (30 s): one that ran for minutes kept one of PostgREST''s few connections'
);

/* Every login role, whatever roles there are (a new one too): a statement that runs on, a
   transaction left open and a sort or hash that spills to disk are each bounded. The temporary
   files' bound is a superuser's setting, which the role may neither lift nor reset: without it a
   login that can run any query (`select count(*) from (select * from generate_series(1, 1e10)
   order by 1) s` needs no table) filled the disk, where Postgres cannot write its write-ahead
   log, and every session stopped. */
select is_empty(
  $$ select r.rolname::text, wanted.name
       from pg_roles r
      cross join unnest(array['statement_timeout', 'idle_in_transaction_session_timeout', 'temp_file_limit']) wanted(name)
      where r.rolcanlogin and not r.rolsuper
        and not exists (select from pg_db_role_setting s cross join lateral unnest(s.setconfig) c(setting)
                         where s.setrole = r.oid and s.setdatabase = 0
                           and c.setting like wanted.name || '=%'
                           and c.setting not in (wanted.name || '=0', wanted.name || '=-1')) $$,
  'every login role has a statement timeout, an idle-in-transaction timeout and a bound on its temporary files'
);
select results_eq(
  $$ select r.rolname::text collate "default", c.setting collate "default"
       from pg_roles r
       join pg_db_role_setting s on s.setrole = r.oid and s.setdatabase = 0
      cross join lateral unnest(s.setconfig) c(setting)
      where r.rolcanlogin and not r.rolsuper
        and c.setting ~ '^(statement_timeout|idle_in_transaction_session_timeout|temp_file_limit|lock_timeout)='
      order by 1, 2 $$,
  $$ values ('authenticator', 'idle_in_transaction_session_timeout=1min'),
            ('authenticator', 'statement_timeout=5s'),
            ('authenticator', 'temp_file_limit=256MB'),
            ('edge', 'idle_in_transaction_session_timeout=1min'),
            ('edge', 'statement_timeout=1min'),
            ('edge', 'temp_file_limit=256MB'),
            ('panopticon', 'idle_in_transaction_session_timeout=5min'),
            ('panopticon', 'statement_timeout=2min'),
            ('panopticon', 'temp_file_limit=1GB'),
            ('pipeline', 'idle_in_transaction_session_timeout=5min'),
            ('pipeline', 'statement_timeout=10min'),
            ('pipeline', 'temp_file_limit=2GB'),
            ('worker', 'idle_in_transaction_session_timeout=5min'),
            ('worker', 'statement_timeout=1min'),
            ('worker', 'temp_file_limit=256MB') $$,
  'each login role''s bounds, as sql/roles.sql states them (docs/sql.md says why each)'
);

/* The statements of the edge (its auth calls: a password, a reset or session token) and of
   PostgREST (a call's JSON body: an invitation's token) carry secrets as their parameters, which
   Postgres writes into its log with a statement it logs (log_min_duration_statement, log_statement,
   log_min_error_statement) unless these say not to: a server's defaults print them whole, and
   logins of a second or more are common (bcrypt at cost 12, the edge's turns). */
select results_eq(
  $$ select r.rolname::text collate "default", c.setting collate "default"
       from pg_roles r
       join pg_db_role_setting s on s.setrole = r.oid and s.setdatabase = 0
      cross join lateral unnest(s.setconfig) c(setting)
      where r.rolname in ('authenticator', 'edge') and c.setting like 'log\_parameter\_max\_length%'
      order by 1, 2 $$,
  $$ values ('authenticator', 'log_parameter_max_length=0'),
            ('authenticator', 'log_parameter_max_length_on_error=0'),
            ('edge', 'log_parameter_max_length=0'),
            ('edge', 'log_parameter_max_length_on_error=0') $$,
  'the statements of the logins that carry passwords and tokens are logged without their parameters, whatever the server logs'
);

/* The API has no overloaded functions: one name, one signature, for PostgREST and codegen. */
select is_empty(
  $$ select proname from pg_proc where pronamespace = 'api'::regnamespace group by proname having count(*) > 1 $$,
  'no function in api is overloaded'
);

select * from finish();
rollback;
