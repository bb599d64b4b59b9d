/* Deletes an organization (owners); its memberships and invitations go with it. The audit
   events stay (they carry the id), readable by nobody through the API any more. */
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
  /* The deletion takes the organization's row and every row that goes with it, which anything
     that holds one waits for: the API's own calls do so under the organization's lock (held here),
     but the pipeline's refresh locks the organizations whose daily rows it inserts (the foreign
     key) until its transaction ends, and a refresh stuck in it (idle, or a statement running on)
     held this call until the API's statement timeout, 5 s, with the organization's lock that every
     member's call waits behind, and one of PostgREST's connections. A refresh takes a fraction of
     a second: a wait past one second is one that may last, and the owner is asked to try again. */
  perform pg_catalog.set_config('lock_timeout', '1s', true);
  begin
    delete from app.organizations o where o.id = v_org;
  exception when lock_not_available then
    perform util.raise_error(503, 'org.busy',
      'The organization is being worked on (by the daily metrics, or another call under way); try again in a moment.');
  end;
  perform pg_catalog.set_config('lock_timeout', v_lock_timeout, true);
end
$$;

comment on function api.delete_organization(text) is
  'Deletes the organization with its memberships and invitations (owner). Errors: 401 auth.not_signed_in, 404 org.not_found, 403 org.forbidden, 503 org.busy.
@arg org_id app.org_id';
