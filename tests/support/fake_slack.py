"""A fake of the two Slack Web API methods Blossom calls (auth.test, chat.postMessage), on a
loopback port, for the real slack-sdk to talk to (BLOSSOM_SLACK_API_URL = fake.api_url).

    with FakeSlack() as slack:
        slack.add_workspace("xoxb-good", team_id="T0001", team="Acme", channels={"C0001"})
        slack.revoke("xoxb-good")                    # from now on: invalid_auth
        slack.fail_next(429, retry_after=1)         # the next call: HTTP 429 with Retry-After
        slack.fail_next(503)                        # ... then a 503
        slack.answer_next(b"[1]")                   # ... then HTTP 200 with that body, as it is
        slack.redirect_next(url, 307)               # ... then a redirect to url
        flood = slack.flood_next(64 << 20)          # ... then an answer of 64 MiB, streamed:
        flood.sent, flood.cut                        # how much went out, whether the client hung up
        slack.posts                                  # every chat.postMessage Slack accepted
        slack.posts[0].shown                         # its blocks as a reader sees them, bold in *…*

It answers as Slack does: HTTP 200 with {"ok": false, "error": …} for a refused call, and
`invalid_blocks` for blocks other than what Blossom sends (rich text: sections of text elements).
"""

from __future__ import annotations

import json
import threading
from collections import deque
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs

from ops.scratch import free_port

# What a text element of a rich_text block may say of its style.
TEXT_STYLES = frozenset({"bold", "italic", "strike", "code", "underline"})


@dataclass(frozen=True)
class Post:
    token: str
    channel: str
    text: str  # the fallback, for notifications
    mrkdwn: bool  # whether Slack reads the fallback as mrkdwn
    blocks: list[Any]

    @property
    def runs(self) -> list[tuple[str, bool]]:
        """Each text element of the rich text, and whether it is bold: a text element is shown
        as written, never read as mrkdwn."""
        return [
            (element["text"], bool(element.get("style", {}).get("bold")))
            for block in self.blocks
            for section in block["elements"]
            for element in section["elements"]
        ]

    @property
    def shown(self) -> str:
        """The rich text as a reader sees it, bold text between asterisks."""
        return "".join(f"*{text}*" if bold else text for text, bold in self.runs)


@dataclass
class Flood:
    """An answer of `size` bytes, Slack's own shape padded out, written as fast as the client takes
    it: with its Content-Length (`declared`), or without, ended by closing the connection. Records
    how much was sent and whether the client hung up first (`cut`)."""

    size: int
    declared: bool
    sent: int = 0
    cut: bool = False
    finished: threading.Event = field(default_factory=threading.Event)

    CHUNK = 64 << 10

    def write(self, handler: BaseHTTPRequestHandler) -> None:
        head = b'{"ok": true, "team_id": "T0001", "team": "Acme", "user_id": "U0BOT", "padding": "'
        tail = b'"}'
        handler.send_response(200)
        handler.send_header("Content-Type", "application/json; charset=utf-8")
        if self.declared:
            handler.send_header("Content-Length", str(self.size))
        else:
            handler.send_header("Connection", "close")
            handler.close_connection = True
        handler.end_headers()
        try:
            handler.wfile.write(head)
            self.sent = len(head)
            while self.sent < self.size - len(tail):
                chunk = b"x" * min(self.CHUNK, self.size - len(tail) - self.sent)
                handler.wfile.write(chunk)
                self.sent += len(chunk)
            handler.wfile.write(tail)
            self.sent += len(tail)
            handler.wfile.flush()
        except (BrokenPipeError, ConnectionResetError):
            self.cut = True
            handler.close_connection = True
        finally:
            self.finished.set()


@dataclass
class Workspace:
    team_id: str
    team: str
    channels: set[str] = field(default_factory=set)
    revoked: bool = False


class FakeSlack:
    def __init__(self, host: str = "127.0.0.1") -> None:
        self.host = host
        self.port = free_port()
        self.workspaces: dict[str, Workspace] = {}
        self.posts: list[Post] = []
        self.calls: list[str] = []
        # The next calls' answers, before any workspace is asked: status, body, headers.
        self._failures: deque[tuple[int, bytes | Flood, dict[str, str]]] = deque()
        self._lock = threading.Lock()
        self._server: ThreadingHTTPServer | None = None

    @property
    def api_url(self) -> str:
        return f"http://{self.host}:{self.port}/api/"

    def add_workspace(self, token: str, *, team_id: str, team: str, channels: set[str]) -> None:
        with self._lock:
            self.workspaces[token] = Workspace(team_id, team, set(channels))

    def revoke(self, token: str) -> None:
        with self._lock:
            self.workspaces[token].revoked = True

    def fail_next(self, status: int, retry_after: float | None = None) -> None:
        headers = {"Retry-After": str(retry_after)} if retry_after is not None else {}
        body = {"ok": False, "error": "ratelimited" if status == 429 else "fatal_error"}
        with self._lock:
            self._failures.append((status, json.dumps(body).encode(), headers))

    def answer_next(self, body: bytes, content_type: str = "application/json; charset=utf-8") -> None:
        """The next call is answered HTTP 200 with `body` as it is: whatever a broken Slack or a
        proxy in between might send."""
        with self._lock:
            self._failures.append((200, body, {"Content-Type": content_type}))

    def redirect_next(self, location: str, status: int = 307) -> None:
        """The next call is answered with a redirect to `location`, as a proxy in between might."""
        with self._lock:
            self._failures.append((status, b"", {"Location": location}))

    def flood_next(self, size: int, *, declared: bool = True) -> Flood:
        """The next call is answered with `size` bytes (see Flood), as a hostile or broken Slack
        might: its `sent` says how much the client made it write."""
        flood = Flood(size, declared)
        with self._lock:
            self._failures.append((200, flood, {}))
        return flood

    def posts_to(self, channel: str) -> list[Post]:
        with self._lock:
            return [post for post in self.posts if post.channel == channel]

    def __enter__(self) -> FakeSlack:
        fake = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, format: str, *args: Any) -> None:  # quiet
                pass

            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                raw = self.rfile.read(length).decode()
                if self.headers.get("Content-Type", "").startswith("application/json"):
                    arguments = json.loads(raw or "{}")
                else:
                    arguments = {key: values[-1] for key, values in parse_qs(raw).items()}
                token = self.headers.get("Authorization", "").removeprefix("Bearer ")
                status, payload, headers = fake._answer(self.path.removeprefix("/api/"), token, arguments)
                if isinstance(payload, Flood):
                    payload.write(self)
                    return
                headers = {"Content-Type": "application/json; charset=utf-8"} | headers
                self.send_response(status)
                self.send_header("Content-Length", str(len(payload)))
                for name, value in headers.items():
                    self.send_header(name, value)
                self.end_headers()
                self.wfile.write(payload)

        self._server = ThreadingHTTPServer((self.host, self.port), Handler)
        # Polled often: stopping waits for the next poll (0.5 s by default), once per test.
        threading.Thread(
            target=self._server.serve_forever, kwargs={"poll_interval": 0.05}, name="fake slack", daemon=True
        ).start()
        return self

    def __exit__(self, *_exc: object) -> None:
        assert self._server is not None
        self._server.shutdown()
        self._server.server_close()

    def _answer(
        self, method: str, token: str, arguments: dict[str, Any]
    ) -> tuple[int, bytes | Flood, dict[str, str]]:
        with self._lock:
            self.calls.append(method)
            if self._failures:
                return self._failures.popleft()
            status, body, headers = self._workspace_answer(method, token, arguments)
            return status, json.dumps(body).encode(), headers

    def _workspace_answer(
        self, method: str, token: str, arguments: dict[str, Any]
    ) -> tuple[int, dict[str, Any], dict[str, str]]:
        """What Slack answers a call when nothing was set to fail (the lock held)."""
        workspace = self.workspaces.get(token)
        if workspace is None or workspace.revoked:
            return 200, {"ok": False, "error": "invalid_auth"}, {}
        if method == "auth.test":
            return (
                200,
                {"ok": True, "team_id": workspace.team_id, "team": workspace.team, "user_id": "U0BOT"},
                {},
            )
        if method == "chat.postMessage":
            channel = str(arguments.get("channel", ""))
            if channel not in workspace.channels:
                return 200, {"ok": False, "error": "channel_not_found"}, {}
            blocks = arguments.get("blocks", [])
            if isinstance(blocks, str):  # sent as a form's field: JSON in it
                blocks = json.loads(blocks)
            if not _rich_text(blocks):
                return 200, {"ok": False, "error": "invalid_blocks"}, {}
            mrkdwn = arguments.get("mrkdwn", True) not in (False, "false", "0")
            self.posts.append(Post(token, channel, str(arguments.get("text", "")), mrkdwn, blocks))
            return 200, {"ok": True, "channel": channel, "ts": f"{len(self.posts)}.000100"}, {}
        return 200, {"ok": False, "error": "unknown_method"}, {}


def _rich_text(blocks: object) -> bool:
    """Whether `blocks` are rich_text blocks of sections of non-empty text elements, with
    styles Slack knows: what Blossom posts (Slack refuses what its schema does not allow)."""
    return isinstance(blocks, list) and all(
        isinstance(block, dict)
        and block.get("type") == "rich_text"
        and isinstance(block.get("elements"), list)
        and all(
            isinstance(section, dict)
            and section.get("type") == "rich_text_section"
            and isinstance(section.get("elements"), list)
            and all(
                isinstance(element, dict)
                and element.get("type") == "text"
                and isinstance(element.get("text"), str)
                and element["text"] != ""
                and isinstance(element.get("style", {}), dict)
                and set(element.get("style", {})) <= TEXT_STYLES
                for element in section["elements"]
            )
            for section in block["elements"]
        )
        for block in blocks
    )
