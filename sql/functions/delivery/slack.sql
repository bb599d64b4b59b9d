/*
 * What the worker calls to post an organization's events to its Slack channel
 * (worker/slack.py), as role worker, in one transaction per try like a mail:
 *
 *   delivery.claim_slack_post(event)   the event's row locked, with the channel, the sealed
 *                                      bot token and the connected_at of a working connection,
 *                                      and the names the message shows (nothing, the post
 *                                      withdrawn, when there is no such connection any more);
 *   (the worker opens the token and posts)
 *   delivery.delivered / delivery.failed   as for mail (messages.sql);
 *   delivery.slack_broken(org, reason, connected_at)  Slack refused the token or channel for
 *                                          good: that connection is marked broken, once, with an
 *                                          audit event the organization's members see (not one
 *                                          made since the claim).
 */
create function delivery.claim_slack_post(
  p_event_id text,
  out topic text,
  out attempts integer,
  out org_id text,
  out channel text,
  out token_key_id text,
  out token_sealed bytea,
  out connected_at timestamptz,
  out names jsonb
)
language plpgsql volatile security definer set search_path = ''
as $$
declare
  v_payload jsonb;
begin
  select o.topic, o.attempts, o.payload into topic, attempts, v_payload
    from app.outbox o
   where o.id = util.parse_id(p_event_id, 'evt')::app.event_id
     and o.topic like 'notify.%' and o.delivered_at is null and o.given_up_at is null
     for update;
  if not found then
    return;
  end if;
  org_id := v_payload ->> 'org_id';
  select c.channel, c.bot_token_key_id, c.bot_token_sealed, c.connected_at
    into channel, token_key_id, token_sealed, connected_at
    from app.slack_connections c
   where c.org_id = claim_slack_post.org_id collate "C" and c.broken_at is null;
  /* No working connection any more (disconnected, broken by an earlier post's refusal, or gone
     with its deleted organization) since the post was queued: there is nowhere to post it, and
     nothing failed. It is withdrawn, as an invitation's mail whose invitation was taken back
     (delivery.claim): given up with the reason, and nothing claimed. Taken for a failed post,
     each one queued behind a disconnection or a deletion ended its job failed, an alert of the
     failed deliveries' sensor for what was no failure. */
  if not found then
    perform app.withdraw_message(util.parse_id(p_event_id, 'evt')::app.event_id,
      'the organization has no working Slack connection any more (disconnected, broken or deleted)');
    topic := null; attempts := null; org_id := null;
    return;
  end if;
  -- Display names as they are now; a deleted account shows as nobody.
  names := pg_catalog.jsonb_strip_nulls(pg_catalog.jsonb_build_object(
    'org_name', v_payload ->> 'org_name',
    'user_name', (select u.display_name from app.users u where u.id = (v_payload ->> 'user_id') collate "C"),
    'by_name', (select u.display_name from app.users u
                 where u.id = coalesce(v_payload ->> 'removed_by', v_payload ->> 'by') collate "C"),
    'role', v_payload ->> 'role',
    'new_name', v_payload ->> 'new_name'));
end
$$;

comment on function delivery.claim_slack_post(text) is
  'A pending notification locked for the transaction, with its organization''s working Slack channel, sealed token and when it was connected, and the names its message shows; nulls when it is delivered, given up or unknown, or when its organization has no working Slack connection any more (withdrawn: given up, with the reason).';

/* Strict: a refusal that names no connection (a null) breaks none, where app.slack_broken would
   take it for any connection. Nobody's act: app.slack_broken audits it as app.current_user_id(),
   which is read from the session, where any login may set app.user_id; the worker's (or the
   pipeline's, through pipeline.slack_digest_refused) recorded the break in the organization's
   trail as the act of a member of its choosing. So no one is the caller while it runs (a
   function's own SET takes no custom setting from its non-superuser owner), and the caller's
   setting is given back after. */
create function delivery.slack_broken(p_org_id text, p_reason text, p_connected_at timestamptz) returns boolean
language plpgsql volatile strict security definer set search_path = ''
as $$
declare
  v_caller text := pg_catalog.current_setting('app.user_id', true);
  v_broken boolean;
begin
  /* Shown to the organization's members (its audit trail, its connection's state), so only
     Slack's name for the error (services/slack.py): the worker's or the pipeline's login could
     write them anything there, a link to follow among it. */
  if p_reason !~ '^[a-z][a-z0-9_]{0,99}$' then
    perform util.raise_error(422, 'slack.invalid_reason', 'Slack''s reason for the refusal must be its error code (channel_not_found, say).');
  end if;
  perform pg_catalog.set_config('app.user_id', '', true);
  v_broken := app.slack_broken(util.parse_id(p_org_id, 'org')::app.org_id, p_reason, p_connected_at);
  perform pg_catalog.set_config('app.user_id', coalesce(v_caller, ''), true);
  return v_broken;
end
$$;

comment on function delivery.slack_broken(text, text, timestamptz) is
  'Marks the organization''s Slack connection connected at p_connected_at (the claim''s) broken: Slack refused its token or channel for good; records it once in its audit trail; false when it was broken, replaced or gone already. '
  'Errors: 422 slack.invalid_reason.';
