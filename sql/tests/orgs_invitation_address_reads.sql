/*
 * api.invite_member finds the address's open invitation in the organization (to refuse an admin
 * replacing an owner's, and to replace it) by the address, compared case-insensitively. Under
 * the forced row security `lower(i.email) = …` is no index condition (lower() is not leakproof):
 * it was a filter after the policy, and every invitation sent read every pending invitation of
 * the organization, 7-12 ms at 20,000. It reads the one invitation of that address now, found by
 * app.open_invitation_of (sql/functions/app/inviter_authority.sql) in the index on
 * (org_id, lower(email)). tap.blocks counts the pages a call reads, which the data decides and no
 * machine's speed does; under a generic plan too (the cached plan of a session's sixth call).
 */
begin;
select plan(9);

select tap.make_users(array['host', 'aide']);
select tap.make_org('busy', '{"host": "owner", "aide": "admin"}');
insert into app.invitations (org_id, email, role, invited_by, token_hash)
select tap.id('busy'), 'crowd' || n || '@example.com', 'member', tap.id('host'), sha256(convert_to('c' || n, 'UTF8'))
  from generate_series(1, 20000) n;
insert into app.invitations (org_id, email, role, invited_by, token_hash)
values (tap.id('busy'), 'Boss@Example.com', 'owner', tap.id('host'), sha256(convert_to('boss', 'UTF8')));
analyze app.invitations;

-- The session's first invitations also read the catalog to plan the function's statements.
select is(tap.call('aide', $$ select api.invite_member('{busy}', 'warm@example.com', 'member') $$), 'ok',
  'an admin sends an invitation');
select is(tap.call('host', $$ select api.invite_member('{busy}', 'warm2@example.com', 'member') $$), 'ok',
  'so does an owner');
select tap.become('aide');
-- A first invitation of an address reads about 110 pages; every pending invitation of the
-- organization added some 700 at 20,000.
select tap.fewer_blocks($$ select api.invite_member('{busy}', 'new@example.com', 'member') $$, 250,
  'an admin''s invitation of a new address reads that address''s, not the 20,000 pending');
select tap.fewer_blocks($$ select api.invite_member('{busy}', 'CROWD7@example.com', 'member') $$, 250,
  'and one that replaces an invitation reads that one');
reset role;
select is((select array_agg(i.email::text order by i.id) from app.invitations i
            where lower(i.email) = 'crowd7@example.com' and i.revoked_at is null),
  array['CROWD7@example.com'], 'which it revoked, whatever the case it was written in');
select is(tap.call('aide', $$ select api.invite_member('{busy}', 'boss@example.COM', 'admin') $$), '403 org.forbidden',
  'an admin still may not replace an owner''s invitation, found whatever the case');
select tap.become('host');
set local plan_cache_mode = force_generic_plan;
select is(tap.outcome($$ select api.invite_member('$$ || tap.id('busy') || $$', 'later@example.com', 'member') $$), 'ok',
  'an owner invites under a generic plan');
select tap.fewer_blocks($$ select api.invite_member('{busy}', 'later2@example.com', 'member') $$, 250,
  'reading only the address''s invitations');
select tap.fewer_blocks($$ select api.invite_member('{busy}', 'Boss@example.com', 'owner') $$, 250,
  'and replacing the owner''s invitation reads that one');
reset plan_cache_mode;
reset role;

select * from finish();
rollback;
