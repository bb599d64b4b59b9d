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
from tests.support.orgs_db import become, make_org, make_user

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


def reserve(
    conn: psycopg.Connection, session: str, org_id: str, request: str = "request"
) -> db.ExtAiReserveRow:
    """RESERVED tokens of `request` reserved for the session's call in the organization."""
    return db.ext_ai_reserve(
        conn,
        p_session=session,
        p_org_id=org_id,
        p_feature="org_summary",
        p_model="gpt-test",
        p_request_hash=hashlib.sha256(request.encode()).digest(),
        p_tokens=RESERVED,
    )


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
                    reserved = reserve(conn, session, org_id, request)
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


def waiting_for_a_lock(admin: psycopg.Connection, pid: int) -> bool:
    row = admin.execute(
        "select wait_event_type = 'Lock' from pg_stat_activity where pid = %s", (pid,)
    ).fetchone()
    return row is not None and bool(row[0])


def wait_until_blocked(admin: psycopg.Connection, pids: list[int], index: int) -> None:
    deadline = time.monotonic() + 10
    while not (pids[index:] and waiting_for_a_lock(admin, pids[index])):
        assert time.monotonic() < deadline, "the call never waited for a lock"
        time.sleep(0.02)


def in_thread(database_url: str, pids: list[int], outcomes: list[object], work: object) -> threading.Thread:
    """Runs work(conn) as role edge in a transaction of its own on a thread; its pid goes to
    `pids`, what it answered (or the RpcError's code, or the other psycopg error) to `outcomes`."""

    def run() -> None:
        with psycopg.connect(database_url, user="edge") as conn:
            pids.append(conn.info.backend_pid)
            try:
                with conn.transaction():
                    outcomes.append(work(conn))  # type: ignore[operator]
            except RpcError as error:
                outcomes.append(error.code)
            except psycopg.Error as error:
                outcomes.append(error)

    thread = threading.Thread(target=run)
    thread.start()
    return thread


def deleting(database_url: str, owner: str, org_id: str) -> psycopg.Connection:
    """A connection whose open transaction deleted the organization as its owner, not committed."""
    conn = psycopg.connect(database_url)
    become(conn, owner)
    conn.execute("select api.delete_organization(%s)", (org_id,))
    return conn


def test_a_request_reserved_while_its_organization_is_deleted_is_not_found(
    admin: psycopg.Connection, database_url: str
) -> None:
    """The reservation's row names the organization: made while the deletion was under way, it
    waited for the organization's row and then found it gone (23503, the edge's 500)."""
    owner, member = make_user(admin, "Owner"), make_user(admin, "Member")
    org_id = make_org(admin, "Doomed", {owner: "owner", member: "member"})
    session = session_of(admin, member)
    deletion = deleting(database_url, owner, org_id)
    pids: list[int] = []
    outcomes: list[object] = []
    thread = in_thread(
        database_url,
        pids,
        outcomes,
        lambda conn: reserve(conn, session, org_id),
    )
    try:
        wait_until_blocked(admin, pids, 0)
        deletion.commit()
    finally:
        deletion.close()
        thread.join(timeout=30)
    assert outcomes == ["org.not_found"], outcomes


def test_a_stranger_to_the_organization_is_refused_without_waiting_for_its_lock(
    admin: psycopg.Connection, database_url: str
) -> None:
    """The organization's lock came before the membership check: anyone signed in took any
    organization's lock with each call, and waited behind its deletions and membership changes."""
    owner, stranger = make_user(admin, "Owner"), make_user(admin, "Stranger")
    org_id = make_org(admin, "Busy", {owner: "owner"})
    session = session_of(admin, stranger)
    deletion = deleting(database_url, owner, org_id)
    pids: list[int] = []
    outcomes: list[object] = []
    try:
        thread = in_thread(
            database_url,
            pids,
            outcomes,
            lambda conn: reserve(conn, session, org_id),
        )
        thread.join(timeout=5)
        assert outcomes == ["org.not_found"], "refused while the deletion still held the lock"
    finally:
        deletion.rollback()
        deletion.close()
        thread.join(timeout=30)


def test_a_call_settled_while_its_organization_is_deleted_does_not_deadlock(
    admin: psycopg.Connection, database_url: str
) -> None:
    """Settling locks the reservation, then caches the answer, whose row names the organization;
    a deletion that came between locked the organization's row and waited for the reservation's
    (its ledger goes with it): each waited for the other (40P01, a 500 to one of them). Here the
    settlement is held between the two by an expired answer that another transaction holds."""
    owner, member = make_user(admin, "Owner"), make_user(admin, "Member")
    org_id = make_org(admin, "Doomed", {owner: "owner", member: "member"})
    session = session_of(admin, member)
    with psycopg.connect(database_url, user="edge") as conn:
        reserved = reserve(conn, session, org_id)
    assert reserved.reservation_id is not None
    admin.execute(
        "insert into app.ai_answers (org_id, request_hash, model, answer, expires_at)"
        " values (%s, sha256('old'), 'gpt-test', 'old', now() - interval '1 second')",
        (org_id,),
    )
    holder = psycopg.connect(database_url)
    holder.execute("select from app.ai_answers where org_id = %s for update", (org_id,))
    pids: list[int] = []
    outcomes: list[object] = []
    settling = in_thread(
        database_url,
        pids,
        outcomes,
        lambda conn: db.ext_ai_settle(
            conn,
            p_session=session,
            p_reservation_id=reserved.reservation_id,
            p_prompt_tokens=10,
            p_completion_tokens=10,
            p_answer="A summary.",
        ),
    )
    deletion_outcome: list[object] = []

    def delete() -> None:
        with psycopg.connect(database_url) as conn:
            pids.append(conn.info.backend_pid)
            try:
                with conn.transaction():
                    become(conn, owner)
                    conn.execute("select api.delete_organization(%s)", (org_id,))
                deletion_outcome.append("deleted")
            except psycopg.Error as error:
                deletion_outcome.append(error)

    deletion = threading.Thread(target=delete)
    try:
        wait_until_blocked(admin, pids, 0)
        deletion.start()
        wait_until_blocked(admin, pids, 1)
        holder.commit()
    finally:
        holder.close()
        settling.join(timeout=30)
        deletion.join(timeout=30)
    assert outcomes == [None], outcomes
    assert deletion_outcome == ["deleted"], deletion_outcome
