/* Housekeeping for the pipeline: sessions that can never be valid again, stale counters,
   resets, email verifications and devices, the one-time secrets still readable in the outbox
   (the worker takes them out as it delivers; this, those of mails never delivered), the
   messages delivered long ago, the invitations that expired unanswered, closed
   (app.close_expired_invitations says why), and the rows of the organizations their owners
   deleted, at most 100,000 a run (app.purge_deleted_organizations says why; at about a
   microsecond a row, a fraction of a second), then those organizations. That batch is the
   database's app.settings.organization_purge_rows, for an operator who wants a backlog gone in
   fewer runs, or each run's locks and WAL smaller; as the database is configured
   (util.database_setting), not as the caller's session says. Each is read once, before anything
   is purged: in the delete's condition, the idle timeout's reader ran for every session. */
create function pipeline.purge_auth(
  out sessions integer,
  out rate_limit_hits integer,
  out password_resets integer,
  out devices integer,
  out email_verifications integer,
  out outbox_secrets integer,
  out outbox_delivered integer,
  out invitations integer,
  out deleted_organizations integer,
  out deleted_organization_rows bigint
)
language plpgsql volatile security definer set search_path = ''
/* Its days, 30 days and year are UTC's, as the API's sessions count them (auth.known_device's
   year): in a caller's zone whose clocks changed meanwhile (PGTZ, or a URL's options, override
   its role's UTC), a day back was 23 hours, and a link 23 and a half hours past its expiry went. */
set timezone = 'UTC'
as $$
declare
  v_idle_timeout interval := util.database_interval_setting('session_idle_timeout', interval '7 days');
  v_organization_rows integer := util.database_limit_setting('organization_purge_rows', 100000);
begin
  /* By the database's idle timeout: the caller's own setting would decide for every user. When
     each account was last seen is kept on it (admin.users), which only its sessions said. */
  with purged as (
    delete from app.sessions s
     where auth.session_is_dead_after(s, v_idle_timeout)
    returning s.user_id, s.last_seen_at
  ), seen as (
    select p.user_id, pg_catalog.max(p.last_seen_at) as last_seen_at from purged p group by p.user_id
  ), remembered as (
    update app.users u set last_seen_at = seen.last_seen_at
      from seen
     where u.id = seen.user_id and seen.last_seen_at > coalesce(u.last_seen_at, '-infinity')
  )
  select pg_catalog.count(*)::integer into sessions from purged;
  /* The longest window, elapsed (24 hours, not a day of this session's wall clock: where its
     clocks went forward, hits of 23 hours ago went that a window of a day still counted). */
  delete from app.rate_limit_hits h where h.at < pg_catalog.now() - interval '24 hours';
  get diagnostics rate_limit_hits = row_count;
  delete from app.password_resets r where r.expires_at < pg_catalog.now() - interval '1 day';
  get diagnostics password_resets = row_count;
  delete from app.devices d where d.last_used_at < pg_catalog.now() - interval '1 year';
  get diagnostics devices = row_count;
  delete from app.email_verifications v where v.expires_at < pg_catalog.now() - interval '1 day';
  get diagnostics email_verifications = row_count;
  /* A reset or invitation token is in the outbox only for its mail: once delivered, or past
     its expires_at (when it is worth nothing any more), it goes. */
  update app.outbox o set payload = o.payload - 'token'
   where o.payload ? 'token'
     and (o.delivered_at is not null or (o.payload ->> 'expires_at')::timestamptz < pg_catalog.now());
  get diagnostics outbox_secrets = row_count;
  /* A delivered message stays 30 days, for the operators' views (admin.outbox_health) and a
     question of support (did the mail go out?); then it goes whole: its payload names the
     recipient, and the outbox only grew. */
  delete from app.outbox o where o.delivered_at < pg_catalog.now() - interval '30 days';
  get diagnostics outbox_delivered = row_count;
  invitations := app.close_expired_invitations();
  select p.organizations, p.rows_deleted into deleted_organizations, deleted_organization_rows
    from app.purge_deleted_organizations(v_organization_rows) p;
end
$$;

comment on function pipeline.purge_auth() is
  'Deletes dead sessions, rate-limit hits older than 24 hours, resets and email verifications expired a day ago and devices unused for a year; '
  'removes the token from outbox messages delivered or expired, and deletes those delivered over 30 days ago; '
  'closes the invitations that expired unanswered; purges up to app.settings.organization_purge_rows (100,000) rows of the organizations their owners deleted, then those organizations. Errors: 500 server.invalid_setting.';
