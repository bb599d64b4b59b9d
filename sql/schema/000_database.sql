/*
 * Schemas and database-wide defaults. Every object belongs to blossom_owner, a role that
 * cannot log in; `app` holds the tables and is reachable only through functions and policies.
 */

create schema extensions;
comment on schema extensions is 'Extensions, kept out of the schemas PostgREST and people browse.';

create extension pgcrypto with schema extensions;

create schema util;
comment on schema util is 'General helpers every other schema may use: coded errors, ids, settings, tokens. Depends on nothing.';

create schema app;
comment on schema app is 'Tables and their helpers. No role but the owner touches it directly.';

create schema auth;
comment on schema auth is 'Password hashing, sessions and the PostgREST pre-request.';

create schema api;
comment on schema api is 'The public RPC surface exposed by PostgREST as /rpc/*.';

create schema admin;
comment on schema admin is 'Read-only views across tenants for operators (panopticon).';

create schema pipeline;
comment on schema pipeline is 'What the batch pipeline reads and writes.';

create schema delivery;
comment on schema delivery is 'What the worker calls to deliver the outbox''s messages.';

create schema ext;
comment on schema ext is 'What the edge''s /ext routes call, on behalf of a signed-in caller: outside services (Slack, AI).';

/* Functions are executable by PUBLIC unless told otherwise; each api function is granted
   explicitly instead. */
alter default privileges revoke execute on functions from public;
