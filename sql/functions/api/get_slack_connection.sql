/* The organization's Slack channel, for its members: never the token. */
create function api.get_slack_connection(org_id text) returns api.slack_connection
language plpgsql stable security definer set search_path = ''
as $$
declare
  v_org app.org_id := util.parse_id(get_slack_connection.org_id, 'org')::app.org_id;
  v_connection api.slack_connection;
begin
  perform auth.require_user();
  perform app.require_membership(v_org);
  v_connection := app.slack_connection_view(v_org);
  if v_connection.org_id is null then
    perform util.raise_error(404, 'slack.not_connected', 'This organization is not connected to Slack.');
  end if;
  return v_connection;
end
$$;

comment on function api.get_slack_connection(text) is
  'The organization''s Slack channel and whether it works, never its token. Errors: 401 auth.not_signed_in, 404 org.not_found, 404 slack.not_connected.
@arg org_id app.org_id';
