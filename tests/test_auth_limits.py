"""Login and sign-up limits over HTTP, each on a stack of its own (they count per address):
what they count, that parallel attempts cannot pass them, and that bcrypt work is shared fairly."""

from __future__ import annotations

import secrets
import time
from collections import Counter
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor

import psycopg
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from psycopg import sql

from edge.auth import account_key
from edge.config import EdgeConfig
from tests.support.auth_client import PASSWORD, new_email, post, signup
from tests.support.http import Reply, request
from tests.support.stack import Stack, make_stack
from tests.support.worker import eventually


@pytest.fixture
def fresh_stack(
    pg_server: str, template_database: str, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Stack]:
    with make_stack(pg_server, template_database, tmp_path_factory.mktemp("limits")) as running:
        yield running


def test_ten_failed_logins_are_answered_429_with_retry_after(fresh_stack: Stack) -> None:
    account = signup(fresh_stack.edge_url)
    for _ in range(10):
        reply = post(
            fresh_stack.edge_url, "/auth/login", {"email": account.email, "password": "wrong password!"}
        )
        assert reply.status == 401
    reply = post(fresh_stack.edge_url, "/auth/login", {"email": account.email, "password": PASSWORD})
    assert (reply.status, reply.json()["code"]) == (429, "auth.rate_limited")
    assert 0 < int(reply.header("retry-after") or 0) <= 900
    # Each failure was recorded although the login failed, with the peer's address.
    with psycopg.connect(fresh_stack.database_url) as conn:
        rows = conn.execute(
            "select count(*), min(host(client_addr)) from app.audit_events where action = 'auth.login_failed'"
        ).fetchone()
    assert rows == (10, "127.0.0.1")


def test_a_client_sent_forwarded_for_does_not_change_the_address(fresh_stack: Stack) -> None:
    email = new_email()
    headers = {"X-Forwarded-For": "203.0.113.7"}
    post(fresh_stack.edge_url, "/auth/login", {"email": email, "password": "wrong password!"}, headers)
    with psycopg.connect(fresh_stack.database_url) as conn:
        row = conn.execute(
            "select host(client_addr) from app.audit_events where action = 'auth.login_failed'"
        ).fetchone()
    assert row == ("127.0.0.1",)


def test_wrong_current_passwords_draw_on_the_login_limit(fresh_stack: Stack) -> None:
    """A stolen session cannot guess the account's password through /auth/password without limit."""
    account = signup(fresh_stack.edge_url)
    for attempt in range(10):
        body = {"current_password": f"guess number {attempt}", "new_password": "a brand new password"}
        reply = post(fresh_stack.edge_url, "/auth/password", body, account.cookie)
        assert (reply.status, reply.json()["code"]) == (401, "auth.invalid_credentials")
    body = {"current_password": PASSWORD, "new_password": "a brand new password"}
    reply = post(fresh_stack.edge_url, "/auth/password", body, account.cookie)
    assert (reply.status, reply.json()["code"]) == (429, "auth.rate_limited")
    assert 0 < int(reply.header("retry-after") or 0) <= 900
    login = post(fresh_stack.edge_url, "/auth/login", {"email": account.email, "password": PASSWORD})
    assert (login.status, login.json()["code"]) == (429, "auth.rate_limited")
    with psycopg.connect(fresh_stack.database_url) as conn:
        row = conn.execute(
            "select count(*) from app.audit_events where action = 'auth.password_change_failed'"
        ).fetchone()
    assert row == (10,)


def set_bcrypt_cost(stack: Stack, cost: int) -> None:
    """For the connections the edge opens from now on: call it before the stack's first request
    to Postgres (the edge opens its connections as it needs them, then keeps them)."""
    with psycopg.connect(stack.database_url, autocommit=True) as conn:
        name = conn.info.dbname
        conn.execute(
            sql.SQL("alter database {} set app.settings.bcrypt_cost = {}").format(
                sql.Identifier(name), sql.Literal(str(cost))
            )
        )


def in_parallel(count: int, call: Callable[[int], Reply]) -> list[Reply]:
    with ThreadPoolExecutor(max_workers=count) as pool:
        return list(pool.map(call, range(count)))


def test_parallel_wrong_logins_get_no_more_guesses_than_the_limit(fresh_stack: Stack) -> None:
    """30 guesses at once from the owner's own browser (its device cookie: one budget of 10),
    each from an address of its own so that the edge lets every one through to the database."""
    set_bcrypt_cost(fresh_stack, 10)  # a guess takes long enough for parallel ones to overlap
    account = signup(fresh_stack.edge_url)
    body = {"email": account.email, "password": "wrong password!"}
    device = {"Cookie": f"blossom_session_device={account.device}"}
    replies = in_parallel(
        30, lambda n: post(fresh_stack.edge_url, "/auth/login", body, device, source=f"127.0.2.{n + 1}")
    )
    codes = Counter(reply.json()["code"] for reply in replies)
    assert codes == {"auth.invalid_credentials": 10, "auth.rate_limited": 20}
    with psycopg.connect(fresh_stack.database_url) as conn:
        row = conn.execute(
            "select count(*) from app.audit_events where action = 'auth.login_failed' and target = lower(%s)",
            (account.email,),
        ).fetchone()
    assert row == (10,)


def test_parallel_wrong_current_passwords_get_no_more_guesses_than_the_limit(fresh_stack: Stack) -> None:
    set_bcrypt_cost(fresh_stack, 10)
    account = signup(fresh_stack.edge_url)
    body = {"current_password": "not my password", "new_password": "a brand new password"}
    replies = in_parallel(
        30,
        lambda n: post(
            fresh_stack.edge_url, "/auth/password", body, account.browser, source=f"127.0.3.{n + 1}"
        ),
    )
    codes = Counter(reply.json()["code"] for reply in replies)
    assert codes == {"auth.invalid_credentials": 10, "auth.rate_limited": 20}


def test_one_client_may_have_only_two_password_checks_under_way(fresh_stack: Stack) -> None:
    """So that one address cannot queue up in front of everyone's logins (bcrypt is dear)."""
    set_bcrypt_cost(fresh_stack, 10)
    body = {"email": new_email(), "password": "wrong password!"}
    replies = in_parallel(12, lambda _: post(fresh_stack.edge_url, "/auth/login", body, source="127.0.0.22"))
    codes = Counter(reply.json()["code"] for reply in replies)
    assert codes["edge.too_many_requests"] >= 8
    assert codes["auth.invalid_credentials"] >= 2
    assert set(codes) <= {"edge.too_many_requests", "auth.invalid_credentials"}


def test_signing_out_everywhere_waits_for_the_account_in_a_password_turn(fresh_stack: Stack) -> None:
    """A sign-out everywhere waits for the account's lock, which a login holds through its
    bcrypt: one client's sign-outs queued behind its own logins held every one of the edge's
    10 database connections, and everyone else's /auth calls waited 2 s for one and were
    answered 503. It takes a turn of the password checks (two per client) as a login does."""
    account = signup(fresh_stack.edge_url)
    bystander = signup(fresh_stack.edge_url)
    with psycopg.connect(fresh_stack.database_url) as lock:
        # The account's lock, as a login under way holds it.
        lock.execute("select app.lock_rate_key('login', lower(%s))", [account.email])
        with ThreadPoolExecutor(max_workers=12) as pool:
            sign_outs = [
                pool.submit(post, fresh_stack.edge_url, "/auth/logout-all", {}, account.cookie, "127.0.0.23")
                for _ in range(12)
            ]
            time.sleep(0.3)  # the sign-outs reach the lock
            started = time.monotonic()
            reply = request(
                fresh_stack.edge_url, "GET", "/auth/session", headers=bystander.cookie, source="127.0.0.24"
            )
            waited = time.monotonic() - started
            lock.rollback()
            codes = Counter(future.result().status for future in sign_outs)
    assert reply.status == 200, reply.body
    assert waited < 1
    assert codes[429] >= 10, codes
    assert set(codes) <= {204, 401, 429}, codes


def edge_calls_waiting_for_a_lock(watch: psycopg.Connection) -> int:
    """The edge's calls in this stack's database that wait for an advisory lock (other tests'
    stacks share the server)."""
    row = watch.execute(
        "select count(*) from pg_stat_activity"
        " where datname = current_database() and usename = 'edge' and wait_event = 'advisory'"
    ).fetchone()
    return int(row[0]) if row else 0


# The key of the account's lock that auth.login takes (sql/functions/auth/login.sql), of the
# email typed: edge.auth.account_key must give the same.
DATABASE_ACCOUNT_KEY = "left(lower(btrim(coalesce(%s, ''))), 320)"


def hold_the_accounts_lock(lock: psycopg.Connection, typed: str) -> None:
    """The lock of the account `typed` names, as a login under way holds it."""
    lock.execute(f"select app.lock_rate_key('login', {DATABASE_ACCOUNT_KEY})", [typed])


def one_account_typed_four_ways(way: str) -> list[str]:
    """Four emails that auth.login keys alike, one account's lock."""
    tag = secrets.token_hex(4)
    if way == "cases and spaces":
        email = new_email()
        return [email, email.upper(), f" {email}  ", email.title()]
    if way == "dotted capital I":
        # Postgres lowers U+0130 to "i"; str.lower() to "i" and U+0307, a combining dot.
        return [f"{i}-{tag}@example.com" for i in ("\u0130i", "i\u0130", "\u0130\u0130", "II")]
    assert way == "past 320 characters"
    # auth.login keys the first 320 characters (after the spaces around are trimmed).
    return [f"{tag}@example.com{'x' * 320}{n}" for n in range(4)]


def test_the_edges_account_key_is_the_databases(database_url: str) -> None:
    """edge.auth.account_key against what Postgres computes, on the tests' cluster (C.UTF-8, as
    every cluster ops/cluster.py makes): every code point alone (but NUL, which no text holds,
    and surrogates, which no UTF-8 does), then texts of them around spaces, capital sigmas,
    U+0130 and 320 characters, where context or length could tell the two apart."""
    with psycopg.connect(database_url, autocommit=True) as conn:
        code_points = [point for point in range(1, 0x110000) if not 0xD800 <= point <= 0xDFFF]
        # The same code points, numbered by Postgres (sending them was 1.4 s of this process's CPU).
        row = conn.execute(
            f"select array_agg({DATABASE_ACCOUNT_KEY % 'chr(point)'} order by point)"
            " from generate_series(1, 1114111) as point where point not between 55296 and 57343"
        ).fetchone()
        assert row is not None
        differing = {
            hex(point): (account_key(chr(point)), key)
            for point, key in zip(code_points, row[0], strict=True)
            if account_key(chr(point)) != key
        }
        assert not differing

        tricky = st.sampled_from(
            [" ", "\t", "\u00a0", "\u0130", "\u0307", "I", "i", "\u03a3", "\u03c2", "-", "@"]
        )
        any_character = st.characters(codec="utf-8", exclude_characters="\x00")
        long_run = st.integers(300, 340).map(lambda n: "\u0130" * n)

        @settings(max_examples=300, deadline=None)
        @given(st.lists(st.one_of(tricky, any_character, long_run), max_size=60).map("".join))
        def same_key(email: str) -> None:
            row = conn.execute(f"select {DATABASE_ACCOUNT_KEY}", [email]).fetchone()
            assert row is not None
            assert account_key(email) == row[0]

        same_key()


@pytest.mark.parametrize("way", ["cases and spaces", "dotted capital I", "past 320 characters"])
def test_logins_of_one_account_hold_one_turn_of_the_password_checks(fresh_stack: Stack, way: str) -> None:
    """A login waits for its account's lock, which the one before it holds through its bcrypt:
    two clients' logins of one account (two each, their share) held all four turns of the
    password checks while one bcrypt at a time ran, and every other account's sign-in waited
    for a turn, then was answered 503 edge.auth_busy. Logins of one account now wait for each
    other at the edge, one of them in a turn. One account however it is typed: the edge keyed
    it by str.lower(), which lowers "\u0130" (İ) otherwise than Postgres, and by every
    character, where auth.login keys the first 320; four logins so typed each held a turn, and
    the bystander was answered 503 edge.auth_busy."""
    bystander = signup(fresh_stack.edge_url)
    emails = one_account_typed_four_ways(way)
    with (
        psycopg.connect(fresh_stack.database_url) as lock,
        psycopg.connect(fresh_stack.database_url, autocommit=True) as watch,
    ):
        hold_the_accounts_lock(lock, emails[0])

        with ThreadPoolExecutor(max_workers=4) as pool:
            logins = [
                pool.submit(
                    post,
                    fresh_stack.edge_url,
                    "/auth/login",
                    {"email": email, "password": "wrong password!"},
                    None,
                    source,
                )
                for email, source in zip(
                    emails, ("127.0.0.27", "127.0.0.27", "127.0.0.28", "127.0.0.28"), strict=True
                )
            ]
            eventually(
                lambda: edge_calls_waiting_for_a_lock(watch) >= 1, what="a login reaches the account's lock"
            )
            time.sleep(0.3)  # the others reach the edge
            reply = post(
                fresh_stack.edge_url,
                "/auth/login",
                {"email": bystander.email, "password": PASSWORD},
                source="127.0.0.29",
            )
            held = edge_calls_waiting_for_a_lock(watch)
            lock.rollback()
            codes = Counter(
                (answer.status, answer.json()["code"]) for answer in (future.result() for future in logins)
            )
    assert reply.status == 200, reply.body
    assert held == 1
    assert codes == {(401, "auth.invalid_credentials"): 4}, codes


@pytest.mark.parametrize(
    ("held", "other"),
    [("\u0130x", "i\u0307x"), ("\u0391\u03a3", "\u03b1\u03c2")],
    ids=["dotted capital I and i with a combining dot", "final capital sigma and final sigma"],
)
def test_a_login_the_database_keys_apart_waits_for_no_other_accounts_turn(
    fresh_stack: Stack, held: str, other: str
) -> None:
    """Emails that str.lower() makes one and Postgres's lower() two accounts: "\u0130" (İ),
    which Postgres lowers to "i", str.lower() to "i" and a combining dot; a capital sigma at a
    word's end, which str.lower() lowers to the final sigma, Postgres to the sigma. The edge took
    them for one account, and the login of the other waited at the edge for the turn of one
    waiting for its own account's lock, and was answered 503 edge.auth_busy after 5 s. It is
    answered at once, as any login."""
    tag = secrets.token_hex(4)
    waiting, other_email = f"{held}-{tag}@example.com", f"{other}-{tag}@example.com"
    with (
        psycopg.connect(fresh_stack.database_url) as lock,
        psycopg.connect(fresh_stack.database_url, autocommit=True) as watch,
    ):
        hold_the_accounts_lock(lock, waiting)
        with ThreadPoolExecutor(max_workers=1) as pool:
            first = pool.submit(
                post, fresh_stack.edge_url, "/auth/login", {"email": waiting, "password": "wrong password!"}
            )
            eventually(
                lambda: edge_calls_waiting_for_a_lock(watch) >= 1, what="a login reaches the account's lock"
            )
            reply = post(
                fresh_stack.edge_url,
                "/auth/login",
                {"email": other_email, "password": "wrong password!"},
                source="127.0.0.30",
            )
            still_waiting = edge_calls_waiting_for_a_lock(watch)
            lock.rollback()
            answer = first.result()
    assert (reply.status, reply.json()["code"]) == (401, "auth.invalid_credentials"), reply.body
    assert still_waiting == 1
    assert (answer.status, answer.json()["code"]) == (401, "auth.invalid_credentials")


def test_one_client_holds_at_most_its_share_of_the_edges_database_connections(fresh_stack: Stack) -> None:
    """The /auth and /ext routes wait for one of the edge's 10 database connections, and a client
    may have 32 requests under way: those that spend no bcrypt had no share of their own. One
    client's password-reset requests, each waiting for its address's lock (as behind a slow one of
    its own), held all ten, and everyone else's /auth calls waited 2 s for one and were answered
    503 edge.database_unavailable. A client has 4 at once now, as at PostgREST; its others wait
    their turn, then 429."""
    bystander = signup(fresh_stack.edge_url)
    with (
        psycopg.connect(fresh_stack.database_url) as lock,
        psycopg.connect(fresh_stack.database_url, autocommit=True) as watch,
    ):
        # The address's lock, as a reset request under way holds it.
        lock.execute("select app.lock_rate_key('reset.addr', '127.0.0.25')")

        with ThreadPoolExecutor(max_workers=12) as pool:
            resets = [
                pool.submit(
                    post,
                    fresh_stack.edge_url,
                    "/auth/password-reset",
                    {"email": new_email()},
                    None,
                    "127.0.0.25",
                )
                for _ in range(12)
            ]
            eventually(lambda: edge_calls_waiting_for_a_lock(watch) >= 4, what="the resets reach the lock")
            reply = request(
                fresh_stack.edge_url, "GET", "/auth/session", headers=bystander.cookie, source="127.0.0.26"
            )
            held = edge_calls_waiting_for_a_lock(watch)
            lock.rollback()
            codes = Counter(
                (answer.status, answer.json()["code"] if answer.body else None)
                for answer in (future.result() for future in resets)
            )
    assert reply.status == 200, reply.body
    assert held == 4
    assert set(codes) <= {(202, None), (429, "edge.too_many_requests")}, codes


def test_sign_ups_are_limited_per_address_and_a_taken_email_counts(fresh_stack: Stack) -> None:
    taken = signup(fresh_stack.edge_url)
    source = "127.0.0.30"

    def attempt(email: str) -> Reply:
        body = {"email": email, "password": PASSWORD, "display_name": "Many"}
        return post(fresh_stack.edge_url, "/auth/signup", body, source=source)

    assert attempt(taken.email).json()["code"] == "auth.email_taken"
    assert [attempt(new_email()).status for _ in range(19)] == [201] * 19
    refused = attempt(new_email())
    assert (refused.status, refused.json()["code"]) == (429, "auth.rate_limited")
    assert 0 < int(refused.header("retry-after") or 0) <= 3600
    assert (
        post(
            fresh_stack.edge_url,
            "/auth/signup",
            {"email": new_email(), "password": PASSWORD, "display_name": "Other"},
            source="127.0.0.31",
        ).status
        == 201
    )


def test_the_wait_for_a_turn_of_password_work_is_a_setting(monkeypatch: pytest.MonkeyPatch) -> None:
    """5 s unless BLOSSOM_EDGE_AUTH_WAIT says otherwise; a value that is no positive number stops
    the edge at start, naming the variable."""
    monkeypatch.delenv("BLOSSOM_EDGE_AUTH_WAIT", raising=False)
    assert EdgeConfig.from_env().auth_wait_seconds == 5.0
    monkeypatch.setenv("BLOSSOM_EDGE_AUTH_WAIT", "60")
    assert EdgeConfig.from_env().auth_wait_seconds == 60.0
    for wrong in ("0", "-1", "soon", "inf"):
        monkeypatch.setenv("BLOSSOM_EDGE_AUTH_WAIT", wrong)
        with pytest.raises(ValueError, match="BLOSSOM_EDGE_AUTH_WAIT"):
            EdgeConfig.from_env()


# How long the flood's sign-ups may wait, for their turn at the edge and for their answers: as long
# as the flood can take on a loaded machine.
FLOOD_PATIENCE_SECONDS = 120


@pytest.fixture
def patient_stack(
    pg_server: str, template_database: str, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Stack]:
    settings = {"BLOSSOM_EDGE_AUTH_WAIT": str(FLOOD_PATIENCE_SECONDS)}
    with make_stack(
        pg_server, template_database, tmp_path_factory.mktemp("flood"), settings=settings
    ) as running:
        yield running


def test_a_flood_of_sign_ups_leaves_logins_their_share(patient_stack: Stack) -> None:
    """24 sign-ups at once take seconds; a login made just after them is answered long before
    they are all done. At bcrypt 11, half production's cost. What is proved is the order, not how
    long anything took: on a loaded machine (a load of 8 to 12 on 2 cores) the last sign-ups
    waited past the edge's 5 s for their turn and were answered 503 edge.auth_busy, so this
    stack's edge lets them wait as long as the flood can take (BLOSSOM_EDGE_AUTH_WAIT)."""
    set_bcrypt_cost(patient_stack, 11)
    account = signup(patient_stack.edge_url)
    finished: list[float] = []

    def sign_up(number: int) -> Reply:
        body = {"email": new_email(), "password": PASSWORD, "display_name": "Flood"}
        reply = request(
            patient_stack.edge_url,
            "POST",
            "/auth/signup",
            json_body=body,
            timeout=FLOOD_PATIENCE_SECONDS,
            source=f"127.0.1.{number + 1}",
        )
        finished.append(time.monotonic())
        return reply

    with ThreadPoolExecutor(max_workers=24) as pool:
        flood = [pool.submit(sign_up, number) for number in range(24)]
        time.sleep(0.3)
        login = post(patient_stack.edge_url, "/auth/login", {"email": account.email, "password": PASSWORD})
        answered = time.monotonic()
        replies = [future.result() for future in flood]
    assert login.status == 200
    assert all(reply.status == 201 for reply in replies), Counter(reply.status for reply in replies)
    done_before_login = sum(1 for moment in finished if moment < answered)
    assert done_before_login <= 12, (
        f"{done_before_login} of 24 sign-ups were done before the login was answered"
    )
