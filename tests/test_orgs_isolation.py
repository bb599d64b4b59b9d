"""Tenant isolation, as a property: for random users, organizations and memberships, every
organization RPC called by every user with every other tenant's ids is refused as not found,
and no answer to any call ever carries a row (an id or a name) of an organization the caller
is not a member of. Calls go straight to the SQL functions as `authenticated`, set up the way
the pre-request sets up a request, each in a savepoint that is undone afterwards."""

from __future__ import annotations

import json
import secrets
from collections.abc import Iterator
from dataclasses import dataclass

import psycopg
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.support.orgs_db import Outcome, call, make_org, make_user

ROLES = ("owner", "admin", "member")


@dataclass(frozen=True)
class Tenant:
    org_id: str
    name: str
    members: dict[str, str]
    invitation_id: str
    marks: frozenset[str]  # ids and names that must never reach a non-member


@st.composite
def worlds(draw: st.DrawFn) -> tuple[int, list[dict[int, str]]]:
    """How many users, and for each organization {user index: role}, with at least one owner."""
    users = draw(st.integers(min_value=2, max_value=5))
    orgs = draw(st.integers(min_value=2, max_value=4))
    layouts = []
    for _ in range(orgs):
        members = draw(
            st.dictionaries(st.integers(0, users - 1), st.sampled_from(ROLES), min_size=1, max_size=users)
        )
        first = min(members)
        members[first] = "owner"
        layouts.append(members)
    return users, layouts


@pytest.fixture
def conn(database_url: str) -> Iterator[psycopg.Connection]:
    with psycopg.connect(database_url) as connection:
        yield connection


def build(
    conn: psycopg.Connection, users: int, layouts: list[dict[int, str]]
) -> tuple[list[str], list[Tenant]]:
    user_ids = [make_user(conn, f"user{i}") for i in range(users)]
    tenants = []
    for index, layout in enumerate(layouts):
        name = f"Tenant{index}x{secrets.token_hex(6)}"
        members = {user_ids[i]: role for i, role in layout.items()}
        org_id = make_org(conn, name, members)
        row = conn.execute(
            "insert into app.invitations (org_id, email, role, token_hash)"
            " values (%s, %s, 'member', sha256(gen_random_uuid()::text::bytea)) returning id",
            (org_id, f"invitee{index}@example.com"),
        ).fetchone()
        assert row is not None
        conn.execute(
            "insert into app.audit_events (action, org_id, target) values ('org.created', %s, %s)",
            (org_id, org_id),
        )
        marks = {org_id, name, str(row[0]), f"invitee{index}@example.com"}
        marks |= {
            str(r[0]) for r in conn.execute("select id from app.memberships where org_id = %s", (org_id,))
        }
        marks |= {
            str(r[0]) for r in conn.execute("select id from app.audit_events where org_id = %s", (org_id,))
        }
        tenants.append(Tenant(org_id, name, members, str(row[0]), frozenset(marks)))
    return user_ids, tenants


def leaks(outcome: Outcome, marks: frozenset[str]) -> set[str]:
    text = json.dumps(outcome.rows, default=str)
    return {mark for mark in marks if mark in text}


@settings(max_examples=50, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(world=worlds())
def test_no_row_of_an_organization_reaches_a_non_member(
    conn: psycopg.Connection, world: tuple[int, list[dict[int, str]]]
) -> None:
    users, layouts = world
    with conn.transaction(force_rollback=True):
        user_ids, tenants = build(conn, users, layouts)
        for user in user_ids:
            foreign = [t for t in tenants if user not in t.members]
            foreign_marks = frozenset().union(*(t.marks for t in foreign))
            own = [t for t in tenants if user in t.members]

            listed = call(conn, user, "list_organizations")
            assert listed.ok
            assert {row[0] for row in listed.rows} == {t.org_id for t in own}
            assert not leaks(listed, foreign_marks)
            for tenant in own:
                got = call(conn, user, "get_organization", tenant.org_id)
                assert got.ok
                assert got.rows[0][0] == tenant.org_id
                members = call(conn, user, "list_members", tenant.org_id)
                assert members.ok
                assert {row[1] for row in members.rows} == set(tenant.members)
                for function in ("list_members", "list_audit_events", "list_invitations"):
                    assert not leaks(call(conn, user, function, tenant.org_id), foreign_marks)

            for tenant in foreign:
                someone = next(iter(tenant.members))
                org = tenant.org_id
                attempts = [
                    ("get_organization", (org,)),
                    ("update_organization", (org, "Taken over")),
                    ("delete_organization", (org,)),
                    ("list_members", (org,)),
                    ("invite_member", (org, "spy@example.com", "owner")),
                    ("list_invitations", (org,)),
                    ("change_member_role", (org, someone, "member")),
                    ("change_member_role", (org, user, "owner")),
                    ("remove_member", (org, someone)),
                    ("leave_organization", (org,)),
                    ("transfer_ownership", (org, user)),
                    ("list_audit_events", (org, None, 200)),
                ]
                for function, args in attempts:
                    outcome = call(conn, user, function, *args)
                    assert (outcome.status, outcome.code) == (404, "org.not_found"), (function, outcome)
                revoked = call(conn, user, "revoke_invitation", tenant.invitation_id)
                assert (revoked.status, revoked.code) == (404, "invitation.not_found")
                for function in ("accept_invitation", "decline_invitation"):
                    outcome = call(conn, user, function, "x" * 43)
                    assert (outcome.status, outcome.code) == (400, "invitation.invalid")
            made = call(conn, user, "create_organization", "Fresh")
            assert made.ok
            assert not leaks(made, foreign_marks)
