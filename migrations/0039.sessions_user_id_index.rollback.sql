-- rollback of sessions_user_id_index
-- transactional: false
-- The partial index of the live sessions again, made and put in place as the migration did.

set lock_timeout = '1min';
set statement_timeout = '30min';
drop index concurrently if exists app.sessions_live_user_id_idx;
create index concurrently if not exists sessions_live_user_id_idx on app.sessions using btree (user_id)
  where revoked_at is null;
drop index concurrently if exists app.sessions_user_id_idx;
alter index app.sessions_live_user_id_idx rename to sessions_user_id_idx;
reset statement_timeout;
reset lock_timeout;
