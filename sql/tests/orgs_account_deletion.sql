/*
 * An operator deletes an account (`delete from app.users`, docs/operations.md). An organization
 * keeps at least one owner (409 org.last_owner for a leave, a demotion, a transfer), and its
 * deletion is an owner's call: an account that alone owns an organization is not deleted until
 * it transferred ownership or the organization was deleted, or the organization was left with no
 * owner that any member could make, and that no one could delete. Whatever the session deleting
 * it (the owner role here, which sees no membership of its own; or a superuser).
 */
begin;
select plan(17);

select tap.make_users(array['solo', 'partner', 'helper', 'hermit', 'twin1', 'twin2', 'bystander', 'pair1', 'pair2',
                             'stayer', 'mover1', 'mover2']);
select tap.make_org('lonely', '{"solo": "owner", "helper": "admin"}');
select tap.make_org('shared', '{"solo": "owner", "partner": "owner"}');
select tap.make_org('helped', '{"partner": "owner", "solo": "member"}');
select tap.make_org('cell', '{"hermit": "owner"}');
select tap.make_org('twins', '{"twin1": "owner", "twin2": "owner", "bystander": "member"}');
select tap.make_org('pair', '{"pair1": "owner", "pair2": "owner"}');
select tap.make_org('moving', '{"stayer": "owner", "mover1": "owner", "mover2": "member"}');

create function pg_temp.delete_account(p_user text) returns text
language plpgsql
as $$
begin
  set local role blossom_owner;
  return tap.outcome(format('delete from app.users where id = %L', tap.id(p_user)));
end
$$;
create function pg_temp.deletion_message(p_user text) returns text
language plpgsql
as $$
begin
  set local role blossom_owner;
  execute format('delete from app.users where id = %L', tap.id(p_user));
  reset role;
  return null;
exception when sqlstate 'PGRST' then
  reset role;
  return sqlerrm::json ->> 'message';
end
$$;
create function pg_temp.owners(p_org text) returns bigint
language sql
as $$ select count(*) from app.memberships m where m.org_id = tap.id(p_org) and m.role = 'owner' $$;

select is(pg_temp.delete_account('solo'), '409 org.last_owner',
  'the only owner of an organization is not deleted');
reset role;
select matches(pg_temp.deletion_message('solo'),
  format('%s \(Lonely\).*transfer_ownership.*delete the organization', tap.id('lonely')),
  'the refusal names the organization (id and name) and says what to do');
select doesnt_match(pg_temp.deletion_message('solo'), tap.id('shared') || '|' || tap.id('helped'),
  'and not the organizations it owns with another owner, or is a member of');
select is((select count(*) from app.memberships where user_id = tap.id('solo')), 3::bigint,
  'the account and its memberships stay');
select is(pg_temp.delete_account('hermit'), '409 org.last_owner',
  'nor is the only member of an organization');
reset role;
select is(pg_temp.delete_account('twin1') || ', ' || pg_temp.delete_account('twin2'), 'ok, 409 org.last_owner',
  'of two owners, one account may go, then not the other');
reset role;
select is(pg_temp.owners('twins'), 1::bigint, 'the organization keeps its owner');
/* Each of the two owns nothing alone: the second row's check sees the first row gone. */
select is(tap.outcome(format('delete from app.users where id in (%L, %L)', tap.id('pair1'), tap.id('pair2'))),
  '409 org.last_owner', 'nor do the last two owners go in one statement');
select is(pg_temp.owners('pair'), 2::bigint, 'which changed nothing');
select is(tap.outcome(format('delete from app.users where id in (%L, %L)', tap.id('mover1'), tap.id('mover2'))),
  'ok', 'accounts that leave an owner behind go in one statement');
select is(pg_temp.owners('moving') || ' of ' || (select count(*) from app.memberships where org_id = tap.id('moving')),
  '1 of 1', 'and the organization keeps its owner');
/* The deletion's triggers fire after the statement's deletes (every account's row locked before
   any organization's lock) and before each row's foreign keys' actions, which Postgres names
   RI_ConstraintTrigger_…: a row's AFTER triggers fire in the order of their names. */
select is((select pg_catalog.bool_and(t.tgname < 'RI_ConstraintTrigger'::name and (t.tgtype & 2) = 0)
             from pg_catalog.pg_trigger t
            where t.tgrelid = 'app.users'::regclass and not t.tgisinternal and (t.tgtype & 8) <> 0),
  true, 'the deletion''s triggers fire after its rows are deleted, before their cascades');

/* What to do: transfer ownership, or delete the organization. */
select is(tap.call('solo', $$ select api.transfer_ownership('{lonely}', '{helper}') $$), 'ok',
  'the owner hands the organization over');
select is(pg_temp.delete_account('solo'), 'ok', 'then the account may be deleted');
reset role;
select is(pg_temp.owners('lonely') || ' ' || pg_temp.owners('shared'), '1 1',
  'and every organization it was in keeps an owner');
select is(tap.call('hermit', $$ select api.delete_organization('{cell}') $$), 'ok',
  'an owner deletes their organization');
select is(pg_temp.delete_account('hermit'), 'ok', 'then the account may be deleted');
reset role;

select * from finish();
rollback;
