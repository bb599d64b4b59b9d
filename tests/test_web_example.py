"""The example web app (examples/web/) in a real headless Chromium against the real stack, with
cookies as a browser keeps them: one browser, one flow over two origins. The owner uses the app
on the edge's own origin (/demo/, BLOSSOM_DEMO_DIR); the invitee uses it from a second origin (a
static server on another port, the way a frontend's own dev server runs), which works because
that origin is in BLOSSOM_ALLOWED_ORIGINS (CORS with credentials, edge/cors.py); a third origin
that is not allowed cannot even sign in."""

from __future__ import annotations

import asyncio
import functools
import secrets
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest
from starlette.staticfiles import StaticFiles
from starlette.types import Message

from edge.app import demo_files
from ops.web_example import build
from tests.support.http import request
from tests.support.lazy import LazyModule
from tests.support.mailbox import messages
from tests.support.stack import Stack, make_stack

if TYPE_CHECKING:
    from playwright import sync_api
else:
    # Imported by the test, not by every process that collects this module (tests/support/lazy.py).
    sync_api = LazyModule("playwright.sync_api")

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
PASSWORD = "correct horse battery staple"
COOKIE = "blossom_session"


class _Quiet(SimpleHTTPRequestHandler):
    def log_message(self, format: str, *args: Any) -> None:
        pass


class StaticServer:
    """A folder served over HTTP on a free loopback port, in a thread: another origin."""

    def __init__(self, folder: Path) -> None:
        self.server = ThreadingHTTPServer(("127.0.0.1", 0), functools.partial(_Quiet, directory=str(folder)))
        self.origin = f"http://127.0.0.1:{self.server.server_address[1]}"
        self.thread = threading.Thread(
            target=self.server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        )

    def __enter__(self) -> StaticServer:
        self.thread.start()
        return self

    def __exit__(self, *_exc: object) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture(scope="module")
def web(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return build(tmp_path_factory.mktemp("web") / "dist")


@pytest.fixture(scope="module")
def origins(web: Path) -> Iterator[tuple[StaticServer, StaticServer]]:
    with StaticServer(web) as allowed, StaticServer(web) as refused:
        yield allowed, refused


@pytest.fixture(scope="module")
def web_stack(
    pg_server: str,
    template_database: str,
    tmp_path_factory: pytest.TempPathFactory,
    web: Path,
    origins: tuple[StaticServer, StaticServer],
) -> Iterator[Stack]:
    allowed, _refused = origins
    with make_stack(
        pg_server,
        template_database,
        tmp_path_factory.mktemp("web-stack"),
        settings={"BLOSSOM_DEMO_DIR": str(web)},
        endpoint_settings=lambda endpoints: {
            "BLOSSOM_ALLOWED_ORIGINS": f"{endpoints.edge_url} {allowed.origin}",
        },
    ) as running:
        yield running


def sign_up(page: sync_api.Page, email: str, name: str) -> None:
    page.fill("#signup [name=email]", email)
    page.fill("#signup [name=password]", PASSWORD)
    page.fill("#signup [name=display_name]", name)
    page.click("#signup button")
    sync_api.expect(page.locator("#who")).to_have_text(f"{name} <{email}>")


def sign_in(page: sync_api.Page, email: str) -> None:
    page.fill("#login [name=email]", email)
    page.fill("#login [name=password]", PASSWORD)
    page.click("#login button")
    sync_api.expect(page.locator("#signed-in")).to_be_visible()


def sign_out(page: sync_api.Page) -> None:
    page.click("#logout")
    sync_api.expect(page.locator("#signed-out")).to_be_visible()


def session_cookie(context: sync_api.BrowserContext, edge_url: str) -> dict[str, Any]:
    """The session cookie the browser keeps for the edge, as it keeps it."""
    [cookie] = [dict(c) for c in context.cookies(edge_url) if c.get("name") == COOKIE]
    return cookie


@pytest.mark.stack
def test_the_example_app_on_two_origins_in_chromium(
    web_stack: Stack, origins: tuple[StaticServer, StaticServer]
) -> None:
    if not CHROMIUM.exists():
        pytest.fail(f"{CHROMIUM} is missing: run ./dev (it installs Debian's chromium)")
    allowed, refused = origins
    edge = web_stack.edge_url
    owner_email = f"owner-{secrets.token_hex(4)}@example.com"
    invitee_email = f"invitee-{secrets.token_hex(4)}@example.com"
    org_name = f"Acme {secrets.token_hex(3)}"
    with sync_api.sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS, headless=True)
        try:
            # The owner, on the edge's own origin: sign up (no email verified by hand), create, invite.
            owner_context = browser.new_context()
            owner = owner_context.new_page()
            owner.goto(f"{edge}/demo/")
            sign_up(owner, owner_email, "Owner")
            cookie = session_cookie(owner_context, edge)
            assert cookie["httpOnly"] is True
            assert cookie["sameSite"] == "Lax"
            assert COOKIE not in owner.evaluate("document.cookie"), (
                "the page's script cannot read the session"
            )
            owner.fill("#create-org [name=name]", org_name)
            owner.click("#create-org button")
            sync_api.expect(owner.locator("#org-name")).to_have_text(org_name)
            sync_api.expect(owner.locator("#members li")).to_have_text([f"Owner <{owner_email}>: owner"])
            owner.fill("#invite [name=email]", invitee_email)
            owner.select_option("#invite [name=role]", "member")
            owner.click("#invite button")
            sync_api.expect(owner.locator("#status")).to_have_text(f"Invited {invitee_email} as member.")

            # The invitee, from a second origin: sign up, out, in again, accept the mailed token.
            invitee_context = browser.new_context()
            invitee = invitee_context.new_page()
            invitee.goto(f"{allowed.origin}/?api={edge}")
            sign_up(invitee, invitee_email, "Invitee")
            assert session_cookie(invitee_context, edge)["httpOnly"] is True
            sign_out(invitee)
            assert not [
                c for c in invitee_context.cookies(edge) if c.get("name") == COOKIE and c.get("value")
            ]
            # A refused sign-in says why, and keeps what was typed for the next try.
            invitee.fill("#login [name=email]", invitee_email)
            invitee.fill("#login [name=password]", "not the password at all")
            invitee.click("#login button")
            sync_api.expect(invitee.locator("#status")).to_contain_text("auth.invalid_credentials")
            sync_api.expect(invitee.locator("#login [name=email]")).to_have_value(invitee_email)
            sign_in(invitee, invitee_email)
            [invitation] = messages(web_stack.database_url, invitee_email, "mail.org_invitation")
            invitee.fill("#accept [name=token]", str(invitation["token"]))
            invitee.click("#accept button")
            sync_api.expect(invitee.locator("#org-name")).to_have_text(org_name)
            sync_api.expect(invitee.locator("#members li")).to_have_count(2)
            sync_api.expect(invitee.locator("#members")).to_contain_text(f"Invitee <{invitee_email}>: member")
            sign_out(invitee)

            # The owner sees the new member, then signs out.
            owner.click("#orgs button")
            sync_api.expect(owner.locator("#members li")).to_have_count(2)
            sign_out(owner)

            # An origin the edge does not allow: the browser refuses to send or read the call.
            stranger = browser.new_context().new_page()
            stranger.goto(f"{refused.origin}/?api={edge}")
            sync_api.expect(stranger.locator("#signed-out")).to_be_visible()
            sign_in_refused = stranger.locator("#status")
            stranger.fill("#login [name=email]", owner_email)
            stranger.fill("#login [name=password]", PASSWORD)
            stranger.click("#login button")
            sync_api.expect(sign_in_refused).to_contain_text("client.network")
        finally:
            browser.close()


@pytest.mark.stack
@pytest.mark.parametrize("byte_range", ["bytes=99999999-", "bytes=5-2", "pages=1-2"])
def test_a_range_of_the_demo_it_cannot_serve_is_not_refused_in_plain_text(
    web_stack: Stack, byte_range: str
) -> None:
    """Starlette's static files answered a range past the file's end 416, and a malformed one
    400, in plain text: the only answers of the edge that were not its JSON. A range is a
    request the server may ignore: the whole file is sent."""
    whole = request(web_stack.edge_url, "GET", "/demo/index.html")
    ranged = request(web_stack.edge_url, "GET", "/demo/index.html", headers={"Range": byte_range})
    assert (ranged.status, ranged.body) == (200, whole.body)
    assert ranged.header("accept-ranges") is None, "no range is offered that is not served"


class _Capturing(BaseHTTPRequestHandler):
    """Another site's server that would take the page's calls: it records each, and allows any
    origin with credentials, as a phishing server would."""

    captured: list[str]

    def _answer(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        self.captured.append(f"{self.command} {self.path} {self.rfile.read(length).decode(errors='replace')}")
        body = b'{"code": "elsewhere.took_it", "message": "Another site took the call."}'
        self.send_response(418)
        self.send_header("Access-Control-Allow-Origin", self.headers.get("Origin") or "*")
        self.send_header("Access-Control-Allow-Credentials", "true")
        self.send_header(
            "Access-Control-Allow-Headers", self.headers.get("Access-Control-Request-Headers") or "*"
        )
        self.send_header("Access-Control-Allow-Methods", "GET, POST")
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    do_GET = do_POST = do_OPTIONS = _answer

    def log_message(self, format: str, *args: Any) -> None:
        pass


@pytest.mark.stack
def test_the_demo_on_the_edges_origin_sends_nothing_to_another_site(web_stack: Stack) -> None:
    """The example app takes the edge to call from `?api=`: a link to the edge's own /demo/ with
    `?api=https://another.site` showed our page, whose sign-in form posted the email and the
    password there. The edge serves /demo/ with a Content-Security-Policy that lets the page
    connect to its own origin only (and post forms, and be framed, nowhere else)."""
    captured: list[str] = []
    handler = type("Capturing", (_Capturing,), {"captured": captured})
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    try:
        with sync_api.sync_playwright() as playwright:
            browser = playwright.chromium.launch(
                executable_path=str(CHROMIUM), args=CHROMIUM_ARGS, headless=True
            )
            try:
                page = browser.new_page()
                page.goto(f"{web_stack.edge_url}/demo/?api=http://127.0.0.1:{server.server_address[1]}")
                sync_api.expect(page.locator("#signed-out")).to_be_visible()
                page.fill("#login [name=email]", "victim@example.com")
                page.fill("#login [name=password]", PASSWORD)
                page.click("#login button")
                sync_api.expect(page.locator("#status")).not_to_have_text("")
            finally:
                browser.close()
    finally:
        server.shutdown()
        server.server_close()
    assert captured == []


def test_a_folder_of_the_demo_without_its_slash_is_redirected_on_the_edges_own_host(tmp_path: Path) -> None:
    """Starlette's static files redirect `/demo/client` to `/demo/client/` with a Location made
    from the request's Host header: a request naming another host was sent there, an open
    redirect (and a cache keyed on the path alone kept it for everyone). The Location is the
    path only, which a browser resolves against the address it asked."""
    (tmp_path / "client").mkdir()
    (tmp_path / "client" / "index.html").write_text("<!doctype html>")
    app = demo_files(StaticFiles(directory=tmp_path, html=True))
    scope = {
        "type": "http",
        "method": "GET",
        "scheme": "http",
        "server": ("127.0.0.1", 8000),
        "root_path": "/demo",
        "path": "/demo/client",
        "raw_path": b"/demo/client",
        "query_string": b"a=1",
        "headers": [(b"host", b"evil.example")],
    }
    sent: list[Message] = []

    async def receive() -> Message:
        return {"type": "http.request", "body": b"", "more_body": False}

    async def send(message: Message) -> None:
        sent.append(message)

    async def serve() -> None:
        await app(scope, receive, send)

    asyncio.run(serve())
    start = sent[0]
    assert start["status"] == 307
    locations = [value for name, value in start["headers"] if name == b"location"]
    assert locations == [b"/demo/client/?a=1"]
