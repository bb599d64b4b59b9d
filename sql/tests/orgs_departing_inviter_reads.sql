/*
 * A member who leaves, is removed or demoted loses the pending invitations they may no longer
 * send (app.revoke_invitations_beyond_grant, sql/functions/app/inviter_authority.sql). In a
 * large organization that reads their own open invitations, found by sender, not every open
 * invitation of the organization: invitations_open_org_id_invited_by_idx. tap.blocks counts the
 * pages a call reads, which the data decides and no machine's speed does. Besides the large
 * organization there are 300 small ones, each with a sender of its own, so that the statistics
 * tell the planner what a sender's share of an organization's invitations is; and first, before
 * they exist, the statistics skewed: nearly every invitation is the owner's.
 */
begin;
select plan(7);

select tap.make_users(array['host', 'aide', 'aide2', 'aide3', 'aide4']);
select tap.make_org('busy', '{"host": "owner", "aide": "admin", "aide2": "admin", "aide3": "admin", "aide4": "admin"}');
insert into app.invitations (org_id, email, role, invited_by, token_hash)
select tap.id('busy'), 'crowd' || n || '@example.com', 'member', tap.id('host'), sha256(convert_to('c' || n, 'UTF8'))
  from generate_series(1, 6000) n;
analyze app.users, app.organizations, app.memberships, app.invitations;

/* Every open invitation but one is the owner's. The revocation's statement was planned once for
   any sender (a SQL function's plan knows no argument's value), estimated from the column's few
   distinct senders that any sender has nearly all the invitations, and read all of them. */
select is(tap.call('aide3', $$ select api.invite_member('{busy}', 'pal@example.com', 'member') $$), 'ok',
  'an admin sends an invitation beside the owner''s 6,000');
-- The session's first removal also reads the catalog to plan the functions' statements.
select is(tap.call('host', $$ select api.remove_member('{busy}', '{aide4}') $$), 'ok', 'an owner removes another admin');
select tap.become('host');
-- About 100 pages planned for this sender; 250 when it read every invitation.
select tap.fewer_blocks($$ select api.remove_member('{busy}', '{aide3}') $$, 175,
  'removing them reads their open invitations, not the owner''s, whatever the statistics say of a sender''s share');
reset role;

insert into app.users (email, display_name)
select 'sender' || n || '@example.com', 'sender' || n from generate_series(1, 300) n;
insert into app.organizations (name, slug)
select 'Small ' || n, 'small-' || n from generate_series(1, 300) n;
insert into app.memberships (org_id, user_id, role)
select o.id, u.id, 'owner'
  from app.organizations o join app.users u on u.display_name = 'sender' || substr(o.slug, 7)
 where o.slug like 'small-%';
insert into app.invitations (org_id, email, role, invited_by, token_hash)
select m.org_id, 'guest' || n || '.' || m.user_id || '@example.com', 'member', m.user_id,
       sha256(convert_to(m.user_id || n, 'UTF8'))
  from app.memberships m join app.organizations o on o.id = m.org_id, generate_series(1, 5) n
 where o.slug like 'small-%';
analyze app.users, app.organizations, app.memberships, app.invitations;

select is(tap.call('aide', $$ select api.invite_member('{busy}', 'friend@example.com', 'admin') $$), 'ok',
  'an admin sends an invitation');
-- The session's first removal also reads the catalog to plan the functions' statements.
select is(tap.call('host', $$ select api.remove_member('{busy}', '{aide2}') $$), 'ok', 'an owner removes another admin');
select tap.become('host');
-- A removal reads about 150 pages whatever the invitations (the same at 12,000); reading every
-- open invitation of the organization added about 250 at 6,000.
select tap.fewer_blocks($$ select api.remove_member('{busy}', '{aide}') $$, 250,
  'removing an admin reads their open invitations, not the 6,000 the owner sent');
reset role;
select is((select i.revoked_at is not null from app.invitations i where i.email = 'friend@example.com'), true,
  'and revokes theirs');

select * from finish();
rollback;
