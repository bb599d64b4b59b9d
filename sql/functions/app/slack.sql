/* An organization's Slack channel (sql/schema/040_slack.sql), as the API shows it to every member.
   The workspace's name is held to the rule of names shown to others (app.name_fault) when it is
   connected (ext.connect_slack); one stored before that rule, which breaks it (a bidi override
   turned what followed around on every member's screen), is shown as the workspace's id, which
   names it too, until an admin connects again. The stored name stays as Slack gave it. */
create function app.slack_connection_view(p_org app.org_id) returns api.slack_connection
language sql stable
begin atomic
  select c.org_id, c.team_id,
         case when app.name_fault(app.trimmed_name(c.team_name)) is null then app.trimmed_name(c.team_name)
              else c.team_id end,
         c.channel, c.connected_at, c.broken_at, c.broken_reason
    from app.slack_connections c
   where c.org_id = p_org;
end;

comment on function app.slack_connection_view(app.org_id) is
  'The organization''s Slack connection as the API shows it (null when there is none); a workspace name that breaks the rule of names shown to others is shown as the workspace''s id.';

/* A channel as Slack's chat.postMessage takes it: an id (C…, G…), or a name with or without its #. */
create function app.require_slack_channel(p_channel text) returns text
language plpgsql immutable
as $$
begin
  if p_channel is null or p_channel !~ '^#?[A-Za-z0-9][A-Za-z0-9._-]{0,79}$' then
    perform util.raise_error(422, 'slack.invalid_channel',
      'channel must be a Slack channel id (C…) or name (#name, or name: Slack takes both) of at most 80 letters, digits, dots, dashes and underscores.');
  end if;
  return p_channel;
end
$$;

comment on function app.require_slack_channel(text) is
  'The channel when it has the shape of a Slack channel id or name, with or without its #. Errors: 422 slack.invalid_channel.';

/* A connection broken for good, once: the posts stop, the members see it (broken_at, its reason,
   the audit event), and an admin connects again. Slack's refusal of its token or channel
   (delivery.slack_broken, pipeline.slack_digest_refused) and its maker losing the right to make
   it (app.break_slack_beyond_grant) come here. Slack's refusal is of the token a post was made
   with: p_connected_at names that connection, and one made since (an admin connected again
   while Slack answered) is not broken by it. */
create function app.slack_broken(p_org app.org_id, p_reason text, p_connected_at timestamptz default null)
returns boolean
language plpgsql volatile
as $$
begin
  update app.slack_connections c
     set broken_at = pg_catalog.now(), broken_reason = pg_catalog.left(p_reason, 200)
   where c.org_id = p_org and c.broken_at is null
     and (p_connected_at is null or c.connected_at = p_connected_at);
  if not found then
    return false;
  end if;
  perform app.org_audit(p_org, 'org.slack_broken', p_org,
    pg_catalog.jsonb_build_object('reason', pg_catalog.left(p_reason, 200)));
  return true;
end
$$;

comment on function app.slack_broken(app.org_id, text, timestamptz) is
  'Marks the organization''s Slack connection broken (the one connected at p_connected_at, when given) and records it once in its audit trail; false when it was broken, replaced or gone already.';
