"""CORS with credentials for the allowed origins only (edge/cors.py), through the real edge and
PostgREST: what a frontend on its own dev server needs, and what any other origin is denied."""

from __future__ import annotations

from urllib.parse import urlsplit

import pytest

from edge.config import EdgeConfig
from ops.services import Endpoints, auth_env
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


def methods_listed(value: str | None) -> set[str]:
    return {method.strip() for method in (value or "").split(",") if method.strip()}


@pytest.mark.stack
@pytest.mark.parametrize(
    ("path", "calls"),
    [
        ("/rpc/create_organization", {"POST"}),
        ("/rpc/me", {"GET", "HEAD", "POST"}),
        ("/auth/login", {"POST"}),
        ("/auth/session", {"GET", "HEAD"}),
    ],
    ids=["writing function", "read-only function", "auth POST route", "auth GET route"],
)
def test_a_preflight_allows_the_methods_the_path_answers_and_no_other(
    stack: Stack, path: str, calls: set[str]
) -> None:
    """PostgREST runs a GET read-only, so the edge answers a GET of a function that writes 405
    (Allow: POST, OPTIONS); its preflight named GET among the methods allowed all the same. It
    names what the path answers, as that 405's Allow header does."""
    headers = {"Origin": allowed_origin(stack), "Access-Control-Request-Method": "POST"}
    preflight = request(stack.edge_url, "OPTIONS", path, headers=headers)
    assert preflight.status == 204
    allowed = methods_listed(cors_headers(preflight)["access-control-allow-methods"]) - {"OPTIONS"}
    assert allowed == calls
    for method in {"GET", "POST"} - calls:
        refused = request(stack.edge_url, method, path, json_body={} if method == "POST" else None)
        assert refused.status == 405, (method, refused.body)
        assert methods_listed(refused.header("allow")) - {"OPTIONS"} == calls


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


@pytest.mark.parametrize(
    ("given", "suggested"),
    [
        # As Vite prints its address: with the path's slash, which no Origin header carries.
        ("http://localhost:5173/", "http://localhost:5173"),
        ("http://LocalHost:5173", "http://localhost:5173"),
        ("HTTPS://app.example.com", "https://app.example.com"),
        ("https://app.example.com:443", "https://app.example.com"),
        ("http://localhost:80", "http://localhost"),
        ("http://[::1]:8000/", "http://[::1]:8000"),
        # A browser writes an IPv6 address shortest, in lower case: this one was taken as given,
        # and no Origin matched it.
        ("http://[0:0:0:0:0:0:0:1]:8000", "http://[::1]:8000"),
        ("http://[2001:DB8:0::1]", "http://[2001:db8::1]"),
        ("https://app.example.com/app", None),
        ("https://app.example.com?x=1", None),
        ("https://user@app.example.com", None),
        ("localhost:5173", None),
        ("*", None),
        ("null", None),
    ],
)
def test_an_allowed_origin_a_browser_never_sends_stops_the_edge_at_start(
    monkeypatch: pytest.MonkeyPatch, given: str, suggested: str | None
) -> None:
    """Origins are compared exactly with the browser's Origin header, which is the scheme, the
    host in lower case and a port other than the scheme's own, nothing else. Any other spelling
    was taken and matched nothing: every call of that frontend failed its preflight, a network
    error in the page (`client.network`) and nothing in the edge's log. `null`, the origin of a
    sandboxed frame or a file, would be any site's."""
    monkeypatch.setenv("BLOSSOM_ALLOWED_ORIGINS", f"http://127.0.0.1:8000 {given}")
    with pytest.raises(ValueError, match="BLOSSOM_ALLOWED_ORIGINS") as refused:
        EdgeConfig.from_env()
    assert repr(given) in str(refused.value)
    if suggested is not None:
        assert f"write {suggested}" in str(refused.value)
    with pytest.raises(ValueError, match="BLOSSOM_ALLOWED_ORIGINS"):
        auth_env(Endpoints.on_free_ports("postgresql://x@127.0.0.1/x"), {"BLOSSOM_ALLOWED_ORIGINS": given})


def test_allowed_origins_as_browsers_send_them_are_taken(monkeypatch: pytest.MonkeyPatch) -> None:
    origins = "http://127.0.0.1:8000, http://localhost:5173 https://app.example.com http://[::1]:8000 capacitor://localhost"
    monkeypatch.setenv("BLOSSOM_ALLOWED_ORIGINS", origins)
    assert EdgeConfig.from_env().allowed_origins == frozenset(origins.replace(",", "").split())


@pytest.mark.parametrize(
    "given", ["https://faß.example", "https://στοιχεῖος.example", "https://a\u200db.example"]
)
def test_an_international_host_browsers_spell_otherwise_than_python_gets_no_wrong_spelling(
    monkeypatch: pytest.MonkeyPatch, given: str
) -> None:
    """Python's IDNA (2003) writes ß as ss and a final sigma as a medial one, and drops the
    joiners, where browsers (UTS 46, non-transitional) keep each, as xn--: `write
    https://fass.example` named another domain, and the frontend that followed it failed every
    preflight. Refused, its punycode asked for as the browser's Origin header shows it, without a
    spelling of ours."""
    monkeypatch.setenv("BLOSSOM_ALLOWED_ORIGINS", given)
    with pytest.raises(ValueError, match="BLOSSOM_ALLOWED_ORIGINS") as refused:
        EdgeConfig.from_env()
    assert "write" not in str(refused.value).replace("write its", ""), refused.value
    assert "Origin header" in str(refused.value)
    monkeypatch.setenv("BLOSSOM_ALLOWED_ORIGINS", "https://xn--fa-hia.example")
    assert EdgeConfig.from_env().allowed_origins == {"https://xn--fa-hia.example"}


@pytest.mark.stack
def test_a_preflight_of_a_path_with_an_escape_allows_no_method(stack: Stack) -> None:
    """`/auth%2Flogin` names no route (its path as sent), but its preflight allowed POST, as
    `/auth/login`'s does: a page was allowed a call the edge then answers 404."""
    headers = {"Origin": allowed_origin(stack), "Access-Control-Request-Method": "POST"}
    preflight = request(stack.edge_url, "OPTIONS", "/auth%2Flogin", headers=headers)
    assert preflight.status == 204
    assert "access-control-allow-methods" not in cors_headers(preflight)
    assert request(stack.edge_url, "POST", "/auth%2Flogin", json_body={}).status == 404
