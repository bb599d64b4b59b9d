"""`/auth/*`: sign-up, login, logout, session, password change and reset.

Every rule lives in the database (sql/functions/auth); these routes only speak HTTP: they
read JSON, call one auth function as role `edge` through its generated wrapper
(blossom_db.generated), and turn the result into a status, a body and the session cookie.
Errors raised in PostgREST's form (sqlstate PGRST, an RpcError) keep their status, code and
headers.
"""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable
from datetime import datetime
from typing import Any, TypeVar

import psycopg
from psycopg_pool import AsyncConnectionPool
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from blossom_db import generated as db
from blossom_db.runtime import JsonValue, RpcError
from edge.config import EdgeConfig
from edge.errors import BodyTooLarge, error_response, limited_stream, too_large
from edge.security import client_ip, csrf_refusal

T = TypeVar("T")

SESSION_HEADER = "x-blossom-session"
NO_STORE = {"Cache-Control": "no-store"}
# Generous bounds: the database applies the real rules (e.g. passwords at most 1000 bytes).
MAX_FIELD_CHARS = 4096


class BadRequest(Exception):
    def __init__(self, response: Response) -> None:
        super().__init__(response.status_code)
        self.response = response

    def __repr__(self) -> str:
        return f"BadRequest(status={self.response.status_code})"


def coded_error(error: RpcError) -> Response:
    """An error raised by auth.raise_error as the same HTTP answer PostgREST would give."""
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


async def call(request: Request, function: Callable[[psycopg.AsyncConnection[Any]], Awaitable[T]]) -> T:
    """One auth function (a generated wrapper) in its own transaction, committed unless it raised."""
    pool: AsyncConnectionPool = request.app.state.pool
    try:
        async with pool.connection(timeout=5) as conn:
            return await function(conn)
    except RpcError as error:
        raise BadRequest(coded_error(error)) from error
    except psycopg.OperationalError as error:  # includes the pool's PoolTimeout
        raise BadRequest(unavailable()) from error
    except psycopg.Error as error:
        raise BadRequest(internal_error()) from error


def json_object(value: JsonValue) -> dict[str, JsonValue]:
    """An auth function's jsonb result, which must be an object; 500 if the database said otherwise."""
    if not isinstance(value, dict):
        raise BadRequest(internal_error())
    return value


async def json_fields(request: Request, *names: str) -> dict[str, str]:
    """The request's JSON object with each named field a string; 400/413/422 otherwise."""
    config: EdgeConfig = request.app.state.config
    refusal = csrf_refusal(request, config)
    if refusal is not None:
        raise BadRequest(refusal)
    limit = config.max_auth_body_bytes
    try:
        body = b"".join([chunk async for chunk in limited_stream(request, limit)])
    except BodyTooLarge:
        raise BadRequest(too_large(limit)) from None
    try:
        data = json.loads(body or b"{}")
    except (ValueError, UnicodeDecodeError):
        raise BadRequest(error_response(400, "request.invalid_json", "The body is not valid JSON.")) from None
    if not isinstance(data, dict):
        raise BadRequest(error_response(400, "request.invalid_json", "The body must be a JSON object."))
    fields: dict[str, str] = {}
    for name in names:
        value = data.get(name)
        if not isinstance(value, str):
            raise BadRequest(
                error_response(
                    422, "request.invalid_field", f"{name} must be a string.", details={"field": name}
                )
            )
        if len(value) > MAX_FIELD_CHARS or "\x00" in value:
            raise BadRequest(
                error_response(
                    422,
                    "request.invalid_field",
                    f"{name} must be at most {MAX_FIELD_CHARS} characters, without NUL.",
                    details={"field": name},
                )
            )
        fields[name] = value
    return fields


def session_token(request: Request) -> str | None:
    config: EdgeConfig = request.app.state.config
    return request.cookies.get(config.cookie_name) or request.headers.get(SESSION_HEADER) or None


def user_agent(request: Request) -> str | None:
    value = request.headers.get("user-agent")
    return value[:512] if value else None


def _session_cookie(response: Response, config: EdgeConfig, token: str, max_age: int) -> None:
    cookie = f"{config.cookie_name}={token}; Max-Age={max_age}; Path=/; HttpOnly; SameSite=Lax"
    if config.cookie_secure:
        cookie += "; Secure"
    response.raw_headers.append((b"set-cookie", cookie.encode("latin-1")))


def set_session_cookie(response: Response, config: EdgeConfig, session: JsonValue) -> None:
    fields = json_object(session)
    expires = datetime.fromisoformat(str(fields["expires_at"]))
    created = datetime.fromisoformat(str(fields["created_at"]))
    _session_cookie(response, config, str(fields["token"]), max(0, int((expires - created).total_seconds())))


def clear_session_cookie(response: Response, config: EdgeConfig) -> None:
    _session_cookie(response, config, "", 0)


def no_content(status: int = 204) -> Response:
    return Response(status_code=status, headers=NO_STORE)


async def signup(request: Request) -> Response:
    body = await json_fields(request, "email", "password", "display_name")
    config: EdgeConfig = request.app.state.config
    result = json_object(
        await call(
            request,
            lambda conn: db.auth_signup_async(
                conn,
                p_email=body["email"],
                p_password=body["password"],
                p_display_name=body["display_name"],
                p_client_addr=client_ip(request, config),
                p_user_agent=user_agent(request),
            ),
        )
    )
    response = JSONResponse({"user": result["user"]}, status_code=201, headers=NO_STORE)
    set_session_cookie(response, config, result["session"])
    return response


def credentials_refused(result: dict[str, JsonValue], wrong_password: str) -> Response:
    """The answer to a refused password ({ok: false, code, retry_after} from auth.login or
    auth.change_password, which count the failure and so return it rather than raise)."""
    if result.get("code") == "auth.rate_limited":
        return error_response(
            429,
            "auth.rate_limited",
            "Too many failed logins; try again later.",
            headers={"Retry-After": str(result.get("retry_after"))} | NO_STORE,
        )
    return error_response(401, "auth.invalid_credentials", wrong_password, headers=NO_STORE)


async def login(request: Request) -> Response:
    body = await json_fields(request, "email", "password")
    config: EdgeConfig = request.app.state.config
    result = json_object(
        await call(
            request,
            lambda conn: db.auth_login_async(
                conn,
                p_email=body["email"],
                p_password=body["password"],
                p_client_addr=client_ip(request, config),
                p_user_agent=user_agent(request),
            ),
        )
    )
    if result.get("ok") is not True:
        return credentials_refused(result, "The email or the password is not right.")
    response = JSONResponse({"user": result["user"]}, headers=NO_STORE)
    set_session_cookie(response, config, result["session"])
    return response


async def logout(request: Request) -> Response:
    await json_fields(request)
    config: EdgeConfig = request.app.state.config
    token = session_token(request)
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
    await call(
        request,
        lambda conn: db.auth_logout_all_async(
            conn, p_token=session_token(request), p_client_addr=client_ip(request, config)
        ),
    )
    response = no_content()
    clear_session_cookie(response, config)
    return response


async def session(request: Request) -> Response:
    result = await call(
        request, lambda conn: db.auth_session_info_async(conn, p_token=session_token(request))
    )
    return JSONResponse(result, headers=NO_STORE)


async def change_password(request: Request) -> Response:
    body = await json_fields(request, "current_password", "new_password")
    config: EdgeConfig = request.app.state.config
    result = json_object(
        await call(
            request,
            lambda conn: db.auth_change_password_async(
                conn,
                p_token=session_token(request),
                p_current_password=body["current_password"],
                p_new_password=body["new_password"],
                p_client_addr=client_ip(request, config),
            ),
        )
    )
    if result.get("ok") is not True:
        return credentials_refused(result, "The current password is not right.")
    return no_content()


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
    await call(
        request,
        lambda conn: db.auth_confirm_password_reset_async(
            conn,
            p_token=body["token"],
            p_new_password=body["new_password"],
            p_client_addr=client_ip(request, config),
        ),
    )
    response = no_content()
    clear_session_cookie(response, config)
    return response


Endpoint = Callable[[Request], Awaitable[Response]]


def guarded(endpoint: Endpoint) -> Endpoint:
    async def run(request: Request) -> Response:
        try:
            response: Response = await endpoint(request)
        except BadRequest as refused:
            return refused.response
        return response

    return run


ROUTES = [
    Route("/auth/signup", guarded(signup), methods=["POST"]),
    Route("/auth/login", guarded(login), methods=["POST"]),
    Route("/auth/logout", guarded(logout), methods=["POST"]),
    Route("/auth/logout-all", guarded(logout_all), methods=["POST"]),
    Route("/auth/session", guarded(session), methods=["GET"]),
    Route("/auth/password", guarded(change_password), methods=["POST"]),
    Route("/auth/password-reset", guarded(request_password_reset), methods=["POST"]),
    Route("/auth/password-reset/confirm", guarded(confirm_password_reset), methods=["POST"]),
]

__all__ = ["ROUTES"]
