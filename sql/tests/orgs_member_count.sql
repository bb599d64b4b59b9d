/*
 * app.organizations.member_count follows the memberships: joins (creating, accepting an
 * invitation), leaves, removals, deletion of the organization, and statements that change
 * several organizations at once; what RLS refuses does not count; it never goes below zero.
 */
begin;
select plan(19);

create schema tap_mc;
create table tap_mc.ids (name text primary key, id text not null);
with made as (
  insert into app.users (email, display_name)
  select n || '@example.com', n from unnest(array['owner', 'admin', 'member', 'stranger']) n
  returning id, display_name)
insert into tap_mc.ids select display_name, id from made;

/* Run SQL as a user through the API role, keep its effects; return 'ok' or the error. */
create function tap_mc.call(p_caller text, p_sql text) returns text
language plpgsql
as $$
declare
  v_sql text := p_sql;
  v_fixture record;
begin
  for v_fixture in select * from tap_mc.ids order by length(name) desc loop
    v_sql := replace(v_sql, '{' || v_fixture.name || '}', v_fixture.id);
  end loop;
  perform set_config('app.user_id', coalesce((select id from tap_mc.ids where name = p_caller), ''), true);
  begin
    set local role authenticated;
    execute v_sql;
    reset role;
    return 'ok';
  exception when others then
    return sqlstate || ' ' || sqlerrm;
  end;
end
$$;

/* The stored count, and whether every organization's count is its number of memberships. */
create function tap_mc.stored(p_org text) returns integer
language sql as $$ select member_count from app.organizations where id = (select id from tap_mc.ids where name = p_org) $$;
create function tap_mc.all_true() returns boolean
language sql as $$
  select bool_and(o.member_count = (select count(*) from app.memberships m where m.org_id = o.id))
    from app.organizations o $$;

create function tap_mc.invite_and_accept(p_org text, p_user text, p_role text) returns text
language plpgsql as $$
declare
  v_result text;
begin
  v_result := tap_mc.call('owner', format($q$ select api.invite_member('{%s}', '%s@example.com', %L) $q$, p_org, p_user, p_role));
  if v_result <> 'ok' then return v_result; end if;
  return tap_mc.call(p_user, format($q$ select api.accept_invitation(%L) $q$,
    (select payload ->> 'token' from app.outbox
      where topic = 'mail.org_invitation' and payload ->> 'to' = p_user || '@example.com' order by id desc limit 1)));
end
$$;

/* Joining: the creator, then invitees. */
select is(tap_mc.call('owner', $$ select api.create_organization('Acme') $$), 'ok', 'owner creates Acme');
insert into tap_mc.ids select 'acme', id from app.organizations where name = 'Acme';
select is(tap_mc.call('owner', $$ select api.create_organization('Other') $$), 'ok', 'owner creates Other');
insert into tap_mc.ids select 'other', id from app.organizations where name = 'Other';
select is(tap_mc.stored('acme'), 1, 'a new organization counts its creator');
select is(tap_mc.invite_and_accept('acme', 'admin', 'admin'), 'ok', 'admin joins Acme');
select is(tap_mc.invite_and_accept('acme', 'member', 'member'), 'ok', 'member joins Acme');
select is(tap_mc.stored('acme'), 3, 'each accepted invitation counts');
select is(tap_mc.stored('other'), 1, 'other organizations keep their count');

/* What the API returns is the stored count, for every member. */
select set_config('app.user_id', (select id from tap_mc.ids where name = 'member'), true);
select results_eq(
  $$ select name, member_count from api.list_organizations() $$,
  $$ values ('Acme', 3) $$,
  'list_organizations returns the count to a member');
select is((api.get_organization((select id from tap_mc.ids where name = 'acme'))).member_count, 3,
  'get_organization returns it too');

/* What RLS refuses does not count: a stranger cannot add themselves without an invitation. */
select matches(tap_mc.call('stranger', format(
  $$ set local role blossom_owner; insert into app.memberships (org_id, user_id, role) values ('{acme}', '{stranger}', 'member') $$)),
  '^42501 ', 'a stranger cannot insert a membership');
select is(tap_mc.stored('acme'), 3, 'and the count did not move');

/* Leaving and removals. */
select is(tap_mc.call('member', $$ select api.leave_organization('{acme}') $$), 'ok', 'member leaves');
select is(tap_mc.stored('acme'), 2, 'a leave is subtracted');
select is(tap_mc.call('owner', $$ select api.remove_member('{acme}', '{admin}') $$), 'ok', 'owner removes admin');
select is(tap_mc.stored('acme'), 1, 'a removal is subtracted');

/* One statement over several organizations (no API function does that; the trigger does). */
insert into app.memberships (org_id, user_id, role)
select o.id, u.id, 'member' from tap_mc.ids o, tap_mc.ids u
 where o.name in ('acme', 'other') and u.name in ('admin', 'member', 'stranger');
delete from app.memberships
 where user_id = (select id from tap_mc.ids where name = 'stranger');
select ok(tap_mc.stored('acme') = 3 and tap_mc.stored('other') = 3 and tap_mc.all_true(),
  'a statement that adds and one that removes in several organizations counts each');

/* Deleting the organization takes its memberships along without tripping over the count. */
select is(tap_mc.call('owner', $$ select api.delete_organization('{acme}') $$), 'ok', 'owner deletes Acme');
select ok(tap_mc.all_true() and tap_mc.stored('other') = 3, 'the remaining counts are all true');

/* The count is the trigger's alone: never negative. */
select throws_ok(
  $$ update app.organizations set member_count = -1 where id = (select id from tap_mc.ids where name = 'other') $$,
  '23514', null, 'member_count is never negative');

select * from finish();
rollback;
