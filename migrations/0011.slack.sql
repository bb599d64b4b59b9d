-- slack: an organization's Slack channel with its sealed bot token, what the API shows of it,
-- and the schema of the edge's /ext functions (sql/schema/000_database.sql, 040_slack.sql).
set local lock_timeout = '5s';
set local statement_timeout = '60s';

create schema ext;
comment on schema ext is 'What the edge''s /ext routes call, on behalf of a signed-in caller: outside services (Slack, AI).';

create table app.slack_connections (
  org_id app.org_id primary key references app.organizations (id) on delete cascade,
  team_id text not null constraint slack_connections_team_id_shape check (team_id ~ '^[A-Z0-9]{1,32}$'),
  team_name text not null constraint slack_connections_team_name_length check (char_length(team_name) <= 200),
  channel text not null constraint slack_connections_channel_shape check (channel ~ '^#?[A-Za-z0-9][A-Za-z0-9._-]{0,79}$'),
  bot_token_key_id text not null constraint slack_connections_key_id_shape check (bot_token_key_id ~ '^[A-Za-z0-9_.-]{1,32}$'),
  bot_token_sealed bytea not null
    constraint slack_connections_sealed_length check (octet_length(bot_token_sealed) between 29 and 1024),
  connected_by app.user_id references app.users (id) on delete set null,
  connected_at timestamptz not null default now(),
  broken_at timestamptz,
  broken_reason text constraint slack_connections_broken_reason_length check (char_length(broken_reason) <= 200)
);
alter table app.slack_connections enable row level security;
alter table app.slack_connections force row level security;
comment on table app.slack_connections is
  'An organization''s Slack channel for its events; the bot token sealed by the edge (never plaintext).';
comment on column app.slack_connections.org_id is 'The organization (one channel each).';
comment on column app.slack_connections.team_id is 'The Slack workspace''s id, as auth.test reported it.';
comment on column app.slack_connections.team_name is 'The Slack workspace''s name, as auth.test reported it.';
comment on column app.slack_connections.channel is 'Where events are posted: a channel id (C…) or #name.';
comment on column app.slack_connections.bot_token_key_id is 'Which key of BLOSSOM_SECRETS_KEY''s ring sealed the token.';
comment on column app.slack_connections.bot_token_sealed is 'The bot token: a 12-byte nonce, then AES-GCM ciphertext and tag.';
comment on column app.slack_connections.connected_by is 'Who connected it.';
comment on column app.slack_connections.connected_at is 'When it was (last) connected.';
comment on column app.slack_connections.broken_at is
  'When Slack refused the token or the channel for good; nothing is posted until it is connected again.';
comment on column app.slack_connections.broken_reason is 'Slack''s error when it broke, e.g. invalid_auth.';

/* What api.get_slack_connection and the connect route return: never the token. */
create type api.slack_connection as (
  org_id app.org_id,
  team_id text,
  team_name text,
  channel text,
  connected_at timestamptz,
  broken_at timestamptz,
  broken_reason text
);
comment on type api.slack_connection is 'An organization''s Slack channel as its members see it (never the token).';
comment on column api.slack_connection.org_id is 'The organization. @notnull';
comment on column api.slack_connection.team_id is 'The Slack workspace''s id. @notnull';
comment on column api.slack_connection.team_name is 'The Slack workspace''s name. @notnull';
comment on column api.slack_connection.channel is 'The channel events are posted to. @notnull';
comment on column api.slack_connection.connected_at is 'When it was connected. @notnull';
comment on column api.slack_connection.broken_at is 'When Slack refused the token or channel for good; null while it works.';
comment on column api.slack_connection.broken_reason is 'Slack''s error when it broke (invalid_auth, channel_not_found, …).';
