-- slack_digests: the weekly Slack digests posted, so that a week run again posts only to the
-- organizations that did not get it (sql/schema/040_analytics.sql). A new, empty table.
set local lock_timeout = '5s';
set local statement_timeout = '1min';

create table analytics.slack_digests (
  week date not null constraint slack_digests_week_starts_on_monday check (extract(isodow from week) = 1),
  org_id app.org_id not null references app.organizations (id) on delete cascade,
  posted_at timestamptz not null default now(),
  constraint slack_digests_pkey primary key (week, org_id)
);
create index slack_digests_org_id_idx on analytics.slack_digests (org_id);
alter table analytics.slack_digests enable row level security;
alter table analytics.slack_digests force row level security;
comment on table analytics.slack_digests is
  'The weekly Slack digests posted (pipeline.slack_digest_posted), so that a week run again posts only to the organizations that did not get it.';
comment on column analytics.slack_digests.week is 'The Monday (UTC) of the week the digest told of.';
comment on column analytics.slack_digests.org_id is 'The organization whose channel got it.';
comment on column analytics.slack_digests.posted_at is 'When it was posted.';
