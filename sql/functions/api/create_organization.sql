/* Any signed-in user creates an organization and becomes its owner. The slug is the name's
   (app.slugify), a hyphen and six random characters, every time: slugs are global, and a slug
   that came out plain unless another tenant had the name would tell anyone who creates an
   organization which names other tenants use. The six characters are the end of a fresh id,
   30 random bits in the ids' alphabet; a collision draws again. At most 10 a day per user,
   unless the setting says otherwise (sql/functions/app/rate_limits.sql). */
create function api.create_organization(name text) returns api.organization
language plpgsql volatile security definer set search_path = ''
as $$
declare
  v_user app.user_id := auth.require_account();
  v_name text := app.valid_org_name(create_organization.name);
  v_base text := app.slugify(v_name);
  v_slug text;
  v_org app.org_id := app.gen_id('org')::app.org_id;
  v_made boolean := false;
begin
  -- 24 hours, not '1 day': a day of the session's wall clock, 23 or 25 hours across a change of
  -- its clocks, drew the day where the session's time zone put it.
  perform app.spend_quota('org.create', v_user, util.limit_setting('organizations_per_user_per_day', 10),
                          interval '24 hours', 'org.rate_limited', 'Too many new organizations; try again later.');
  for attempt in 1..10 loop
    v_slug := v_base || '-' || pg_catalog.right(app.gen_id('org'), 6);
    insert into app.organizations (id, name, slug, created_by)
    values (v_org, v_name, v_slug, v_user)
    on conflict (slug) do nothing;
    v_made := found;
    exit when v_made;
  end loop;
  if not v_made then
    perform util.raise_error(409, 'org.slug_taken', 'Could not find a free URL name; try another name.');
  end if;
  insert into app.memberships (org_id, user_id, role) values (v_org, v_user, 'owner');
  perform app.org_audit(v_org, 'org.created', v_org, pg_catalog.jsonb_build_object('name', v_name, 'slug', v_slug));
  return app.organization_view(v_org);
end
$$;

comment on function api.create_organization(text) is
  'Creates an organization owned by the caller. Errors: 401 auth.not_signed_in, 409 org.slug_taken, 422 org.invalid_name, 429 org.rate_limited, 500 server.invalid_setting.
@arg name text';
