/*
 * An owner stops being one (leaves, is demoted or removed) only while another remains
 * (app.require_another_owner, which counts them with app.owner_count). In a large organization
 * the count reads the owners, not every member: under the forced row security `role = 'owner'`
 * is no index condition (enum equality is not leakproof), so an index whose predicate it is,
 * memberships_owners_org_id_idx, serves it. tap.blocks counts the pages a call reads, which the
 * data decides and no machine's speed does.
 */
begin;
select plan(3);

select tap.make_users(array['host', 'cohost']);
select tap.make_org('busy', '{"host": "owner", "cohost": "owner"}');
insert into app.users (email, display_name)
select 'member' || n || '@example.com', 'member' || n from generate_series(1, 3000) n;
insert into app.memberships (org_id, user_id)
select tap.id('busy'), u.id from app.users u where u.display_name like 'member%';
analyze app.users, app.memberships;

select tap.become('host');
set local role blossom_owner;
-- The session's first call also reads the catalog to plan the function's statement.
select app.owner_count(tap.id('busy'));
select tap.fewer_blocks($$ select app.owner_count('{busy}') $$, 20,
  'counting the owners reads the owners, not the 3,000 members');
select is(app.owner_count(tap.id('busy')), 2, 'and finds both');
reset role;

select is(tap.call('host', $$ select api.change_member_role('{busy}', '{cohost}', 'admin') $$), 'ok',
  'an owner demotes the other, as one remains');

select * from finish();
rollback;
