-- rollback of platform
alter default privileges grant execute on functions to public;
drop extension if exists pgcrypto;
drop schema if exists pipeline, admin, api, auth, app, extensions;
