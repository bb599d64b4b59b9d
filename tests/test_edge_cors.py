"""CORS with credentials for the allowed origins only (edge/cors.py), through the real edge and
PostgREST: what a frontend on its own dev server needs, and what any other origin is denied."""

from __future__ import annotations

from urllib.parse import urlsplit

import pytest

from tests.support.http import Reply, request
from tests.support.stack import Stack

STRANGER = "http://127.0.0.9:5173"


def allowed_origin(stack: Stack) -> str:
    """An origin the local stack allows besides the edge's own (ops/services.py): localhost."""
    return f"http://localhost:{urlsplit(stack.edge_url).port}"


def cors_headers(reply: Reply) -> dict[str, str]:
    return {
        name.lower(): value for name, value in reply.headers if name.lower().startswith("access-control-")
    }


@pytest.mark.stack
@pytest.mark.parametrize("path", ["/rpc/create_organization", "/auth/login"])
def test_a_preflight_from_an_allowed_origin_is_answered_with_credentials(stack: Stack, path: str) -> None:
    origin = allowed_origin(stack)
    headers = {"Origin": origin, "Access-Control-Request-Method": "POST"}
    reply = request(
        stack.edge_url, "OPTIONS", path, headers=headers | {"Access-Control-Request-Headers": "content-type"}
    )
    assert reply.status == 204
    cors = cors_headers(reply)
    assert cors["access-control-allow-origin"] == origin
    assert cors["access-control-allow-credentials"] == "true"
    assert "POST" in cors["access-control-allow-methods"]
    assert "Content-Type" in cors["access-control-allow-headers"]


@pytest.mark.stack
def test_a_preflight_from_another_origin_gets_no_permission(stack: Stack) -> None:
    headers = {"Origin": STRANGER, "Access-Control-Request-Method": "POST"}
    reply = request(stack.edge_url, "OPTIONS", "/rpc/create_organization", headers=headers)
    assert reply.status == 204
    assert cors_headers(reply) == {}


@pytest.mark.stack
def test_answers_name_the_allowed_origin_and_nothing_for_another(stack: Stack) -> None:
    """PostgREST's own CORS headers (any origin) never get through: the edge decides."""
    origin = allowed_origin(stack)
    allowed = request(stack.edge_url, "GET", "/rpc/me", headers={"Origin": origin})
    assert allowed.status == 401
    cors = cors_headers(allowed)
    assert cors["access-control-allow-origin"] == origin
    assert cors["access-control-allow-credentials"] == "true"
    exposed = {name.strip().lower() for name in cors["access-control-expose-headers"].split(",")}
    # The retry hint, and the request's id, which a page shows with an error for support to find.
    assert {"retry-after", "x-request-id"} <= exposed
    assert "Origin" in (allowed.header("vary") or "")
    stranger = request(stack.edge_url, "GET", "/rpc/me", headers={"Origin": STRANGER})
    assert stranger.status == 401
    assert cors_headers(stranger) == {}
    no_origin = request(stack.edge_url, "GET", "/healthz")
    assert cors_headers(no_origin) == {}
