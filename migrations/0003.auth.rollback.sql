-- rollback of auth
set local lock_timeout = '5s';
set local statement_timeout = '1min';
drop type if exists api.user_profile;
drop table if exists app.audit_events, app.outbox, app.password_resets, app.rate_limit_hits,
  app.sessions, app.user_secrets, app.users;
drop domain if exists app.email;
