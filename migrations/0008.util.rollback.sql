-- rollback of util
-- The stateless layer that uses the schema must be the previous release's, re-applied by
-- `just migrate` of that release, before the schema goes.
drop schema if exists util;
