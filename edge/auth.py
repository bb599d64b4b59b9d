"""`/auth/*`: sign-up, login, logout, session, password change and reset.

Every rule lives in the database (sql/functions/auth); these routes only speak HTTP: they
read JSON, call one auth function as role `edge` through its generated wrapper
(blossom_db.generated), and turn the result into a status, a body and the session cookie.
Errors raised in PostgREST's form (sqlstate PGRST, an RpcError) keep their status, code and
headers.
"""

from __future__ import annotations

import asyncio
import logging
import re
from collections import Counter
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from datetime import datetime
from typing import Any, TypeVar

import psycopg
from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from blossom_db import generated as db
from blossom_db import logs
from blossom_db.database import Database, DatabaseUnavailable, connection_lost
from blossom_db.runtime import JsonValue, RpcError
from edge.config import EdgeConfig
from edge.errors import Refused, error_response, read_body
from edge.json_body import JsonObject, read_json
from edge.limits import ClientShares, ShareExceeded, client_key, over_share
from edge.routes import Endpoint, starlette_routes
from edge.security import client_ip, csrf_refusal

log = logging.getLogger("edge.auth")

T = TypeVar("T")

SESSION_HEADER = b"x-blossom-session"
NO_STORE = {"Cache-Control": "no-store"}
# Generous bounds: the database applies the real rules (e.g. passwords at most 1000 bytes).
MAX_FIELD_CHARS = 4096
DEVICE_COOKIE_SECONDS = 365 * 24 * 3600


def coded_error(error: RpcError) -> Response:
    """An error raised by util.raise_error as the same HTTP answer PostgREST would give."""
    if error.status is None:
        return internal_error()
    return error_response(
        error.status,
        error.code,
        error.message,
        details=error.details,
        hint=error.hint,
        headers=error.headers | NO_STORE,
    )


def unavailable() -> Response:
    return error_response(
        503,
        "edge.database_unavailable",
        "The database is not reachable; try again shortly.",
        headers={"Retry-After": "1"},
    )


def internal_error() -> Response:
    return error_response(500, "edge.internal_error", "The request could not be completed.")


class PasswordWork:
    """bcrypt runs in Postgres, a quarter of a second of a core at cost 12. The auth routes
    that make a new hash (sign-up, password change, reset) and those that only check one
    (login, and signing out everywhere, which waits for the account's lock a login holds through
    its bcrypt) each get a few at a time, so that a flood of one kind cannot starve the other; a
    call that waits too long for its turn is answered 503 edge.auth_busy. And one client (an
    address, an IPv6 one by its /64) may have only a few of them under way or waiting, so that
    it cannot queue up in front of everyone else: past that, 429 edge.too_many_requests.

    The logins of one account (account_key: the email typed, as auth.login keys the account's
    lock) take their turns one at a time, the others waiting at the edge within the same wait:
    each waits in the database for the account's lock, which the one before it holds through its
    bcrypt, and two clients' logins of one account held all four turns while one bcrypt ran,
    every other account's sign-in waiting for a turn until it was answered 503."""

    def __init__(self, config: EdgeConfig) -> None:
        self.wait_seconds = config.auth_wait_seconds
        self.client_share = config.password_client_share
        self.hashing = asyncio.Semaphore(config.password_hashing_slots)
        self.checking = asyncio.Semaphore(config.password_checking_slots)
        self.per_client: Counter[str] = Counter()
        self.per_account = ClientShares(1, config.auth_wait_seconds)

    @asynccontextmanager
    async def turn(
        self, slots: asyncio.Semaphore, client: str, account: str | None = None
    ) -> AsyncIterator[None]:
        if self.per_client[client] >= self.client_share:
            raise Refused(
                error_response(
                    429,
                    "edge.too_many_requests",
                    "This client has sign-ins or password changes under way already; wait for them.",
                    headers={"Retry-After": "1"} | NO_STORE,
                )
            )
        self.per_client[client] += 1
        held: str | None = None
        try:
            try:
                async with asyncio.timeout(self.wait_seconds):
                    if account is not None:
                        await self.per_account.take(account)
                        held = account
                    await slots.acquire()
            except (TimeoutError, ShareExceeded):
                raise Refused(
                    error_response(
                        503,
                        "edge.auth_busy",
                        "Too many sign-ins and sign-ups at once; try again shortly.",
                        headers={"Retry-After": "1"} | NO_STORE,
                    )
                ) from None
            try:
                yield
            finally:
                slots.release()
        finally:
            if held is not None:
                self.per_account.give_back(held)
            self.per_client[client] -= 1
            if not self.per_client[client]:
                del self.per_client[client]


async def call(
    request: Request,
    function: Callable[[psycopg.AsyncConnection[Any]], Awaitable[T]],
    slots: asyncio.Semaphore | None = None,
    *,
    account: str | None = None,
    wait_seconds: float | None = None,
    in_share: bool = True,
) -> T:
    """One auth function (a generated wrapper) in its own transaction, committed unless it
    raised; with `slots`, in its turn for password work (with `account`, the account's turn
    first, PasswordWork); with `wait_seconds`, waiting at most that long for a free database
    connection (else EdgeConfig.database_wait_seconds, 2 s).
    Each is one of the client's few calls at the database at once (the app's database_shares:
    its others wait their turn, then 429), but with `in_share` False: the settle of a call the
    provider answered, which, refused for its client's other calls, would leave it uncharged."""
    client = client_key(request.scope, request.app.state.config)
    sharer = client if in_share else None
    if slots is None:
        return await _call(request, function, wait_seconds, sharer)
    work: PasswordWork = request.app.state.password_work
    async with work.turn(slots, client, account):
        return await _call(request, function, wait_seconds, sharer)


async def _call(
    request: Request,
    function: Callable[[psycopg.AsyncConnection[Any]], Awaitable[T]],
    wait_seconds: float | None,
    sharer: str | None,
) -> T:
    database: Database = request.app.state.database
    shares: ClientShares = request.app.state.database_shares
    if sharer is not None:
        try:
            await shares.take(sharer)
        except ShareExceeded:
            raise Refused(over_share()) from None
    try:
        return await _transaction(database, function, wait_seconds)
    finally:
        if sharer is not None:
            shares.give_back(sharer)


async def _transaction(
    database: Database,
    function: Callable[[psycopg.AsyncConnection[Any]], Awaitable[T]],
    wait_seconds: float | None,
) -> T:
    try:
        async with database.transaction(wait_seconds) as conn:
            return await function(conn)
    except RpcError as error:
        raise Refused(coded_error(error)) from error
    except DatabaseUnavailable as error:
        raise Refused(unavailable()) from error
    except psycopg.OperationalError as error:
        # A deadlock, a statement or lock timeout, resources short: a state that passes, to try
        # again, as an outage is; but not the database gone, and logged so, with its SQLSTATE.
        if not connection_lost(error):
            log.error("an auth call failed: SQLSTATE %s: %s", error.sqlstate, error)
        raise Refused(unavailable()) from error
    except psycopg.Error as error:
        log.error("an auth call failed: %r", error)
        raise Refused(internal_error()) from error


def json_object(value: JsonValue) -> dict[str, JsonValue]:
    """An auth function's jsonb result, which must be an object; 500 if the database said otherwise."""
    if not isinstance(value, dict):
        raise Refused(internal_error())
    return value


def accepted(result: JsonValue) -> dict[str, JsonValue]:
    """The result of an auth function that refuses by returning {ok: false, status, code,
    message, retry_after} (so that what it counted is kept): the result when ok, else Refused."""
    fields = json_object(result)
    if fields.get("ok") is True:
        return fields
    status, code, message = fields.get("status"), fields.get("code"), fields.get("message")
    if not (isinstance(status, int) and isinstance(code, str) and isinstance(message, str)):
        raise Refused(internal_error())
    headers = dict(NO_STORE)
    if (retry_after := fields.get("retry_after")) is not None:
        headers["Retry-After"] = str(retry_after)
    raise Refused(error_response(status, code, message, headers=headers))


def invalid_field(name: str, message: str) -> Refused:
    return Refused(error_response(422, "request.invalid_field", message, details={"field": name}))


async def json_fields(request: Request, *names: str) -> dict[str, str]:
    """The request's JSON object with each named field a string; 400/408/413/422 otherwise."""
    config: EdgeConfig = request.app.state.config
    refusal = csrf_refusal(request, config)
    if refusal is not None:
        raise Refused(refusal)
    body = await read_body(request, config.max_body_bytes, config.body_timeout_seconds)
    try:
        # As /rpc reads a body (edge.json_body): json.loads read UTF-16, a byte order mark and NaN.
        data = read_json(body) if body else JsonObject()
    except (ValueError, RecursionError):  # RecursionError: nesting deeper than Python's stack
        raise Refused(error_response(400, "request.invalid_json", "The body is not JSON in UTF-8.")) from None
    if not isinstance(data, JsonObject):
        raise Refused(error_response(400, "request.invalid_json", "The body must be a JSON object."))
    if data.twice:
        # json kept the last value of a name given twice: which one counts is no client's guess.
        raise Refused(
            error_response(
                400, "request.invalid_json", f"The body names {', '.join(data.twice)} more than once."
            )
        )
    fields: dict[str, str] = {}
    for name in names:
        value = data.get(name)
        if not isinstance(value, str):
            raise invalid_field(name, f"{name} must be a string.")
        if len(value) > MAX_FIELD_CHARS or "\x00" in value:
            raise invalid_field(name, f"{name} must be at most {MAX_FIELD_CHARS} characters, without NUL.")
        try:
            value.encode()
        except UnicodeEncodeError:  # a lone surrogate such as "\ud800", which no text can hold
            raise invalid_field(name, f"{name} must be Unicode text.") from None
        fields[name] = value
    return fields


# What the database makes (util.new_token): anything else names no session or device, and is
# not sent on (a quoted cookie may even unquote to a NUL, which Postgres refuses).
TOKEN_SHAPE = re.compile(r"[A-Za-z0-9_-]{43}")


def _token(value: str | None) -> str | None:
    return value if value is not None and TOKEN_SHAPE.fullmatch(value) else None


def cookie(request: Request, name: str) -> str | None:
    """A cookie's value as PostgREST reads it, so that the edge's routes and the RPCs always take
    the same session from a request: from the first Cookie header, pairs split at ";" with the
    spaces before them dropped, the value as sent (not unquoted), the last pair of a name winning.
    (Starlette's request.cookies unquotes and trims around "=", which PostgREST does not.)"""
    found = None
    for header, value in request.scope["headers"]:
        if header == b"cookie":
            for pair in value.decode("latin-1").split(";"):
                key, equals, rest = pair.lstrip(" ").partition("=")
                if equals and key == name:
                    found = rest
            break
    return found


def session_header(request: Request) -> str | None:
    """The X-Blossom-Session header as PostgREST reads it: of two, the last (Starlette's
    request.headers takes the first, and a logout revoked another session than /rpc took)."""
    found = None
    for header, value in request.scope["headers"]:
        if header == SESSION_HEADER:
            found = value.decode("latin-1")
    return found


def session_token(request: Request, config: EdgeConfig) -> str | None:
    return _token(cookie(request, config.cookie_name) or session_header(request))


def device_token(request: Request) -> str | None:
    config: EdgeConfig = request.app.state.config
    return _token(cookie(request, config.device_cookie_name))


def user_agent(request: Request) -> str | None:
    """The User-Agent as sessions keep it, for people to read (admin.active_sessions in psql):
    read as UTF-8, as the proxy reads it for PostgREST, or else as Latin-1, as HTTP once read
    every header (Starlette's headers always are: a UTF-8 "Café" was kept as "CafÃ©"); without
    control or format characters (a C1 CSI is a terminal's escape), at most 512."""
    sent = next((value for name, value in request.scope["headers"] if name == b"user-agent"), b"")
    try:
        value = sent.decode("utf-8")
    except UnicodeDecodeError:
        value = sent.decode("latin-1")
    if not value.isprintable():
        value = "".join(character for character in value if character.isprintable())
    return value[:512] or None


def _cookie(response: Response, config: EdgeConfig, name: str, value: str, max_age: int) -> None:
    cookie = f"{name}={value}; Max-Age={max_age}; Path=/; HttpOnly; SameSite=Lax"
    if config.cookie_secure:
        cookie += "; Secure"
    response.raw_headers.append((b"set-cookie", cookie.encode("latin-1")))


def signed_in(response: Response, config: EdgeConfig, result: dict[str, JsonValue]) -> Response:
    """The cookies of a sign-in (login, sign-up, a password change): the new session, and the
    device cookie that marks this browser as one the account signed in from (auth.remember_device)."""
    session = json_object(result["session"])
    user = result.get("user")
    if isinstance(user, dict) and isinstance(user.get("id"), str):
        # The rest of this request's log lines (its access line among them) name the user.
        logs.user_id.set(str(user["id"]))
    expires = datetime.fromisoformat(str(session["expires_at"]))
    created = datetime.fromisoformat(str(session["created_at"]))
    max_age = max(0, int((expires - created).total_seconds()))
    _cookie(response, config, config.cookie_name, str(session["token"]), max_age)
    device = result.get("device_token")
    if isinstance(device, str):
        remembered_device(response, config, device)
    return response


def remembered_device(response: Response, config: EdgeConfig, device_token: str) -> None:
    """The device cookie: this browser is one the account signed in from, or reset it from."""
    _cookie(response, config, config.device_cookie_name, device_token, DEVICE_COOKIE_SECONDS)


def clear_session_cookie(response: Response, config: EdgeConfig) -> None:
    _cookie(response, config, config.cookie_name, "", 0)


def no_content(status: int = 204) -> Response:
    return Response(status_code=status, headers=NO_STORE)


def password_work(request: Request) -> PasswordWork:
    work: PasswordWork = request.app.state.password_work
    return work


# The characters of the email typed that auth.login keys the account's lock by.
ACCOUNT_KEY_CHARS = 320


def account_key(email: str) -> str:
    """The key of the account's lock that auth.login takes for the email typed, exactly:
    `left(lower(btrim(p_email)), 320)` (sql/functions/auth/login.sql), so that the logins the
    database makes wait for one another take their turns at the edge one at a time, and no
    others. btrim trims spaces only; left counts code points. lower() under the cluster's
    C.UTF-8 (ops/cluster.py) lowers each code point on its own, into one (glibc's towlower);
    str.lower() lowers U+0130 (İ) into two, "i" and a combining dot, where Postgres gives "i",
    and a capital sigma at a word's end into the final sigma, where Postgres gives the sigma:
    each character is lowered alone, and U+0130 into "i". Keyed otherwise, logins of one account
    typed so each held a turn of the password checks while they waited for its lock (and every
    other account's sign-in was answered 503), and those of two accounts waited for each other
    (test_auth_limits compares this key with Postgres's for every code point)."""
    typed = email.strip(" ")[:ACCOUNT_KEY_CHARS]  # lowered one code point into one, cut first
    return "".join("i" if char == "\u0130" else char.lower() for char in typed)


async def signup(request: Request) -> Response:
    body = await json_fields(request, "email", "password", "display_name")
    config: EdgeConfig = request.app.state.config
    result = accepted(
        await call(
            request,
            lambda conn: db.auth_signup_async(
                conn,
                p_email=body["email"],
                p_password=body["password"],
                p_display_name=body["display_name"],
                p_client_addr=client_ip(request, config),
                p_user_agent=user_agent(request),
                p_session_token=session_token(request, config),
                p_device_token=device_token(request),
            ),
            password_work(request).hashing,
        )
    )
    return signed_in(
        JSONResponse({"user": result["user"]}, status_code=201, headers=NO_STORE), config, result
    )


async def login(request: Request) -> Response:
    body = await json_fields(request, "email", "password")
    config: EdgeConfig = request.app.state.config
    result = accepted(
        await call(
            request,
            lambda conn: db.auth_login_async(
                conn,
                p_email=body["email"],
                p_password=body["password"],
                p_client_addr=client_ip(request, config),
                p_user_agent=user_agent(request),
                p_session_token=session_token(request, config),
                p_device_token=device_token(request),
            ),
            password_work(request).checking,
            account=account_key(body["email"]),
        )
    )
    return signed_in(JSONResponse({"user": result["user"]}, headers=NO_STORE), config, result)


async def logout(request: Request) -> Response:
    await json_fields(request)
    config: EdgeConfig = request.app.state.config
    token = session_token(request, config)
    if token:
        await call(
            request,
            lambda conn: db.auth_logout_async(conn, p_token=token, p_client_addr=client_ip(request, config)),
        )
    response = no_content()
    clear_session_cookie(response, config)
    return response


async def logout_all(request: Request) -> Response:
    await json_fields(request)
    config: EdgeConfig = request.app.state.config
    # It waits for the account's lock, which a login holds through its bcrypt: in a turn of the
    # password checks, as a login, so that what waits for that lock holds at most those turns of
    # the edge's database connections (one client's sign-outs queued behind its own logins held
    # all ten, and everyone else's /auth calls were answered 503).
    await call(
        request,
        lambda conn: db.auth_logout_all_async(
            conn, p_token=session_token(request, config), p_client_addr=client_ip(request, config)
        ),
        password_work(request).checking,
    )
    response = no_content()
    clear_session_cookie(response, config)
    return response


async def session(request: Request) -> Response:
    config: EdgeConfig = request.app.state.config
    result = await call(
        request, lambda conn: db.auth_session_info_async(conn, p_token=session_token(request, config))
    )
    return JSONResponse(result, headers=NO_STORE)


async def change_password(request: Request) -> Response:
    body = await json_fields(request, "current_password", "new_password")
    config: EdgeConfig = request.app.state.config
    result = accepted(
        await call(
            request,
            lambda conn: db.auth_change_password_async(
                conn,
                p_token=session_token(request, config),
                p_current_password=body["current_password"],
                p_new_password=body["new_password"],
                p_client_addr=client_ip(request, config),
                p_device_token=device_token(request),
                p_user_agent=user_agent(request),
            ),
            password_work(request).hashing,
        )
    )
    # Every session ended with the old password, this browser's too: it gets a new one, and its device.
    return signed_in(no_content(), config, result)


async def request_password_reset(request: Request) -> Response:
    body = await json_fields(request, "email")
    config: EdgeConfig = request.app.state.config
    await call(
        request,
        lambda conn: db.auth_request_password_reset_async(
            conn, p_email=body["email"], p_client_addr=client_ip(request, config)
        ),
    )
    return no_content(202)


async def confirm_password_reset(request: Request) -> Response:
    body = await json_fields(request, "token", "new_password")
    config: EdgeConfig = request.app.state.config
    device = await call(
        request,
        lambda conn: db.auth_confirm_password_reset_async(
            conn,
            p_token=body["token"],
            p_new_password=body["new_password"],
            p_client_addr=client_ip(request, config),
            p_device_token=device_token(request),
            p_session_token=session_token(request, config),
        ),
        password_work(request).hashing,
    )
    if device is None:  # the function names the browser's device or raises; never neither
        raise Refused(internal_error())
    response = no_content()
    clear_session_cookie(response, config)
    # The only device the account keeps: the browser that proved its mailbox passes the delay
    # others' guesses put the account under, as the owner's signed-in browser does.
    remembered_device(response, config, device)
    return response


async def verify_email(request: Request) -> Response:
    body = await json_fields(request, "token")
    config: EdgeConfig = request.app.state.config
    await call(
        request,
        lambda conn: db.auth_verify_email_async(
            conn, p_token=body["token"], p_client_addr=client_ip(request, config)
        ),
    )
    return no_content()


async def resend_email_verification(request: Request) -> Response:
    await json_fields(request)
    config: EdgeConfig = request.app.state.config
    await call(
        request,
        lambda conn: db.auth_resend_email_verification_async(
            conn, p_token=session_token(request, config), p_client_addr=client_ip(request, config)
        ),
    )
    return no_content(202)


def guarded(endpoint: Endpoint) -> Endpoint:
    async def run(request: Request) -> Response:
        try:
            response: Response = await endpoint(request)
        except Refused as refused:
            return refused.response
        return response

    return run


ROUTES = starlette_routes(
    "/auth/",
    {
        "auth.signup": guarded(signup),
        "auth.login": guarded(login),
        "auth.logout": guarded(logout),
        "auth.logout_all": guarded(logout_all),
        "auth.session": guarded(session),
        "auth.change_password": guarded(change_password),
        "auth.request_password_reset": guarded(request_password_reset),
        "auth.confirm_password_reset": guarded(confirm_password_reset),
        "auth.verify_email": guarded(verify_email),
        "auth.resend_email_verification": guarded(resend_email_verification),
    },
)

__all__ = ["ROUTES", "PasswordWork"]
