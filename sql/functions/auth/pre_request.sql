/*
 * PostgREST's db-pre-request hook: runs at the start of every API request, in its transaction,
 * as the anonymous role. It must stay SECURITY INVOKER: a definer function may not `set role`.
 * The platform keeps every request anonymous; sessions (cookie or header -> user) come with
 * the auth work, which replaces this body.
 */
create function auth.pre_request() returns void
language plpgsql volatile
as $$
begin
  return;
end
$$;

comment on function auth.pre_request() is
  'PostgREST db-pre-request hook: establishes who is calling before every API request.';
