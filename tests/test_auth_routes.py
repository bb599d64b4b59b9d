"""/auth/* through the real edge and PostgREST: the whole route table of issue 3."""

from __future__ import annotations

import hashlib
import json
import secrets
import threading
import time
from collections.abc import Callable, Iterator

import psycopg
import pytest

from blossom_db.runtime import RpcError
from edge.auth import coded_error
from tests.support.auth_client import (
    DEVICE_COOKIE_NAME,
    PASSWORD,
    Account,
    new_email,
    post,
    session_cookie,
    signup,
)
from tests.support.databases import waiting_for
from tests.support.http import Reply, loopback_address, raw_exchange, request
from tests.support.mailbox import messages
from tests.support.orgs_db import make_org, make_user
from tests.support.stack import Stack, make_stack
from tests.support.worker import eventually


@pytest.fixture(scope="module")
def auth_stack(
    pg_server: str, template_database: str, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Stack]:
    with make_stack(pg_server, template_database, tmp_path_factory.mktemp("auth")) as running:
        yield running


def reset_token(stack: Stack, email: str) -> str:
    newest = messages(stack.database_url, email, "mail.password_reset")[0]
    return str(newest["token"])


def test_signup_answers_201_with_the_user_and_a_cookie(auth_stack: Stack) -> None:
    email = new_email().replace("user", "New.User")
    reply = post(
        auth_stack.edge_url, "/auth/signup", {"email": email, "password": PASSWORD, "display_name": "Ann"}
    )
    assert reply.status == 201
    user = reply.json()["user"]
    assert user["email"] == email
    assert user["display_name"] == "Ann"
    assert user["id"].startswith("usr_")
    assert "password" not in reply.body.decode()
    assert session_cookie(reply)


def test_the_cookie_is_httponly_samesite_lax_path_root(auth_stack: Stack) -> None:
    reply = post(
        auth_stack.edge_url,
        "/auth/signup",
        {"email": new_email(), "password": PASSWORD, "display_name": "Cookie"},
    )
    session, device = reply.all("set-cookie")
    for cookie, wanted_name, max_age in (
        (session, "blossom_session", "Max-Age=2592000"),
        (device, "blossom_session_device", "Max-Age=31536000"),
    ):
        attributes = [part.strip() for part in cookie.split(";")]
        name, _, token = attributes[0].partition("=")
        assert name == wanted_name
        assert len(token) == 43
        assert {"HttpOnly", "SameSite=Lax", "Path=/", max_age} <= set(attributes)
        # The test stack is local development over plain HTTP (BLOSSOM_COOKIE_INSECURE=1).
        assert "Secure" not in attributes


@pytest.mark.parametrize(
    ("body", "status", "code"),
    [
        ({"email": "not-an-email", "password": PASSWORD, "display_name": "X"}, 422, "auth.invalid_email"),
        ({"email": "a@example.com", "password": "short", "display_name": "X"}, 422, "auth.weak_password"),
        ({"email": "a@example.com", "password": "x" * 2000, "display_name": "X"}, 422, "auth.weak_password"),
        (
            {"email": "a@example.com", "password": PASSWORD, "display_name": " "},
            422,
            "auth.invalid_display_name",
        ),
        (
            {"email": "a@example.com", "password": 12345678901, "display_name": "X"},
            422,
            "request.invalid_field",
        ),
        ({"email": "a@example.com", "password": PASSWORD}, 422, "request.invalid_field"),
        (["not", "an", "object"], 400, "request.invalid_json"),
    ],
)
def test_signup_refuses_bad_input(auth_stack: Stack, body: object, status: int, code: str) -> None:
    reply = post(auth_stack.edge_url, "/auth/signup", body)
    assert reply.status == status
    error = reply.json()
    assert error["code"] == code
    assert set(error) == {"code", "message", "details", "hint"}


def test_signup_refuses_invalid_json_and_huge_bodies(auth_stack: Stack) -> None:
    headers = {"Content-Type": "application/json"}
    reply = request(auth_stack.edge_url, "POST", "/auth/signup", body=b"{nope", headers=headers)
    assert (reply.status, reply.json()["code"]) == (400, "request.invalid_json")
    huge = b'{"email": "a@example.com", "password": "' + b"p" * (1024 * 1024) + b'", "display_name": "X"}'
    reply = request(auth_stack.edge_url, "POST", "/auth/signup", body=huge, headers=headers)
    assert (reply.status, reply.json()["code"]) == (413, "edge.body_too_large")


def test_signup_with_a_taken_email_in_another_case_is_409(auth_stack: Stack) -> None:
    account = signup(auth_stack.edge_url)
    body = {"email": account.email.upper(), "password": PASSWORD, "display_name": "Twin"}
    reply = post(auth_stack.edge_url, "/auth/signup", body)
    assert (reply.status, reply.json()["code"]) == (409, "auth.email_taken")


def test_login_answers_the_user_and_a_new_session(auth_stack: Stack) -> None:
    account = signup(auth_stack.edge_url)
    reply = post(auth_stack.edge_url, "/auth/login", {"email": account.email.upper(), "password": PASSWORD})
    assert reply.status == 200
    assert reply.json()["user"]["id"] == account.user["id"]
    token = session_cookie(reply)
    assert token
    assert token != account.token


def _waiting_behind(conn: psycopg.Connection, pid: int) -> int:
    row = conn.execute(
        "select count(*) from pg_stat_activity a where %s = any(pg_blocking_pids(a.pid))", [pid]
    ).fetchone()
    assert row is not None
    return int(row[0])


@pytest.mark.parametrize("signed_in", [True, False], ids=["signed in", "signed out"])
def test_two_logins_at_once_from_one_browser_leave_one_session(auth_stack: Stack, signed_in: bool) -> None:
    """A login sent twice at once from one browser (a double submit), signed in or not: each
    presented the same cookies and started a session of its own; the browser kept the last
    Set-Cookie, and the other session stayed valid for its whole lifetime, a credential that no
    cookie held. A login now ends the sessions that earlier sign-ins of the account from this
    browser (its device cookie) started: of the two, only the later one's session is left. The
    account's login lock is held here until the first waits for it and the second has come to wait
    for the first's turn at the edge (the logins of one account take theirs one at a time), so that
    they run one after the other, the second once the first committed."""
    account = signup(auth_stack.edge_url)
    assert account.device is not None
    cookies = account.browser if signed_in else {"Cookie": f"{DEVICE_COOKIE_NAME}={account.device}"}
    if not signed_in:
        assert post(auth_stack.edge_url, "/auth/logout", headers=account.cookie).status == 204
    credentials = {"email": account.email, "password": PASSWORD}
    replies: list[Reply] = []
    with psycopg.connect(auth_stack.database_url, autocommit=True) as watching:
        with psycopg.connect(auth_stack.database_url) as holding:
            holding.execute("select app.lock_rate_key('login', %s)", [account.email])
            logins = [
                threading.Thread(
                    target=lambda: replies.append(
                        post(auth_stack.edge_url, "/auth/login", credentials, cookies)
                    )
                )
                for _ in range(2)
            ]
            logins[0].start()
            deadline = time.monotonic() + 10
            while _waiting_behind(watching, holding.info.backend_pid) < 1:
                assert time.monotonic() < deadline, "the login did not come to wait"
                time.sleep(0.02)
            logins[1].start()
            time.sleep(0.3)  # the second reaches the edge, and waits for the first's turn
            assert _waiting_behind(watching, holding.info.backend_pid) == 1
            holding.commit()
        for login in logins:
            login.join(10)
        assert [reply.status for reply in replies] == [200, 200]
        tokens = [session_cookie(reply) for reply in replies]
        issued = watching.execute(
            "select revoked_at is null from app.sessions where token_hash = any(%s) order by created_at",
            [[hashlib.sha256(str(token).encode()).digest() for token in tokens]],
        ).fetchall()
        assert issued == [(False,), (True,)]
        live = watching.execute(
            "select count(*) from app.sessions where user_id = %s and revoked_at is null",
            [account.user["id"]],
        ).fetchone()
        assert live == (1,)


def test_unknown_email_and_wrong_password_get_the_same_401(auth_stack: Stack) -> None:
    account = signup(auth_stack.edge_url)
    wrong = post(auth_stack.edge_url, "/auth/login", {"email": account.email, "password": "wrong password!"})
    unknown = post(auth_stack.edge_url, "/auth/login", {"email": new_email(), "password": PASSWORD})
    assert wrong.status == unknown.status == 401
    assert wrong.json() == unknown.json()
    assert wrong.json()["code"] == "auth.invalid_credentials"
    assert session_cookie(wrong) is None


@pytest.mark.parametrize(
    ("email", "status", "code"),
    [
        (f"{'x' * 321}@example.com", 401, "auth.invalid_credentials"),
        ("\u0130" * 4096, 401, "auth.invalid_credentials"),
        ("\u0391\u03a3@example.com", 401, "auth.invalid_credentials"),
        ("\t user@example.com\u00a0", 401, "auth.invalid_credentials"),
        ("\U0001f512\ufffe@\u202eexample.com", 401, "auth.invalid_credentials"),
        ("x" * 4097, 422, "request.invalid_field"),
        ("user\x00@example.com", 422, "request.invalid_field"),
    ],
    ids=[
        "321 characters",
        "4096 dotted capital Is",
        "capital sigma",
        "tab and no-break space",
        "emoji, noncharacter and bidi",
        "4097 characters",
        "NUL",
    ],
)
def test_a_login_of_an_odd_email_is_answered_as_any_wrong_login(
    auth_stack: Stack, email: str, status: int, code: str
) -> None:
    """An email that names no account, however long (to the edge's 4096 characters) or odd, is
    answered as an unknown address is, and one past the edge's bounds as any such field."""
    reply = post(
        auth_stack.edge_url, "/auth/login", {"email": email, "password": PASSWORD}, source=loopback_address()
    )
    assert (reply.status, reply.json()["code"]) == (status, code), reply.body


def test_session_answers_the_user_and_session(auth_stack: Stack) -> None:
    account = signup(auth_stack.edge_url)
    reply = request(auth_stack.edge_url, "GET", "/auth/session", headers=account.cookie)
    assert reply.status == 200
    body = reply.json()
    assert body["user"]["id"] == account.user["id"]
    assert set(body["session"]) == {"id", "created_at", "expires_at"}
    assert body["session"]["id"].startswith("ses_")
    assert reply.header("cache-control") == "no-store"


def test_session_without_a_cookie_is_401(auth_stack: Stack) -> None:
    reply = request(auth_stack.edge_url, "GET", "/auth/session")
    assert (reply.status, reply.json()["code"]) == (401, "auth.not_signed_in")


def test_session_of_an_account_deleted_after_its_session_was_read_is_401(auth_stack: Stack) -> None:
    """GET /auth/session read the session, then the account, each in a statement of its own: an
    operator's delete committed between the two gave 200 with a user of nulls. The account is now
    held (auth.held_account) once the session is read, and found gone: 401. The delete is made to
    commit between the two reads: its transaction holds app.users until the call waits for it."""
    account = signup(auth_stack.edge_url)
    replies: list[Reply] = []
    with psycopg.connect(auth_stack.database_url, autocommit=True) as watching:
        with psycopg.connect(auth_stack.database_url) as deleting:
            deleting.execute("lock table app.users in access exclusive mode")
            reading = threading.Thread(
                target=lambda: replies.append(
                    request(auth_stack.edge_url, "GET", "/auth/session", headers=account.cookie)
                )
            )
            reading.start()
            _first_waiting_for(watching, deleting.info.backend_pid)
            deleting.execute("delete from app.users where id = %s", [account.user["id"]])
            deleting.commit()
        reading.join(10)
    (reply,) = replies
    assert reply.status == 401, reply.body
    assert reply.json()["code"] == "auth.not_signed_in"


def test_logout_revokes_the_session_and_clears_the_cookie(auth_stack: Stack) -> None:
    account = signup(auth_stack.edge_url)
    reply = post(auth_stack.edge_url, "/auth/logout", headers=account.cookie)
    assert reply.status == 204
    (cleared,) = reply.all("set-cookie")
    assert cleared.startswith("blossom_session=;")
    assert "Max-Age=0" in cleared
    reply = request(auth_stack.edge_url, "GET", "/auth/session", headers=account.cookie)
    assert reply.status == 401


def test_logout_all_revokes_every_session_of_the_user(auth_stack: Stack) -> None:
    account = signup(auth_stack.edge_url)
    other = session_cookie(
        post(auth_stack.edge_url, "/auth/login", {"email": account.email, "password": PASSWORD})
    )
    assert other
    reply = post(auth_stack.edge_url, "/auth/logout-all", headers=account.cookie)
    assert reply.status == 204
    for token in (account.token, other):
        reply = request(
            auth_stack.edge_url, "GET", "/auth/session", headers={"Cookie": f"blossom_session={token}"}
        )
        assert reply.status == 401


# A call to make while the organization's lock is held: who makes it, and its arguments, for an
# organization whose owner is given.
Waiting = Callable[[Stack, Account, str], tuple[Account, dict[str, str]]]


def invitation_sent(stack: Stack, owner: Account, org_id: str, email: str) -> str:
    """The id of an invitation of `email` the owner sends now."""
    invited = post(
        stack.edge_url,
        "/rpc/invite_member",
        {"org_id": org_id, "email": email, "role": "member"},
        owner.cookie,
    )
    assert invited.status == 200, invited.body
    return str(invited.json()["id"])


def revoking(stack: Stack, owner: Account, org_id: str) -> tuple[Account, dict[str, str]]:
    return owner, {"invitation_id": invitation_sent(stack, owner, org_id, new_email())}


def accepting(stack: Stack, owner: Account, org_id: str) -> tuple[Account, dict[str, str]]:
    invitee = signup(stack.edge_url)
    invitation_sent(stack, owner, org_id, invitee.email)
    return invitee, {"token": messages(stack.database_url, invitee.email, "mail.org_invitation")[0]["token"]}


@pytest.mark.parametrize(
    ("function", "waiting"),
    [
        ("update_organization", lambda stack, owner, org_id: (owner, {"org_id": org_id, "name": "Taken"})),
        ("delete_organization", lambda stack, owner, org_id: (owner, {"org_id": org_id})),
        ("revoke_invitation", revoking),
        ("accept_invitation", accepting),
        ("decline_invitation", accepting),
    ],
)
def test_a_call_waiting_for_its_organization_when_its_session_is_revoked_is_not_signed_in(
    auth_stack: Stack, function: str, waiting: Waiting
) -> None:
    """A stolen session's call waits for the organization's lock (another call holds it) while
    its owner signs out everywhere: its session was read before it waited, its role again once
    it held the lock, but not its session, and it renamed (deleted) the organization, revoked an
    invitation or joined with one a moment after the session was revoked. A decline took no lock
    of the organization's, and so went through whenever it came."""
    owner = signup(auth_stack.edge_url)
    made = post(auth_stack.edge_url, "/rpc/create_organization", {"name": "Kept"}, headers=owner.cookie)
    assert made.status == 200, made.body
    org_id = made.json()["id"]
    caller, arguments = waiting(auth_stack, owner, org_id)
    own_session = session_cookie(
        post(auth_stack.edge_url, "/auth/login", {"email": caller.email, "password": PASSWORD})
    )
    before = organization_and_invitations(auth_stack, org_id)
    outcome: list[Reply] = []
    with psycopg.connect(auth_stack.database_url) as holder:
        holder.execute("select app.lock_org(%s)", (org_id,))
        call = threading.Thread(
            target=lambda: outcome.append(
                post(auth_stack.edge_url, f"/rpc/{function}", arguments, headers=caller.cookie)
            )
        )
        call.start()
        with psycopg.connect(auth_stack.database_url, autocommit=True) as watcher:
            eventually(
                lambda: waiting_for(watcher, holder.info.backend_pid),
                10,
                "the call waiting for the organization",
            )
        signed_out = post(
            auth_stack.edge_url, "/auth/logout-all", headers={"Cookie": f"blossom_session={own_session}"}
        )
        assert signed_out.status == 204, signed_out.body
        holder.rollback()
    call.join(timeout=30)
    [reply] = outcome
    assert reply.status == 401, reply.body
    assert reply.json()["code"] == "auth.not_signed_in"
    assert organization_and_invitations(auth_stack, org_id) == before


def organization_and_invitations(stack: Stack, org_id: str) -> tuple[object, ...]:
    """The organization's name, deletion and members, and its invitations' outcomes."""
    with psycopg.connect(stack.database_url, autocommit=True) as conn:
        row = conn.execute(
            "select o.name, o.deleted_at, array(select m.user_id from app.memberships m where m.org_id = o.id"
            " order by m.id), array(select (i.revoked_at, i.accepted_at, i.declined_at)::text"
            " from app.invitations i where i.org_id = o.id order by i.id)"
            " from app.organizations o where o.id = %s",
            (org_id,),
        ).fetchone()
    assert row is not None
    return tuple(row)


def test_logout_all_without_a_session_is_401(auth_stack: Stack) -> None:
    reply = post(auth_stack.edge_url, "/auth/logout-all")
    assert (reply.status, reply.json()["code"]) == (401, "auth.not_signed_in")


def test_password_change_revokes_every_session_and_gives_this_browser_a_new_one(auth_stack: Stack) -> None:
    """Every session ends, the one that changed the password too: a copy of this browser's cookie
    taken before the change (the theft a password change is often for) worked on after it."""
    account = signup(auth_stack.edge_url)
    other = session_cookie(
        post(auth_stack.edge_url, "/auth/login", {"email": account.email, "password": PASSWORD})
    )
    body = {"current_password": PASSWORD, "new_password": "a brand new password"}
    reply = post(auth_stack.edge_url, "/auth/password", body, headers=account.cookie)
    assert reply.status == 204
    renewed = session_cookie(reply)
    assert renewed is not None
    assert renewed not in (account.token, other)
    for gone in (account.token, other):
        answer = request(
            auth_stack.edge_url, "GET", "/auth/session", headers={"Cookie": f"blossom_session={gone}"}
        )
        assert answer.status == 401
    still = request(
        auth_stack.edge_url, "GET", "/auth/session", headers={"Cookie": f"blossom_session={renewed}"}
    )
    assert (still.status, still.json()["user"]["email"]) == (200, account.email)
    login = post(
        auth_stack.edge_url, "/auth/login", {"email": account.email, "password": "a brand new password"}
    )
    assert login.status == 200


def test_a_password_change_keeps_its_browser_a_device_when_it_had_been_forgotten(auth_stack: Stack) -> None:
    """An account keeps its 20 most recent devices, so twenty sign-ins with a stolen password
    from as many browsers forget the owner's. The owner's change of the password then forgot
    every device of the account, and the browser that had just proved the password got none
    back: the thief's guesses from many addresses, keeping the account under its growing delay,
    held the owner's next sign-in back. A change makes its browser a device, as a login does."""
    account = signup(auth_stack.edge_url)
    with psycopg.connect(auth_stack.database_url) as conn:
        conn.execute(
            "select auth.remember_device(%s, null) from generate_series(1, 20)", [account.user["id"]]
        )
    body = {"current_password": PASSWORD, "new_password": "a brand new password"}
    reply = post(auth_stack.edge_url, "/auth/password", body, headers=account.browser)
    assert reply.status == 204
    device = session_cookie(reply, DEVICE_COOKIE_NAME)
    assert device is not None
    with psycopg.connect(auth_stack.database_url) as conn:
        conn.execute(
            "insert into app.rate_limit_hits (kind, key) select 'login.email', lower(%s)"
            " from generate_series(1, 40)",
            [account.email],
        )
    credentials = {"email": account.email, "password": "a brand new password"}
    cookies = {"Cookie": f"{DEVICE_COOKIE_NAME}={device}"}
    assert post(auth_stack.edge_url, "/auth/login", credentials, headers=cookies).status == 200
    with psycopg.connect(auth_stack.database_url) as conn:
        kept = conn.execute(
            "select encode(token_hash, 'hex') from app.devices where user_id = %s", [account.user["id"]]
        ).fetchall()
    assert kept == [(hashlib.sha256(device.encode()).hexdigest(),)]


@pytest.mark.parametrize(
    ("current", "new", "status", "code"),
    [
        ("not the password", "a brand new password", 401, "auth.invalid_credentials"),
        (PASSWORD, "tiny", 422, "auth.weak_password"),
        ("x" * 4097, "a brand new password", 422, "request.invalid_field"),
        (PASSWORD, "a brand\x00new password", 422, "request.invalid_field"),
    ],
)
def test_password_change_refusals(auth_stack: Stack, current: str, new: str, status: int, code: str) -> None:
    account = signup(auth_stack.edge_url)
    reply = post(
        auth_stack.edge_url,
        "/auth/password",
        {"current_password": current, "new_password": new},
        account.cookie,
    )
    assert (reply.status, reply.json()["code"]) == (status, code)


def test_password_change_without_a_session_is_401(auth_stack: Stack) -> None:
    body = {"current_password": PASSWORD, "new_password": "a brand new password"}
    reply = post(auth_stack.edge_url, "/auth/password", body)
    assert (reply.status, reply.json()["code"]) == (401, "auth.not_signed_in")


@pytest.mark.parametrize(
    ("sent", "stored"),
    [
        (b"Moz\x9b2J\x9d0;PWNED\x9c (X11)", "Moz2J0;PWNED (X11)"),
        (
            "Mozilla/5.0 (Linux; Android 14; Café) Ελληνικά \u009b2J\u202egnp.exe".encode(),
            "Mozilla/5.0 (Linux; Android 14; Café) Ελληνικά 2Jgnp.exe",
        ),
    ],
    ids=["not UTF-8", "UTF-8"],
)
def test_a_user_agent_is_stored_as_sent_without_control_characters(
    auth_stack: Stack, sent: bytes, stored: str
) -> None:
    """admin.active_sessions shows it to operators in psql: C1 controls (U+009B is a terminal's
    CSI) and format characters are taken out, as the HTTP server refuses C0 ones. Read as UTF-8
    (as the proxy reads it for PostgREST), a byte sequence that is not read as Latin-1, as HTTP
    once read every header: read so always, a UTF-8 Café was kept as CafÃ©."""
    account = signup(auth_stack.edge_url)
    reply = post(
        auth_stack.edge_url,
        "/auth/login",
        {"email": account.email, "password": PASSWORD},
        headers={"User-Agent": sent.decode("latin-1")},  # http.client sends each character as a byte
    )
    assert reply.status == 200
    with psycopg.connect(auth_stack.database_url) as conn:
        kept = conn.execute(
            "select user_agent from app.sessions where user_id = %s order by created_at desc limit 1",
            [account.user["id"]],
        ).fetchone()
    assert kept == (stored,)


def test_password_reset_answers_202_for_known_and_unknown_emails(auth_stack: Stack) -> None:
    account = signup(auth_stack.edge_url)
    known = post(auth_stack.edge_url, "/auth/password-reset", {"email": account.email})
    unknown = post(auth_stack.edge_url, "/auth/password-reset", {"email": new_email()})
    assert known.status == unknown.status == 202
    assert known.body == unknown.body == b""


def test_password_reset_confirm_sets_the_password_once_and_revokes_sessions(auth_stack: Stack) -> None:
    account = signup(auth_stack.edge_url)
    assert post(auth_stack.edge_url, "/auth/password-reset", {"email": account.email}).status == 202
    token = reset_token(auth_stack, account.email)
    body = {"token": token, "new_password": "reset to this one"}
    assert post(auth_stack.edge_url, "/auth/password-reset/confirm", body).status == 204
    assert request(auth_stack.edge_url, "GET", "/auth/session", headers=account.cookie).status == 401
    login = post(
        auth_stack.edge_url, "/auth/login", {"email": account.email, "password": "reset to this one"}
    )
    assert login.status == 200
    again = post(auth_stack.edge_url, "/auth/password-reset/confirm", body)
    assert (again.status, again.json()["code"]) == (400, "auth.invalid_token")


def test_a_reset_keeps_the_device_of_the_browser_that_made_it_and_forgets_the_others(
    auth_stack: Stack,
) -> None:
    account = signup(auth_stack.edge_url)
    elsewhere = post(auth_stack.edge_url, "/auth/login", {"email": account.email, "password": PASSWORD})
    assert elsewhere.status == 200
    assert post(auth_stack.edge_url, "/auth/password-reset", {"email": account.email}).status == 202
    body = {"token": reset_token(auth_stack, account.email), "new_password": "reset to this one"}
    assert (
        post(auth_stack.edge_url, "/auth/password-reset/confirm", body, headers=account.browser).status == 204
    )
    with psycopg.connect(auth_stack.database_url) as conn:
        kept = conn.execute(
            "select encode(token_hash, 'hex') from app.devices where user_id = %s", [account.user["id"]]
        ).fetchall()
    assert account.device is not None
    assert kept == [(hashlib.sha256(account.device.encode()).hexdigest(),)]


def test_a_reset_makes_its_browser_a_device_that_others_guesses_cannot_hold_back(
    auth_stack: Stack,
) -> None:
    """Guesses from many addresses put the account's email under its growing delay (here its
    longest, 15 minutes), which only a device of the account passes. The owner who reset the
    password from a browser that had never signed in to the account (a new phone, cookies
    cleared) got no device from it: the new password was then refused 429 too, and the guessers
    could keep it so, the reset, the owner's way back, opening nothing. The browser that proved
    the mailbox is now one of the account's devices (its cookie is set), as a sign-in makes it."""
    account = signup(auth_stack.edge_url)
    with psycopg.connect(auth_stack.database_url) as conn:
        conn.execute(
            "insert into app.rate_limit_hits (kind, key) select 'login.email', lower(%s)"
            " from generate_series(1, 40)",
            [account.email],
        )
    new_phone = loopback_address()
    credentials = {"email": account.email, "password": "reset to this one"}
    held = post(auth_stack.edge_url, "/auth/login", credentials, source=new_phone)
    assert (held.status, held.json()["code"]) == (429, "auth.rate_limited")
    assert post(auth_stack.edge_url, "/auth/password-reset", {"email": account.email}).status == 202
    body = {"token": reset_token(auth_stack, account.email), "new_password": "reset to this one"}
    reset = post(auth_stack.edge_url, "/auth/password-reset/confirm", body, source=new_phone)
    assert reset.status == 204
    device = session_cookie(reset, DEVICE_COOKIE_NAME)
    assert device is not None
    assert device != account.device
    assert session_cookie(reset) is None
    cookies = {"Cookie": f"{DEVICE_COOKIE_NAME}={device}"}
    login = post(auth_stack.edge_url, "/auth/login", credentials, headers=cookies, source=new_phone)
    assert login.status == 200, login.body
    # Without the cookie, from that same address, the delay holds as before.
    other = post(auth_stack.edge_url, "/auth/login", credentials, source=new_phone)
    assert (other.status, other.json()["code"]) == (429, "auth.rate_limited")


def test_a_reset_ends_the_browser_s_session_whoever_s_it_was(auth_stack: Stack) -> None:
    """The answer clears the browser's session cookie; a session of another account (a shared
    computer signed in to someone else) went on working after it, for whoever had kept a copy."""
    account = signup(auth_stack.edge_url)
    other = signup(auth_stack.edge_url)
    assert post(auth_stack.edge_url, "/auth/password-reset", {"email": account.email}).status == 202
    body = {"token": reset_token(auth_stack, account.email), "new_password": "reset to this one"}
    reply = post(auth_stack.edge_url, "/auth/password-reset/confirm", body, headers=other.cookie)
    assert reply.status == 204
    (cleared,) = [cookie for cookie in reply.all("set-cookie") if cookie.startswith("blossom_session=")]
    assert cleared.startswith("blossom_session=;")
    assert request(auth_stack.edge_url, "GET", "/auth/session", headers=other.cookie).status == 401


def test_a_refused_reset_leaves_the_browser_s_session_as_it_was(auth_stack: Stack) -> None:
    other = signup(auth_stack.edge_url)
    body = {"token": "A" * 43, "new_password": "reset to this one"}
    reply = post(auth_stack.edge_url, "/auth/password-reset/confirm", body, headers=other.cookie)
    assert (reply.status, reply.json()["code"]) == (400, "auth.invalid_token")
    assert request(auth_stack.edge_url, "GET", "/auth/session", headers=other.cookie).status == 200


def test_password_reset_confirm_refuses_a_weak_password_and_keeps_the_token(auth_stack: Stack) -> None:
    account = signup(auth_stack.edge_url)
    assert post(auth_stack.edge_url, "/auth/password-reset", {"email": account.email}).status == 202
    token = reset_token(auth_stack, account.email)
    weak = post(auth_stack.edge_url, "/auth/password-reset/confirm", {"token": token, "new_password": "tiny"})
    assert (weak.status, weak.json()["code"]) == (422, "auth.weak_password")
    body = {"token": token, "new_password": "reset to this one"}
    assert post(auth_stack.edge_url, "/auth/password-reset/confirm", body).status == 204


def test_password_reset_confirm_refuses_an_unknown_token(auth_stack: Stack) -> None:
    body = {"token": "A" * 43, "new_password": "reset to this one"}
    reply = post(auth_stack.edge_url, "/auth/password-reset/confirm", body)
    assert (reply.status, reply.json()["code"]) == (400, "auth.invalid_token")


def test_password_reset_requests_are_limited_per_address_never_per_account(auth_stack: Stack) -> None:
    account = signup(auth_stack.edge_url)
    attacker = loopback_address()
    for _ in range(20):
        reply = post(auth_stack.edge_url, "/auth/password-reset", {"email": account.email}, source=attacker)
        assert reply.status == 202
    reply = post(auth_stack.edge_url, "/auth/password-reset", {"email": account.email}, source=attacker)
    assert (reply.status, reply.json()["code"]) == (429, "auth.rate_limited")
    assert int(reply.header("retry-after") or 0) > 0
    # The owner asking from their own address is answered, and their inbox got one mail.
    assert post(auth_stack.edge_url, "/auth/password-reset", {"email": account.email}).status == 202
    assert len(messages(auth_stack.database_url, account.email, "mail.password_reset")) == 1


def verification_token(stack: Stack, email: str) -> str:
    newest = messages(stack.database_url, email, "mail.email_verification")[0]
    return str(newest["token"])


def test_signup_mails_a_verification_link_that_verifies_the_email_once(auth_stack: Stack) -> None:
    account = signup(auth_stack.edge_url)
    assert account.user["email_verified"] is False
    token = verification_token(auth_stack, account.email)
    assert post(auth_stack.edge_url, "/auth/verify-email", {"token": token}).status == 204
    session = request(auth_stack.edge_url, "GET", "/auth/session", headers=account.cookie).json()
    assert session["user"]["email_verified"] is True
    me = request(auth_stack.edge_url, "GET", "/rpc/me", headers=account.cookie).json()
    assert me["email_verified"] is True
    again = post(auth_stack.edge_url, "/auth/verify-email", {"token": token})
    assert (again.status, again.json()["code"]) == (400, "auth.invalid_token")


@pytest.mark.parametrize(
    ("body", "status", "code"),
    [
        ({"token": "A" * 43}, 400, "auth.invalid_token"),
        ({"token": "not a token"}, 400, "auth.invalid_token"),
        ({"token": ""}, 400, "auth.invalid_token"),
        ({"token": 42}, 422, "request.invalid_field"),
        ({}, 422, "request.invalid_field"),
    ],
)
def test_verify_email_refuses_bad_tokens(auth_stack: Stack, body: object, status: int, code: str) -> None:
    reply = post(auth_stack.edge_url, "/auth/verify-email", body)
    assert (reply.status, reply.json()["code"]) == (status, code)


def test_verify_email_resend_mails_a_new_link_until_verified_and_is_limited(auth_stack: Stack) -> None:
    account = signup(auth_stack.edge_url)
    assert post(auth_stack.edge_url, "/auth/verify-email/resend", headers=account.cookie).status == 202
    assert len(messages(auth_stack.database_url, account.email, "mail.email_verification")) == 2
    for _ in range(2):
        assert post(auth_stack.edge_url, "/auth/verify-email/resend", headers=account.cookie).status == 202
    limited = post(auth_stack.edge_url, "/auth/verify-email/resend", headers=account.cookie)
    assert (limited.status, limited.json()["code"]) == (429, "auth.rate_limited")
    assert int(limited.header("retry-after") or 0) > 0
    assert len(messages(auth_stack.database_url, account.email, "mail.email_verification")) == 4
    # Any of the links verifies the address; then there is nothing to resend.
    token = verification_token(auth_stack, account.email)
    assert post(auth_stack.edge_url, "/auth/verify-email", {"token": token}).status == 204
    done = post(auth_stack.edge_url, "/auth/verify-email/resend", headers=account.cookie)
    assert (done.status, done.json()["code"]) == (409, "auth.email_already_verified")


def test_verify_email_resend_without_a_session_is_401(auth_stack: Stack) -> None:
    reply = post(auth_stack.edge_url, "/auth/verify-email/resend")
    assert (reply.status, reply.json()["code"]) == (401, "auth.not_signed_in")


def _named_in_the_trail(conn: psycopg.Connection, account: Account) -> list[str]:
    """The audit events naming the account (as actor, target or the login's user), oldest first:
    an actor deleted since is null, so the target and the details name it."""
    rows = conn.execute(
        "select action from app.audit_events"
        " where target in (%s, lower(%s)) or details ->> 'user_id' = %s order by id",
        [account.user["id"], account.email, account.user["id"]],
    ).fetchall()
    return [action for (action,) in rows]


def _waiting_mail(conn: psycopg.Connection, account: Account) -> int:
    row = conn.execute(
        "select count(*) from app.outbox where lower(payload ->> 'to') = lower(%s) and given_up_at is null"
        " and delivered_at is null",
        [account.email],
    ).fetchone()
    assert row is not None
    return int(row[0])


def _reset_asked(stack: Stack, account: Account) -> str:
    reply = post(stack.edge_url, "/auth/password-reset", {"email": account.email}, source=loopback_address())
    assert reply.status == 202
    return reset_token(stack, account.email)


@pytest.mark.parametrize(
    ("path", "body", "status", "code", "audited"),
    [
        ("/auth/verify-email/resend", lambda stack, account: {}, 401, "auth.not_signed_in", []),
        ("/auth/logout-all", lambda stack, account: {}, 401, "auth.not_signed_in", []),
        (
            "/auth/password",
            lambda stack, account: {"current_password": PASSWORD, "new_password": "a brand new password"},
            401,
            "auth.not_signed_in",
            [],
        ),
        (
            "/auth/password",
            lambda stack, account: {
                "current_password": "not it at all",
                "new_password": "a brand new password",
            },
            401,
            "auth.not_signed_in",
            [],
        ),
        # Before any session: the address has no account once the deletion is done, and each
        # answers as it does for an address that never had one (a failed login is counted so).
        (
            "/auth/login",
            lambda stack, account: {"email": account.email, "password": PASSWORD},
            401,
            "auth.invalid_credentials",
            ["auth.login_failed"],
        ),
        ("/auth/password-reset", lambda stack, account: {"email": account.email}, 202, None, []),
        (
            "/auth/password-reset/confirm",
            lambda stack, account: {
                "token": _reset_asked(stack, account),
                "new_password": "reset to this",
            },
            400,
            "auth.invalid_token",
            [],
        ),
        (
            "/auth/verify-email",
            lambda stack, account: {"token": verification_token(stack, account.email)},
            400,
            "auth.invalid_token",
            [],
        ),
        ("/auth/logout", lambda stack, account: {}, 204, None, []),
    ],
    ids=[
        "resend a verification",
        "sign out everywhere",
        "change the password",
        "change the password, wrongly",
        "log in",
        "ask for a reset",
        "reset",
        "verify the email",
        "log out",
    ],
)
def test_an_auth_call_while_an_operator_deletes_the_account_writes_nothing(
    auth_stack: Stack,
    path: str,
    body: Callable[[Stack, Account], dict[str, str]],
    status: int,
    code: str | None,
    audited: list[str],
) -> None:
    """An operator's `delete from app.users` under way (not committed) while the account calls:
    the call waits for the deletion, then finds the account gone. A call that wrote a row naming
    the account (its session, a link, its audit event) waited for that row's foreign key instead
    and failed there once the deletion committed (Postgres's 23503, the edge's 500)."""
    account = signup(auth_stack.edge_url)
    payload = body(auth_stack, account)
    replies: list[Reply] = []
    with psycopg.connect(auth_stack.database_url, autocommit=True) as watching:
        trail = _named_in_the_trail(watching, account)
        with psycopg.connect(auth_stack.database_url) as deleting, deleting.transaction():
            deleting.execute("delete from app.users where id = %s", [account.user["id"]])
            calling = threading.Thread(
                target=lambda: replies.append(
                    post(
                        auth_stack.edge_url, path, payload, headers=account.browser, source=loopback_address()
                    )
                )
            )
            calling.start()
            # The deletion commits once the call waits for it (or has answered without waiting).
            deadline = time.monotonic() + 10
            while calling.is_alive() and time.monotonic() < deadline:
                if waiting_for(watching, deleting.info.backend_pid) is not None:
                    break
                time.sleep(0.02)
        calling.join(timeout=10)
        (reply,) = replies
        assert reply.status == status, reply.body
        if code is not None:
            assert reply.json()["code"] == code
        assert _named_in_the_trail(watching, account) == trail + audited
        assert _waiting_mail(watching, account) == 0


@pytest.mark.parametrize(
    ("path", "body"),
    [
        ("/rpc/create_organization", {"name": "Made while deleted"}),
        ("/rpc/update_profile", {"display_name": "Renamed while deleted"}),
    ],
    ids=["create an organization", "rename oneself"],
)
def test_a_call_whose_session_is_marked_used_while_its_account_is_deleted_never_deadlocks(
    auth_stack: Stack, path: str, body: dict[str, str]
) -> None:
    """An operator deletes an account (its row locked, the deletion waiting for one of its
    organizations' locks) while the account calls an RPC with a session last used over a minute
    ago. The pre-request marked the session as used (its row taken), then the call waited for the
    account's row; the deletion, once it had the organization, came to take that session with the
    account: each waited for the other, and Postgres broke the deadlock (40P01)."""
    account = signup(auth_stack.edge_url)
    outcomes: dict[str, object] = {}
    with psycopg.connect(auth_stack.database_url, autocommit=True) as watching:
        org_id = make_org(
            watching, "Held", {make_user(watching, "keeper"): "owner", account.user["id"]: "member"}
        )
        watching.execute(
            "update app.sessions set last_seen_at = now() - interval '2 minutes' where user_id = %s",
            [account.user["id"]],
        )

        def delete() -> None:
            with psycopg.connect(auth_stack.database_url) as conn:
                # The deletion's wait for an organization is bounded by half of this.
                conn.execute("set deadlock_timeout = '60s'")
                conn.execute("delete from app.users where id = %s", [account.user["id"]])
                conn.commit()
                outcomes["deletion"] = "committed"

        def call() -> None:
            outcomes["call"] = post(auth_stack.edge_url, path, body, headers=account.browser)

        with psycopg.connect(auth_stack.database_url) as holding:
            holding.execute("select app.lock_org(%s)", [org_id])
            deleting_thread = threading.Thread(target=delete)
            deleting_thread.start()
            deleting = _first_waiting_for(watching, holding.info.backend_pid)
            calling = threading.Thread(target=call)
            calling.start()
            _first_waiting_for(watching, deleting)
            holding.commit()
            deleting_thread.join(10)
            calling.join(10)
    reply = outcomes["call"]
    assert isinstance(reply, Reply)
    assert (outcomes["deletion"], reply.status, reply.json()["code"]) == (
        "committed",
        401,
        "auth.not_signed_in",
    )


def _first_waiting_for(conn: psycopg.Connection, pid: int) -> int:
    deadline = time.monotonic() + 10
    while (waiting := waiting_for(conn, pid)) is None:
        assert time.monotonic() < deadline, "nothing came to wait"
        time.sleep(0.02)
    return waiting


def test_auth_routes_refuse_cross_site_and_non_json_writes(auth_stack: Stack) -> None:
    body = {"email": new_email(), "password": PASSWORD}
    reply = post(auth_stack.edge_url, "/auth/login", body, headers={"Origin": "https://evil.example"})
    assert (reply.status, reply.json()["code"]) == (403, "auth.csrf")
    form = request(
        auth_stack.edge_url,
        "POST",
        "/auth/login",
        body=b"email=a%40example.com&password=x",
        headers={"Content-Type": "application/x-www-form-urlencoded"},
    )
    assert (form.status, form.json()["code"]) == (403, "auth.csrf")
    same_site = post(auth_stack.edge_url, "/auth/login", body, headers={"Origin": auth_stack.edge_url})
    assert same_site.status == 401


def _signed_in(stack: Stack) -> Account:
    return signup(stack.edge_url)


def test_rpc_me_answers_the_signed_in_user(auth_stack: Stack) -> None:
    account = _signed_in(auth_stack)
    reply = request(auth_stack.edge_url, "GET", "/rpc/me", headers=account.cookie)
    assert reply.status == 200
    assert reply.json() == {
        "id": account.user["id"],
        "email": account.email,
        "display_name": "Tester",
        "created_at": reply.json()["created_at"],
        "email_verified": False,
    }


def test_rpc_me_without_a_session_is_401_not_signed_in(auth_stack: Stack) -> None:
    for base in (auth_stack.edge_url, auth_stack.postgrest_url):
        reply = request(base, "GET", "/rpc/me")
        assert (reply.status, reply.json()["code"]) == (401, "auth.not_signed_in")


def test_rpc_update_profile_changes_the_display_name(auth_stack: Stack) -> None:
    account = _signed_in(auth_stack)
    reply = post(auth_stack.edge_url, "/rpc/update_profile", {"display_name": "Renamed"}, account.cookie)
    assert reply.status == 200
    assert reply.json()["display_name"] == "Renamed"
    bad = post(auth_stack.edge_url, "/rpc/update_profile", {"display_name": ""}, account.cookie)
    assert (bad.status, bad.json()["code"]) == (422, "auth.invalid_display_name")


def test_a_revoked_session_is_refused_on_the_very_next_rpc(auth_stack: Stack) -> None:
    account = _signed_in(auth_stack)
    assert request(auth_stack.edge_url, "GET", "/rpc/me", headers=account.cookie).status == 200
    assert post(auth_stack.edge_url, "/auth/logout", headers=account.cookie).status == 204
    reply = request(auth_stack.edge_url, "GET", "/rpc/me", headers=account.cookie)
    assert (reply.status, reply.json()["code"]) == (401, "auth.not_signed_in")


def test_the_session_header_works_against_postgrest_directly(auth_stack: Stack) -> None:
    account = _signed_in(auth_stack)
    reply = request(auth_stack.postgrest_url, "GET", "/rpc/me", headers={"X-Blossom-Session": account.token})
    assert reply.status == 200
    assert reply.json()["id"] == account.user["id"]


def _status_with_session_headers(stack: Stack, method: str, path: str, tokens: list[str]) -> int:
    head = f"{method} {path} HTTP/1.1\r\nHost: edge\r\nConnection: close\r\nContent-Length: 0\r\n"
    head += "".join(f"X-Blossom-Session: {token}\r\n" for token in tokens)
    if method == "POST":
        head += "Content-Type: application/json\r\n"
    return int(raw_exchange(stack.edge_url, (head + "\r\n").encode()).split(b" ", 2)[1])


@pytest.mark.parametrize("order", ["junk first", "junk last"])
def test_two_session_headers_name_the_same_session_for_the_routes_and_the_rpcs(
    auth_stack: Stack, order: str
) -> None:
    """As PostgREST reads them, the last one wins. The edge took the first: a logout with two
    revoked nothing while /rpc went on taking the other."""
    account = _signed_in(auth_stack)
    junk = secrets.token_urlsafe(32)
    tokens = [junk, account.token] if order == "junk first" else [account.token, junk]
    statuses = {
        path: _status_with_session_headers(auth_stack, "GET", path, tokens)
        for path in ("/rpc/me", "/auth/session")
    }
    assert statuses["/rpc/me"] == statuses["/auth/session"], statuses
    assert _status_with_session_headers(auth_stack, "POST", "/auth/logout", tokens) == 204
    if statuses["/rpc/me"] == 200:  # the logout revoked the session the RPCs were taking
        assert _status_with_session_headers(auth_stack, "GET", "/rpc/me", [account.token]) == 401


@pytest.mark.parametrize("base", ["edge", "postgrest"])
def test_rpc_refuses_a_cross_site_origin(auth_stack: Stack, base: str) -> None:
    account = _signed_in(auth_stack)
    url = auth_stack.edge_url if base == "edge" else auth_stack.postgrest_url
    headers = account.cookie | {"Origin": "https://evil.example"}
    reply = post(url, "/rpc/update_profile", {"display_name": "Hacked"}, headers)
    assert (reply.status, reply.json()["code"]) == (403, "auth.csrf")


@pytest.mark.parametrize("base", ["edge", "postgrest"])
def test_rpc_refuses_a_form_encoded_post(auth_stack: Stack, base: str) -> None:
    account = _signed_in(auth_stack)
    url = auth_stack.edge_url if base == "edge" else auth_stack.postgrest_url
    reply = request(
        url,
        "POST",
        "/rpc/update_profile",
        body=b"display_name=Hacked",
        headers=account.cookie | {"Content-Type": "application/x-www-form-urlencoded"},
    )
    assert (reply.status, reply.json()["code"]) == (403, "auth.csrf")
    me = request(auth_stack.edge_url, "GET", "/rpc/me", headers=account.cookie)
    assert me.json()["display_name"] == "Tester"


def test_the_allowed_origin_may_write_through_postgrest(auth_stack: Stack) -> None:
    account = _signed_in(auth_stack)
    headers = account.cookie | {"Origin": auth_stack.edge_url}
    reply = post(auth_stack.postgrest_url, "/rpc/update_profile", {"display_name": "Allowed"}, headers)
    assert reply.status == 200


def test_a_coded_error_is_answered_with_its_status_code_and_headers() -> None:
    error = RpcError(
        "auth.rate_limited", "Slow down.", status=429, hint="Wait.", headers={"Retry-After": "60"}
    )
    answer = coded_error(error)
    assert answer.status_code == 429
    assert (answer.headers["retry-after"], answer.headers["cache-control"]) == ("60", "no-store")
    assert json.loads(bytes(answer.body)) == {
        "code": "auth.rate_limited",
        "message": "Slow down.",
        "details": None,
        "hint": "Wait.",
    }


def test_a_coded_error_without_a_status_is_an_internal_error() -> None:
    answer = coded_error(RpcError("auth.odd", "No status.", status=None))
    assert answer.status_code == 500
    assert json.loads(bytes(answer.body))["code"] == "edge.internal_error"


def last_seen_days_ago(stack: Stack, account: Account, set_back: int | None = None) -> float:
    """How many days ago the account's session was last used; first set back that many days."""
    with psycopg.connect(stack.database_url) as conn:
        if set_back is not None:
            conn.execute(
                "update app.sessions set last_seen_at = now() - make_interval(days => %s)"
                " where token_hash = util.token_hash(%s)",
                (set_back, account.token),
            )
        row = conn.execute(
            "select extract(epoch from now() - last_seen_at) / 86400 from app.sessions"
            " where token_hash = util.token_hash(%s)",
            (account.token,),
        ).fetchone()
    assert row is not None
    return float(row[0])


def becomes_recent(stack: Stack, account: Account, within: float) -> bool:
    """Whether the session is marked as used (in the background, by the edge) within `within` s."""
    deadline = time.monotonic() + within
    while last_seen_days_ago(stack, account) > 0.001:
        if time.monotonic() > deadline:
            return False
        time.sleep(0.05)
    return True


def test_reads_through_the_edge_count_as_session_activity(auth_stack: Stack) -> None:
    account = signup(auth_stack.edge_url)
    last_seen_days_ago(auth_stack, account, set_back=2)
    # PostgREST runs a GET read-only: the pre-request cannot record the use by itself ...
    direct = request(auth_stack.postgrest_url, "GET", "/rpc/me", headers={"X-Blossom-Session": account.token})
    assert direct.status == 200
    assert last_seen_days_ago(auth_stack, account) > 1.9
    # ... it says so in a header (X-Blossom-Session-Stale) ...
    assert direct.header("x-blossom-session-stale") == "1"
    # ... so the edge does, after relaying the read, and keeps the header to itself.
    through_edge = request(auth_stack.edge_url, "GET", "/rpc/me", headers=account.cookie)
    assert through_edge.status == 200
    assert through_edge.header("x-blossom-session-stale") is None
    assert becomes_recent(auth_stack, account, within=5)
    # At most once a minute per session: within the minute a read is not even asked to.
    again = request(auth_stack.postgrest_url, "GET", "/rpc/me", headers={"X-Blossom-Session": account.token})
    assert again.header("x-blossom-session-stale") is None


def test_a_read_does_not_revive_an_idle_session(auth_stack: Stack) -> None:
    account = signup(auth_stack.edge_url)
    last_seen_days_ago(auth_stack, account, set_back=8)
    reply = request(auth_stack.edge_url, "GET", "/rpc/me", headers=account.cookie)
    assert (reply.status, reply.json()["code"]) == (401, "auth.not_signed_in")
    assert not becomes_recent(auth_stack, account, within=1)


def test_made_up_tokens_cost_the_edge_no_database_work(
    pg_server: str, template_database: str, tmp_path_factory: pytest.TempPathFactory
) -> None:
    """Only a real session that is due to be marked makes the edge touch the database: reads
    with made-up tokens, however many, open no connection of the edge's at all."""
    with make_stack(pg_server, template_database, tmp_path_factory.mktemp("made-up")) as stack:
        for _ in range(50):
            cookie = {"Cookie": f"blossom_session={secrets.token_urlsafe(32)}"}
            reply = request(stack.edge_url, "GET", "/rpc/me", headers=cookie)
            assert (reply.status, reply.json()["code"]) == (401, "auth.not_signed_in")
        time.sleep(0.3)
        with psycopg.connect(stack.database_url) as conn:
            row = conn.execute(
                "select count(*) from pg_stat_activity"
                " where usename = 'edge' and datname = current_database()"
            ).fetchone()
        assert row == (0,)


def test_a_secure_cookie_has_the_host_prefix_and_postgrest_reads_it(
    pg_server: str, template_database: str, tmp_path_factory: pytest.TempPathFactory
) -> None:
    logs = tmp_path_factory.mktemp("secure")
    with make_stack(pg_server, template_database, logs, settings={"BLOSSOM_COOKIE_INSECURE": "0"}) as stack:
        reply = post(
            stack.edge_url, "/auth/signup", {"email": new_email(), "password": PASSWORD, "display_name": "S"}
        )
        assert reply.status == 201
        cookies = {header.split("=", 1)[0]: header for header in reply.all("set-cookie")}
        assert set(cookies) == {"__Host-blossom_session", "__Host-blossom_session_device"}
        for header in cookies.values():
            attributes = {part.strip() for part in header.split(";")}
            assert {"Secure", "Path=/", "HttpOnly"} <= attributes
            assert not any(part.startswith("Domain") for part in attributes)
        token = cookies["__Host-blossom_session"].split(";", 1)[0].split("=", 1)[1]
        me = request(stack.edge_url, "GET", "/rpc/me", headers={"Cookie": f"__Host-blossom_session={token}"})
        assert me.status == 200
        plain = request(stack.edge_url, "GET", "/rpc/me", headers={"Cookie": f"blossom_session={token}"})
        assert (plain.status, plain.json()["code"]) == (401, "auth.not_signed_in")


def test_a_secure_cookie_always_carries_the_host_prefix(
    pg_server: str, template_database: str, tmp_path_factory: pytest.TempPathFactory
) -> None:
    """Whatever BLOSSOM_COOKIE_NAME says: the edge and PostgREST's pre-request add the prefix by
    the same rule, from the same two settings."""
    logs = tmp_path_factory.mktemp("secure-named")
    settings = {"BLOSSOM_COOKIE_INSECURE": "0", "BLOSSOM_COOKIE_NAME": "custom"}
    with make_stack(pg_server, template_database, logs, settings=settings) as stack:
        reply = post(
            stack.edge_url, "/auth/signup", {"email": new_email(), "password": PASSWORD, "display_name": "S"}
        )
        names = sorted(header.split("=", 1)[0] for header in reply.all("set-cookie"))
        assert names == ["__Host-custom", "__Host-custom_device"]
        token = reply.all("set-cookie")[0].split(";", 1)[0].split("=", 1)[1]
        me = request(stack.postgrest_url, "GET", "/rpc/me", headers={"Cookie": f"__Host-custom={token}"})
        assert me.status == 200
