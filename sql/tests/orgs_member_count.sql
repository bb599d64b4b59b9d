/*
 * app.organizations.member_count follows the memberships: joins (creating, accepting an
 * invitation), leaves, removals, deletion of the organization, and statements that change
 * several organizations at once; what RLS refuses does not count; it never goes below zero.
 */
begin;
select plan(19);

select tap.make_users(array['owner', 'admin', 'member', 'stranger']);

/* The stored count, and whether every organization's count is its number of memberships. */
create function pg_temp.stored(p_org text) returns integer
language sql as $$ select member_count from app.organizations where id = tap.id(p_org) $$;
create function pg_temp.all_true() returns boolean
language sql as $$
  select bool_and(o.member_count = (select count(*) from app.memberships m where m.org_id = o.id))
    from app.organizations o $$;

create function pg_temp.invite_and_accept(p_org text, p_user text, p_role text) returns text
language plpgsql as $$
declare
  v_result text;
begin
  v_result := tap.call('owner', format($q$ select api.invite_member('{%s}', '%s@example.com', %L) $q$, p_org, p_user, p_role));
  if v_result <> 'ok' then return v_result; end if;
  return tap.call(p_user, format($q$ select api.accept_invitation(%L) $q$,
    tap.mailed_token('mail.org_invitation', p_user || '@example.com')));
end
$$;

/* Joining: the creator, then invitees. */
select is(tap.call('owner', $$ select api.create_organization('Acme') $$), 'ok', 'owner creates Acme');
select tap.fix('acme', id) from app.organizations where name = 'Acme';
select is(tap.call('owner', $$ select api.create_organization('Other') $$), 'ok', 'owner creates Other');
select tap.fix('other', id) from app.organizations where name = 'Other';
select is(pg_temp.stored('acme'), 1, 'a new organization counts its creator');
select is(pg_temp.invite_and_accept('acme', 'admin', 'admin'), 'ok', 'admin joins Acme');
select is(pg_temp.invite_and_accept('acme', 'member', 'member'), 'ok', 'member joins Acme');
select is(pg_temp.stored('acme'), 3, 'each accepted invitation counts');
select is(pg_temp.stored('other'), 1, 'other organizations keep their count');

/* What the API returns is the stored count, for every member. */
select set_config('app.user_id', tap.id('member'), true);
select results_eq(
  $$ select name, member_count from api.list_organizations() $$,
  $$ values ('Acme', 3) $$,
  'list_organizations returns the count to a member');
select is((api.get_organization(tap.id('acme'))).member_count, 3,
  'get_organization returns it too');

/* What RLS refuses does not count: a stranger cannot add themselves without an invitation. */
select matches(tap.call('stranger', format(
  $$ set local role blossom_owner; insert into app.memberships (org_id, user_id, role) values ('{acme}', '{stranger}', 'member') $$)),
  '^42501 ', 'a stranger cannot insert a membership');
select is(pg_temp.stored('acme'), 3, 'and the count did not move');

/* Leaving and removals. */
select is(tap.call('member', $$ select api.leave_organization('{acme}') $$), 'ok', 'member leaves');
select is(pg_temp.stored('acme'), 2, 'a leave is subtracted');
select is(tap.call('owner', $$ select api.remove_member('{acme}', '{admin}') $$), 'ok', 'owner removes admin');
select is(pg_temp.stored('acme'), 1, 'a removal is subtracted');

/* One statement over several organizations (no API function does that; the trigger does). */
insert into app.memberships (org_id, user_id, role)
select tap.id(o), tap.id(u), 'member'
  from unnest(array['acme', 'other']) o, unnest(array['admin', 'member', 'stranger']) u;
delete from app.memberships where user_id = tap.id('stranger');
select ok(pg_temp.stored('acme') = 3 and pg_temp.stored('other') = 3 and pg_temp.all_true(),
  'a statement that adds and one that removes in several organizations counts each');

/* Deleting the organization takes its memberships along without tripping over the count. */
select is(tap.call('owner', $$ select api.delete_organization('{acme}') $$), 'ok', 'owner deletes Acme');
select ok(pg_temp.all_true() and pg_temp.stored('other') = 3, 'the remaining counts are all true');

/* The count is the trigger's alone: never negative. */
select throws_ok(
  $$ update app.organizations set member_count = -1 where id = tap.id('other') $$,
  '23514', null, 'member_count is never negative');

select * from finish();
rollback;
