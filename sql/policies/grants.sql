/*
 * Who may reach which schema. Everything starts revoked (`just migrate` revokes all grants
 * before this layer runs); each line here opens exactly one door.
 */

/* PostgREST: the API schema, and the pre-request hook it runs for every request. */
grant usage on schema api to web_anon, authenticated;
grant usage on schema auth to web_anon, authenticated;
grant execute on function auth.pre_request() to web_anon, authenticated;

/* Operators read the admin views; the pipeline its own schema. */
grant usage on schema admin to panopticon;
grant usage on schema pipeline to pipeline;
