-- sessions_user_id_index: every session of a user in sessions_user_id_idx, revoked ones too (it
-- held the live ones only). Deleting a user deletes its sessions (the foreign key's cascade), and
-- admin.users reads when each user was last seen: neither could use the partial index, and each
-- read every session, admin.users once per user.
-- transactional: false
-- Made concurrently, outside a transaction: every login and sign-out writes sessions while it is
-- built. Built under a name of its own, then put in the partial one's place. A build that failed
-- (a timeout, a cancel) leaves an invalid index of that name; as the migration runs only while it
-- is not recorded as applied, an index of the name is such a leftover, dropped before the build.
-- The timeouts are the session's, set back when it is done.

set lock_timeout = '1min';
set statement_timeout = '30min';
drop index concurrently if exists app.sessions_every_user_id_idx;
create index concurrently if not exists sessions_every_user_id_idx on app.sessions using btree (user_id);
drop index concurrently if exists app.sessions_user_id_idx;
alter index app.sessions_every_user_id_idx rename to sessions_user_id_idx;
reset statement_timeout;
reset lock_timeout;
