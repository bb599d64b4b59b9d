-- rollback of slack
set local lock_timeout = '5s';
set local statement_timeout = '60s';

drop type api.slack_connection;
drop table app.slack_connections;
drop schema ext;
