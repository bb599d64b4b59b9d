"""The edge's client address and CSRF rules, without servers."""

from __future__ import annotations

import ipaddress

import pytest
from starlette.requests import Request

from edge.config import EdgeConfig, parse_networks, session_cookie_name
from edge.security import client_address, csrf_refusal
from ops.services import Endpoints, auth_env


def make_request(
    method: str = "POST", peer: str = "127.0.0.1", headers: dict[str, str] | None = None
) -> Request:
    scope = {
        "type": "http",
        "method": method,
        "path": "/",
        "headers": [(k.lower().encode(), v.encode()) for k, v in (headers or {}).items()],
        "client": (peer, 1234),
    }
    return Request(scope)


def config(**overrides: object) -> EdgeConfig:
    base = EdgeConfig("http://p", "http://a", "postgresql://x")
    return EdgeConfig(**(base.__dict__ | overrides))


def test_the_client_is_the_peer_by_default() -> None:
    request = make_request(headers={"X-Forwarded-For": "203.0.113.7"})
    assert client_address(request, config()) == "127.0.0.1"


def test_a_trusted_proxy_names_the_client_in_the_last_forwarded_entry() -> None:
    trusted = config(trusted_proxies=(ipaddress.ip_network("10.0.0.0/8"),))
    request = make_request(peer="10.1.2.3", headers={"X-Forwarded-For": "198.51.100.1, 203.0.113.7"})
    assert client_address(request, trusted) == "203.0.113.7"
    untrusted = make_request(peer="192.0.2.9", headers={"X-Forwarded-For": "203.0.113.7"})
    assert client_address(untrusted, trusted) == "192.0.2.9"
    garbage = make_request(peer="10.1.2.3", headers={"X-Forwarded-For": "not an address"})
    assert client_address(garbage, trusted) == "10.1.2.3"


@pytest.mark.parametrize(
    ("forwarded", "client"),
    [
        ("203.0.113.7, 198.51.100.20", "203.0.113.7"),  # the CDN's client, then the CDN
        ("6.6.6.6, 203.0.113.7, 198.51.100.20", "203.0.113.7"),  # the client's own entry is not read
        ("203.0.113.7, 10.9.9.9, 198.51.100.20", "203.0.113.7"),  # three hops
        ("198.51.100.30, 198.51.100.20", "198.51.100.30"),  # every hop a proxy: the first
        ("not an address, 198.51.100.20", "198.51.100.20"),  # no address: the proxy that wrote it
    ],
)
def test_proxies_in_a_row_name_the_client_before_the_first_of_them(forwarded: str, client: str) -> None:
    """A CDN in front of a load balancer (or Google's balancer, which appends its own address
    last): the last entry was a proxy's, and every client behind them was that proxy, one client
    for the limits. The entries are read from the last, past each trusted proxy's."""
    trusted = config(
        trusted_proxies=(ipaddress.ip_network("10.0.0.0/8"), ipaddress.ip_network("198.51.100.0/24"))
    )
    request = make_request(peer="10.1.2.3", headers={"X-Forwarded-For": forwarded})
    assert client_address(request, trusted) == client


@pytest.mark.parametrize(
    ("entry", "client"),
    [
        ("203.0.113.7:50123", "203.0.113.7"),
        ("[2001:db8::7]:443", "2001:db8::7"),
        ("[2001:db8::7]", "2001:db8::7"),
        ("2001:db8::7:443", "2001:db8::7:443"),  # an IPv6 address, not one with a port
        ("not an address:80", "10.1.2.3"),
        ("203.0.113.7:", "10.1.2.3"),
        ("[203.0.113.7:80]", "10.1.2.3"),
    ],
)
def test_a_forwarded_address_with_a_port_is_the_address(entry: str, client: str) -> None:
    """Some proxies write the client's port after its address (Azure's Application Gateway:
    `IP:port`). Read as no address, each such request was the proxy's own: every client behind
    it one client, whose per-address limits (20 sign-ups an hour, 100 failed logins in 15
    minutes, 32 requests under way at the edge) one of them could spend for everyone."""
    trusted = config(trusted_proxies=(ipaddress.ip_network("10.0.0.0/8"),))
    request = make_request(peer="10.1.2.3", headers={"X-Forwarded-For": f"198.51.100.1, {entry}"})
    assert client_address(request, trusted) == client


@pytest.mark.parametrize(
    ("peer", "forwarded", "client"),
    [
        ("10.1.2.3", "203.0.113.7, ::ffff:10.9.9.9", "203.0.113.7"),  # an inner hop's, dual-stack
        ("::ffff:10.1.2.3", "203.0.113.7", "203.0.113.7"),  # the proxy's connection, dual-stack
    ],
)
def test_a_trusted_proxy_written_as_an_ipv4_mapped_address_is_trusted(
    peer: str, forwarded: str, client: str
) -> None:
    """A hop that listens on IPv6 and IPv4 at once writes an IPv4 peer as ::ffff:a.b.c.d. Such a
    proxy was taken for the client: everyone behind it one client, whose per-address limits (20
    password resets an hour) one of them could spend for all, and the audit trail named the proxy."""
    trusted = config(trusted_proxies=(ipaddress.ip_network("10.0.0.0/8"),))
    request = make_request(peer=peer, headers={"X-Forwarded-For": forwarded})
    assert client_address(request, trusted) == client
    mapped = config(trusted_proxies=parse_networks("::ffff:10.0.0.0/104"))  # written so
    assert client_address(request, mapped) == client


def test_a_forwarded_address_with_a_zone_is_the_address_without_it() -> None:
    """A link-local IPv6 address may carry its zone (`fe80::1%eth0`), which Postgres's inet does
    not take: the client's address went to the database so, and the request failed there (500)."""
    trusted = config(trusted_proxies=(ipaddress.ip_network("10.0.0.0/8"),))
    request = make_request(peer="10.1.2.3", headers={"X-Forwarded-For": "fe80::1%eth0"})
    assert client_address(request, trusted) == "fe80::1"


def test_csrf_allows_reads_and_json_from_allowed_origins() -> None:
    allowed = config(allowed_origins=frozenset({"https://app.example.com"}))
    assert csrf_refusal(make_request("GET", headers={"Origin": "https://evil.example"}), allowed) is None
    json_post = make_request(
        headers={"Content-Type": "application/json", "Origin": "https://app.example.com"}
    )
    assert csrf_refusal(json_post, allowed) is None
    assert csrf_refusal(make_request(headers={"Content-Type": "application/json"}), allowed) is None


def test_csrf_refuses_other_origins_cross_site_and_non_json() -> None:
    allowed = config(allowed_origins=frozenset({"https://app.example.com"}))
    cases = [
        {"Content-Type": "application/json", "Origin": "https://evil.example"},
        {"Content-Type": "application/json", "Sec-Fetch-Site": "cross-site"},
        {"Content-Type": "text/plain"},
        {},
    ]
    for headers in cases:
        refusal = csrf_refusal(make_request(headers=headers), allowed)
        assert refusal is not None
        assert refusal.status_code == 403


def test_the_cookie_is_secure_unless_local_development_says_otherwise(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.delenv("BLOSSOM_COOKIE_INSECURE", raising=False)
    assert EdgeConfig.from_env().cookie_secure
    monkeypatch.setenv("BLOSSOM_COOKIE_INSECURE", "1")
    assert not EdgeConfig.from_env().cookie_secure
    monkeypatch.setenv("BLOSSOM_COOKIE_INSECURE", "0")
    assert EdgeConfig.from_env().cookie_secure


@pytest.mark.parametrize("value", ["true", "yes", "on", "2"])
def test_a_cookie_setting_neither_1_nor_0_is_refused(monkeypatch: pytest.MonkeyPatch, value: str) -> None:
    """Only 1 counted: `true` left the cookies Secure without a word, and on plain HTTP no
    browser kept them (a sign-in that did not stay signed in)."""
    monkeypatch.setenv("BLOSSOM_COOKIE_INSECURE", value)
    with pytest.raises(ValueError, match="BLOSSOM_COOKIE_INSECURE must be 1"):
        EdgeConfig.from_env()
    with pytest.raises(ValueError, match="BLOSSOM_COOKIE_INSECURE must be 1"):
        auth_env(Endpoints.on_free_ports("postgresql://x@127.0.0.1:1/db"), {"BLOSSOM_COOKIE_INSECURE": value})


def test_the_cookie_name_is_given_without_the_host_prefix_which_secure_adds() -> None:
    """The pre-request names the cookie by the same rule (auth.session_cookie_name): the prefix
    added, never taken off, so a name that carries it already is refused before anything starts.
    So is a prefix that browsers read in any case (__host-, __Secure-): without Secure they drop
    such a cookie, and no session ever worked."""
    assert session_cookie_name("", secure=True) == "__Host-blossom_session"
    assert session_cookie_name("", secure=False) == "blossom_session"
    assert session_cookie_name("custom", secure=True) == "__Host-custom"
    for secure in (True, False):
        for name in ("__Host-custom", "__host-custom", "__HOST-custom", "__Secure-custom", "__secure-custom"):
            with pytest.raises(ValueError, match="without a __Host- or __Secure- prefix"):
                session_cookie_name(name, secure=secure)
