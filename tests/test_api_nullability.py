"""The `@notnull` promises on API result types hold for what the functions really return.

Postgres cannot declare a composite attribute NOT NULL, so the generated clients trust the
`@notnull` tag in its comment; here every API function that returns such a type is called on
real data and each promised attribute is checked."""

from __future__ import annotations

from collections.abc import Iterator

import psycopg
import pytest

from codegen.catalog import not_null_tag
from tests.support.orgs_db import call, call_and_commit, email_of, make_org, make_user

# Each function returning an API result type, called as the user that may: (user, args).
# Words starting with @ stand for the ids and values the test makes.
CALLS = {
    "me": ("@owner", ()),
    "update_profile": ("@owner", ("Ada L.",)),
    "list_organizations": ("@owner", ()),
    "get_organization": ("@owner", ("@org",)),
    "update_organization": ("@owner", ("@org", "Renamed")),
    "list_members": ("@owner", ("@org",)),
    "invite_member": ("@owner", ("@org", "invitee@example.com", "member")),
    "list_invitations": ("@owner", ("@org",)),
    "change_member_role": ("@owner", ("@org", "@member", "admin")),
    "list_audit_events": ("@owner", ("@org",)),
    "transfer_ownership": ("@owner", ("@org", "@member")),
    "create_organization": ("@owner", ("Another",)),
    "accept_invitation": ("@guest", ("@token",)),
    "get_slack_connection": ("@member", ("@org",)),
    "get_ai_usage": ("@owner", ("@org",)),
}


def _promised(conn: psycopg.Connection) -> dict[str, list[tuple[int, str]]]:
    """{api function: [(position, attribute) of its result that carry @notnull]}."""
    rows = conn.execute(
        """
        select p.proname::text, a.attnum::int, a.attname::text, col_description(a.attrelid, a.attnum)
          from pg_proc p
          join pg_type t on t.oid = p.prorettype
          join pg_attribute a on a.attrelid = t.typrelid and a.attnum > 0 and not a.attisdropped
         where p.pronamespace = 'api'::regnamespace
           and t.typnamespace = 'api'::regnamespace
         order by 1, 2
        """
    ).fetchall()
    promised: dict[str, list[tuple[int, str]]] = {}
    for function, position, attribute, comment in rows:
        if not_null_tag(comment)[0]:
            promised.setdefault(function, []).append((position - 1, attribute))
    return promised


@pytest.fixture
def world(database_url: str) -> Iterator[tuple[psycopg.Connection, dict[str, str]]]:
    with psycopg.connect(database_url, autocommit=True) as conn:
        owner, member = make_user(conn, "Owner"), make_user(conn, "Member")
        names = {
            "@owner": owner,
            "@member": member,
            "@org": make_org(conn, "Acme", {owner: "owner", member: "member"}),
        }
        conn.execute(
            "insert into app.slack_connections (org_id, team_id, team_name, channel, bot_token_key_id,"
            " bot_token_sealed) values (%s, 'T1', 'Acme', 'C1', 'k1', %s)",
            (names["@org"], bytes(40)),
        )
        yield conn, names


def test_every_promised_attribute_is_filled(world: tuple[psycopg.Connection, dict[str, str]]) -> None:
    conn, names = world
    promised = _promised(conn)
    assert set(promised) <= set(CALLS), f"add a call for {sorted(set(promised) - set(CALLS))}"
    guest = names["@guest"] = make_user(conn, "Guest")
    call_and_commit(conn, names["@owner"], "invite_member", names["@org"], email_of(conn, guest), "admin")
    token = conn.execute(
        "select payload->>'token' from app.outbox"
        " where topic = 'mail.org_invitation' and payload->>'to' = %s",
        (email_of(conn, guest),),
    ).fetchone()
    assert token is not None
    names["@token"] = str(token[0])
    for function, (user, args) in sorted(CALLS.items()):
        outcome = call(conn, names[user], function, *(names.get(arg, arg) for arg in args))
        assert outcome.ok, (function, outcome)
        assert outcome.rows, f"{function} returned no row to check"
        for row in outcome.rows:
            for position, attribute in promised.get(function, []):
                assert row[position] is not None, f"api.{function}: {attribute} is null"
