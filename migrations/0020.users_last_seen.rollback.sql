-- rollback of users_last_seen
set local lock_timeout = '5s';
set local statement_timeout = '1min';
alter table app.users drop column last_seen_at;
