/*
 * What admin.users (sql/views/admin.sql) reads of app.sessions for when each user was last seen:
 * that user's sessions, by sessions_user_id_idx, revoked ones among them. The index held the live
 * sessions only, which the view's question (every session, a revoked one last seen too) could not
 * use: each user's row read every session, and the view's work grew with users times sessions
 * (20,000 users of 4 sessions each took 77 s, past panopticon's statement timeout). tap.blocks
 * counts the pages read, which the data decides and no machine's speed does.
 */
begin;
select plan(5);

select tap.make_users(array['watched']);
insert into app.sessions (user_id, token_hash, expires_at, last_seen_at, revoked_at)
values (tap.id('watched'), sha256('watched live'), now() + interval '1 day', '2026-01-02 10:00Z', null),
       (tap.id('watched'), sha256('watched revoked'), now() + interval '1 day', '2026-01-03 10:00Z', now());
/* 400 other users, four sessions each, two of them revoked (signed out). */
insert into app.users (email, display_name)
select 'other' || n || '@example.com', 'Other ' || n from generate_series(1, 400) n;
insert into app.sessions (user_id, token_hash, expires_at, last_seen_at, revoked_at)
select u.id, sha256(convert_to(u.id || '/' || k, 'UTF8')), now() + interval '1 day', now() - k * interval '1 hour',
       case when k > 2 then now() end
  from app.users u, generate_series(1, 4) k
 where u.email like 'other%';
analyze app.users, app.sessions, app.memberships;

set local role panopticon;
select is((select last_seen_at from admin.users where id = tap.id('watched')), '2026-01-03 10:00Z'::timestamptz,
  'a user is last seen when its last session was, one signed out since too');
select tap.fewer_blocks($$ select last_seen_at from admin.users where id = '{watched}' $$, 15,
  'and that is read from its own sessions, not from every user''s');
select is((select count(last_seen_at) from admin.users), 401::bigint, 'every user has a last seen time');
/* 401 users: two index pages each and a page for each of its sessions (made one hour apart, they
   lie apart), 2,409 pages; every session, read once a user, was 12,832. */
select tap.fewer_blocks($$ select count(last_seen_at) from admin.users $$, 401 * 10,
  'the whole view reads each user''s own sessions once');
select is((select count(*) from admin.users where last_seen_at is null), 0::bigint,
  'none is left without one');
reset role;

select * from finish();
rollback;
