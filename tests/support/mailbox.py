"""A test mailbox over HTTP: the messages waiting in app.outbox, for tests that cannot reach
Postgres themselves (the Node end-to-end tests), read with psycopg as the admin.

    GET /messages?to=<address>&topic=<topic>  ->  200 [payload, ...] newest first

The test stacks run no worker, so a mailed token (an invitation, a password reset) stays in the
outbox, where these tests find it; the worker's own tests (tests/test_worker.py, test_up.py)
read a real SMTP server.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit

import psycopg


def messages(database_url: str, to: str, topic: str) -> list[Any]:
    """The payloads of the outbox messages of `topic` addressed to `to`, newest first."""
    with psycopg.connect(database_url) as conn:
        rows = conn.execute(
            "select payload from app.outbox where topic = %s and lower(payload->>'to') = lower(%s)"
            " order by created_at desc, id desc",
            (topic, to),
        ).fetchall()
    return [payload for (payload,) in rows]


@contextmanager
def mailbox(database_url: str) -> Iterator[str]:
    """Serves `messages` on a free loopback port while the block runs; yields its base URL."""

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            url = urlsplit(self.path)
            query = {name: values[-1] for name, values in parse_qs(url.query).items()}
            if url.path != "/messages" or not query.get("to") or not query.get("topic"):
                self.answer(400, {"error": "GET /messages?to=<address>&topic=<topic>"})
                return
            self.answer(200, messages(database_url, query["to"], query["topic"]))

        def answer(self, status: int, body: object) -> None:
            data = json.dumps(body).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def log_message(self, format: str, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(
        target=server.serve_forever, kwargs={"poll_interval": 0.05}, name="test-mailbox", daemon=True
    )
    thread.start()
    try:
        host, port = server.server_address[:2]
        yield f"http://{host!s}:{port}"
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)
