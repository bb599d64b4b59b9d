-- rollback of membership_departures
set local lock_timeout = '5s';
set local statement_timeout = '1min';
-- app.end_membership, of the stateless layer, is made of SQL that names the table: it goes first
-- (the layer of the release rolled back to has no such function).
drop function if exists app.end_membership(app.org_id, app.user_id);
drop table app.membership_departures;
comment on column analytics.org_daily_metrics.members is 'Members at the end of the day (of the memberships that still exist).';
