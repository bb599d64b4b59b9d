/* An organization's AI spend this month against its quota, for its owners and admins. */
create function api.get_ai_usage(org_id text) returns api.ai_usage
language plpgsql stable security definer set search_path = ''
as $$
declare
  v_org app.org_id := util.parse_id(get_ai_usage.org_id, 'org')::app.org_id;
begin
  perform auth.require_user();
  perform app.require_role(v_org, '{owner,admin}');
  return app.ai_usage_view(v_org);
end
$$;

comment on function api.get_ai_usage(text) is
  'The organization''s AI tokens this calendar month (UTC): quota, charged, held by calls under way; calls answered, cached and failed. Errors: 401 auth.not_signed_in, 404 org.not_found, 403 org.forbidden, 500 server.invalid_setting.
@arg org_id app.org_id';
