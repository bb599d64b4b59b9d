"""The edge's own HTTP routes, each described once: the edge routes requests by these specs
(`starlette_routes`), and codegen writes the TypeScript client's function for each from them,
with its typed body, result and error codes.

To add a route: write its handler next to the others of its prefix (`edge/auth.py` for
`/auth/*`), add one `RouteSpec` to `SPECS` below (and a shape to `SHAPES` if it answers a new
one), and map its name to the handler where that module builds its routes
(`ROUTES = starlette_routes("/auth/", {"auth.signup": guarded(signup), ...})`, which refuses a
spec under that prefix without a handler, and a handler without a spec); a module of a new
prefix (`/ext/`) builds its `ROUTES` so too and edge/app.py adds them. Then run `just codegen`:
the client gets the route's function (`authSignup`, from the spec's name).

Types are SQL type names (`text`, `boolean`, `timestamptz`, `app.user_id` ...), mapped as the
database's own types are (an ID domain becomes its branded type), or the name of a shape of
`SHAPES`; a `?` after one means it may be null. A route's error codes are those of `EDGE_ERRORS`
(what the edge may answer to any request), those it lists, and those its database function
(`function`) can raise, as codegen reads them from the function's body. Codegen reads this module
(and nothing else of the edge). tests/test_edge_routes.py fails when an `edge.*` code the edge's
code answers is described nowhere here, or a described one is answered nowhere.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from typing import Literal

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route
from starlette.types import Receive, Scope, Send

from edge.errors import Refused, check_accepts_json, error_response, not_found

Method = Literal["GET", "POST"]
Endpoint = Callable[[Request], Awaitable[Response]]


@dataclass(frozen=True)
class RouteSpec:
    name: str  # "<group>.<action>": the client function is its camelCase (authSignup)
    method: Method
    path: str
    summary: str
    status: int  # the status of success
    body: Mapping[str, str] = field(default_factory=dict)  # JSON body field -> type
    result: str | None = None  # the shape of the answer's JSON body, or None: no body
    errors: Mapping[str, int] = field(default_factory=dict)  # code -> status, besides EDGE_ERRORS
    function: str | None = None  # the database function it calls, whose codes it answers too


# Answered by the edge to any request, whatever the route (edge/server.py, edge/limits.py,
# edge/errors.py, edge/tracing.py); tests/test_edge_routes.py checks this against the codes the
# edge's code uses.
EDGE_ERRORS: Mapping[str, int] = {
    "edge.bad_request": 400,
    "edge.not_acceptable": 406,
    "edge.request_timeout": 408,
    "edge.body_too_large": 413,
    "edge.unsupported_encoding": 415,
    "edge.too_many_requests": 429,
    "edge.too_many_connections": 429,
    "edge.headers_too_large": 431,
    "edge.internal_error": 500,
    "edge.unsupported_transfer_coding": 501,
    "edge.method_not_implemented": 501,
    "edge.overloaded": 503,
    "edge.shutting_down": 503,
    "edge.http_version_not_supported": 505,
}

# Answered by the edge's /rpc proxy itself (edge/proxy.py), besides EDGE_ERRORS and what the
# function and the pre-request raise: every RPC's error union holds them.
RPC_ERRORS: Mapping[str, int] = {
    "edge.invalid_arguments": 400,
    "edge.not_found": 404,
    "edge.method_not_allowed": 405,
    "edge.query_too_long": 414,
    "edge.bad_gateway": 502,
    "edge.database_unavailable": 503,
    "edge.upstream_busy": 503,
    "edge.upstream_unavailable": 503,
    "edge.upstream_timeout": 504,
}

# The shapes of the routes' JSON answers: field -> type.
SHAPES: Mapping[str, Mapping[str, str]] = {
    "AuthUser": {
        "id": "app.user_id",
        "email": "text",
        "display_name": "text",
        "created_at": "timestamptz",
        "email_verified": "boolean",
    },
    "AuthSignedIn": {"user": "AuthUser"},
    "AuthSessionInfo": {"user": "AuthUser", "session": "AuthSession"},
    "AuthSession": {"id": "app.session_id", "created_at": "timestamptz", "expires_at": "timestamptz"},
    # As api.get_slack_connection answers it (api.slack_connection): never the token.
    "SlackConnectionInfo": {
        "org_id": "app.org_id",
        "team_id": "text",
        "team_name": "text",
        "channel": "text",
        "connected_at": "timestamptz",
        "broken_at": "timestamptz?",
        "broken_reason": "text?",
    },
    "AiOrgSummary": {"org_id": "app.org_id", "summary": "text", "cached": "boolean"},
}

# What every /auth route that reads a JSON body may answer besides EDGE_ERRORS.
_AUTH_BODY = {
    "auth.csrf": 403,
    "request.invalid_json": 400,
    "request.invalid_field": 422,
    "edge.database_unavailable": 503,
}
_PASSWORD_WORK = {"edge.auth_busy": 503}

SPECS: tuple[RouteSpec, ...] = (
    RouteSpec(
        "auth.signup",
        "POST",
        "/auth/signup",
        "Makes an account and signs it in (sets the session and device cookies); mails a verification link.",
        201,
        body={"email": "text", "password": "text", "display_name": "text"},
        result="AuthSignedIn",
        errors={
            **_AUTH_BODY,
            **_PASSWORD_WORK,
            "auth.invalid_email": 422,
            "auth.weak_password": 422,
            "auth.invalid_display_name": 422,
            "auth.email_taken": 409,
            "auth.rate_limited": 429,
        },
        function="auth.signup",
    ),
    RouteSpec(
        "auth.login",
        "POST",
        "/auth/login",
        "Signs in (sets the session and device cookies); the browser's previous sessions are revoked.",
        200,
        body={"email": "text", "password": "text"},
        result="AuthSignedIn",
        errors={**_AUTH_BODY, **_PASSWORD_WORK, "auth.invalid_credentials": 401, "auth.rate_limited": 429},
        function="auth.login",
    ),
    RouteSpec(
        "auth.logout",
        "POST",
        "/auth/logout",
        "Revokes the session and clears its cookie.",
        204,
        errors=_AUTH_BODY,
        function="auth.logout",
    ),
    RouteSpec(
        "auth.logout_all",
        "POST",
        "/auth/logout-all",
        "Revokes every session of the signed-in user.",
        204,
        errors={**_AUTH_BODY, **_PASSWORD_WORK},
        function="auth.logout_all",
    ),
    RouteSpec(
        "auth.session",
        "GET",
        "/auth/session",
        "The signed-in user and their session.",
        200,
        result="AuthSessionInfo",
        errors={"edge.database_unavailable": 503},
        function="auth.session_info",
    ),
    RouteSpec(
        "auth.change_password",
        "POST",
        "/auth/password",
        "Changes the password; every session is revoked; this browser gets a new one and a device cookie.",
        204,
        body={"current_password": "text", "new_password": "text"},
        errors={
            **_AUTH_BODY,
            **_PASSWORD_WORK,
            "auth.invalid_credentials": 401,
            "auth.rate_limited": 429,
            "auth.weak_password": 422,
        },
        function="auth.change_password",
    ),
    RouteSpec(
        "auth.request_password_reset",
        "POST",
        "/auth/password-reset",
        "Mails a password reset link if the address has an account (always 202).",
        202,
        body={"email": "text"},
        errors={**_AUTH_BODY, "auth.rate_limited": 429},
        function="auth.request_password_reset",
    ),
    RouteSpec(
        "auth.confirm_password_reset",
        "POST",
        "/auth/password-reset/confirm",
        "Sets a new password with a mailed reset token; every session is revoked (sets the device cookie).",
        204,
        body={"token": "text", "new_password": "text"},
        errors={**_AUTH_BODY, **_PASSWORD_WORK, "auth.invalid_token": 400, "auth.weak_password": 422},
        function="auth.confirm_password_reset",
    ),
    RouteSpec(
        "auth.verify_email",
        "POST",
        "/auth/verify-email",
        "Verifies the account's email with a mailed token.",
        204,
        body={"token": "text"},
        errors={**_AUTH_BODY, "auth.invalid_token": 400},
        function="auth.verify_email",
    ),
    RouteSpec(
        "auth.resend_email_verification",
        "POST",
        "/auth/verify-email/resend",
        "Mails the signed-in account another verification link.",
        202,
        errors={**_AUTH_BODY, "auth.email_already_verified": 409, "auth.rate_limited": 429},
        function="auth.resend_email_verification",
    ),
    RouteSpec(
        "ext.slack_connect",
        "POST",
        "/ext/slack/connect",
        "Connects the organization to a Slack channel (owner, admin): the bot token is checked with Slack, "
        "then sealed and stored; connecting again replaces it.",
        200,
        body={"org_id": "app.org_id", "bot_token": "text", "channel": "text"},
        result="SlackConnectionInfo",
        errors={
            **_AUTH_BODY,
            "slack.invalid_token": 422,
            "slack.invalid_team_name": 422,
            "slack.provider_error": 502,
            "slack.unavailable": 503,
            "slack.not_configured": 503,
        },
        function="ext.slack_may_connect",
    ),
    RouteSpec(
        "ext.slack_disconnect",
        "POST",
        "/ext/slack/disconnect",
        "Forgets the organization's Slack channel and token (owner, admin).",
        204,
        body={"org_id": "app.org_id"},
        errors=_AUTH_BODY,
        function="ext.disconnect_slack",
    ),
    RouteSpec(
        "ext.ai_org_summary",
        "POST",
        "/ext/ai/org-summary",
        "A short summary of the organization's recent activity for a member, written by the AI provider; "
        "metered against the organization's monthly tokens, answered from the cache when asked again.",
        200,
        body={"org_id": "app.org_id"},
        result="AiOrgSummary",
        errors={
            **_AUTH_BODY,
            "ai.in_progress": 409,
            "ai.user_rate_limited": 429,
            "ai.quota_exceeded": 429,
            "ai.provider_error": 502,
            "ai.rate_limited": 503,
            "ai.not_configured": 503,
            "ai.timeout": 504,
        },
        function="ext.ai_org_activity",
    ),
)


def starlette_routes(prefix: str, handlers: Mapping[str, Endpoint]) -> list[Route]:
    """The routes of the specs whose path starts with `prefix`, each served by its handler; a
    spec without a handler, or a handler without a spec, is a mistake that stops the edge."""
    specs = {spec.name: spec for spec in SPECS if spec.path.startswith(prefix)}
    if set(specs) != set(handlers):
        raise RuntimeError(
            f"edge routes under {prefix}: specs without a handler {sorted(set(specs) - set(handlers))}, "
            f"handlers without a spec {sorted(set(handlers) - set(specs))}"
        )
    return [
        MethodRoute(spec.path, handlers[name], spec.method, json_only=True) for name, spec in specs.items()
    ]


class MethodRoute(Route):
    """A route of one method (and HEAD beside a GET), and OPTIONS, answered 204 with the methods
    it takes in `Allow` (RFC 9110, 9.3.7), as `/rpc/<name>` answers it (edge/proxy.py); any other
    method 405 with the same `Allow`. Starlette answered OPTIONS 405, and named the methods in a
    set's order. With `json_only`, a request whose Accept refuses JSON, the route's one type, is
    answered 406 before its work (not /metrics, whose text a scraper asks for by its own type).
    A route `shown_to` some clients alone is not found by any other, whatever the method."""

    def __init__(
        self,
        path: str,
        endpoint: Endpoint,
        method: Method,
        *,
        json_only: bool,
        shown_to: Callable[[Scope], bool] | None = None,
    ) -> None:
        super().__init__(path, endpoint, methods=[method, "OPTIONS"])
        self.allow = "GET, HEAD, OPTIONS" if method == "GET" else f"{method}, OPTIONS"
        self.json_only = json_only
        self.shown_to = shown_to

    def shown(self, scope: Scope) -> bool:
        return self.shown_to is None or self.shown_to(scope)

    async def handle(self, scope: Scope, receive: Receive, send: Send) -> None:
        method = scope["method"]
        if not self.shown(scope):
            response: Response = not_found()
        elif self.methods is not None and method not in self.methods:
            response = error_response(
                405,
                "edge.method_not_allowed",
                f"This route takes {self.allow}.",
                headers={"Allow": self.allow},
            )
        else:
            try:
                if self.json_only:
                    check_accepts_json(scope)
            except Refused as refused:
                response = refused.response
            else:
                if method != "OPTIONS":
                    await super().handle(scope, receive, send)
                    return
                response = Response(status_code=204, headers={"Allow": self.allow})
        await response(scope, receive, send)
