"""AI quota under concurrency: calls reserved at once are admitted one after the other under
the organization's lock, so the month's charge cannot pass the quota by more than one call's
worth. Each reservation runs as the edge runs it (role edge, ext.ai_reserve through the generated
wrapper, a session token), in a transaction of its own, all released together by a barrier and
held open a moment before committing, so that they really overlap."""

from __future__ import annotations

import hashlib
import threading
import time
from collections.abc import Iterator

import psycopg
import pytest

from blossom_db import generated as db
from blossom_db.runtime import RpcError
from tests.support.orgs_db import make_org, make_user

QUOTA = 1000
RESERVED = 300
CALLS = 10


@pytest.fixture
def admin(database_url: str) -> Iterator[psycopg.Connection]:
    with psycopg.connect(database_url, autocommit=True) as conn:
        yield conn


def session_of(conn: psycopg.Connection, user_id: str) -> str:
    row = conn.execute("select auth.issue_session(%s, null, null) ->> 'token'", (user_id,)).fetchone()
    assert row is not None
    return str(row[0])


def set_quota(conn: psycopg.Connection, org_id: str, tokens: int) -> None:
    """What an operator does: the organization's own monthly quota."""
    conn.execute("insert into app.ai_quotas (org_id, monthly_tokens) values (%s, %s)", (org_id, tokens))


def reserve_at_once(
    database_url: str, callers: list[tuple[str, str]], *, same_request: bool = False
) -> list[int | str]:
    """Each (session, organization) reserves RESERVED tokens of a request of its own (or all of
    the same request), all at once: the reservation ids, or the codes of the refusals."""
    barrier = threading.Barrier(len(callers))
    outcomes: list[int | str | None] = [None] * len(callers)

    def run(index: int, session: str, org_id: str) -> None:
        request = "request" if same_request else f"request {index}"
        with psycopg.connect(database_url, user="edge") as conn:
            try:
                with conn.transaction():
                    barrier.wait(timeout=10)
                    reserved = db.ext_ai_reserve(
                        conn,
                        p_session=session,
                        p_org_id=org_id,
                        p_feature="org_summary",
                        p_model="gpt-test",
                        p_request_hash=hashlib.sha256(request.encode()).digest(),
                        p_tokens=RESERVED,
                    )
                    time.sleep(0.2)
                refusal = reserved.refusal if isinstance(reserved.refusal, dict) else {}
                outcomes[index] = reserved.reservation_id or str(refusal.get("code"))
            except RpcError as error:
                outcomes[index] = error.code

    threads = [threading.Thread(target=run, args=(i, *caller)) for i, caller in enumerate(callers)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)
    assert all(outcome is not None for outcome in outcomes), "a reservation did not finish"
    return [outcome for outcome in outcomes if outcome is not None]


def test_calls_at_once_cannot_overspend_the_quota_by_more_than_one_call(
    admin: psycopg.Connection, database_url: str
) -> None:
    users = [make_user(admin, f"Caller{i}") for i in range(CALLS)]
    org_id = make_org(
        admin, "Metered", {user: "owner" if i == 0 else "member" for i, user in enumerate(users)}
    )
    set_quota(admin, org_id, QUOTA)
    outcomes = reserve_at_once(database_url, [(session_of(admin, user), org_id) for user in users])

    admitted = [o for o in outcomes if isinstance(o, int)]
    refused = [o for o in outcomes if isinstance(o, str)]
    # 0, 300, 600 and 900 held are below 1000: four calls; the rest see 1200 held.
    assert len(admitted) == 4, outcomes
    assert set(refused) == {"ai.quota_exceeded"}
    row = admin.execute(
        "select sum(reserved_tokens)::int, count(*)::int from app.ai_usage where org_id = %s", (org_id,)
    ).fetchone()
    assert row == (4 * RESERVED, 4)
    assert 4 * RESERVED < QUOTA + RESERVED


def test_the_same_request_asked_at_once_is_reserved_once(
    admin: psycopg.Connection, database_url: str
) -> None:
    users = [make_user(admin, f"Caller{i}") for i in range(5)]
    org_id = make_org(admin, "Echo", {user: "owner" if i == 0 else "member" for i, user in enumerate(users)})
    outcomes = reserve_at_once(
        database_url, [(session_of(admin, user), org_id) for user in users], same_request=True
    )
    assert [outcome for outcome in outcomes if isinstance(outcome, str)] == ["ai.in_progress"] * 4, outcomes


def test_each_organizations_quota_is_its_own_when_both_are_asked_at_once(
    admin: psycopg.Connection, database_url: str
) -> None:
    users = [make_user(admin, f"Caller{i}") for i in range(6)]
    first = make_org(admin, "First", {users[0]: "owner", users[1]: "member", users[2]: "member"})
    second = make_org(admin, "Second", {users[3]: "owner", users[4]: "member", users[5]: "member"})
    for org_id in (first, second):
        set_quota(admin, org_id, RESERVED)
    callers = [(session_of(admin, user), first if i < 3 else second) for i, user in enumerate(users)]
    outcomes = reserve_at_once(database_url, callers)
    # One call each: the first reservation holds all of its organization's quota, none of the other's.
    admitted = [isinstance(outcome, int) for outcome in outcomes]
    assert [sum(admitted[:3]), sum(admitted[3:])] == [1, 1], outcomes
