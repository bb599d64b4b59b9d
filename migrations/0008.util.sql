-- util: a schema for the general helpers (coded errors, ids, settings, tokens) that the other
-- schemas use, so that app and auth no longer call each other for them. Its functions are
-- stateless objects (sql/functions/util), made by the same `just migrate` after this.
create schema util;
comment on schema util is 'General helpers every other schema may use: coded errors, ids, settings, tokens. Depends on nothing.';
