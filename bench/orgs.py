"""Organizations at scale: 10,000 organizations, 100,000 users, 1,000,000 audit events.

Prints p50/p99 latency of list_organizations, list_members and list_audit_events through
PostgREST (signed in with a session made for the bench), and for each the cost of its query
under Row Level Security (as blossom_owner, the role the api functions run as) against the
same query without it (as the admin, which bypasses RLS), as a ratio; goal under 1.3x. Then
the EXPLAIN of each query under RLS, to show the indexes used.

Usage: python bench/orgs.py (reads BLOSSOM_BENCH_DATABASE_URL and BLOSSOM_BENCH_POSTGREST_URL,
as `just bench orgs` sets them).
"""

from __future__ import annotations

import hashlib
import http.client
import json
import os
import secrets
import statistics
import time
from typing import Any
from urllib.parse import urlsplit

import psycopg

ORGS, USERS, EVENTS = 10_000, 100_000, 1_000_000
REQUESTS, RUNS = 300, 50

GENERATE = f"""
insert into app.users (email, display_name)
select 'bench' || i || '@example.com', 'Bench user ' || i from generate_series(1, {USERS}) i;
create temporary table bench_users as select id, row_number() over (order by id) as n from app.users;
insert into app.organizations (name, slug)
select 'Bench org ' || i, 'bench-org-' || i from generate_series(1, {ORGS}) i;
create temporary table bench_orgs as select id, row_number() over (order by id) as n from app.organizations;
/* Every user in one organization, every third in a second one; the first ten of each own it. */
insert into app.memberships (org_id, user_id, role)
select o.id, u.id, case when u.n <= {ORGS} then 'owner' else 'member' end::app.org_role
  from bench_users u join bench_orgs o on o.n = (u.n - 1) % {ORGS} + 1;
insert into app.memberships (org_id, user_id, role)
select o.id, u.id, 'member'
  from bench_users u join bench_orgs o on o.n = (u.n * 7) % {ORGS} + 1
 where u.n % 3 = 0
on conflict do nothing;
insert into app.audit_events (actor_id, action, org_id, target, at)
select u.id, 'org.bench', o.id, o.id, now() - (i || ' seconds')::interval
  from generate_series(1::bigint, {EVENTS}) i
  join bench_orgs o on o.n = (i * 7919) % {ORGS} + 1
  join bench_users u on u.n = (i * 104729) % {USERS} + 1;
"""

# The queries of the three functions, as they run inside them.
QUERIES = {
    "list_organizations": """
        select o.id, o.name, o.slug, m.role,
               (select count(*)::integer from app.memberships c where c.org_id = o.id),
               o.created_at, o.updated_at
          from app.memberships m join app.organizations o on o.id = m.org_id
         where m.user_id = %(user)s order by lower(o.name), o.id""",
    "list_members": """
        select m.id, m.user_id, u.email, u.display_name, m.role, m.joined_at
          from app.memberships m join app.users u on u.id = m.user_id
         where m.org_id = %(org)s order by m.role, m.joined_at, m.id""",
    "list_audit_events": """
        select e.id, e.at, e.actor_id, e.action, e.target, e.details
          from app.audit_events e where e.org_id = %(org)s order by e.id desc limit 50""",
}


def generate(conn: psycopg.Connection) -> tuple[str, str, str]:
    """Fills the database (once); returns an owner, their organization and a session token."""
    started = time.perf_counter()
    row = conn.execute("select count(*) from app.organizations").fetchone()
    if not row or row[0] < ORGS:
        conn.execute(GENERATE.encode())
        conn.execute("analyze")
    took = time.perf_counter() - started
    print(f"data: {ORGS:,} organizations, {USERS:,} users, {EVENTS:,} audit events ({took:.0f}s)")
    owner = conn.execute(
        "select m.user_id, m.org_id from app.memberships m where m.role = 'owner' order by m.id limit 1"
    ).fetchone()
    assert owner is not None
    token = secrets.token_urlsafe(32)
    conn.execute(
        "insert into app.sessions (user_id, token_hash, expires_at)"
        " values (%s, %s, now() + interval '1 day')",
        (owner[0], hashlib.sha256(token.encode()).digest()),
    )
    conn.commit()
    return str(owner[0]), str(owner[1]), token


def http_latency(base_url: str, token: str, function: str, body: dict[str, Any]) -> tuple[float, float]:
    parts = urlsplit(base_url)
    conn = http.client.HTTPConnection(parts.hostname or "127.0.0.1", parts.port, timeout=30)
    headers = {"Content-Type": "application/json", "X-Blossom-Session": token}
    payload = json.dumps(body)
    timings = []
    for i in range(REQUESTS + 20):
        started = time.perf_counter()
        conn.request("POST", f"/rpc/{function}", body=payload, headers=headers)
        reply = conn.getresponse()
        data = reply.read()
        if reply.status != 200:
            raise SystemExit(f"{function}: HTTP {reply.status}: {data[:200]!r}")
        if i >= 20:  # warm-up
            timings.append((time.perf_counter() - started) * 1000)
    conn.close()
    quantiles = statistics.quantiles(timings, n=100)
    return quantiles[49], quantiles[98]


def execution_ms(conn: psycopg.Connection, query: str, params: dict[str, str], rls: bool) -> float:
    """Median server-side execution time (EXPLAIN ANALYZE) with or without RLS."""
    times = []
    for _ in range(RUNS):
        with conn.transaction():
            if rls:
                conn.execute("set local role blossom_owner")
                conn.execute("select set_config('app.user_id', %s, true)", (params["user"],))
            plan = conn.execute(("explain (analyze, format json) " + query).encode(), params).fetchone()
            assert plan is not None
            times.append(float(plan[0][0]["Planning Time"]) + float(plan[0][0]["Execution Time"]))
    return statistics.median(times)


def explain(conn: psycopg.Connection, query: str, params: dict[str, str]) -> str:
    with conn.transaction():
        conn.execute("set local role blossom_owner")
        conn.execute("select set_config('app.user_id', %s, true)", (params["user"],))
        rows = conn.execute(
            ("explain (analyze, costs off, timing off, summary off) " + query).encode(), params
        )
        return "\n".join("    " + str(r[0]) for r in rows)


def main() -> None:
    database_url = os.environ["BLOSSOM_BENCH_DATABASE_URL"]
    postgrest_url = os.environ["BLOSSOM_BENCH_POSTGREST_URL"]
    with psycopg.connect(database_url) as conn:
        user, org, token = generate(conn)
        conn.autocommit = True
        params = {"user": user, "org": org}
        bodies: dict[str, dict[str, Any]] = {
            "list_organizations": {},
            "list_members": {"org_id": org},
            "list_audit_events": {"org_id": org},
        }
        print(f"\n{'function':<20} {'p50 ms':>8} {'p99 ms':>8}   {'RLS ms':>8} {'no RLS ms':>9} {'ratio':>6}")
        plans = []
        for name, query in QUERIES.items():
            p50, p99 = http_latency(postgrest_url, token, name, bodies[name])
            with_rls = execution_ms(conn, query, params, rls=True)
            without = execution_ms(conn, query, params, rls=False)
            ratio = with_rls / without
            flag = "" if ratio < 1.3 else "  (over the 1.3x goal)"
            print(f"{name:<20} {p50:8.2f} {p99:8.2f}   {with_rls:8.3f} {without:9.3f} {ratio:5.2f}x{flag}")
            plans.append((name, explain(conn, query, params)))
        for name, plan in plans:
            print(f"\nEXPLAIN {name} (under RLS, as blossom_owner):\n{plan}")


if __name__ == "__main__":
    main()
