/*
 * Who is calling: set for the transaction by auth.pre_request from a valid session, read by
 * policies and definer functions. Wrap as `(select app.current_user_id())` in policies so
 * Postgres evaluates it once per statement. A reset GUC reads back as '', hence nullif.
 */
create function app.current_user_id() returns app.user_id
language sql stable parallel safe
return nullif(pg_catalog.current_setting('app.user_id', true), '')::app.user_id;

comment on function app.current_user_id() is
  'The signed-in user of this transaction (set by auth.pre_request), or null.';

create function app.current_session_id() returns app.session_id
language sql stable parallel safe
return nullif(pg_catalog.current_setting('app.session_id', true), '')::app.session_id;

comment on function app.current_session_id() is
  'The session of this transaction (set by auth.pre_request), or null.';
