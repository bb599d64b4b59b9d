"""Login rate limits and the client address, each on a stack of its own (they count per address)."""

from __future__ import annotations

from collections.abc import Iterator

import psycopg
import pytest

from tests.auth_client import PASSWORD, new_email, post, signup
from tests.conftest import Stack, make_stack


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
