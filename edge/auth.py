"""`/auth/*`: sign-up, login, logout, session, password change and reset.

Every rule lives in the database (sql/functions/auth); these routes only speak HTTP: they
read JSON, call one auth function as role `edge`, and turn the result into a status, a body
and the session cookie. Errors raised in PostgREST's form (sqlstate PGRST) keep their status
and code.
"""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable
from datetime import datetime
from typing import Any

import psycopg
from psycopg_pool import AsyncConnectionPool, PoolTimeout
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from edge.config import EdgeConfig
from edge.errors import error_response
from edge.security import client_address, csrf_refusal

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


def database_error(error: psycopg.Error) -> Response:
    """An error raised by auth.raise_error (PostgREST's form) as the same HTTP answer."""
    if error.sqlstate == "PGRST":
        try:
            body = json.loads(error.diag.message_primary or "")
            meta = json.loads(error.diag.message_detail or "{}")
            headers = {str(k): str(v) for k, v in (meta.get("headers") or {}).items()}
            return error_response(
                int(meta["status"]),
                str(body["code"]),
                str(body["message"]),
                details=body.get("details"),
                hint=body.get("hint"),
                headers=headers | NO_STORE,
            )
        except (ValueError, KeyError, TypeError, AttributeError):
            pass
    if isinstance(error, psycopg.OperationalError):
        return unavailable()
    return error_response(500, "edge.internal_error", "The request could not be completed.")


def unavailable() -> Response:
    return error_response(
        503,
        "edge.database_unavailable",
        "The database is not reachable; try again shortly.",
        headers={"Retry-After": "1"},
    )


async def call(request: Request, sql: str, *params: Any) -> Any:
    """One auth function in its own transaction (committed unless it raised); its value."""
    pool: AsyncConnectionPool = request.app.state.pool
    try:
        async with pool.connection(timeout=5) as conn:
            cursor = await conn.execute(sql.encode(), params)
            row = await cursor.fetchone()
    except psycopg.Error as error:
        raise BadRequest(database_error(error)) from error
    except PoolTimeout as error:
        raise BadRequest(unavailable()) from error
    return row[0] if row else None


async def json_fields(request: Request, *names: str) -> dict[str, str]:
    """The request's JSON object with each named field a string; 400/413/422 otherwise."""
    config: EdgeConfig = request.app.state.config
    refusal = csrf_refusal(request, config)
    if refusal is not None:
        raise BadRequest(refusal)
    limit = config.max_auth_body_bytes
    body = b""
    async for chunk in request.stream():
        body += chunk
        if len(body) > limit:
            raise BadRequest(
                error_response(413, "edge.body_too_large", f"The request body is larger than {limit} bytes.")
            )
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


def set_session_cookie(response: Response, config: EdgeConfig, session: dict[str, Any]) -> None:
    expires = datetime.fromisoformat(str(session["expires_at"]))
    created = datetime.fromisoformat(str(session["created_at"]))
    max_age = max(0, int((expires - created).total_seconds()))
    cookie = f"{config.cookie_name}={session['token']}; Max-Age={max_age}; Path=/; HttpOnly; SameSite=Lax"
    if config.cookie_secure:
        cookie += "; Secure"
    response.raw_headers.append((b"set-cookie", cookie.encode("latin-1")))


def clear_session_cookie(response: Response, config: EdgeConfig) -> None:
    cookie = f"{config.cookie_name}=; Max-Age=0; Path=/; HttpOnly; SameSite=Lax"
    if config.cookie_secure:
        cookie += "; Secure"
    response.raw_headers.append((b"set-cookie", cookie.encode("latin-1")))


def no_content(status: int = 204) -> Response:
    return Response(status_code=status, headers=NO_STORE)


async def signup(request: Request) -> Response:
    body = await json_fields(request, "email", "password", "display_name")
    result = await call(
        request,
        "select auth.signup(%s, %s, %s, %s::inet, %s)",
        body["email"],
        body["password"],
        body["display_name"],
        client_address(request, request.app.state.config),
        user_agent(request),
    )
    response = JSONResponse({"user": result["user"]}, status_code=201, headers=NO_STORE)
    set_session_cookie(response, request.app.state.config, result["session"])
    return response


async def login(request: Request) -> Response:
    body = await json_fields(request, "email", "password")
    result = await call(
        request,
        "select auth.login(%s, %s, %s::inet, %s)",
        body["email"],
        body["password"],
        client_address(request, request.app.state.config),
        user_agent(request),
    )
    if not result["ok"]:
        if result["code"] == "auth.rate_limited":
            return error_response(
                429,
                "auth.rate_limited",
                "Too many failed logins; try again later.",
                headers={"Retry-After": str(result["retry_after"])} | NO_STORE,
            )
        return error_response(
            401, "auth.invalid_credentials", "The email or the password is not right.", headers=NO_STORE
        )
    response = JSONResponse({"user": result["user"]}, headers=NO_STORE)
    set_session_cookie(response, request.app.state.config, result["session"])
    return response


async def logout(request: Request) -> Response:
    await json_fields(request)
    token = session_token(request)
    if token:
        await call(
            request,
            "select auth.logout(%s, %s::inet)",
            token,
            client_address(request, request.app.state.config),
        )
    response = no_content()
    clear_session_cookie(response, request.app.state.config)
    return response


async def logout_all(request: Request) -> Response:
    await json_fields(request)
    await call(
        request,
        "select auth.logout_all(%s, %s::inet)",
        session_token(request),
        client_address(request, request.app.state.config),
    )
    response = no_content()
    clear_session_cookie(response, request.app.state.config)
    return response


async def session(request: Request) -> Response:
    result = await call(request, "select auth.session_info(%s)", session_token(request))
    return JSONResponse(result, headers=NO_STORE)


async def change_password(request: Request) -> Response:
    body = await json_fields(request, "current_password", "new_password")
    await call(
        request,
        "select auth.change_password(%s, %s, %s, %s::inet)",
        session_token(request),
        body["current_password"],
        body["new_password"],
        client_address(request, request.app.state.config),
    )
    return no_content()


async def request_password_reset(request: Request) -> Response:
    body = await json_fields(request, "email")
    await call(
        request,
        "select auth.request_password_reset(%s, %s::inet)",
        body["email"],
        client_address(request, request.app.state.config),
    )
    return no_content(202)


async def confirm_password_reset(request: Request) -> Response:
    body = await json_fields(request, "token", "new_password")
    await call(
        request,
        "select auth.confirm_password_reset(%s, %s, %s::inet)",
        body["token"],
        body["new_password"],
        client_address(request, request.app.state.config),
    )
    response = no_content()
    clear_session_cookie(response, request.app.state.config)
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
