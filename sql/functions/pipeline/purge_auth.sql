/* Housekeeping for the pipeline: sessions that can never be valid again, stale counters and resets. */
create function pipeline.purge_auth(
  out sessions integer,
  out rate_limit_hits integer,
  out password_resets integer
)
language plpgsql volatile security definer set search_path = ''
as $$
begin
  delete from app.sessions s where auth.session_is_dead(s);
  get diagnostics sessions = row_count;
  delete from app.rate_limit_hits h where h.at < now() - interval '1 day';
  get diagnostics rate_limit_hits = row_count;
  delete from app.password_resets r where r.expires_at < now() - interval '1 day';
  get diagnostics password_resets = row_count;
end
$$;

comment on function pipeline.purge_auth() is
  'Deletes revoked, expired and idle sessions, rate-limit hits older than a day and resets expired a day ago.';
