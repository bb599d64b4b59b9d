"""Helpers for the organization tests: users and organizations made directly as the admin,
and API calls made as a signed-in user, the way auth.pre_request sets up a request."""

from __future__ import annotations

import json
import secrets
from dataclasses import dataclass
from typing import Any

import psycopg
from psycopg import sql

from services.secrets import KeyRing
from services.slack import bot_token_context


@dataclass(frozen=True)
class Outcome:
    """What an API call answered: its rows, or the HTTP status and code it raised."""

    rows: list[tuple[Any, ...]]
    status: int | None = None
    code: str | None = None

    @property
    def ok(self) -> bool:
        return self.status is None


def make_user(conn: psycopg.Connection, name: str) -> str:
    row = conn.execute(
        "insert into app.users (email, display_name) values (%s, %s) returning id",
        (f"{name}-{secrets.token_hex(4)}@example.com", name),
    ).fetchone()
    assert row is not None
    return str(row[0])


def email_of(conn: psycopg.Connection, user_id: str) -> str:
    row = conn.execute("select email from app.users where id = %s", (user_id,)).fetchone()
    assert row is not None
    return str(row[0])


def make_org(conn: psycopg.Connection, name: str, members: dict[str, str]) -> str:
    """An organization with the given members ({user id: role}), straight into the tables."""
    row = conn.execute(
        "insert into app.organizations (name, slug) values (%s, %s) returning id",
        (name, f"{name.lower()}-{secrets.token_hex(4)}"),
    ).fetchone()
    assert row is not None
    org_id = str(row[0])
    for user_id, role in members.items():
        conn.execute(
            "insert into app.memberships (org_id, user_id, role) values (%s, %s, %s)", (org_id, user_id, role)
        )
    return org_id


# What the pre-request does for a valid session (or for none), for this transaction, in one
# statement as it does it (its parameters: become_parameters).
BECOME = "select set_config('app.user_id', %s, true), set_config('role', %s, true)"


def become_parameters(user_id: str | None) -> tuple[str, str]:
    return (user_id or "", "authenticated" if user_id else "web_anon")


def become(conn: psycopg.Connection, user_id: str | None) -> None:
    conn.execute(BECOME, become_parameters(user_id))


def api_call(function: str, count: int) -> sql.Composed:
    """`select * from api.<function>(%s, …)`, with `count` placeholders."""
    return sql.SQL("select * from api.{}({})").format(
        sql.Identifier(function), sql.SQL(", ").join(sql.Placeholder() * count)
    )


def call(conn: psycopg.Connection, user_id: str | None, function: str, *args: Any) -> Outcome:
    """Calls api.<function>(args) as the user, in a transaction or savepoint that is always
    undone. The opening, the caller and the call go to the server as one batch, the undoing as
    another: the isolation test makes thousands of calls, of four round trips each otherwise."""
    if conn.autocommit:
        opening, undoing = "begin", "rollback"
    else:
        opening, undoing = "savepoint api_call", "rollback to savepoint api_call; release savepoint api_call"
    batch = sql.SQL("{}; {}; {}").format(sql.SQL(opening), sql.SQL(BECOME), api_call(function, len(args)))
    with psycopg.ClientCursor(conn) as cursor:
        try:
            cursor.execute(batch, (*become_parameters(user_id), *args))
            while cursor.nextset():  # to the call's rows, the last of the batch's results
                pass
            return Outcome(cursor.fetchall())
        except psycopg.Error as error:
            if error.sqlstate != "PGRST":
                raise
            return error_outcome(error)
        finally:
            cursor.execute(undoing)


def error_outcome(error: psycopg.Error) -> Outcome:
    message = json.loads(error.diag.message_primary or "{}")
    detail = json.loads(error.diag.message_detail or "{}")
    return Outcome([], int(detail["status"]), str(message["code"]))


def call_and_commit(conn: psycopg.Connection, user_id: str | None, function: str, *args: Any) -> Outcome:
    """Calls api.<function>(args) as the user in a transaction of its own, committed if it worked."""
    try:
        with conn.transaction():
            become(conn, user_id)
            return Outcome(conn.execute(api_call(function, len(args)), args).fetchall())
    except psycopg.Error as error:
        if error.sqlstate != "PGRST":
            raise
        return error_outcome(error)


def connect_slack(
    conn: psycopg.Connection,
    ring: KeyRing,
    org_id: str,
    token: str,
    channel: str,
    *,
    team: tuple[str, str] = ("T1", "Team"),
) -> None:
    """An organization's Slack connection as the edge stores it, to workspace `team` (its id and
    name): the bot token sealed."""
    sealed = ring.seal(token, bot_token_context(org_id))
    conn.execute(
        "insert into app.slack_connections"
        " (org_id, team_id, team_name, channel, bot_token_key_id, bot_token_sealed)"
        " values (%s, %s, %s, %s, %s, %s)",
        (org_id, *team, channel, sealed.key_id, sealed.ciphertext),
    )
