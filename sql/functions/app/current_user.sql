/*
 * Who is calling: set for the transaction by auth.pre_request from a valid session, read by
 * definer functions (the organization policies use app.current_user_key(), below). A reset
 * GUC reads back as '', hence nullif.
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

/* The same identity for policies, which compare it with an id column in every statement: the
   raw setting, without the cast to app.user_id (its regex CHECK runs at every evaluation) and
   without nullif ('' matches no id, as null does not). Inlined into the policy, it is one call
   of current_setting. Compare as `col = (app.current_user_key() collate "C")`, the collation
   of the id columns, so that the comparison is an index condition. Not for values that are
   stored or returned: those come from app.current_user_id(). */
create function app.current_user_key() returns text
language sql stable parallel safe
return pg_catalog.current_setting('app.user_id', true);

comment on function app.current_user_key() is
  'The signed-in user''s id as the unchecked text of app.user_id ('''' or null when signed out), for policies to compare with collate "C".';
