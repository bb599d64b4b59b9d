-- rollback of devices
-- The stateless layer that uses the table (the login functions) must be the previous
-- release's, re-applied by `just migrate` of that release, before the table goes.
set local lock_timeout = '5s';
set local statement_timeout = '1min';
drop table if exists app.devices;
comment on column app.rate_limit_hits.kind is 'What is counted: login.email, login.addr, reset.email, reset.addr.';
comment on column app.rate_limit_hits.key is 'Who it is counted for: a lower-cased email or a client address.';
