"""edge/routes.py is the one description of the edge's own routes: the edge routes by it, and
the TypeScript client is generated from it. These tests hold it to what the edge does."""

from __future__ import annotations

import re

import pytest
from starlette.routing import Route

from codegen.config import ROOT
from edge.auth import ROUTES as AUTH_ROUTES
from edge.routes import EDGE_ERRORS, RPC_ERRORS, SPECS, RouteSpec, starlette_routes
from tests.support.http import loopback_address, request
from tests.support.stack import Stack

EDGE_CODE = re.compile(r'(?<!getLogger\()"(edge\.[a-z_]+)"')  # not a logger's name
# Codes the edge answers that no call the client makes can meet, and why.
NOT_FOR_THE_CLIENT = {
    "edge.not_ready": "answered by GET /readyz alone",
    "edge.draining": "answered by GET /readyz alone, while the edge stops",
    "edge.method_not_allowed": "the client sends each route the method its spec names",
    "edge.http_error": "a framework refusal other than 400, 404 or 405: not for a well-formed call",
}


def test_every_code_the_edges_code_answers_is_described() -> None:
    described = set(EDGE_ERRORS) | set(RPC_ERRORS) | {code for spec in SPECS for code in spec.errors}
    used = {
        code
        for path in sorted((ROOT / "edge").glob("*.py"))
        if path.name != "routes.py"
        for code in EDGE_CODE.findall(path.read_text())
    }
    assert used - described - set(NOT_FOR_THE_CLIENT) == set()
    edge_described = {code for code in described if code.startswith("edge.")}
    assert edge_described - used == set(), "a described code the edge never answers"


def test_the_auth_routes_are_the_specs() -> None:
    served = {
        (route.path, tuple(sorted(route.methods or ()))) for route in AUTH_ROUTES if isinstance(route, Route)
    }
    specified = {
        (
            spec.path,
            tuple(
                sorted({spec.method, "HEAD", "OPTIONS"} if spec.method == "GET" else {spec.method, "OPTIONS"})
            ),
        )
        for spec in SPECS
        if spec.path.startswith("/auth/")
    }
    assert served == specified


def test_a_spec_without_a_handler_stops_the_edge() -> None:
    with pytest.raises(RuntimeError, match=r"specs without a handler \['auth.login'"):
        starlette_routes("/auth/login", {})


@pytest.mark.stack
@pytest.mark.parametrize(
    "spec",
    [spec for spec in SPECS if spec.body],
    ids=lambda spec: spec.name,
)
def test_each_body_field_the_spec_names_is_one_the_route_requires(stack: Stack, spec: RouteSpec) -> None:
    """Leaving out each field in turn is refused naming that field: the spec's body is the
    route's (every field an /auth or /ext route reads is a required string: `text`, or an ID)."""
    for missing in spec.body:
        body = {name: "x" for name in spec.body if name != missing}
        reply = request(stack.edge_url, "POST", spec.path, json_body=body, source=loopback_address())
        assert reply.status == 422, reply.body
        assert reply.json()["code"] == "request.invalid_field"
        assert reply.json()["details"] == {"field": missing}
