/* The answer of an auth function that refuses without raising (which would roll back what it
   counted): the edge answers it with this status, code and message, and Retry-After. */
create function auth.refusal(p_status integer, p_code text, p_message text, p_retry_after integer default null)
returns jsonb
language sql immutable parallel safe
return pg_catalog.jsonb_strip_nulls(pg_catalog.jsonb_build_object(
  'ok', false, 'status', p_status, 'code', p_code, 'message', p_message, 'retry_after', p_retry_after));

comment on function auth.refusal(integer, text, text, integer) is
  'A refusal returned as a result: {ok: false, status, code, message, retry_after?}.';

create function auth.rate_limited(p_retry_after integer, p_message text default 'Too many attempts; try again later.')
returns jsonb
language sql immutable parallel safe
return auth.refusal(429, 'auth.rate_limited', p_message, p_retry_after);

comment on function auth.rate_limited(integer, text) is 'The refusal 429 auth.rate_limited with the seconds to wait.';
