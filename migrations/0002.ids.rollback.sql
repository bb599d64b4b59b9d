-- rollback of ids
set local lock_timeout = '5s';
set local statement_timeout = '1min';
drop domain if exists app.event_id, app.session_id, app.invitation_id, app.membership_id, app.org_id, app.user_id;
drop function if exists app.id_time(text), app.gen_id(text), app.raise_invalid_id_prefix(text),
  app.id_body(bigint, bytea), app.crockford_bytes(integer), app.crockford_pairs(integer, integer);
