"""Tenant isolation, as a property: for random users, organizations and memberships, every
organization RPC called by every user with every other tenant's ids is refused as not found,
and no answer to any call ever carries a row (an id or a name) of an organization the caller
is not a member of. Calls go straight to the SQL functions as `authenticated`, set up the way
the pre-request sets up a request, each in a savepoint that is undone afterwards; and the same
attempts go through the edge, PostgREST and the pre-request themselves."""

from __future__ import annotations

import json
import secrets
from collections.abc import Iterator
from dataclasses import dataclass

import psycopg
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from blossom_db.generated import API_CALL_ARGUMENTS
from tests.support.auth_client import post, signup
from tests.support.http import Reply, request
from tests.support.orgs_db import Outcome, call, call_and_commit, email_of, make_org, make_user
from tests.support.stack import Stack

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


def test_former_members_invitees_and_a_deleted_organizations_owner_are_outsiders(
    conn: psycopg.Connection,
) -> None:
    """The outsiders the property above never makes: a member who left, one who was removed, an
    invitee who has not answered, and the owner of a deleted organization, each tried on every
    call with the organization's ids (its Slack channel and AI spend among them); and pages of
    one's own organization asked after a cursor taken from another's."""
    conn.autocommit = True
    owner, admin, leaver, removed, invitee, stranger = (
        make_user(conn, name) for name in ("owner", "admin", "leaver", "removed", "invitee", "stranger")
    )
    org = make_org(conn, "Target", {owner: "owner", admin: "admin", leaver: "member", removed: "member"})
    own = make_org(conn, "Own", {stranger: "owner"})
    conn.execute(
        "insert into app.slack_connections (org_id, team_id, team_name, channel, bot_token_key_id,"
        " bot_token_sealed, connected_by) values (%s, 'T1', 'Team', '#general', 'k1', %s, %s)",
        (org, bytes(40), admin),
    )
    conn.execute(
        "insert into app.ai_usage (org_id, user_id, feature, model, request_hash, reserved_tokens)"
        " values (%s, %s, 'org_summary', 'm', %s, 10)",
        (org, leaver, bytes(32)),
    )
    invited = call_and_commit(conn, owner, "invite_member", org, email_of(conn, invitee), "admin")
    assert invited.ok
    assert call_and_commit(conn, leaver, "leave_organization", org).ok
    assert call_and_commit(conn, owner, "remove_member", org, removed).ok
    doomed = call_and_commit(conn, stranger, "create_organization", "Doomed")
    assert doomed.ok
    deleted = str(doomed.rows[0][0])
    assert call_and_commit(conn, stranger, "delete_organization", deleted).ok
    membership = conn.execute("select id from app.memberships where org_id = %s limit 1", (org,)).fetchone()
    event = conn.execute("select max(id) from app.audit_events where org_id = %s", (org,)).fetchone()
    assert membership is not None
    assert event is not None

    def attempts(target: str) -> list[tuple[str, tuple[object, ...]]]:
        return [
            ("get_organization", (target,)),
            ("list_members", (target, None, 100)),
            ("list_invitations", (target, None, 100)),
            ("list_audit_events", (target, None, 200)),
            ("get_slack_connection", (target,)),
            ("get_ai_usage", (target,)),
            ("update_organization", (target, "Taken over")),
            ("invite_member", (target, "spy@example.com", "member")),
            ("change_member_role", (target, owner, "member")),
            ("remove_member", (target, owner)),
            ("leave_organization", (target,)),
            ("transfer_ownership", (target, owner)),
            ("delete_organization", (target,)),
        ]

    outsiders = {leaver: org, removed: org, invitee: org, stranger: deleted}
    for user, target in outsiders.items():
        assert target not in {row[0] for row in call(conn, user, "list_organizations").rows}
        for function, args in attempts(target):
            outcome = call(conn, user, function, *args)
            assert (outcome.status, outcome.code) == (404, "org.not_found"), (user, function, outcome)
        revoked = call(conn, user, "revoke_invitation", invited.rows[0][0])
        assert (revoked.status, revoked.code) == (404, "invitation.not_found")

    members = call(conn, stranger, "list_members", own, str(membership[0]), 100)
    events = call(conn, stranger, "list_audit_events", own, str(event[0]), 200)
    invitations = call(conn, stranger, "list_invitations", own, str(invited.rows[0][0]), 100)
    assert members.ok
    assert events.ok
    assert invitations.ok
    assert {row[1] for row in members.rows} <= {stranger}
    assert org not in json.dumps(events.rows + invitations.rows, default=str)


def rpc(
    stack: Stack, function: str, arguments: dict[str, object], headers: dict[str, str], method: str
) -> Reply:
    """A call through the edge: POST with a JSON body, or GET (HEAD) with a query string."""
    if method == "POST":
        return post(stack.edge_url, f"/rpc/{function}", arguments, headers)
    query = "&".join(f"{name}={value}" for name, value in arguments.items())
    return request(stack.edge_url, method, f"/rpc/{function}?{query}", headers=headers)


def tenant_rows(conn: psycopg.Connection, org_id: str) -> tuple[object, ...]:
    """Everything of an organization a call could change, as text."""
    row = conn.execute(
        "select (select o::text from app.organizations o where o.id = %(org)s),"
        " (select string_agg(m::text, ',' order by m.id) from app.memberships m where m.org_id = %(org)s),"
        " (select string_agg(i::text, ',' order by i.id) from app.invitations i where i.org_id = %(org)s),"
        " (select count(*) from app.audit_events e where e.org_id = %(org)s),"
        " (select count(*) from app.outbox b where b.payload ->> 'org_id' = %(org)s)",
        {"org": org_id},
    ).fetchone()
    assert row is not None
    return tuple(row)


def test_no_call_through_the_edge_reaches_another_tenant(stack: Stack) -> None:
    """The property above through the real path: the edge, PostgREST and the pre-request, the
    caller named by a session cookie or the X-Blossom-Session header. An owner of one
    organization calls every RPC with another organization's ids (in a POST's body, and in a
    GET's and a HEAD's query for those that only read), and their own organization with the
    other's members and cursors: each is refused as not found, no answer holds anything of the
    other tenant (its name, slug, addresses, display names, membership or event ids), and the
    other organization's rows, trail and outbox are as they were."""
    mark = secrets.token_hex(6)
    attacker = signup(stack.edge_url, name="Attacker")
    victim, colleague = (signup(stack.edge_url, name=f"{name}{mark}") for name in ("Victim", "Colleague"))
    own = post(stack.edge_url, "/rpc/create_organization", {"name": "Own"}, attacker.cookie).json()
    target = post(stack.edge_url, "/rpc/create_organization", {"name": f"Target{mark}"}, victim.cookie).json()
    invitee = f"invitee-{mark}@example.com"
    invited = post(
        stack.edge_url,
        "/rpc/invite_member",
        {"org_id": target["id"], "email": invitee, "role": "member"},
        victim.cookie,
    )
    assert invited.status == 200, invited.body
    with psycopg.connect(stack.database_url, autocommit=True) as conn:
        conn.execute(
            "insert into app.memberships (org_id, user_id, role) values (%s, %s, 'admin')",
            (target["id"], colleague.user["id"]),
        )
        memberships = [
            str(r[0])
            for r in conn.execute("select id from app.memberships where org_id = %s", (target["id"],))
        ]
        events = [
            str(r[0])
            for r in conn.execute("select id from app.audit_events where org_id = %s", (target["id"],))
        ]
        before = tenant_rows(conn, target["id"])
    marks = {
        target["name"],
        target["slug"],
        invitee,
        victim.email,
        colleague.email,
        mark,
        *memberships,
        *events,
    }

    org, victim_id, invitation = target["id"], victim.user["id"], invited.json()["id"]
    outsider_calls: list[tuple[str, dict[str, object], str]] = [
        ("get_organization", {"org_id": org}, "org.not_found"),
        ("list_members", {"org_id": org}, "org.not_found"),
        ("list_invitations", {"org_id": org}, "org.not_found"),
        ("list_audit_events", {"org_id": org}, "org.not_found"),
        ("get_slack_connection", {"org_id": org}, "org.not_found"),
        ("get_ai_usage", {"org_id": org}, "org.not_found"),
        ("update_organization", {"org_id": org, "name": "Taken over"}, "org.not_found"),
        ("invite_member", {"org_id": org, "email": "spy@example.com", "role": "owner"}, "org.not_found"),
        ("change_member_role", {"org_id": org, "user_id": victim_id, "role": "member"}, "org.not_found"),
        (
            "change_member_role",
            {"org_id": org, "user_id": attacker.user["id"], "role": "owner"},
            "org.not_found",
        ),
        ("remove_member", {"org_id": org, "user_id": victim_id}, "org.not_found"),
        ("transfer_ownership", {"org_id": org, "user_id": attacker.user["id"]}, "org.not_found"),
        ("leave_organization", {"org_id": org}, "org.not_found"),
        ("delete_organization", {"org_id": org}, "org.not_found"),
        ("revoke_invitation", {"invitation_id": invitation}, "invitation.not_found"),
        (
            "change_member_role",
            {"org_id": own["id"], "user_id": victim_id, "role": "owner"},
            "member.not_found",
        ),
        ("remove_member", {"org_id": own["id"], "user_id": victim_id}, "member.not_found"),
        ("transfer_ownership", {"org_id": own["id"], "user_id": victim_id}, "member.not_found"),
    ]
    assert {name for name, _, _ in outsider_calls} >= set(API_CALL_ARGUMENTS) - {
        "me",
        "update_profile",
        "create_organization",
        "list_organizations",
        "accept_invitation",
        "decline_invitation",
    }
    identities = {"cookie": attacker.cookie, "header": {"X-Blossom-Session": attacker.token}}
    answers: list[tuple[str, Reply]] = []
    for identity, headers in identities.items():
        for function, arguments, code in outsider_calls:
            methods = ["POST"] + (["GET", "HEAD"] if API_CALL_ARGUMENTS[function].read_only else [])
            for method in methods:
                reply = rpc(stack, function, arguments, headers, method)
                answers.append((f"{method} {function} by {identity}", reply))
                assert reply.status == 404, (function, method, identity, reply.status, reply.body)
                if method != "HEAD":
                    assert reply.json()["code"] == code, (function, method, identity, reply.body)
        for cursor in memberships:
            page = rpc(stack, "list_members", {"org_id": own["id"], "after": cursor}, headers, "POST")
            answers.append((f"list_members after {cursor} by {identity}", page))
            assert page.status == 200, page.body
            assert {row["user_id"] for row in page.json()} <= {attacker.user["id"]}
        for cursor in events:
            page = rpc(stack, "list_audit_events", {"org_id": own["id"], "before": cursor}, headers, "POST")
            answers.append((f"list_audit_events before {cursor} by {identity}", page))
            assert page.status == 200, page.body
        listed = rpc(stack, "list_organizations", {}, headers, "GET")
        answers.append((f"list_organizations by {identity}", listed))
        assert [row["id"] for row in listed.json()] == [own["id"]]
    leaked = {
        what: sorted(m for m in marks if m in reply.body.decode() or any(m in v for _, v in reply.headers))
        for what, reply in answers
    }
    assert not {what: found for what, found in leaked.items() if found}
    with psycopg.connect(stack.database_url, autocommit=True) as conn:
        assert tenant_rows(conn, target["id"]) == before
