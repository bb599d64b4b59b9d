/*
 * The views of the caller's own memberships, app.my_memberships and app.my_organizations (see
 * sql/views/app_my_memberships.sql). They have no filter of their own: the policy own_rows on
 * app.memberships is what keeps them to the caller. These tests read them as blossom_owner, as
 * the api functions do, and try to get more out of them than the caller's own rows.
 */
begin;
select plan(9);

select tap.make_users(array['ann', 'bob', 'loner']);
select tap.make_org('acme', '{"ann": "owner", "bob": "member"}');
select tap.make_org('bobco', '{"bob": "owner"}');

/* The names of the organizations and roles the user of id p_user_id sees through
   app.my_organizations, read as blossom_owner; and the organizations through app.my_memberships. */
create function pg_temp.listed(p_user_id text, out organizations text, out memberships text)
language plpgsql
as $$
begin
  perform set_config('app.user_id', p_user_id, true);
  set local role blossom_owner;
  select string_agg(o.name || ':' || o.role, ', ' order by o.name) into organizations from app.my_organizations o;
  select string_agg(o.name, ', ' order by o.name) into memberships
    from app.my_memberships m join app.organizations o on o.id = m.org_id;
  reset role;
end
$$;

select is((pg_temp.listed(tap.id('ann'))).organizations, 'Acme:owner', 'ann lists her one organization');
select is((pg_temp.listed(tap.id('bob'))).organizations, 'Acme:member, Bobco:owner', 'bob lists both of his, with his role in each');
select is((pg_temp.listed(tap.id('bob'))).memberships, 'Acme, Bobco', 'app.my_memberships shows bob his memberships');
select is((pg_temp.listed(tap.id('loner'))).organizations, null, 'a user without organizations lists none');
select is((pg_temp.listed('')).organizations, null, 'signed out, nothing');
select is((pg_temp.listed(tap.id('acme'))).organizations, null,
  'an organization''s id in place of a user''s shows nothing');

/* org_lister reads app.organizations under a policy that admits every row, so the view's inner
   join from the caller's memberships is what bounds the organizations it shows: an organization
   nobody belongs to reaches nobody. */
insert into app.organizations (name, slug) values ('Orphan', 'orphan');
select is_empty($$ select from tap.fixtures u cross join lateral pg_temp.listed(u.value) l
                    where l.organizations like '%Orphan%' $$,
  'an organization without members is listed to nobody');

/* Neither view filters anything itself: without own_rows, forced RLS leaves both empty. The
   policy, not the view, is what admits rows. */
drop policy own_rows on app.memberships;
select is(pg_temp.listed(tap.id('bob')), row(null::text, null::text), 'without the policy own_rows, neither view shows a row');
select is(pg_temp.listed(tap.id('ann')), row(null::text, null::text), 'nor to anyone else');

select * from finish();
rollback;
