"""Organizations at scale: 10,000 organizations, 100,000 users, 1,000,000 audit events.

Prints p50/p99 latency of list_organizations, list_members and list_audit_events through
PostgREST (signed in with a session made for the bench), and for each the cost of its query
under Row Level Security (as blossom_owner, the role the api functions run as) against the
equivalent query without it, as a ratio; goal under 1.3x. The equivalent query ("by hand")
returns the same rows to every caller: it is the query with the tenant check that RLS makes
written into it, what one writes without RLS. It runs as a role made for the bench that
bypasses RLS and pays the same permission checks (see baseline_role). For scale, a third
variant: the query without any tenant check ("bare"), not equivalent (it shows any
organization's rows to anyone), so its ratio is what a tenant check costs at all, by RLS or
by hand; it is no goal. The variants run in the same kind of PL/pgSQL loop (plans cached as in
the functions), take turns, and are reported as medians. Then EXPLAIN (ANALYZE, BUFFERS) of
each variant, to show index use.

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
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any
from urllib.parse import urlsplit

import psycopg
from psycopg import sql

ORGS, USERS, EVENTS = 10_000, 100_000, 1_000_000
REQUESTS = 300

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
/* Written oldest first, as a live trail is appended to: a day's events lie side by side in the
   table, and the ids (app.gen_id, in the order made) follow the time. Written in the order the
   join gave them, a day's events were spread over three quarters of the table's pages. */
insert into app.audit_events (actor_id, action, org_id, target, at)
select u.id, 'org.bench', o.id, o.id, now() - (i || ' seconds')::interval
  from generate_series(1::bigint, {EVENTS}) i
  join bench_orgs o on o.n = (i * 7919) % {ORGS} + 1
  join bench_users u on u.n = (i * 104729) % {USERS} + 1
 order by i desc;
"""

# The queries of the three functions, exactly as they run inside them (the function's variables
# become parameters; see WITHOUT_RLS for a query whose baseline reads a table the function reads
# through a view). Each is measured three ways, all through the same PL/pgSQL loop, so plans
# are cached the way the api functions cache them:
#   rls      as blossom_owner for the caller: Row Level Security adds the tenant check;
#   bare     as BASELINE_ROLE (RLS bypassed), the query alone: no tenant check at all;
#   by hand  as BASELINE_ROLE, the query with the tenant check the policies make, by hand
#            (what one would write without RLS); list_organizations already is its own check.
QUERIES = {
    "list_organizations": """
        select o.id, o.name, o.slug::text, o.role, o.member_count, o.created_at, o.updated_at
          from app.my_organizations o
         order by pg_catalog.lower(o.name), o.id""",
    "list_members": """
        select m.id, m.user_id, u.email::text, u.display_name, m.role, m.joined_at
          from app.memberships m
          join app.users u on u.id = m.user_id
         where m.org_id = p_org{check}
         order by m.role, m.joined_at, m.id
         limit 100""",
    "list_audit_events": """
        select e.id, e.at, e.actor_id, e.action, e.target, e.details
          from app.audit_events e
         where e.org_id = p_org and (p_before is null or e.id < p_before){check}
         order by e.id desc
         limit p_limit""",
}
# Where the function's query reads through a view, the same query as one writes it without:
# list_organizations reads app.my_organizations, the caller's memberships (the policy own_rows
# keeps the rows with user_id = the caller) joined to their organizations. The view is no
# baseline: it applies that policy whoever reads it. The member count is the column
# app.organizations.member_count on both sides (triggers keep it).
WITHOUT_RLS = {
    "list_organizations": """
        select o.id, o.name, o.slug::text, m.role, o.member_count, o.created_at, o.updated_at
          from app.memberships m
          join app.organizations o on o.id = m.org_id
         where m.user_id = p_user
         order by pg_catalog.lower(o.name), o.id""",
}
# The tenant check by hand: the caller is a member (list_members), an owner or admin (audit).
CHECKS = {
    "list_organizations": "",
    "list_members": """
           and exists (select from app.memberships me where me.org_id = m.org_id and me.user_id = p_user)""",
    "list_audit_events": """
           and exists (select from app.memberships me where me.org_id = e.org_id and me.user_id = p_user
                          and me.role in ('owner', 'admin'))""",
}
VARIANTS = ("rls", "bare", "by_hand")
# The baselines run as this role (see baseline_role), which may read just these tables.
BASELINE_ROLE = "blossom_bench_baseline"
BASELINE_TABLES = sql.SQL("app.organizations, app.memberships, app.users, app.audit_events")
ROUNDS, LOOPS = 21, 200  # per variant: ROUNDS medians of LOOPS executions each


def query_text(name: str, variant: str) -> str:
    if variant == "rls":
        return QUERIES[name].replace("{check}", "")
    text = WITHOUT_RLS.get(name, QUERIES[name])
    return text.replace("{check}", CHECKS[name] if variant == "by_hand" else "")


def fill(conn: psycopg.Connection, script: str) -> None:
    """Runs a script of inserts and commits it, then vacuums as autovacuum leaves a live database:
    visibility map set (index-only scans), and no dead row versions left by the member count
    triggers' updates during the inserts."""
    conn.execute(script.encode())
    conn.commit()
    conn.autocommit = True
    conn.execute("vacuum analyze")
    conn.autocommit = False


def generate(conn: psycopg.Connection) -> tuple[str, str, str]:
    """Fills the database (once); returns an owner, their organization and a session token."""
    started = time.perf_counter()
    row = conn.execute("select count(*) from app.organizations").fetchone()
    if not row or row[0] < ORGS:
        fill(conn, GENERATE)
    took = time.perf_counter() - started
    print(f"data: {ORGS:,} organizations, {USERS:,} users, {EVENTS:,} audit events ({took:.0f}s)")
    owner = conn.execute(
        "select m.user_id, m.org_id from app.memberships m where m.role = 'owner' order by m.id limit 1"
    ).fetchone()
    assert owner is not None
    return str(owner[0]), str(owner[1]), session_token(conn, owner[0])


def session_token(conn: psycopg.Connection, user_id: str) -> str:
    """A session of the user for a day, committed: its token, as the API's clients send it."""
    token = secrets.token_urlsafe(32)
    conn.execute(
        "insert into app.sessions (user_id, token_hash, expires_at)"
        " values (%s, %s, now() + interval '1 day')",
        (user_id, hashlib.sha256(token.encode()).digest()),
    )
    conn.commit()
    return token


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


@contextmanager
def baseline_role(conn: psycopg.Connection) -> Iterator[None]:
    """The role the baselines run as, made for the bench and dropped after: an ordinary role
    that bypasses Row Level Security, with exactly the grants its queries need. Not the admin:
    a superuser skips the permission checks (tables, functions) that blossom_owner pays in
    every statement, which would charge them to RLS."""
    role = sql.Identifier(BASELINE_ROLE)
    conn.execute(sql.SQL("create role {} nologin noinherit bypassrls").format(role))
    try:
        conn.execute(sql.SQL("grant usage on schema app to {}").format(role))
        conn.execute(sql.SQL("grant select on {} to {}").format(BASELINE_TABLES, role))
        yield
    finally:
        conn.execute(sql.SQL("drop owned by {}").format(role))
        conn.execute(sql.SQL("drop role {}").format(role))


def make_loops(conn: psycopg.Connection) -> None:
    """A PL/pgSQL function per query and variant that runs it `n` times and returns the mean ms.
    PL/pgSQL caches each plan for the session, like the api functions (generic or custom plans
    chosen the same way), so planning counts for both sides alike: as often as it really runs."""
    for name in QUERIES:
        for variant in VARIANTS:
            conn.execute(
                f"""
                create function pg_temp.loop_{name}_{variant}(
                    p_user app.user_id, p_org app.org_id, p_before app.event_id, p_limit integer, n integer)
                returns double precision language plpgsql as $loop$
                declare
                  started timestamptz;
                  r record;
                begin
                  started := clock_timestamp();
                  for i in 1 .. n loop
                    for r in {query_text(name, variant)} loop
                    end loop;
                  end loop;
                  return extract(epoch from clock_timestamp() - started) * 1000 / n;
                end
                $loop$""".encode()
            )


def as_variant_role(conn: psycopg.Connection, variant: str) -> None:
    """Inside a transaction: become the role a variant runs as (blossom_owner under RLS, the
    baseline role without), so both pay the same permission checks."""
    role = "blossom_owner" if variant == "rls" else BASELINE_ROLE
    conn.execute(sql.SQL("set local role {}").format(sql.Identifier(role)))


def run_loop(conn: psycopg.Connection, name: str, variant: str, params: dict[str, str], n: int) -> float:
    with conn.transaction():
        as_variant_role(conn, variant)
        conn.execute("select set_config('app.user_id', %s, true)", (params["user"],))
        row = conn.execute(
            f"select pg_temp.loop_{name}_{variant}(%(user)s, %(org)s, null, 50, %(n)s)".encode(),
            params | {"n": n},
        ).fetchone()
        assert row is not None
        return float(row[0])


def execution_ms(conn: psycopg.Connection, name: str, params: dict[str, str]) -> dict[str, float]:
    """Median over ROUNDS of the mean time of one execution, per variant; the variants take
    turns within each round (so drift hits all alike), after a warm-up round that is dropped."""
    times: dict[str, list[float]] = {variant: [] for variant in VARIANTS}
    for round_ in range(ROUNDS + 1):
        for variant in VARIANTS:
            ms = run_loop(conn, name, variant, params, LOOPS)
            if round_:
                times[variant].append(ms)
    return {variant: statistics.median(ms) for variant, ms in times.items()}


def result_rows(conn: psycopg.Connection, name: str, params: dict[str, str], variant: str) -> list[Any]:
    """The rows one variant returns, for checking that the variants are the same query."""
    text = query_text(name, variant)
    for var, number in (("p_user", "$1"), ("p_org", "$2"), ("p_before", "$3"), ("p_limit", "$4")):
        text = text.replace(var, number)
    with conn.transaction():
        as_variant_role(conn, variant)
        conn.execute("select set_config('app.user_id', %s, true)", (params["user"],))
        types = "app.user_id, app.org_id, app.event_id, integer"
        conn.execute(f"prepare bench_rows ({types}) as {text}".encode())
        args = sql.SQL("execute bench_rows ({}, {}, null, 50)").format(
            sql.Literal(params["user"]), sql.Literal(params["org"])
        )
        rows = conn.execute(args).fetchall()
        conn.execute("deallocate bench_rows")
        return rows


def explain(conn: psycopg.Connection, name: str, params: dict[str, str], variant: str) -> str:
    """EXPLAIN (ANALYZE, BUFFERS) of a prepared statement after six runs, so the plan shown is the
    one the plan cache settles on (generic or custom), as inside the functions."""
    text = query_text(name, variant)
    for var, number in (("p_user", "$1"), ("p_org", "$2"), ("p_before", "$3"), ("p_limit", "$4")):
        text = text.replace(var, number)
    with conn.transaction():
        as_variant_role(conn, variant)
        conn.execute("select set_config('app.user_id', %s, true)", (params["user"],))
        conn.execute(f"prepare bench_q (app.user_id, app.org_id, app.event_id, integer) as {text}".encode())
        args = sql.SQL("execute bench_q ({}, {}, null, 50)").format(
            sql.Literal(params["user"]), sql.Literal(params["org"])
        )
        for _ in range(6):
            conn.execute(args)
        rows = conn.execute(sql.SQL("explain (analyze, buffers, costs off) ") + args).fetchall()
        conn.execute("deallocate bench_q")
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
        with baseline_role(conn):
            for name in QUERIES:  # a fair comparison: every variant returns the same rows
                rows = {variant: result_rows(conn, name, params, variant) for variant in VARIANTS}
                if not rows["rls"] or any(other != rows["rls"] for other in rows.values()):
                    raise SystemExit(f"{name}: the variants do not return the same rows: {rows}")
            make_loops(conn)
            print(
                f"\n{'function':<20} {'p50 ms':>7} {'p99 ms':>7}   {'RLS ms':>7}"
                f" {'by hand ms':>10} {'ratio':>6}   {'bare ms':>7} {'ratio':>6}"
            )
            plans = []
            for name in QUERIES:
                p50, p99 = http_latency(postgrest_url, token, name, bodies[name])
                ms = execution_ms(conn, name, params)
                bare, by_hand = ms["rls"] / ms["bare"], ms["rls"] / ms["by_hand"]
                flag = "" if by_hand < 1.3 else "  (over the 1.3x goal)"
                print(
                    f"{name:<20} {p50:7.2f} {p99:7.2f}   {ms['rls']:7.3f}"
                    f" {ms['by_hand']:10.3f} {by_hand:5.2f}x   {ms['bare']:7.3f} {bare:5.2f}x{flag}"
                )
                plans.append((name, {variant: explain(conn, name, params, variant) for variant in VARIANTS}))
            print(
                f"\n(ms: median of {ROUNDS} rounds of the mean of {LOOPS} executions in a PL/pgSQL loop,"
                " plans cached as in the functions; ratio = RLS / without RLS; goal: RLS / by hand < 1.3)"
            )
            for name, by_variant in plans:
                for variant, title in (
                    ("rls", "under RLS, as blossom_owner"),
                    ("bare", "without RLS, the query alone"),
                    ("by_hand", "without RLS, tenant check by hand"),
                ):
                    if variant == "by_hand" and not CHECKS[name]:
                        continue
                    print(f"\nEXPLAIN {name} ({title}):\n{by_variant[variant]}")


if __name__ == "__main__":
    main()
