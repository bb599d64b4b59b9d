"""The account's login lock (app.lock_rate_key('login', email)) orders everything that reads or
writes its password and sessions: a login or password change under way has read the old hash
and spends a bcrypt before it writes, so a reset or a sign-out everywhere that did not wait for
it was undone by it (a session opened after "every session revoked", a password written over
the reset's). Two connections to one database, one holding a login open."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

import psycopg
import pytest

from tests.support.databases import waiting_for
from tests.support.orgs_db import become, call_and_commit, make_org, make_user

EMAIL = "owner@example.com"
OLD_PASSWORD = "the old password 1"


@contextmanager
def in_thread(work: Callable[[], Any]) -> Iterator[threading.Thread]:
    failures: list[BaseException] = []

    def run() -> None:
        try:
            work()
        except BaseException as error:  # noqa: BLE001 - shown by the test below
            failures.append(error)

    thread = threading.Thread(target=run)
    thread.start()
    yield thread
    thread.join(10)
    assert not thread.is_alive(), "the second transaction never ended"
    assert failures == []


def _session_token(database_url: str, statement: str) -> str:
    """The token of the session the statement (given the email and the old password) opens."""
    with psycopg.connect(database_url) as conn:
        row = conn.execute(statement.encode(), [EMAIL, OLD_PASSWORD]).fetchone()
        assert row is not None
        return str(row[0])


def _signed_up(database_url: str) -> str:
    return _session_token(
        database_url, "select auth.signup(%s, %s, 'Owner', null, 'test') -> 'session' ->> 'token'"
    )


def _mailed_token(database_url: str, topic: str) -> str:
    """The link's token that the first mail of `topic` (mail.password_reset …) carries."""
    with psycopg.connect(database_url) as conn:
        row = conn.execute("select payload ->> 'token' from app.outbox where topic = %s", [topic]).fetchone()
        assert row is not None
        return str(row[0])


def _reset_token(database_url: str) -> str:
    with psycopg.connect(database_url) as conn:
        conn.execute("select auth.request_password_reset(%s, null)", [EMAIL])
    return _mailed_token(database_url, "mail.password_reset")


def _live_sessions(database_url: str) -> int:
    with psycopg.connect(database_url) as conn:
        row = conn.execute("select count(*) from app.sessions where revoked_at is null").fetchone()
        assert row is not None
        return int(row[0])


def _login_under_way(conn: psycopg.Connection) -> None:
    """A login with the old password, done but not yet committed: it holds the account's lock."""
    login = "select auth.login(%s, %s, null, 'attacker') ->> 'ok'"
    row = conn.execute(login, [EMAIL, OLD_PASSWORD]).fetchone()
    assert row == ("true",)


def _after_a_login_under_way(database_url: str, statement: str, params: list[str]) -> None:
    """The owner's statement, run while a login is under way: it waits for the login to end."""
    with psycopg.connect(database_url) as attacker:
        _login_under_way(attacker)
        with psycopg.connect(database_url) as owner:

            def owners() -> None:
                owner.execute(statement.encode(), params)
                owner.commit()

            with in_thread(owners) as done:
                done.join(0.5)
                assert done.is_alive(), "it did not wait for the login under way"
                attacker.commit()


def test_a_reset_waits_for_a_login_under_way_and_revokes_its_session(database_url: str) -> None:
    _signed_up(database_url)
    token = _reset_token(database_url)
    reset = "select auth.confirm_password_reset(%s, 'the new password 2', null)"
    _after_a_login_under_way(database_url, reset, [token])
    assert _live_sessions(database_url) == 0


def test_signing_out_everywhere_waits_for_a_login_under_way(database_url: str) -> None:
    session = _signed_up(database_url)
    _after_a_login_under_way(database_url, "select auth.logout_all(%s, null)", [session])
    assert _live_sessions(database_url) == 0


def _two_verification_links(database_url: str, email: str) -> list[str]:
    """An account's two verification links: the sign-up's, and one sent again."""
    with psycopg.connect(database_url) as conn:
        signup = "select auth.signup(%s, %s, 'Owner', null, 'test') -> 'session' ->> 'token'"
        row = conn.execute(signup, [email, OLD_PASSWORD]).fetchone()
        assert row is not None
        conn.execute("select auth.resend_email_verification(%s, null)", [row[0]])
        rows = conn.execute(
            "select payload ->> 'token' from app.outbox where topic = 'mail.email_verification'"
            " and payload ->> 'to' = %s",
            [email],
        ).fetchall()
        return [str(token) for (token,) in rows]


def test_two_verification_links_of_one_account_followed_at_once_never_deadlock(database_url: str) -> None:
    """Each took its own link's row, then waited for the other's to spend every link of the
    account: Postgres broke the deadlock with 40P01, which the edge answered 500."""
    outcomes: list[str] = []
    for account in range(20):
        links = _two_verification_links(database_url, f"owner{account}@example.com")
        assert len(links) == 2
        together = threading.Barrier(2)

        def follow(link: str, together: threading.Barrier = together) -> None:
            with psycopg.connect(database_url) as conn:
                together.wait()
                try:
                    conn.execute("select auth.verify_email(%s, null)", [link])
                    conn.commit()
                    outcomes.append("verified")
                except psycopg.Error as error:
                    code = (
                        json.loads(error.diag.message_primary or "{}").get("code")
                        if error.sqlstate == "PGRST"
                        else None
                    )
                    outcomes.append(code or f"sqlstate {error.sqlstate}")

        threads = [threading.Thread(target=follow, args=(link,)) for link in links]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(10)
    # One link of each account verifies it; the other is found spent.
    assert sorted(outcomes) == ["auth.invalid_token"] * 20 + ["verified"] * 20


def _live_sessions_of_token(database_url: str, token: str) -> bool:
    with psycopg.connect(database_url) as conn:
        row = conn.execute(
            "select exists (select from app.sessions"
            " where token_hash = util.token_hash(%s) and revoked_at is null)",
            [token],
        ).fetchone()
        assert row is not None
        return bool(row[0])


def _second_session(database_url: str) -> str:
    return _session_token(database_url, "select auth.login(%s, %s, null, 'second') -> 'session' ->> 'token'")


def _outcome(conn: psycopg.Connection, statement: str, params: list[str]) -> object:
    """What the statement answered (its one value), or the code of the error it raised."""
    try:
        row = conn.execute(statement.encode(), params).fetchone()
        conn.commit()
    except psycopg.Error as error:
        conn.rollback()
        if error.sqlstate != "PGRST":
            return f"sqlstate {error.sqlstate}"
        return json.loads(error.diag.message_primary or "{}").get("code")
    assert row is not None
    return row[0]


def test_a_password_change_waiting_behind_signing_out_everywhere_is_refused(database_url: str) -> None:
    """A stolen session changes the password while the owner signs out everywhere. The change
    read its session valid, then waited for the account's lock: once it had it, the session
    was revoked, yet it set the password and opened a session that the sign-out never saw."""
    stolen = _signed_up(database_url)
    owners = _second_session(database_url)
    outcomes: list[object] = []
    with psycopg.connect(database_url) as owner:
        owner.execute("select auth.logout_all(%s, null)", [owners])
        with psycopg.connect(database_url) as attacker:
            change = (
                "select auth.change_password(%s, %s, 'the attacker''s password 3', null, null, 'attacker')"
            )

            def attackers() -> None:
                outcomes.append(_outcome(attacker, change, [stolen, OLD_PASSWORD]))

            with in_thread(attackers) as done:
                done.join(0.5)
                assert done.is_alive(), "it did not wait for the sign-out under way"
                owner.commit()
    assert outcomes == ["auth.not_signed_in"], outcomes
    assert _live_sessions(database_url) == 0
    with psycopg.connect(database_url) as conn:
        kept = conn.execute(
            "select auth.login(%s, %s, null, 'owner') ->> 'ok'", [EMAIL, OLD_PASSWORD]
        ).fetchone()
    assert kept == ("true",), "the old password no longer works"


def test_signing_out_everywhere_with_a_session_a_password_change_ended_is_refused(database_url: str) -> None:
    """The owner changes the password (which ends every session) while a stolen session signs
    out everywhere: the sign-out, which waited for the change, must not end the session the
    change gave the owner."""
    stolen = _signed_up(database_url)
    owners = _second_session(database_url)
    outcomes: list[object] = []
    with psycopg.connect(database_url) as owner:
        row = owner.execute(
            "select auth.change_password(%s, %s, 'the owner''s new password 4', null, null, 'owner')"
            " -> 'session' ->> 'token'",
            [owners, OLD_PASSWORD],
        ).fetchone()
        assert row is not None
        new_session = str(row[0])
        with psycopg.connect(database_url) as attacker:

            def attackers() -> None:
                outcomes.append(_outcome(attacker, "select auth.logout_all(%s, null)", [stolen]))

            with in_thread(attackers) as done:
                done.join(0.5)
                assert done.is_alive(), "it did not wait for the password change under way"
                owner.commit()
    assert outcomes == ["auth.not_signed_in"], outcomes
    assert _live_sessions_of_token(database_url, new_session)


def test_a_verification_mail_asked_for_while_the_email_is_verified_is_refused(database_url: str) -> None:
    """The owner follows the verification link while another tab asks for the mail again: the
    request, which read the account unverified, mailed a fresh link to an address verified by
    then (and answered 202, not 409)."""
    [link, *_] = _two_verification_links(database_url, EMAIL)
    session = _second_session(database_url)
    with psycopg.connect(database_url) as verifying:
        verifying.execute("select auth.verify_email(%s, null)", [link])
        outcome = _resend_in_another_tab(database_url, session, verifying, "the verification")
    assert outcome == "auth.email_already_verified"
    assert _verification_mails(database_url) == 2, "a link was mailed to a verified address"


def _resend_in_another_tab(
    database_url: str, session: str, under_way: psycopg.Connection, what: str
) -> object:
    """What a verification mail asked for in another tab answers while `under_way`'s transaction
    is open: it must wait for `what`, which is then committed."""
    outcomes: list[object] = []
    with psycopg.connect(database_url) as other_tab:

        def resend() -> None:
            outcomes.append(_outcome(other_tab, "select auth.resend_email_verification(%s, null)", [session]))

        with in_thread(resend) as done:
            done.join(0.5)
            assert done.is_alive(), f"it did not wait for {what} under way"
            under_way.commit()
    [outcome] = outcomes
    return outcome


def _verification_mails(database_url: str) -> int:
    with psycopg.connect(database_url) as conn:
        row = conn.execute(
            "select count(*) from app.outbox where topic = 'mail.email_verification'"
        ).fetchone()
    assert row is not None
    return int(row[0])


def test_a_verification_mail_asked_for_while_an_invitation_is_accepted_is_refused(database_url: str) -> None:
    """Accepting an invitation verifies the address it was mailed to, as following the link
    does; a verification mail asked for meanwhile, in another tab, read the account unverified
    and mailed a link to an address verified by then (202, not 409)."""
    session = _signed_up(database_url)
    with psycopg.connect(database_url, autocommit=True) as conn:
        owner = make_user(conn, "owner")
        org_id = make_org(conn, "Verifying", {owner: "owner"})
        assert call_and_commit(conn, owner, "invite_member", org_id, EMAIL, "member").ok
        row = conn.execute(
            "select payload ->> 'token', (select id from app.users where email = %s)"
            " from app.outbox where payload ->> 'org_id' = %s",
            [EMAIL, org_id],
        ).fetchone()
        assert row is not None
        invitation_token, invitee = row
    with psycopg.connect(database_url) as accepting:
        become(accepting, invitee)
        accepting.execute("select * from api.accept_invitation(%s)", [invitation_token]).fetchall()
        outcome = _resend_in_another_tab(database_url, session, accepting, "the acceptance")
    assert outcome == "auth.email_already_verified"
    assert _verification_mails(database_url) == 1, "a link was mailed to a verified address"


def _until(condition: Callable[[], bool]) -> None:
    deadline = time.monotonic() + 10
    while not condition():
        assert time.monotonic() < deadline, "the transaction never came to wait"
        time.sleep(0.02)


@pytest.mark.parametrize(
    ("statement", "answer"),
    [
        ("select auth.logout(%s, null)", False),
        ("select auth.verify_email(%s, null)", "auth.invalid_token"),
    ],
    ids=["log out", "verify the email"],
)
def test_a_call_made_while_a_deletion_waits_for_an_organization_never_deadlocks(
    database_url: str, statement: str, answer: object
) -> None:
    """An operator deletes an account (its row locked, the deletion waiting for one of its
    organizations' locks) while the account logs out or follows its verification link. The call
    took its session's or its link's row, then waited for the account's row (the audit event's
    foreign key, the address marked verified); the deletion, once it had the organization, came
    to take the same session or link with the account: each waited for the other, and Postgres
    broke the deadlock with 40P01 (the edge's 503). The call now waits for the account's row
    before it takes anything, and finds it gone."""
    session = _signed_up(database_url)
    with psycopg.connect(database_url, autocommit=True) as admin:
        row = admin.execute("select id from app.users where email = %s", [EMAIL]).fetchone()
        assert row is not None
        account = str(row[0])
        org_id = make_org(admin, "Held", {make_user(admin, "keeper"): "owner", account: "member"})
        link = admin.execute(
            "select payload ->> 'token' from app.outbox where topic = 'mail.email_verification'"
        ).fetchone()
        assert link is not None
        token = session if "logout" in statement else str(link[0])
        outcomes: dict[str, object] = {}

        def delete() -> None:
            with psycopg.connect(database_url) as conn:
                # The deletion's wait for an organization is bounded by half of this.
                conn.execute("set deadlock_timeout = '60s'")
                outcomes["deletion"] = _outcome(
                    conn, "delete from app.users where id = %s returning true", [account]
                )

        def call() -> None:
            with psycopg.connect(database_url) as conn:
                outcomes["call"] = _outcome(conn, statement, [token])

        with psycopg.connect(database_url) as holding:
            holding.execute("select app.lock_org(%s)", [org_id])
            with in_thread(delete):
                _until(lambda: waiting_for(admin, holding.info.backend_pid) is not None)
                deleting = waiting_for(admin, holding.info.backend_pid)
                assert deleting is not None
                with in_thread(call):
                    _until(lambda: waiting_for(admin, deleting) is not None)
                    holding.commit()
        assert outcomes == {"deletion": True, "call": answer}


# The account's password and whether its address is verified.
ACCOUNT_STATE = (
    "select s.password_hash, u.email_verified_at from app.users u"
    " join app.user_secrets s on s.user_id = u.id where u.email = %s"
)


@pytest.mark.parametrize(
    ("link", "lock", "statement", "expire"),
    [
        (
            "reset",
            "select auth.lock_account(id) from app.users where email = %s",
            "select auth.confirm_password_reset(%s, 'the new password 2', null)",
            "update app.password_resets set expires_at = clock_timestamp()"
            " where token_hash = util.token_hash(%s)",
        ),
        (
            "verification",
            "select app.lock_rate_key('verify', id) from app.users where email = %s",
            "select auth.verify_email(%s, null)",
            "update app.email_verifications set expires_at = clock_timestamp()"
            " where token_hash = util.token_hash(%s)",
        ),
    ],
    ids=["reset", "verification"],
)
def test_a_link_that_expires_while_it_waits_for_the_accounts_lock_is_refused(
    database_url: str, link: str, lock: str, statement: str, expire: str
) -> None:
    """A reset link followed while a login holds the account's lock (a verification link while an
    acceptance holds its verify lock), and the link expires meanwhile: its expiry was measured
    against the transaction's start, before the wait, and the password was set (the address
    verified) with a link that had expired. Judged by the clock once the lock is held: 400
    auth.invalid_token, nothing changed."""
    session = _signed_up(database_url)
    # The sign-up mailed a verification link.
    token = (
        _reset_token(database_url)
        if link == "reset"
        else _mailed_token(database_url, "mail.email_verification")
    )
    outcomes: list[object] = []
    with psycopg.connect(database_url, autocommit=True) as admin, psycopg.connect(database_url) as holding:
        before = admin.execute(ACCOUNT_STATE, [EMAIL]).fetchone()
        holding.execute(lock.encode(), [EMAIL])
        with psycopg.connect(database_url) as following:

            def follow() -> None:
                outcomes.append(_outcome(following, statement, [token]))

            with in_thread(follow):
                _until(lambda: waiting_for(admin, holding.info.backend_pid) is not None)
                # Expired now, while the link waits, before the lock is let go.
                admin.execute(expire.encode(), [token])
                holding.commit()
        after = admin.execute(ACCOUNT_STATE, [EMAIL]).fetchone()
    assert outcomes == ["auth.invalid_token"], outcomes
    assert after == before
    assert _live_sessions_of_token(database_url, session)
