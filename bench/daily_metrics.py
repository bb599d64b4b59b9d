"""The pipeline's daily metrics at scale: one day of org_daily_metrics on the `orgs` bench's data
(10,000 organizations, 100,000 users, 1,000,000 audit events over the last twelve days), with
100,000 logins of today added (that data is made today: its organizations and members exist from
today on, so today is the day counted). Both the refresh and the pass find the day's events
through the index on audit_events (at), so neither grows with the trail's length, and both read
the day's events side by side, as a trail appended to in time order keeps them; the ratio is the
grouping of the day's events by actor and their join to the memberships against counting.

Prints the time of pipeline.refresh_org_daily_metrics(day) as the role pipeline (what the asset
runs), and its ratio to a plain count(*) pass over the same rows (every organization, membership
and invitation, and the audit events read for the day), as the admin user, without Row Level
Security; the two take turns, and medians are reported. Goal: under 10 s, and at most 3x the pass.
And, to weigh that goal, the ratio of the least part of the refresh that any count of the day's
active members needs: the day's events grouped by actor alone, under the refresh's settings.

Usage: python bench/daily_metrics.py (reads BLOSSOM_BENCH_DATABASE_URL, as `just bench daily_metrics`
sets it).
"""

from __future__ import annotations

import os
import statistics
import time
from datetime import UTC, datetime, timedelta

import psycopg
from orgs import generate  # bench/orgs.py, beside this file: the same data

ROUNDS = 5
LOGINS = 100_000
ADD_LOGINS = f"""
insert into app.audit_events (actor_id, action, target, at)
select u.id, 'auth.login', 'bench.pipeline',
       greatest(date_trunc('day', now() at time zone 'UTC') at time zone 'UTC',
                now() - (i % 3600 || ' seconds')::interval)
  from generate_series(1, {LOGINS}) i
  join (select id, row_number() over (order by id) as n from app.users) u on u.n = (i * 7919) % 100000 + 1
 order by i % 3600 desc
"""
# The first step of pipeline.org_daily_counts alone, with its settings (no JIT, no parallel
# workers, its work_mem, read from the function): who was active that day, and their logins.
ACTORS_PASS = """
select count(*), sum(logins) from (
  select actor_id, count(*) filter (where action = 'auth.login') as logins
    from app.audit_events
   where at >= %(start)s and at < %(end)s and actor_id is not null
   group by actor_id) actors
"""
COUNT_PASS = """
select (select count(*) from app.organizations),
       (select count(*) from app.memberships),
       (select count(*) from app.invitations),
       (select count(*) from app.audit_events where at >= %(start)s and at < %(end)s)
"""


def seconds(conn: psycopg.Connection, query: str, params: dict[str, object]) -> float:
    started = time.perf_counter()
    conn.execute(query, params).fetchall()
    took = time.perf_counter() - started
    conn.commit()
    return took


def main() -> None:
    url = os.environ["BLOSSOM_BENCH_DATABASE_URL"]
    with psycopg.connect(url) as conn:
        generate(conn)
        added = conn.execute(
            "select count(*) from app.audit_events where target = 'bench.pipeline'"
        ).fetchone()
        if not added or added[0] == 0:
            conn.execute(ADD_LOGINS.encode())
        conn.commit()
    day = datetime.now(UTC).date()
    start = datetime(day.year, day.month, day.day, tzinfo=UTC)
    pipeline_url = url.replace("postgresql://postgres@", "postgresql://pipeline@", 1)
    the_day: dict[str, object] = {"start": start, "end": start + timedelta(days=1)}
    refresh, counting, grouping = [], [], []
    with (
        psycopg.connect(pipeline_url) as as_pipeline,
        psycopg.connect(url) as as_admin,
        psycopg.connect(url, autocommit=True) as as_refresh_does,
    ):
        # The function's own settings (its SET clauses), as it runs with them.
        as_refresh_does.execute(
            "select set_config(split_part(setting, '=', 1), substr(setting, strpos(setting, '=') + 1), false)"
            "  from pg_proc, unnest(proconfig) setting"
            " where oid = 'pipeline.org_daily_counts(date)'::regprocedure"
        )
        for _ in range(ROUNDS):
            refresh.append(
                seconds(
                    as_pipeline, "select * from pipeline.refresh_org_daily_metrics(%(day)s)", {"day": day}
                )
            )
            counting.append(seconds(as_admin, COUNT_PASS, the_day))
            grouping.append(seconds(as_refresh_does, ACTORS_PASS, the_day))
        rows = as_admin.execute(
            "select count(*), sum(logins), sum(active_users) from analytics.org_daily_metrics where day = %s",
            (day,),
        ).fetchone()
    assert rows is not None
    print(f"day {day} (UTC): {rows[0]:,} organizations, {rows[1]:,} logins, {rows[2]:,} active members")
    took, baseline = statistics.median(refresh), statistics.median(counting)
    print(f"refresh_org_daily_metrics: {took:.2f} s (median of {ROUNDS}; goal under 10 s)")
    print(f"count(*) over the same rows: {baseline:.2f} s")
    print(f"ratio: {took / baseline:.2f}x (goal at most 3x)")
    floor = statistics.median(grouping)
    print(
        f"the day's events grouped by actor alone (part of the refresh): {floor:.2f} s,"
        f" {floor / baseline:.2f}x the pass"
    )


if __name__ == "__main__":
    main()
