/*
 * Connecting an organization to Slack (the edge's routes /ext/slack/connect and disconnect,
 * edge/slack.py), in two steps around the call to Slack that only the edge can make:
 *
 *   ext.slack_may_connect(session, org, channel)   the caller is an owner or admin of it and
 *                                         the channel well-formed, else refused before the
 *                                         token is ever sent to Slack;
 *   (the edge checks the token with Slack's auth.test and seals it)
 *   ext.connect_slack(session, org, …)    the same check again, in the transaction that
 *                                         stores the sealed token.
 *
 * Each runs as its owner, as the session's user (auth.act_as_session). Every call to Slack
 * that a connection attempt makes is counted: at most app.settings.slack_connects_per_org_per_hour
 * (default 10) per organization, so that nobody drives Slack through us.
 */
create function ext.slack_may_connect(p_session text, p_org_id text, p_channel text) returns app.org_id
language plpgsql volatile security definer set search_path = ''
as $$
declare
  v_org app.org_id := util.parse_id(p_org_id, 'org')::app.org_id;
begin
  perform auth.act_as_session(p_session);
  perform app.require_role(v_org, '{owner,admin}');
  perform app.require_slack_channel(p_channel);
  perform app.spend_quota('slack.connect', v_org, util.limit_setting('slack_connects_per_org_per_hour', 10),
                          interval '1 hour', 'slack.rate_limited', 'Too many attempts to connect Slack; try again later.');
  return v_org;
end
$$;

comment on function ext.slack_may_connect(text, text, text) is
  'The organization''s id when the session''s user may connect it to this Slack channel, counting the attempt. Errors: 401 auth.not_signed_in, 404 org.not_found, 403 org.forbidden, 422 slack.invalid_channel, 429 slack.rate_limited, 500 server.invalid_setting.';

create function ext.connect_slack(
  p_session text,
  p_org_id text,
  p_channel text,
  p_team_id text,
  p_team_name text,
  p_token_key_id text,
  p_token_sealed bytea
) returns jsonb
language plpgsql volatile security definer set search_path = ''
as $$
declare
  v_user app.user_id := auth.act_as_session(p_session);
  v_org app.org_id := util.parse_id(p_org_id, 'org')::app.org_id;
  v_team_name text := app.trimmed_name(p_team_name);
begin
  perform app.lock_org_as_member(v_org);
  perform app.require_role(v_org, '{owner,admin}');
  perform app.require_slack_channel(p_channel);
  /* The workspace's name is shown to every member beside the names they typed: it keeps the rule
     of names shown to others (a bidi override in it turned what followed around). */
  if app.name_fault(v_team_name) is not null then
    perform util.raise_error(422, 'slack.invalid_team_name',
      'The Slack workspace''s name must have 1 to 100 characters, without control, bidi-control or invisible characters: rename the workspace in Slack, then connect again.');
  end if;
  insert into app.slack_connections as c
         (org_id, team_id, team_name, channel, bot_token_key_id, bot_token_sealed, connected_by)
  values (v_org, p_team_id, v_team_name, p_channel, p_token_key_id, p_token_sealed, v_user)
  on conflict (org_id) do update
     set team_id = excluded.team_id, team_name = excluded.team_name, channel = excluded.channel,
         bot_token_key_id = excluded.bot_token_key_id, bot_token_sealed = excluded.bot_token_sealed,
         connected_by = excluded.connected_by, connected_at = pg_catalog.now(),
         broken_at = null, broken_reason = null;
  perform app.org_audit(v_org, 'org.slack_connected', v_org,
    pg_catalog.jsonb_build_object('team_id', p_team_id, 'channel', p_channel));
  -- As JSON made here, so that the edge answers exactly what get_slack_connection would.
  return pg_catalog.to_jsonb(app.slack_connection_view(v_org));
end
$$;

comment on function ext.connect_slack(text, text, text, text, text, text, bytea) is
  'Stores the organization''s Slack channel and sealed bot token (owner, admin), replacing any before; the connection as api.slack_connection''s JSON. Errors: 401 auth.not_signed_in, 404 org.not_found, 403 org.forbidden, 422 slack.invalid_channel, 422 slack.invalid_team_name, 500 server.invalid_setting.';

create function ext.disconnect_slack(p_session text, p_org_id text) returns void
language plpgsql volatile security definer set search_path = ''
as $$
declare
  v_org app.org_id := util.parse_id(p_org_id, 'org')::app.org_id;
begin
  perform auth.act_as_session(p_session);
  perform app.lock_org_as_member(v_org);
  perform app.require_role(v_org, '{owner,admin}');
  delete from app.slack_connections c where c.org_id = v_org;
  if not found then
    perform util.raise_error(404, 'slack.not_connected', 'This organization is not connected to Slack.');
  end if;
  perform app.org_audit(v_org, 'org.slack_disconnected', v_org);
end
$$;

comment on function ext.disconnect_slack(text, text) is
  'Forgets the organization''s Slack channel and token (owner, admin). Errors: 401 auth.not_signed_in, 404 org.not_found, 403 org.forbidden, 404 slack.not_connected, 500 server.invalid_setting.';
