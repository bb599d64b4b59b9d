/*
 * The views of the caller's own memberships, app.my_memberships and app.my_organizations (see
 * sql/views/app_my_memberships.sql). They have no filter of their own: the policy own_rows on
 * app.memberships is what keeps them to the caller. These tests read them as blossom_owner, as
 * the api functions do, and try to get more out of them than the caller's own rows.
 */
begin;
select plan(9);

create schema tap_views;
create table tap_views.ids (name text primary key, id text not null);
with made as (
  insert into app.users (email, display_name)
  select n || '@example.com', n from unnest(array['ann', 'bob', 'loner']) n
  returning id, display_name)
insert into tap_views.ids select display_name, id from made;
insert into tap_views.ids values ('acme', app.gen_id('org')), ('bobco', app.gen_id('org'));
insert into app.organizations (id, name, slug)
select (select id from tap_views.ids where name = o), initcap(o), o from unnest(array['acme', 'bobco']) o;
insert into app.memberships (org_id, user_id, role)
select (select id from tap_views.ids where name = o), (select id from tap_views.ids where name = u), r::app.org_role
  from (values ('acme', 'ann', 'owner'), ('acme', 'bob', 'member'), ('bobco', 'bob', 'owner')) as m (o, u, r);

/* The names of the organizations and roles a user sees through app.my_organizations, read as
   blossom_owner; and the organizations through app.my_memberships. */
create function tap_views.listed(p_user text, out organizations text, out memberships text)
language plpgsql
as $$
begin
  perform set_config('app.user_id', coalesce((select id from tap_views.ids where name = p_user), p_user), true);
  set local role blossom_owner;
  select string_agg(o.name || ':' || o.role, ', ' order by o.name) into organizations from app.my_organizations o;
  select string_agg(o.name, ', ' order by o.name) into memberships
    from app.my_memberships m join tap_views.ids i on i.id = m.org_id join app.organizations o on o.id = i.id;
  reset role;
end
$$;
grant usage on schema tap_views to blossom_owner;
grant select on tap_views.ids to blossom_owner;

select is((tap_views.listed('ann')).organizations, 'Acme:owner', 'ann lists her one organization');
select is((tap_views.listed('bob')).organizations, 'Acme:member, Bobco:owner', 'bob lists both of his, with his role in each');
select is((tap_views.listed('bob')).memberships, 'Acme, Bobco', 'app.my_memberships shows bob his memberships');
select is((tap_views.listed('loner')).organizations, null, 'a user without organizations lists none');
select is((tap_views.listed('')).organizations, null, 'signed out, nothing');
select is((tap_views.listed((select id from tap_views.ids where name = 'acme'))).organizations, null,
  'an organization''s id in place of a user''s shows nothing');

/* org_lister reads app.organizations under a policy that admits every row, so the view's inner
   join from the caller's memberships is what bounds the organizations it shows: an organization
   nobody belongs to reaches nobody. */
insert into app.organizations (name, slug) values ('Orphan', 'orphan');
select is_empty($$ select from tap_views.ids u cross join lateral tap_views.listed(u.name) l
                    where l.organizations like '%Orphan%' $$,
  'an organization without members is listed to nobody');

/* Neither view filters anything itself: without own_rows, forced RLS leaves both empty. The
   policy, not the view, is what admits rows. */
drop policy own_rows on app.memberships;
select is(tap_views.listed('bob'), row(null::text, null::text), 'without the policy own_rows, neither view shows a row');
select is(tap_views.listed('ann'), row(null::text, null::text), 'nor to anyone else');

select * from finish();
rollback;
