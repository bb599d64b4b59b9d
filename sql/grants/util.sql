/*
 * Grants on schema util. Everything starts revoked (`just migrate` revokes every grant in the
 * managed schemas before the stateless layer runs); each statement here opens one door, and
 * sql/grants/<schema>.sql holds every grant on that schema's objects.
 *
 * The API functions run as their owner and need nothing here; what runs as the caller does:
 * the pre-request (a refusal, the allowed origins) and the pre-request's view of the session
 * (the idle timeout, and its refusal when it is no interval).
 */
grant usage on schema util to web_anon, authenticated, session_reader;
grant execute on function
  util.raise_error(integer, text, text, text, jsonb),
  util.setting(text, text),
  util.interval_setting(text, interval),
  util.setting_as_interval(text, text),
  util.refuse_setting(text, text, text)
  to web_anon, authenticated;
grant execute on function util.setting(text, text) to session_reader;

/* panopticon reads admin.active_sessions, whose idle timeout is the database's setting, read by
   its kind as the API reads it (a bad one refused by name, not another count of live sessions);
   a view's functions are checked against its reader, and so are those they call. The pipeline's functions raise coded errors as their caller, or as
   metrics_reader, the owner of the two that read every tenant. */
grant usage on schema util to panopticon, pipeline, metrics_reader;
grant execute on function
  util.database_setting(text, text),
  util.database_interval_setting(text, interval),
  util.setting_as_interval(text, text),
  util.refuse_setting(text, text, text),
  util.raise_error(integer, text, text, text, jsonb)
  to panopticon;
grant execute on function util.raise_error(integer, text, text, text, jsonb) to pipeline, metrics_reader;
grant execute on function util.require_week(date) to metrics_reader;
