"""Deleting an organization with a long history: 10,000 members, 166,000 invitations (50 an hour
for under five months) and 1,000,000 AI requests.

Prints the owner's delete_organization through PostgREST (goal: under 1 s, far inside the API's
5 s statement timeout, whatever the history), against the baseline of deleting the same
organization's row in one statement as the admin (its foreign keys' cascades take the history
with it: what the call did before, measured in a transaction rolled back), then each hourly
housekeeping run (pipeline.purge_auth) that purges what the deletion left, and how many runs it
took.

Usage: python bench/org_deletion.py (reads BLOSSOM_BENCH_DATABASE_URL and
BLOSSOM_BENCH_POSTGREST_URL, as `just bench org_deletion` sets them).
"""

from __future__ import annotations

import http.client
import json
import os
import time
from urllib.parse import urlsplit

import psycopg
from orgs import fill, session_token  # bench/orgs.py, beside this file

MEMBERS, INVITATIONS, AI_REQUESTS = 10_000, 166_000, 1_000_000

GENERATE = f"""
insert into app.users (email, display_name)
select 'deleting' || n || '@example.com', 'Deleting ' || n from generate_series(1, {MEMBERS}) n;
insert into app.organizations (name, slug) values ('Long history', 'long-history-b3nch0');
create temporary table bench_org as select id from app.organizations where slug = 'long-history-b3nch0';
insert into app.memberships (org_id, user_id, role)
select (select id from bench_org), u.id,
       case when u.email = 'deleting1@example.com' then 'owner' else 'member' end::app.org_role
  from app.users u where u.email like 'deleting%@example.com';
insert into app.invitations (org_id, email, role, invited_by, token_hash, created_at, expires_at, accepted_at)
select (select id from bench_org), 'invited' || n || '@example.com', 'member', null,
       sha256(convert_to('bench-invitation-' || n, 'UTF8')),
       now() - (n * interval '72 seconds'), now() - (n * interval '72 seconds') + interval '7 days',
       now() - (n * interval '72 seconds') + interval '1 day'
  from generate_series(1, {INVITATIONS}) n;
insert into app.ai_usage
  (org_id, feature, model, request_hash, outcome, reserved_tokens, started_at, settled_at)
select (select id from bench_org), 'org_summary', 'bench', sha256(convert_to('bench-request-' || n, 'UTF8')),
       'cached', 0, now() - (n * interval '10 seconds'), now() - (n * interval '10 seconds')
  from generate_series(1, {AI_REQUESTS}) n;
"""


def generate(conn: psycopg.Connection) -> tuple[str, str]:
    """Fills the database; returns the organization and a session token of its owner."""
    started = time.perf_counter()
    fill(conn, GENERATE)
    took = time.perf_counter() - started
    print(
        f"data: {MEMBERS:,} members, {INVITATIONS:,} invitations, {AI_REQUESTS:,} AI requests ({took:.0f}s)"
    )
    row = conn.execute(
        "select m.org_id, m.user_id from app.memberships m join app.organizations o on o.id = m.org_id"
        " where o.slug = 'long-history-b3nch0' and m.role = 'owner'"
    ).fetchone()
    assert row is not None
    return str(row[0]), session_token(conn, row[1])


def whole_delete_ms(conn: psycopg.Connection, org: str) -> float:
    """The row deleted with everything of it in one statement, rolled back."""
    with conn.transaction(force_rollback=True):
        started = time.perf_counter()
        conn.execute("delete from app.organizations where id = %s", [org])
        return (time.perf_counter() - started) * 1000


def api_delete(base_url: str, token: str, org: str) -> tuple[int, float]:
    parts = urlsplit(base_url)
    conn = http.client.HTTPConnection(parts.hostname or "127.0.0.1", parts.port, timeout=30)
    started = time.perf_counter()
    conn.request(
        "POST",
        "/rpc/delete_organization",
        body=json.dumps({"org_id": org}),
        headers={"Content-Type": "application/json", "X-Blossom-Session": token},
    )
    reply = conn.getresponse()
    reply.read()
    took = (time.perf_counter() - started) * 1000
    conn.close()
    return reply.status, took


def main() -> None:
    with psycopg.connect(os.environ["BLOSSOM_BENCH_DATABASE_URL"]) as conn:
        org, token = generate(conn)
        baseline = whole_delete_ms(conn, org)
        status, took = api_delete(os.environ["BLOSSOM_BENCH_POSTGREST_URL"], token, org)
        if status != 204:
            raise SystemExit(f"delete_organization answered {status}")
        flag = "" if took < 1000 else "  (over the 1 s goal)"
        print(f"\ndelete_organization through PostgREST: {took:8.1f} ms{flag}")
        print(
            f"the row deleted whole (the cascades, as before): {baseline:8.1f} ms"
            f" ({baseline / took:.0f}x the call)"
        )
        conn.autocommit = True
        runs = 0
        while conn.execute("select count(*) from app.organizations where id = %s", [org]).fetchone() != (0,):
            started = time.perf_counter()
            row = conn.execute(
                "select deleted_organizations, deleted_organization_rows from pipeline.purge_auth()"
            ).fetchone()
            runs += 1
            assert row is not None
            print(
                f"housekeeping run {runs}: {row[1]:>7,} rows purged, {row[0]} organization,"
                f" {(time.perf_counter() - started) * 1000:8.1f} ms"
            )
        print(f"\npurged in {runs} hourly runs")


if __name__ == "__main__":
    main()
