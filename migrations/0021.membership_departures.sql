-- membership_departures: the memberships that end (a member leaves or is removed) are kept with
-- when they began, so that a past day's metrics count who was a member at its end, their logins
-- and activity with them; a day computed again after someone left counted them in none. A new,
-- empty table (the departures before it are not known).
set local lock_timeout = '5s';
set local statement_timeout = '1min';
/* Memberships that ended (the member left or was removed), with when they began: a past day's
   metrics count the members at its end from these too (pipeline.org_daily_counts), not only
   from the memberships that still exist. They go with their organization. */
create table app.membership_departures (
  id bigint generated always as identity,
  org_id app.org_id not null references app.organizations (id) on delete cascade,
  user_id app.user_id not null references app.users (id) on delete cascade,
  joined_at timestamptz not null,
  departed_at timestamptz not null default now(),
  constraint membership_departures_pkey primary key (org_id, id)
);
/* A day's count reads the departures after its end; the cascades read by organization (the
   primary key) and by user. */
create index membership_departures_departed_at_idx on app.membership_departures (departed_at);
create index membership_departures_user_id_idx on app.membership_departures (user_id);
alter table app.membership_departures enable row level security;
alter table app.membership_departures force row level security;
comment on table app.membership_departures is
  'Memberships that ended (app.end_membership), kept so that a past day''s metrics count who was a member at its end.';
comment on column app.membership_departures.org_id is 'The organization.';
comment on column app.membership_departures.user_id is 'The member who left or was removed.';
comment on column app.membership_departures.joined_at is 'When the membership began.';
comment on column app.membership_departures.departed_at is 'When it ended.';
comment on column analytics.org_daily_metrics.members is 'Members at the end of the day (those who left since among them, from migration 0021 on).';
