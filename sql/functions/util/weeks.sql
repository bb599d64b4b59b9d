/* A week is named by its Monday (UTC dates): the rule of analytics.slack_digests.week and
   slack_digest_claims.week, checked before either is read or written so that a bad week is a
   coded 422, not a check violation. Infinity is refused too: it passes the tables' rule, as its
   isodow is null. And a week is told of once it is over: a digest of the week under way, or of
   one to come, recorded as posted, was never posted when its week came. */
create function util.require_week(p_week date) returns void
language plpgsql stable
as $$
begin
  /* extract on the date itself: date_part casts it to a timestamp, which ends some 5.6 million
     years before dates do, and a Monday past it failed with Postgres's 22008, uncoded. */
  if p_week is null or not pg_catalog.isfinite(p_week) or extract(isodow from p_week) <> 1 then
    perform util.raise_error(422, 'pipeline.invalid_week', 'A week is given by its Monday.');
  end if;
  if p_week > (pg_catalog.now() at time zone 'UTC')::date - 7 then
    perform util.raise_error(422, 'pipeline.invalid_week', 'The week is not over yet (UTC).');
  end if;
end
$$;

comment on function util.require_week(date) is
  'Refuses a week not given by its Monday (null and infinity included), or not over yet (UTC). '
  'Errors: 422 pipeline.invalid_week.';
