"""Marking a session as used (at most once a minute: auth.session_from_token's touch) never
makes a request wait. Two connections to one database play two write requests of one session
as PostgREST starts them (request settings, web_anon, auth.pre_request)."""

from __future__ import annotations

import json

import psycopg

from tests.support.orgs_db import make_user

STALE = "update app.sessions set last_seen_at = now() - interval '2 minutes' where user_id = %s"


def _session_of(conn: psycopg.Connection, user_id: str) -> str:
    row = conn.execute("select auth.issue_session(%s, null, 'test') ->> 'token'", (user_id,)).fetchone()
    assert row is not None
    return str(row[0])


def _start_write_request(conn: psycopg.Connection, token: str) -> str:
    """A POST's transaction up to its pre-request; the caller it established."""
    headers = json.dumps({"content-type": "application/json", "x-blossom-session": token})
    conn.execute(
        "select set_config('request.method', 'POST', true), set_config('request.headers', %s, true),"
        " set_config('request.cookies', '{}', true), set_config('role', 'web_anon', true)",
        (headers,),
    )
    conn.execute("select auth.pre_request()")
    row = conn.execute("select current_setting('app.user_id', true)").fetchone()
    assert row is not None
    return str(row[0])


def test_a_write_does_not_wait_for_another_that_marks_the_same_session(database_url: str) -> None:
    """One write of a session that is due to be marked holds the mark's row lock for its whole
    transaction; a second write of that session goes on without marking it. (It waited: 32
    writes at once of one session queued on that lock, each holding a PostgREST connection, and
    a write that failed undid its mark, so the session stayed due and the queue formed again.)"""
    with psycopg.connect(database_url, autocommit=True) as conn:
        user_id = make_user(conn, "writer")
        token = _session_of(conn, user_id)
        conn.execute(STALE, (user_id,))
        with psycopg.connect(database_url) as first, psycopg.connect(database_url) as second:
            assert _start_write_request(first, token) == user_id
            second.execute("set lock_timeout = '300ms'")
            assert _start_write_request(second, token) == user_id
            second.commit()
            first.commit()
        marked = "select last_seen_at > now() - interval '1 minute' from app.sessions where user_id = %s"
        row = conn.execute(marked, (user_id,)).fetchone()
        assert row == (True,), "the first write marked the session"
