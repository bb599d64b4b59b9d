/*
 * Errors leave the database in PostgREST's JSON form, so that the HTTP status and the stable
 * code (auth.not_signed_in, ...) are ours. The edge reads the same form from psycopg errors.
 */
create function util.raise_error(
  p_status integer,
  p_code text,
  p_message text,
  p_hint text default null,
  p_headers jsonb default '{}'
) returns void
language plpgsql volatile
as $$
begin
  raise sqlstate 'PGRST' using
    message = pg_catalog.json_build_object(
      'code', p_code, 'message', p_message, 'details', null, 'hint', p_hint)::text,
    detail = pg_catalog.json_build_object(
      'status', p_status, 'headers', coalesce(p_headers, '{}'::jsonb))::text;
end
$$;

comment on function util.raise_error(integer, text, text, text, jsonb) is
  'Raises an error that PostgREST answers with the given HTTP status, headers and {code, message, hint}.';
