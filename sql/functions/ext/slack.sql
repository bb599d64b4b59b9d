/*
 * Connecting an organization to Slack (the edge's routes /ext/slack/connect and disconnect,
 * edge/ext.py), in two steps around the call to Slack that only the edge can make:
 *
 *   ext.slack_may_connect(session, org)   the caller is an owner or admin of it, else refused
 *                                         before the token is ever sent to Slack;
 *   (the edge checks the token with Slack's auth.test and seals it)
 *   ext.connect_slack(session, org, …)    the same check again, in the transaction that
 *                                         stores the sealed token.
 *
 * Each runs as its owner, as the session's user (auth.act_as_session).
 */
create function ext.slack_may_connect(p_session text, p_org_id text) returns app.org_id
language plpgsql volatile security definer set search_path = ''
as $$
declare
  v_org app.org_id := util.parse_id(p_org_id, 'org')::app.org_id;
begin
  perform auth.act_as_session(p_session);
  perform app.require_role(v_org, '{owner,admin}');
  return v_org;
end
$$;

comment on function ext.slack_may_connect(text, text) is
  'The organization''s id when the session''s user may connect it to Slack. Errors: 401 auth.not_signed_in, 404 org.not_found, 403 org.forbidden.';

create function ext.connect_slack(
  p_session text,
  p_org_id text,
  p_channel text,
  p_team_id text,
  p_team_name text,
  p_token_key_id text,
  p_token_sealed bytea
) returns api.slack_connection
language plpgsql volatile security definer set search_path = ''
as $$
declare
  v_user app.user_id := auth.act_as_session(p_session);
  v_org app.org_id := util.parse_id(p_org_id, 'org')::app.org_id;
begin
  perform app.lock_org(v_org);
  perform app.require_role(v_org, '{owner,admin}');
  if p_channel is null or p_channel !~ '^#?[A-Za-z0-9][A-Za-z0-9._-]{0,79}$' then
    perform util.raise_error(422, 'slack.invalid_channel',
      'channel must be a Slack channel id (C…) or #name of at most 80 letters, digits, dots, dashes and underscores.');
  end if;
  insert into app.slack_connections as c
         (org_id, team_id, team_name, channel, bot_token_key_id, bot_token_sealed, connected_by)
  values (v_org, p_team_id, pg_catalog.left(p_team_name, 200), p_channel, p_token_key_id, p_token_sealed, v_user)
  on conflict (org_id) do update
     set team_id = excluded.team_id, team_name = excluded.team_name, channel = excluded.channel,
         bot_token_key_id = excluded.bot_token_key_id, bot_token_sealed = excluded.bot_token_sealed,
         connected_by = excluded.connected_by, connected_at = pg_catalog.now(),
         broken_at = null, broken_reason = null;
  perform app.org_audit(v_org, 'org.slack_connected', v_org,
    pg_catalog.jsonb_build_object('team_id', p_team_id, 'channel', p_channel));
  return app.slack_connection_view(v_org);
end
$$;

comment on function ext.connect_slack(text, text, text, text, text, text, bytea) is
  'Stores the organization''s Slack channel and sealed bot token (owner, admin), replacing any before. Errors: 401 auth.not_signed_in, 404 org.not_found, 403 org.forbidden, 422 slack.invalid_channel.';

create function ext.disconnect_slack(p_session text, p_org_id text) returns boolean
language plpgsql volatile security definer set search_path = ''
as $$
declare
  v_org app.org_id := util.parse_id(p_org_id, 'org')::app.org_id;
begin
  perform auth.act_as_session(p_session);
  perform app.lock_org(v_org);
  perform app.require_role(v_org, '{owner,admin}');
  delete from app.slack_connections c where c.org_id = v_org;
  if not found then
    return false;
  end if;
  perform app.org_audit(v_org, 'org.slack_disconnected', v_org);
  return true;
end
$$;

comment on function ext.disconnect_slack(text, text) is
  'Forgets the organization''s Slack channel and token (owner, admin); false when there was none. Errors: 401 auth.not_signed_in, 404 org.not_found, 403 org.forbidden.';
