/* An organization's Slack channel (sql/schema/040_slack.sql), as the API shows it. */
create function app.slack_connection_view(p_org app.org_id) returns api.slack_connection
language sql stable
begin atomic
  select c.org_id, c.team_id, c.team_name, c.channel, c.connected_at, c.broken_at, c.broken_reason
    from app.slack_connections c
   where c.org_id = p_org;
end;

comment on function app.slack_connection_view(app.org_id) is
  'The organization''s Slack connection as the API shows it (null when there is none).';
