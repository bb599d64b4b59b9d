-- expired_invitations_closed: an index of the open invitations by expiry, for the housekeeping
-- that closes them once they expired.
-- An invitation that expired unanswered stayed open for ever (no accept, decline or revocation
-- ever came), and so in the indexes of the open invitations: api.list_invitations, which keeps
-- the live ones, walked past every expired one to fill a page or learn it was the last (952
-- pages at 17,000, sql/tests/orgs_invitation_pages.sql), and so did a departing sender's
-- revocation through their own. pipeline.purge_auth now closes them hourly
-- (app.close_expired_invitations), finding them here; the first run closes every one that
-- expired before it.
-- transactional: false
-- Made concurrently, outside a transaction: invitations are sent and answered while it is built.
-- A build that failed (a timeout, a cancel) leaves an invalid index of the name; as the
-- migration runs only while it is not recorded as applied, an index of the name is such a
-- leftover, dropped before the build. The timeouts are the session's, set back when it is done.

set lock_timeout = '1min';
set statement_timeout = '30min';
drop index concurrently if exists app.invitations_open_expires_at_idx;
create index concurrently if not exists invitations_open_expires_at_idx on app.invitations using btree (expires_at)
  where accepted_at is null and declined_at is null and revoked_at is null;
reset statement_timeout;
reset lock_timeout;
