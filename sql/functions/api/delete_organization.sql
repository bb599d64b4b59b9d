/* Deletes an organization (owners). It is gone at once for every reader: its row is marked
   deleted (app.organization_exists, the operators' views and the pipeline leave it out), its
   memberships go (every call of the API finds it through them), its open invitations are closed
   (their mail withdrawn, their tokens refused) and its Slack connection goes (nothing more is
   posted). What that costs is bounded by what its owner controls: its members, and the
   invitations open at once, which its hourly limit bounds. Its history (every invitation it ever
   sent, every AI request of its members, its daily metrics) is purged afterwards by the hourly
   housekeeping, a bounded batch at a time (sql/functions/app/org_deletion.sql): deleted here
   with its row, by the foreign keys' cascades, it grew without bound, and at 166,000
   invitations the call outlived the API's statement timeout every time, so that the owner could
   never delete it. The audit events stay (they carry the id), readable by nobody through the API
   any more. */
create function api.delete_organization(org_id text) returns void
language plpgsql volatile security definer set search_path = ''
as $$
declare
  v_user app.user_id := auth.require_user();
  v_org app.org_id := util.parse_id(delete_organization.org_id, 'org')::app.org_id;
  v_members app.user_id[];
  v_lock_timeout constant text := pg_catalog.current_setting('lock_timeout');
begin
  perform app.lock_org_as_member(v_org);
  perform app.require_role(v_org, '{owner}');
  select pg_catalog.array_agg(m.user_id) into v_members from app.memberships m where m.org_id = v_org;
  perform app.org_audit(v_org, 'org.deleted', v_org);
  perform app.org_notify('notify.org_deleted', pg_catalog.jsonb_build_object(
    'org_id', v_org, 'deleted_by', v_user, 'members', pg_catalog.to_jsonb(v_members)));
  /* The organization's row is taken as a deletion takes it, which anything that holds it waits
     for: the API's own calls do so under the organization's lock (held here), but the
     pipeline's refresh locks the organizations whose daily rows it inserts (the foreign key)
     until its transaction ends, and a refresh stuck in it (idle, or a statement running on)
     held this call until the API's statement timeout, 5 s, with the organization's lock that
     every member's call waits behind, and one of PostgREST's connections. A refresh takes a
     fraction of a second: a wait past one second is one that may last, and the owner is asked
     to try again. Once the row is taken, a refresh under way has written its rows, which the
     purge deletes, and a later one leaves the organization out. */
  perform pg_catalog.set_config('lock_timeout', '1s', true);
  begin
    perform from app.organizations o where o.id = v_org for update;
    update app.organizations o set deleted_at = pg_catalog.now() where o.id = v_org;
    -- Unaudited, as the deletion's own: nothing is revoked or audited after it.
    update app.invitations i set revoked_at = pg_catalog.now()
     where i.org_id = v_org and i.accepted_at is null and i.declined_at is null and i.revoked_at is null;
    -- The rule of app.tg_memberships__revoke_on_delete finds the organization gone, and does nothing.
    delete from app.memberships m where m.org_id = v_org;
    delete from app.slack_connections c where c.org_id = v_org;
  exception when lock_not_available then
    perform util.raise_error(503, 'org.busy',
      'The organization is being worked on (by the daily metrics, or another call under way); try again in a moment.');
  end;
  perform pg_catalog.set_config('lock_timeout', v_lock_timeout, true);
end
$$;

comment on function api.delete_organization(text) is
  'Deletes the organization with its memberships and invitations (owner): gone at once, its history purged afterwards. Errors: 401 auth.not_signed_in, 404 org.not_found, 403 org.forbidden, 503 org.busy, 500 server.invalid_setting.
@arg org_id app.org_id';
