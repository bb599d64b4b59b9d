-- rollback of mail
-- The stateless layer that uses these (the worker's functions, email verification) must be the
-- previous release's, re-applied by `just migrate` of that release, before they go.
set local lock_timeout = '5s';
set local statement_timeout = '1min';
alter type api.user_profile drop attribute if exists email_verified;
drop table if exists app.email_verifications;
alter table app.outbox drop column if exists given_up_at;
alter table app.users drop column if exists email_verified_at;
drop schema if exists delivery;
