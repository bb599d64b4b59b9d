-- rollback of platform
set local lock_timeout = '5s';
set local statement_timeout = '1min';
alter default privileges grant execute on functions to public;
drop extension if exists pgcrypto;
drop schema if exists pipeline, admin, api, auth, app, extensions;
