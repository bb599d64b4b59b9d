-- rollback of util
-- The stateless layer that uses the schema must be the previous release's, re-applied by
-- `just migrate` of that release, before the schema goes.
set local lock_timeout = '5s';
set local statement_timeout = '1min';
drop schema if exists util;
