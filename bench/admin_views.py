"""The operators' views at scale: questions an operator asks of them (the latest events, accounts
found by address, organizations' events and members, the biggest organizations), on the `orgs`
bench's data (10,000 organizations, 100,000 users, 1,000,000 audit events).

Prints, for each question, its time through the views as panopticon (who may read nothing else)
and its ratio to the same question asked of the tables by hand: the view's own query with the
question's filter and order written into it, run as the views' owner admin_reader (the same
column grants and policies, so what differs is the view). Goal: at most 1.5x each, so that a view
never keeps its reader's filter or order from the tables' indexes. Both sides run without JIT
(panopticon's setting), take turns, and are reported as medians of rounds of repeated runs.

Usage: python bench/admin_views.py (reads BLOSSOM_BENCH_DATABASE_URL, as `just bench admin_views`
sets it).
"""

from __future__ import annotations

import os
import statistics
import time
from typing import Any, LiteralString

import psycopg
from orgs import generate  # bench/orgs.py, beside this file: the same data

ROUNDS, RUNS = 11, 50  # per side: the median of ROUNDS rounds, each the mean of RUNS runs

# Each question: through the views, then by hand (the views' definitions in sql/views/admin.sql).
# Each asks for a few hundred rows or more, so that what is measured is the reading of them, not
# the round trip and the planning that any statement pays (some 0.1 ms, as much as a lookup of
# one account takes, and too noisy on a shared machine to compare).
QUESTIONS: dict[str, tuple[LiteralString, LiteralString]] = {
    "the latest 1,000 events": (
        "select * from admin.audit_events order by at desc, id desc limit 1000",
        """select e.id, e.at, e.actor_id, e.action, e.org_id, e.target, e.client_addr, e.details
             from app.audit_events e order by e.at desc, e.id desc limit 1000""",
    ),
    "100 accounts by address (lower(email))": (
        "select * from admin.users where lower(email) = any (%(emails)s)",
        """select u.id, u.email, u.display_name, u.email_verified_at, u.created_at, u.updated_at,
                  (select count(*) from app.memberships m where m.user_id = u.id) as organizations,
                  greatest(u.last_seen_at, (select max(s.last_seen_at) from app.sessions s
                                             where s.user_id = u.id)) as last_seen_at
             from app.users u where lower(u.email) = any (%(emails)s)""",
    ),
    "10 organizations' last week of events": (
        """select at, action, actor_id, target from admin.audit_events
            where org_id = any (%(orgs)s) and at > now() - interval '7 days' order by at desc""",
        """select e.at, e.action, e.actor_id, e.target from app.audit_events e
            where e.org_id = any (%(orgs)s) and e.at > now() - interval '7 days' order by e.at desc""",
    ),
    "100 organizations' members": (
        "select * from admin.memberships where org_id = any (%(hundred_orgs)s) order by org_id, joined_at",
        """select m.id, m.org_id, m.user_id, m.role, m.joined_at from app.memberships m
            where m.org_id = any (%(hundred_orgs)s) order by m.org_id, m.joined_at""",
    ),
    "the 10 biggest organizations": (
        """select name, members, pending_invitations from admin.organizations
            order by members desc, id limit 10""",
        """select o.name, o.member_count as members,
                  (select count(*) from app.invitations i
                    where i.org_id = o.id and i.accepted_at is null and i.declined_at is null
                      and i.revoked_at is null and i.expires_at > now()) as pending_invitations
             from app.organizations o where o.deleted_at is null
            order by o.member_count desc, o.id limit 10""",
    ),
}


def seconds_per_run(conn: psycopg.Connection, query: LiteralString, params: dict[str, Any]) -> float:
    started = time.perf_counter()
    for _ in range(RUNS):
        conn.execute(query, params).fetchall()
    return (time.perf_counter() - started) / RUNS


def main() -> None:
    url = os.environ["BLOSSOM_BENCH_DATABASE_URL"]
    with psycopg.connect(url) as conn:
        generate(conn)
        organizations = [
            row[0] for row in conn.execute("select id from app.organizations order by id limit 100")
        ]
        conn.commit()
    params = {
        # Lowered, as the unique index on lower(email) holds them.
        "emails": [f"bench{n * 997 % 100_000 + 1}@example.com" for n in range(100)],
        "orgs": organizations[:10],
        "hundred_orgs": organizations,
    }
    panopticon_url = url.replace("postgresql://postgres@", "postgresql://panopticon@", 1)
    with (
        psycopg.connect(panopticon_url, autocommit=True) as through_views,
        psycopg.connect(url, autocommit=True) as by_hand,
    ):
        # The views' owner, with its column grants and its policies: what differs is the view.
        by_hand.execute("set role admin_reader")
        by_hand.execute("set jit = off")
        worst = 0.0
        for question, (view_query, table_query) in QUESTIONS.items():
            rows = through_views.execute(view_query, params).fetchall()
            # Compared as values: the two sessions may name UTC differently.
            if sorted(rows, key=repr) != sorted(by_hand.execute(table_query, params).fetchall(), key=repr):
                raise SystemExit(f"{question}: the view and the tables answered differently")
            views, tables = [], []
            for _ in range(ROUNDS):
                views.append(seconds_per_run(through_views, view_query, params))
                tables.append(seconds_per_run(by_hand, table_query, params))
            view_ms, table_ms = statistics.median(views) * 1000, statistics.median(tables) * 1000
            worst = max(worst, view_ms / table_ms)
            print(
                f"{question + ':':44} {view_ms:8.2f} ms through the views, {table_ms:8.2f} ms by hand,"
                f" {view_ms / table_ms:6.2f}x ({len(rows)} rows)"
            )
    print(f"worst ratio: {worst:.2f}x (goal at most 1.5x)")


if __name__ == "__main__":
    main()
