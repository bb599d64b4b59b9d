"""Concurrent membership changes: an organization never loses its last owner, and an
invitation accepted twice at once makes one membership. Each race runs two transactions on two
connections, released together by a barrier and held open a moment before committing, so that
the second really runs while the first is in flight."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

import psycopg
import pytest
from psycopg import sql

from tests.support.databases import waiting_for
from tests.support.orgs_db import (
    Outcome,
    become,
    call,
    call_and_commit,
    email_of,
    error_outcome,
    make_org,
    make_user,
)

ROUNDS = 5


@contextmanager
def admin(database_url: str) -> Iterator[psycopg.Connection]:
    with psycopg.connect(database_url, autocommit=True) as conn:
        yield conn


def race(database_url: str, calls: list[tuple[str, str, tuple[Any, ...]]]) -> list[Outcome]:
    """Runs each (user, function, args) in its own transaction, all released at once."""
    barrier = threading.Barrier(len(calls))
    outcomes: list[Outcome | None] = [None] * len(calls)

    def run(index: int, user_id: str, function: str, args: tuple[Any, ...]) -> None:
        with psycopg.connect(database_url) as conn:
            placeholders = ", ".join(["%s"] * len(args))
            try:
                with conn.transaction():
                    become(conn, user_id)
                    barrier.wait(timeout=10)
                    conn.execute(f"select * from api.{function}({placeholders})", args).fetchall()
                    time.sleep(0.2)
                outcomes[index] = Outcome([])
            except psycopg.Error as error:
                if error.sqlstate != "PGRST":
                    raise
                outcomes[index] = error_outcome(error)

    threads = [threading.Thread(target=run, args=(i, *call)) for i, call in enumerate(calls)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)
    assert all(outcome is not None for outcome in outcomes), "a transaction did not finish"
    return [outcome for outcome in outcomes if outcome is not None]


def owners(conn: psycopg.Connection, org_id: str) -> int:
    row = conn.execute(
        "select count(*) from app.memberships where org_id = %s and role = 'owner'", (org_id,)
    ).fetchone()
    assert row is not None
    return int(row[0])


def counted_members(conn: psycopg.Connection, org_id: str) -> tuple[int, int]:
    """The organization's member_count and its real number of memberships (the admin sees all)."""
    row = conn.execute(
        "select o.member_count, (select count(*)::int from app.memberships m where m.org_id = o.id)"
        " from app.organizations o where o.id = %s",
        (org_id,),
    ).fetchone()
    assert row is not None
    return int(row[0]), int(row[1])


def two_owner_org(conn: psycopg.Connection) -> tuple[str, str, str]:
    first, second = make_user(conn, "first"), make_user(conn, "second")
    org_id = make_org(conn, f"Race{time.monotonic_ns()}", {first: "owner", second: "owner"})
    return org_id, first, second


Scenario = Callable[[str, str, str], list[tuple[str, str, tuple[Any, ...]]]]


@pytest.mark.parametrize(
    "scenario",
    [
        pytest.param(
            lambda org, a, b: [
                ("change_member_role", a, (org, b, "admin")),
                ("change_member_role", b, (org, a, "admin")),
            ],
            id="two owners demote each other",
        ),
        pytest.param(
            lambda org, a, b: [("leave_organization", a, (org,)), ("leave_organization", b, (org,))],
            id="the last two owners leave",
        ),
        pytest.param(
            lambda org, a, b: [("remove_member", a, (org, b)), ("remove_member", b, (org, a))],
            id="two owners remove each other",
        ),
    ],
)
def test_an_organization_never_loses_its_last_owner(database_url: str, scenario: Scenario) -> None:
    with admin(database_url) as conn:
        for _ in range(ROUNDS):
            org_id, first, second = two_owner_org(conn)
            calls = [(user, function, args) for function, user, args in scenario(org_id, first, second)]
            outcomes = race(database_url, calls)
            assert sum(outcome.ok for outcome in outcomes) == 1, outcomes
            refused = next(outcome for outcome in outcomes if not outcome.ok)
            assert (refused.status, refused.code) in {
                (409, "org.last_owner"),
                (403, "org.forbidden"),
                (404, "org.not_found"),
            }
            assert owners(conn, org_id) == 1
            count, real = counted_members(conn, org_id)
            assert count == real, (count, real)


def test_one_invitation_accepted_twice_at_once_makes_one_membership(database_url: str) -> None:
    with admin(database_url) as conn:
        for round_ in range(ROUNDS):
            owner = make_user(conn, f"owner{round_}")
            invitee = make_user(conn, f"invitee{round_}")
            org_id = make_org(conn, f"Invite{time.monotonic_ns()}", {owner: "owner"})
            email = email_of(conn, invitee)
            with conn.transaction():
                become(conn, owner)
                conn.execute("select api.invite_member(%s, %s, 'member')", (org_id, email))
            row = conn.execute(
                "select payload ->> 'token' from app.outbox where payload ->> 'org_id' = %s", (org_id,)
            ).fetchone()
            assert row is not None
            token = str(row[0])
            outcomes = race(database_url, [(invitee, "accept_invitation", (token,))] * 2)
            assert sum(outcome.ok for outcome in outcomes) == 1, outcomes
            refused = next(outcome for outcome in outcomes if not outcome.ok)
            assert (refused.status, refused.code) in {
                (400, "invitation.invalid"),
                (409, "org.already_member"),
            }
            members = conn.execute(
                "select count(*) from app.memberships where org_id = %s and user_id = %s", (org_id, invitee)
            ).fetchone()
            assert members == (1,)
            assert counted_members(conn, org_id) == (2, 2)


def test_member_count_survives_joins_and_leaves_at_once(database_url: str) -> None:
    """Two invitees accept and a member leaves, all at once: each transaction adds or subtracts
    its own change under the organization's row lock, none is lost."""
    with admin(database_url) as conn:
        for round_ in range(ROUNDS):
            owner, leaver = make_user(conn, f"owner{round_}"), make_user(conn, f"leaver{round_}")
            joiners = [make_user(conn, f"joiner{round_}_{i}") for i in range(2)]
            org_id = make_org(conn, f"Count{time.monotonic_ns()}", {owner: "owner", leaver: "member"})
            tokens = []
            for joiner in joiners:
                email = email_of(conn, joiner)
                with conn.transaction():
                    become(conn, owner)
                    conn.execute("select api.invite_member(%s, %s, 'member')", (org_id, email))
                row = conn.execute(
                    "select payload ->> 'token' from app.outbox where payload ->> 'to' = %s", (email,)
                ).fetchone()
                assert row is not None
                tokens.append(str(row[0]))
            calls = [
                (joiner, "accept_invitation", (token,)) for joiner, token in zip(joiners, tokens, strict=True)
            ]
            outcomes = race(database_url, [*calls, (leaver, "leave_organization", (org_id,))])
            assert all(outcome.ok for outcome in outcomes), outcomes
            assert counted_members(conn, org_id) == (3, 3)


def test_one_address_invited_twice_at_once_keeps_one_open_invitation(database_url: str) -> None:
    with admin(database_url) as conn:
        for round_ in range(ROUNDS):
            first, second = make_user(conn, f"inviter{round_}a"), make_user(conn, f"inviter{round_}b")
            org_id = make_org(conn, f"Twice{time.monotonic_ns()}", {first: "owner", second: "admin"})
            email = f"twice{round_}.{time.monotonic_ns()}@example.com"
            outcomes = race(
                database_url,
                [
                    (first, "invite_member", (org_id, email, "member")),
                    (second, "invite_member", (org_id, email, "member")),
                ],
            )
            assert all(outcome.ok for outcome in outcomes), outcomes
            row = conn.execute(
                "select count(*) filter (where revoked_at is null), count(*) from app.invitations"
                " where org_id = %s and email = %s",
                (org_id, email),
            ).fetchone()
            assert row == (1, 2)


def test_quotas_hold_when_calls_come_at_once(database_url: str) -> None:
    """With quotas of three, one user sends six invitations at once, each to another of their
    organizations (so that no organization lock orders them), then creates six organizations at
    once: exactly three of each pass, because each quota's key is locked before it is counted."""
    with admin(database_url) as conn:
        dbname = sql.Identifier(conn.info.dbname)
        for setting in ("invitations_per_user_per_hour", "organizations_per_user_per_day"):
            conn.execute(
                sql.SQL("alter database {} set {} = '3'").format(
                    dbname, sql.Identifier(f"app.settings.{setting}")
                )
            )
        for round_ in range(ROUNDS):
            sender = make_user(conn, f"sender{round_}")
            orgs = [make_org(conn, f"Quota{time.monotonic_ns()}", {sender: "owner"}) for _ in range(6)]
            invited = race(
                database_url,
                [(sender, "invite_member", (org, f"guest{round_}@example.com", "member")) for org in orgs],
            )
            assert sum(outcome.ok for outcome in invited) == 3, invited
            assert {(o.status, o.code) for o in invited if not o.ok} == {(429, "invitation.rate_limited")}
            made = race(database_url, [(sender, "create_organization", (f"Burst {i}",)) for i in range(6)])
            assert sum(outcome.ok for outcome in made) == 3, made
            assert {(o.status, o.code) for o in made if not o.ok} == {(429, "org.rate_limited")}


def started(
    database_url: str, outcomes: dict[str, Outcome], name: str, user: str, function: str, *args: Any
) -> threading.Thread:
    """api.<function>(args) as the user, in a transaction of its own on a connection of its own,
    in a thread started now; its outcome goes into outcomes[name]."""

    def run() -> None:
        with psycopg.connect(database_url) as own:
            outcomes[name] = call_and_commit(own, user, function, *args)

    thread = threading.Thread(target=run)
    thread.start()
    return thread


def test_a_rename_waiting_behind_another_is_judged_by_the_role_its_author_has_then(database_url: str) -> None:
    """An admin's rename waits behind the owner's (the rename quota's lock) while the owner
    demotes them. Whatever the order, a rename answered as done is the organization's name and
    its audit event; one refused is neither. (It was answered done, audited and posted to Slack,
    and changed nothing: its role was checked before it waited, its update after.)"""
    with admin(database_url) as conn:
        owner, manager = make_user(conn, "owner"), make_user(conn, "manager")
        org_id = make_org(conn, f"Rename{time.monotonic_ns()}", {owner: "owner", manager: "admin"})
        outcomes: dict[str, Outcome] = {}
        with psycopg.connect(database_url) as first, first.transaction():
            become(first, owner)
            first.execute("select * from api.update_organization(%s, 'The owner''s name')", (org_id,))
            renaming = started(
                database_url, outcomes, "rename", manager, "update_organization", org_id, "The admin's name"
            )
            time.sleep(0.3)
            demoting = started(
                database_url, outcomes, "demote", owner, "change_member_role", org_id, manager, "member"
            )
            time.sleep(0.3)
        for thread in (renaming, demoting):
            thread.join(timeout=10)
        assert outcomes["demote"].ok, outcomes
        row = conn.execute("select name from app.organizations where id = %s", (org_id,)).fetchone()
        audited = conn.execute(
            "select count(*) from app.audit_events where org_id = %s and action = 'org.updated'"
            " and details ->> 'name' = 'The admin''s name'",
            (org_id,),
        ).fetchone()
        if outcomes["rename"].ok:
            assert (row, audited) == (("The admin's name",), (1,))
        else:
            assert (outcomes["rename"].status, outcomes["rename"].code) == (403, "org.forbidden")
            assert (row, audited) == (("The owner's name",), (0,))


def test_an_address_invited_while_it_accepts_is_not_left_an_open_invitation(database_url: str) -> None:
    """The invitee accepts while an owner invites the same address again: the new invitation is
    refused (409 org.already_member), or replaces the one being accepted. A member is never left
    with an open invitation (it was, and a mail and a quota spent; removed, they could come back
    with it)."""
    with admin(database_url) as conn:
        owner, invitee = make_user(conn, "owner"), make_user(conn, "invitee")
        org_id = make_org(conn, f"Accept{time.monotonic_ns()}", {owner: "owner"})
        email = email_of(conn, invitee)
        assert call_and_commit(conn, owner, "invite_member", org_id, email, "member").ok
        row = conn.execute(
            "select payload ->> 'token' from app.outbox where payload ->> 'org_id' = %s", (org_id,)
        ).fetchone()
        assert row is not None
        outcomes: dict[str, Outcome] = {}
        with psycopg.connect(database_url) as accepting, accepting.transaction():
            become(accepting, invitee)
            accepting.execute("select * from api.accept_invitation(%s)", (row[0],)).fetchall()
            inviting = started(
                database_url, outcomes, "invite", owner, "invite_member", org_id, email, "admin"
            )
            time.sleep(0.3)
        inviting.join(timeout=10)
        assert (outcomes["invite"].status, outcomes["invite"].code) == (409, "org.already_member"), outcomes
        pending = conn.execute(
            "select count(*) from app.invitations where org_id = %s and lower(email) = lower(%s)"
            " and accepted_at is null and revoked_at is null and declined_at is null",
            (org_id, email),
        ).fetchone()
        assert pending == (0,)


def test_a_malformed_rename_invitation_or_role_change_is_refused_without_waiting_for_the_organization(
    database_url: str,
) -> None:
    """Input is checked before the organization's lock is taken: while another transaction holds
    it, a rename to no name, an invitation of no address and a change to a role that is none are
    refused at once. (They waited for it: 32 calls at once with a large argument from one client
    held most of PostgREST's connections waiting on one organization's lock; the role change went
    on waiting after the other two were mended.)"""
    with admin(database_url) as conn:
        owner, member = make_user(conn, "owner"), make_user(conn, "member")
        org_id = make_org(conn, f"Locked{time.monotonic_ns()}", {owner: "owner", member: "member"})
        with psycopg.connect(database_url) as holder, holder.transaction():
            holder.execute("select app.lock_org(%s)", (org_id,))
            with psycopg.connect(database_url, autocommit=True) as caller:
                caller.execute("set lock_timeout = '300ms'")
                renamed = call(caller, owner, "update_organization", org_id, "   ")
                invited = call(caller, owner, "invite_member", org_id, "not an address", "member")
                changed = call(caller, owner, "change_member_role", org_id, member, "x" * 1000)
        assert (renamed.status, renamed.code) == (422, "org.invalid_name")
        assert (invited.status, invited.code) == (422, "invitation.invalid_email")
        assert (changed.status, changed.code) == (422, "org.invalid_role")


STRANGERS_CALLS: list[tuple[str, str]] = [
    ("update_organization", "select api.update_organization(%(org)s, 'Taken')"),
    ("delete_organization", "select api.delete_organization(%(org)s)"),
    ("transfer_ownership", "select api.transfer_ownership(%(org)s, %(owner)s)"),
    ("remove_member", "select api.remove_member(%(org)s, %(owner)s)"),
    ("change_member_role", "select api.change_member_role(%(org)s, %(owner)s, 'member')"),
    ("leave_organization", "select api.leave_organization(%(org)s)"),
    ("invite_member", "select api.invite_member(%(org)s, 'someone@example.com', 'member')"),
    (
        "connect_slack",
        "select ext.connect_slack(%(session)s, %(org)s, 'C0123456789', 'T1', 'Team', 'k1', '\\x00')",
    ),
    ("disconnect_slack", "select ext.disconnect_slack(%(session)s, %(org)s)"),
]


@pytest.mark.parametrize(("name", "statement"), STRANGERS_CALLS, ids=[name for name, _ in STRANGERS_CALLS])
def test_a_stranger_is_refused_without_taking_or_waiting_for_the_organizations_lock(
    database_url: str, name: str, statement: str
) -> None:
    """Anyone signed in who knew an organization's id took its lock with each of these calls
    before being found no member: they queued behind its deletion (a PostgREST connection held
    up to the statement timeout), and the members' own calls queued behind theirs. Only a member
    takes it now, as ext.ai_reserve already did."""
    with admin(database_url) as conn:
        owner, stranger = make_user(conn, "owner"), make_user(conn, "stranger")
        org_id = make_org(conn, f"Locked{time.monotonic_ns()}", {owner: "owner"})
        session = conn.execute(
            "select auth.issue_session(%s, null, null) ->> 'token'", (stranger,)
        ).fetchone()
        assert session is not None
    arguments = {"org": org_id, "owner": owner, "session": session[0]}
    with psycopg.connect(database_url) as holder, holder.transaction():
        holder.execute("select app.lock_org(%s)", (org_id,))
        with psycopg.connect(database_url, user="edge" if "slack" in name else None) as caller:
            caller.execute("set lock_timeout = '300ms'")
            if "slack" not in name:
                become(caller, stranger)
            with pytest.raises(psycopg.Error) as refused:
                caller.execute(statement.encode(), arguments)
    assert refused.value.sqlstate == "PGRST", f"{name}: {refused.value.sqlstate} {refused.value}"
    assert error_outcome(refused.value).code == "org.not_found"


# An organization's id, and an address made for it: hashtextextended's last mix run backwards
# over its 2**32 hidden states (seconds of one core) gave the 11 characters after the x, so that
# 'rate:login:' and the address hashed as 'org:' and the id.
FORGED_ORG = "org_01m8y389yy6fggkvqfbypjsk6a"
FORGED_ADDRESS = "x=wrxy$]st8k"


def test_a_login_for_any_address_leaves_every_organizations_lock_alone(database_url: str) -> None:
    """The application's locks were keyed by hashtextextended of their names, a hash for hash
    tables that can be inverted, and a login's name holds the address typed: anyone, signed in
    or not, who knew an organization's id could log in as an address made for it and hold that
    organization's lock through the login's bcrypt, as often as the address had failures left
    (each address its own 20 an hour before the delays), while every call of its members waited
    behind it, each holding one of PostgREST's connections. A key is a hash that cannot be
    inverted now: whatever is typed, a login takes its own lock."""
    with admin(database_url) as conn:
        forged = conn.execute(
            "select hashtextextended('rate:login:' || %s, 0) = hashtextextended('org:' || %s, 0)",
            (FORGED_ADDRESS, FORGED_ORG),
        ).fetchone()
        assert forged == (True,), "the address no longer hashes as the organization: make another"
        owner = make_user(conn, "owner")
        conn.execute(
            "insert into app.organizations (id, name, slug) values (%s, 'Forged', %s)",
            (FORGED_ORG, f"forged-{time.monotonic_ns()}"),
        )
        try:
            conn.execute(
                "insert into app.memberships (org_id, user_id, role) values (%s, %s, 'owner')",
                (FORGED_ORG, owner),
            )
            with psycopg.connect(database_url) as login, login.transaction():
                # A failed login, its transaction open as while its bcrypt runs.
                login.execute("select auth.login(%s, 'not the password')", (FORGED_ADDRESS,))
                with psycopg.connect(database_url, autocommit=True) as member:
                    member.execute("set lock_timeout = '2s'")
                    renamed = call(member, owner, "update_organization", FORGED_ORG, "Renamed")
            assert renamed.ok, renamed
        finally:
            conn.execute("delete from app.organizations where id = %s", (FORGED_ORG,))


def test_an_invitation_revoked_while_its_organization_is_deleted_is_not_found(database_url: str) -> None:
    """An admin revokes an invitation while an owner deletes the organization. The revocation
    read the invitation and the admin's role before the deletion committed, waited for the
    invitation's row, and then answered 409 invitation.not_pending, "already accepted, declined
    or revoked", of an invitation that was deleted with its organization. Like every change to
    an organization, it waits for the organization's lock first, and then finds nothing."""
    with admin(database_url) as conn:
        owner, manager = make_user(conn, "owner"), make_user(conn, "manager")
        org_id = make_org(conn, f"Doomed{time.monotonic_ns()}", {owner: "owner", manager: "admin"})
        invited = call_and_commit(conn, manager, "invite_member", org_id, "guest@example.com", "member")
        assert invited.ok, invited
        invitation_id = invited.rows[0][0]
        outcomes: dict[str, Outcome] = {}
        with psycopg.connect(database_url) as deleting, deleting.transaction():
            become(deleting, owner)
            deleting.execute("select api.delete_organization(%s)", (org_id,))
            revoking = started(database_url, outcomes, "revoke", manager, "revoke_invitation", invitation_id)
            time.sleep(0.3)
        revoking.join(timeout=10)
        revoked = outcomes["revoke"]
        gone = {(404, "invitation.not_found"), (404, "org.not_found")}
        assert (revoked.status, revoked.code) in gone, revoked


@pytest.mark.parametrize(
    ("function", "role"),
    [("transfer_ownership", None), ("change_member_role", "admin"), ("remove_member", None)],
)
def test_a_member_deleted_while_a_call_changes_their_role_is_not_found(
    database_url: str, function: str, role: str | None
) -> None:
    """An operator deletes an account (its memberships go with it) while an owner makes it owner
    or changes its role. The call read the membership before the deletion committed and waited for
    its row; its update then found nothing. transfer_ownership went on to make the caller admin,
    leaving the organization with no owner, and both answered success (change_member_role with a
    member of nulls) and audited a change that never happened; remove_member audited and posted to
    Slack a removal by the owner of someone the operator had deleted. Now: 404 member.not_found,
    nothing written. Since the deletion takes the organization's lock (app.tg_users__keep_an_owner),
    the call waits for it before reading the membership, and require_member answers the 404; the
    functions' own checks of a vanished row stay as the net under any path that reads first."""
    with admin(database_url) as conn:
        owner, target = make_user(conn, "owner"), make_user(conn, "target")
        org_id = make_org(conn, f"Gone{time.monotonic_ns()}", {owner: "owner", target: "member"})
        args = (org_id, target) if role is None else (org_id, target, role)
        outcomes: dict[str, Outcome] = {}
        with psycopg.connect(database_url) as deleting, deleting.transaction():
            deleting.execute("delete from app.users where id = %s", (target,))
            changing = started(database_url, outcomes, "change", owner, function, *args)
            time.sleep(0.3)
        changing.join(timeout=10)
        changed = outcomes["change"]
        assert (changed.status, changed.code) == (404, "member.not_found"), changed
        assert owners(conn, org_id) == 1
        audited = conn.execute(
            "select count(*) from app.audit_events where org_id = %s and action <> 'org.created'", (org_id,)
        ).fetchone()
        assert audited == (0,)
        notified = conn.execute("select count(*) from app.outbox where payload ->> 'org_id' = %s", (org_id,))
        assert notified.fetchone() == (0,)


def delete_account_in_thread(
    database_url: str, user_id: str, outcomes: dict[str, Outcome], *more: str
) -> threading.Thread:
    """An operator's `delete from app.users` (docs/operations.md) of the account, and of `more` in
    the same statement, in a thread: its outcome lands in outcomes["delete"] (no rows: deleted)."""

    def run() -> None:
        try:
            with psycopg.connect(database_url) as conn:
                conn.execute("delete from app.users where id = any(%s)", ([user_id, *more],))
            outcomes["delete"] = Outcome([])
        except psycopg.Error as error:
            if error.sqlstate != "PGRST":
                raise
            outcomes["delete"] = error_outcome(error)

    thread = threading.Thread(target=run)
    thread.start()
    return thread


@pytest.mark.parametrize("function", ["leave_organization", "change_member_role"])
def test_an_owner_leaving_while_the_other_owners_account_is_deleted_leaves_an_owner(
    database_url: str, function: str
) -> None:
    """Of two owners, one leaves (or is made admin) while an operator deletes the other's account.
    The leave counted two owners; the deletion, had it counted them before the leave committed,
    would have gone too, and left an organization with no owner. It waits for the organization's
    lock, as the owners' own calls do, and then finds the account its only owner: 409."""
    with admin(database_url) as conn:
        first, second = make_user(conn, "first"), make_user(conn, "second")
        org_id = make_org(conn, f"Pair{time.monotonic_ns()}", {first: "owner", second: "owner"})
        args = (org_id,) if function == "leave_organization" else (org_id, second, "admin")
        outcomes: dict[str, Outcome] = {}
        with psycopg.connect(database_url) as stepping_down, stepping_down.transaction():
            become(stepping_down, second)
            placeholders = ", ".join(["%s"] * len(args))
            stepping_down.execute(f"select api.{function}({placeholders})", args)
            deleting = delete_account_in_thread(database_url, first, outcomes)
            time.sleep(0.3)
        deleting.join(timeout=10)
        deleted = outcomes["delete"]
        assert (deleted.status, deleted.code) == (409, "org.last_owner"), deleted
        assert owners(conn, org_id) == 1


def test_an_owner_leaving_while_the_other_owners_account_is_being_deleted_is_refused(
    database_url: str,
) -> None:
    """The other order: the deletion of one owner's account is under way (not committed) when the
    other owner leaves. The leave waits for the organization's lock, then counts one owner: 409."""
    with admin(database_url) as conn:
        first, second = make_user(conn, "first"), make_user(conn, "second")
        org_id = make_org(conn, f"Pair{time.monotonic_ns()}", {first: "owner", second: "owner"})
        outcomes: dict[str, Outcome] = {}
        with psycopg.connect(database_url) as deleting, deleting.transaction():
            deleting.execute("delete from app.users where id = %s", (first,))
            leaving = started(database_url, outcomes, "leave", second, "leave_organization", org_id)
            time.sleep(0.3)
        leaving.join(timeout=10)
        left = outcomes["leave"]
        assert (left.status, left.code) == (409, "org.last_owner"), left
        assert owners(conn, org_id) == 1


def test_an_account_deleted_while_a_call_holds_its_organization_does_not_deadlock(database_url: str) -> None:
    """An owner's call takes the organization's lock first and writes a row naming the account
    last (remove_member: its departure, whose foreign key waits for the account's row). The
    account's deletion locks its row first (the delete, before its triggers run) and then waits
    for the organizations' locks (app.tg_users__keep_an_owner). Taken in the two orders, each
    waited for the other: 40P01, the owner's call or the operator's delete killed. The deletion,
    which alone holds a row while it waits, now gives up first: 503 org.busy (run it again),
    and the call goes on. (The owner's transaction takes the lock by a rename first, so that the
    deletion comes between its lock and its write, as it can inside one call.)"""
    with admin(database_url) as conn:
        owner, target = make_user(conn, "owner"), make_user(conn, "target")
        org_id = make_org(conn, f"Knot{time.monotonic_ns()}", {owner: "owner", target: "member"})
        outcomes: dict[str, Outcome] = {}
        try:
            with psycopg.connect(database_url) as removing, removing.transaction():
                become(removing, owner)
                removing.execute("select * from api.update_organization(%s, 'Renamed')", (org_id,))
                deleting = delete_account_in_thread(database_url, target, outcomes)
                time.sleep(0.3)  # the deletion holds the account's row and waits for the lock
                removing.execute("select * from api.remove_member(%s, %s)", (org_id, target))
            removed = "ok"
        except psycopg.Error as error:
            removed = error.sqlstate or "error"
        deleting.join(timeout=10)
        assert removed == "ok"
        deleted = outcomes.get("delete")
        assert deleted is not None, "the deletion ended in an error other than the API's (40P01?)"
        assert (deleted.status, deleted.code) == (503, "org.busy"), deleted
        row = conn.execute("select count(*) from app.users where id = %s", (target,)).fetchone()
        assert row == (1,)


def test_accounts_deleted_in_one_statement_while_one_calls_into_another_s_organization_never_deadlock(
    database_url: str,
) -> None:
    """An operator deletes two accounts in one statement (`delete from app.users where id in
    (…)`) while the second of them, whose account its session's mark of use holds (as
    auth.session_from_token takes it), calls into an organization of the first (an invitation's
    answer takes the organization's lock). The deletion took the first account's organizations'
    locks and then waited for the second's row, held by the call, which then waited for one of
    those locks: 40P01, the call or the delete killed. The deletion now waits for every account's
    row before it takes any organization's lock: the call goes on, and then the deletion."""
    with admin(database_url) as conn:
        # Made in this order, the first's row comes first to the delete (by id, as in the table).
        keeper, first = make_user(conn, "keeper"), make_user(conn, "first")
        second = make_user(conn, "second")
        org_id = make_org(conn, f"Pair{time.monotonic_ns()}", {keeper: "owner", first: "owner"})
        _, token = invite(conn, keeper, org_id, second)
        outcomes: dict[str, Outcome] = {}
        try:
            with psycopg.connect(database_url) as calling, calling.transaction():
                # As the pre-request's mark of the session as used holds it (auth.session_from_token).
                calling.execute("select from app.users where id = %s for key share", (second,))
                become(calling, second)
                deleting = delete_account_in_thread(database_url, first, outcomes, second)
                deadline = time.monotonic() + 10
                while waiting_for(conn, calling.info.backend_pid) is None:
                    assert time.monotonic() < deadline, "the deletion did not come to wait for the account"
                    time.sleep(0.02)
                calling.execute("select * from api.accept_invitation(%s)", (token,))
            answered = "ok"
        except psycopg.Error as error:
            answered = error.sqlstate or "error"
        deleting.join(timeout=10)
        assert answered == "ok"
        assert outcomes.get("delete") == Outcome([]), "the deletion ended in an error (40P01?)"
        gone = conn.execute("select count(*) from app.users where id in (%s, %s)", (first, second)).fetchone()
        assert gone == (0,)
        assert owners(conn, org_id) == 1


def delete_account_at(
    database_url: str, isolation: psycopg.IsolationLevel, user_id: str, before: Callable[[], object]
) -> Outcome:
    """An operator's `delete from app.users` in a transaction at the given isolation level whose
    snapshot is taken first (a select), then `before` runs and commits on other connections,
    then the delete runs and commits."""
    with psycopg.connect(database_url) as conn:
        conn.isolation_level = isolation
        try:
            with conn.transaction():
                conn.execute("select 1").fetchall()
                before()
                conn.execute("delete from app.users where id = %s", (user_id,))
            return Outcome([])
        except psycopg.Error as error:
            if error.sqlstate != "PGRST":
                raise
            return error_outcome(error)


@pytest.mark.parametrize("function", ["change_member_role", "leave_organization"])
@pytest.mark.parametrize(
    "isolation", [psycopg.IsolationLevel.REPEATABLE_READ, psycopg.IsolationLevel.SERIALIZABLE]
)
def test_an_owners_account_is_deleted_only_at_read_committed(
    database_url: str, isolation: psycopg.IsolationLevel, function: str
) -> None:
    """The keep-an-owner check counts the other owners after the organization's lock, with a
    statement that sees what committed while it waited: at read committed. In a repeatable read
    or serializable transaction it sees its snapshot instead: an owner's demotion committed after
    the snapshot was taken (here, deterministically, between the snapshot and the delete; in life,
    while the delete waited for the lock) was not seen, the demoted owner counted as one, and the
    deletion left the organization with no owner (a leave happened to fail the delete on the
    member count's row, 40001, by luck rather than by rule). Such a deletion of an account that
    owns an organization is now refused whatever happened (409 org.owner_deletion_isolation); an
    account that owns none goes at any level, and at read committed an owner's goes when another
    owner stays."""
    with admin(database_url) as conn:
        first, second, member = make_user(conn, "first"), make_user(conn, "second"), make_user(conn, "member")
        org_id = make_org(
            conn, f"Stale{time.monotonic_ns()}", {first: "owner", second: "owner", member: "member"}
        )
        args = (org_id,) if function == "leave_organization" else (org_id, second, "admin")

        def second_steps_down() -> None:
            with admin(database_url) as stepping_down:
                assert call_and_commit(stepping_down, second, function, *args).ok

        deleted = delete_account_at(database_url, isolation, first, second_steps_down)
        assert (deleted.status, deleted.code) == (409, "org.owner_deletion_isolation"), deleted
        assert owners(conn, org_id) == 1

        third = make_user(conn, "third")
        conn.execute(
            "insert into app.memberships (org_id, user_id, role) values (%s, %s, 'owner')", (org_id, third)
        )
        refused = delete_account_at(database_url, isolation, first, lambda: None)
        assert (refused.status, refused.code) == (409, "org.owner_deletion_isolation"), refused
        assert delete_account_at(database_url, isolation, member, lambda: None).ok
        assert delete_account_at(database_url, psycopg.IsolationLevel.READ_COMMITTED, first, lambda: None).ok
        assert owners(conn, org_id) == 1


def invite(conn: psycopg.Connection, owner: str, org_id: str, invitee: str) -> tuple[str, str]:
    """The id of an invitation the owner sends the invitee, and its mailed token."""
    invited = call_and_commit(conn, owner, "invite_member", org_id, email_of(conn, invitee), "member")
    assert invited.ok, invited
    invitation_id = invited.rows[0][0]
    row = conn.execute(
        "select payload ->> 'token' from app.outbox where payload ->> 'invitation_id' = %s", (invitation_id,)
    ).fetchone()
    assert row is not None
    return invitation_id, row[0]


def _answers_audited(conn: psycopg.Connection, invitation_id: str) -> int:
    """The audit events of an answer to the invitation (its acceptance, decline, revocation …):
    all but its sending."""
    row = conn.execute(
        "select count(*) from app.audit_events where target = %s and action <> 'org.member_invited'",
        (invitation_id,),
    ).fetchone()
    assert row is not None
    return int(row[0])


@pytest.mark.parametrize("function", ["create_organization", "accept_invitation", "decline_invitation"])
def test_a_call_whose_account_is_being_deleted_is_not_signed_in(database_url: str, function: str) -> None:
    """An operator deletes an account (not committed yet) while it creates an organization or
    answers an invitation: calls that hold no organization of the account's, so nothing made them
    wait for the deletion but the foreign key of the row naming the caller (the organization's
    creator, the invitation's acceptor, the audit event's actor), which failed once the deletion
    committed: a 409 of Postgres's own 23503, naming the table and the constraint. Now the call
    waits for the account's row first and finds it gone: 401 auth.not_signed_in, nothing written."""
    with admin(database_url) as conn:
        owner, caller = make_user(conn, "owner"), make_user(conn, "caller")
        org_id = make_org(conn, f"Doomed{time.monotonic_ns()}", {owner: "owner"})
        invitation_id, token = invite(conn, owner, org_id, caller)
        args = (
            (f"Made while deleted {time.monotonic_ns()}",) if function == "create_organization" else (token,)
        )
        answers: dict[str, Outcome | str] = {}

        def run() -> None:
            with psycopg.connect(database_url) as own:
                try:
                    answers["call"] = call_and_commit(own, caller, function, *args)
                except psycopg.Error as error:
                    answers["call"] = f"{error.sqlstate} {error.diag.message_primary}"

        with psycopg.connect(database_url) as deleting, deleting.transaction():
            deleting.execute("delete from app.users where id = %s", (caller,))
            calling = threading.Thread(target=run)
            calling.start()
            # Committed once the call waits for it: the race, not a call after the deletion.
            while waiting_for(conn, deleting.info.backend_pid) is None and calling.is_alive():
                time.sleep(0.01)
        calling.join(timeout=10)
        answered = answers["call"]
        assert isinstance(answered, Outcome), answered
        assert (answered.status, answered.code) == (401, "auth.not_signed_in"), answered
        made = conn.execute("select count(*) from app.organizations where name = %s", args[:1]).fetchone()
        assert made == (0,)
        assert _answers_audited(conn, invitation_id) == 0
        state = conn.execute(
            "select accepted_at, declined_at from app.invitations where id = %s", (invitation_id,)
        ).fetchone()
        assert state == (None, None)


@pytest.mark.parametrize("answer", ["accept_invitation", "decline_invitation"])
@pytest.mark.parametrize("taking_back", ["revoke_invitation", "delete_organization"])
def test_an_invitation_answered_while_it_is_taken_back_has_the_one_outcome_its_trail_records(
    database_url: str, answer: str, taking_back: str
) -> None:
    """The invitee accepts or declines while an owner revokes the invitation or deletes its
    organization. An answer and a revocation are one outcome of two (the invitation changes once);
    an answer before the deletion stands, one after finds nothing (400 invitation.invalid). Whatever
    the order, the audit trail and the outbox hold the answer, the revocation and the joining that
    happened, and nothing of a refused call."""
    with admin(database_url) as conn:
        for _ in range(ROUNDS):
            owner, invitee = make_user(conn, "owner"), make_user(conn, "invitee")
            org_id = make_org(conn, f"Answer{time.monotonic_ns()}", {owner: "owner"})
            invitation_id, token = invite(conn, owner, org_id, invitee)
            taken_back_args = (invitation_id,) if taking_back == "revoke_invitation" else (org_id,)
            answered, took_back = race(
                database_url, [(invitee, answer, (token,)), (owner, taking_back, taken_back_args)]
            )
            if not answered.ok:
                assert (answered.status, answered.code) == (400, "invitation.invalid"), answered
            if not took_back.ok:
                assert (took_back.status, took_back.code) == (409, "invitation.not_pending"), took_back
            if taking_back == "revoke_invitation":
                assert answered.ok != took_back.ok, (answered, took_back)
            else:
                assert took_back.ok, took_back
            events = dict(
                conn.execute(
                    "select action, count(*) from app.audit_events where target = %s group by action",
                    (invitation_id,),
                ).fetchall()
            )
            answered_action = (
                "org.invitation_accepted" if answer == "accept_invitation" else "org.invitation_declined"
            )
            revoked = taking_back == "revoke_invitation" and took_back.ok
            assert events == {
                "org.member_invited": 1,
                **({answered_action: 1} if answered.ok else {}),
                **({"org.invitation_revoked": 1} if revoked else {}),
            }, events
            joined = conn.execute(
                "select count(*) from app.outbox"
                " where topic = 'notify.member_joined' and payload ->> 'org_id' = %s",
                (org_id,),
            ).fetchone()
            assert joined == (int(answered.ok and answer == "accept_invitation"),)


@pytest.mark.parametrize(
    ("function", "answer"),
    [
        ("accept_invitation", (400, "invitation.invalid")),
        ("decline_invitation", (400, "invitation.invalid")),
        ("revoke_invitation", (409, "invitation.not_pending")),
    ],
)
def test_an_invitation_that_expires_while_its_answer_waits_for_the_organization_is_refused(
    database_url: str, function: str, answer: tuple[int, str]
) -> None:
    """The invitee accepts (declines; an admin revokes) while another call holds the
    organization's lock, and the invitation expires meanwhile. Its expiry was measured against
    the transaction's start, before the wait: the invitee joined a moment after the invitation
    had expired. It is measured once the lock is held now: refused, nothing changed."""
    with admin(database_url) as conn:
        owner, invitee = make_user(conn, "owner"), make_user(conn, "invitee")
        org_id = make_org(conn, f"Lapse{time.monotonic_ns()}", {owner: "owner"})
        invitation_id, token = invite(conn, owner, org_id, invitee)
        caller, argument = (owner, invitation_id) if function == "revoke_invitation" else (invitee, token)
        outcomes: dict[str, Outcome] = {}
        with psycopg.connect(database_url) as holder, holder.transaction():
            holder.execute("select app.lock_org(%s)", (org_id,))
            answering = started(database_url, outcomes, "answer", caller, function, argument)
            while waiting_for(conn, holder.info.backend_pid) is None and answering.is_alive():
                time.sleep(0.01)
            # Expired now, while the answer waits, before the lock is let go (past the
            # keep_identity trigger: time travel).
            with conn.transaction():
                conn.execute("set local session_replication_role = replica")
                conn.execute(
                    "update app.invitations set expires_at = clock_timestamp() where id = %s",
                    (invitation_id,),
                )
        answering.join(timeout=10)
        answered = outcomes["answer"]
        assert (answered.status, answered.code) == answer, answered
        state = conn.execute(
            "select accepted_at, declined_at, revoked_at from app.invitations where id = %s", (invitation_id,)
        ).fetchone()
        assert state == (None, None, None)
        members = conn.execute("select count(*) from app.memberships where org_id = %s", (org_id,)).fetchone()
        assert members == (1,)
        assert _answers_audited(conn, invitation_id) == 0


def test_an_owners_invitation_that_expires_while_an_admin_waits_to_invite_again_is_replaced(
    database_url: str,
) -> None:
    """An admin invites an address again while another call holds the organization's lock, and
    an owner's invitation of it as owner expires meanwhile. Its expiry was measured against the
    transaction's start, before the wait: the admin was refused (403 org.forbidden) for an
    invitation nobody could accept any more, and it would have been audited as revoked. Judged
    once the lock is held: replaced, closed without an event, as any expired one."""
    with admin(database_url) as conn:
        owner, manager = make_user(conn, "owner"), make_user(conn, "manager")
        org_id = make_org(conn, f"Relapse{time.monotonic_ns()}", {owner: "owner", manager: "admin"})
        email = f"guest{time.monotonic_ns()}@example.com"
        invited = call_and_commit(conn, owner, "invite_member", org_id, email, "owner")
        assert invited.ok, invited
        first = invited.rows[0][0]
        outcomes: dict[str, Outcome] = {}
        with psycopg.connect(database_url) as holder, holder.transaction():
            holder.execute("select app.lock_org(%s)", (org_id,))
            inviting = started(
                database_url, outcomes, "invite", manager, "invite_member", org_id, email, "member"
            )
            while waiting_for(conn, holder.info.backend_pid) is None and inviting.is_alive():
                time.sleep(0.01)
            with conn.transaction():
                conn.execute("set local session_replication_role = replica")  # past keep_identity
                conn.execute(
                    "update app.invitations set expires_at = clock_timestamp() where id = %s", (first,)
                )
        inviting.join(timeout=10)
        assert outcomes["invite"].ok, outcomes
        revoked = conn.execute(
            "select count(*) from app.audit_events where target = %s and action = 'org.invitation_revoked'",
            (first,),
        ).fetchone()
        assert revoked == (0,)
