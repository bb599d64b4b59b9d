"""A local stand-in for OpenAI's chat completions endpoint, on a loopback port, that the real
`openai` SDK talks to (BLOSSOM_OPENAI_BASE_URL = its `base_url`).

It answers from recorded fixtures, tests/fixtures/llm/<request hash>.json, each holding the
request (model, messages, parameters) and the provider's answer; the hash is services.ai's, so a
request the edge makes finds the answer recorded for it. A request without a fixture is answered
500 and kept in `missing`, which the test's fixture turns into a failure naming the request.

    with FakeOpenAI() as fake:
        fake.fail_next("timeout" | "rate_limited" | "server_error" | "trickle")   # the next call only
        fake.answer_next_with(b"not json")                             # answered 200 with these bytes
        fake.answer_next_with(raw, {"Content-Encoding": "gzip"})       # … and these headers
        fake.answer_next_with(b"", {"Location": url}, status=307)      # … and this status
        fake.before_next(action)                                       # run as the next call arrives
        fake.calls                                                     # the hashes asked, in order
        fake.keys                                                      # the API keys they came with

Recording: with BLOSSOM_LLM_RECORD=1 (`./dev rerecord-llm`) every request is sent on to the real
provider with the real OPENAI_API_KEY of this process's environment (and its OPENAI_BASE_URL, if
set), and its answer written as the fixture. Only then does anything leave this machine.
"""

from __future__ import annotations

import json
import os
import threading
import time
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

from services.ai import request_hash

LLM_FIXTURES = Path(__file__).resolve().parent.parent / "fixtures" / "llm"
RECORD_VARIABLE = "BLOSSOM_LLM_RECORD"
FAILURES = ("timeout", "rate_limited", "server_error", "trickle")
# A "trickle" answer's last bytes, sent one at a time over hold_seconds: each read is quick, the
# whole answer is not.
TRICKLED_BYTES = 40
TRICKLE_HEADER = "X-Fake-Trickle"
# Answers of HTTP 200 that are no chat completion, for answer_next_with.
MALFORMED_ANSWERS = {
    "not JSON": b"not json",
    "a list": b"[1,2]",
    "null": b"null",
    "choices an object": b'{"choices":{"a":1}}',
    "usage a list": b'{"choices":[{"message":{"content":"Fine."}}],"usage":[1]}',
    "nested 100,000 deep": b"[" * 100_000 + b"]" * 100_000,
}


def fixture_path(digest: bytes, folder: Path = LLM_FIXTURES) -> Path:
    return folder / f"{digest.hex()}.json"


def recorded_request(body: dict[str, Any]) -> dict[str, Any]:
    """What identifies a request body: its model, messages and the other parameters."""
    return {
        "model": body.get("model"),
        "messages": body.get("messages"),
        "parameters": {k: v for k, v in body.items() if k not in ("model", "messages")},
    }


class FakeOpenAI:
    def __init__(
        self,
        fixtures: Path = LLM_FIXTURES,
        *,
        record: bool | None = None,
        hold_seconds: float = 5.0,
    ) -> None:
        self.fixtures = fixtures
        self.record = os.environ.get(RECORD_VARIABLE) == "1" if record is None else record
        # How long a "timeout" call keeps the client waiting (longer than its timeout).
        self.hold_seconds = hold_seconds
        self.calls: list[str] = []
        # What each call asked (model, messages, parameters), answered from a fixture or not.
        self.requests: list[dict[str, Any]] = []
        # The API keys the calls came with (the key reaches the provider, and only it).
        self.keys: set[str] = set()
        self.missing: list[str] = []
        self._failures: list[str] = []
        self._raw_answers: list[tuple[int, bytes, dict[str, str]]] = []
        self._actions: list[Callable[[], object]] = []
        self._lock = threading.Lock()
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), _handler(self))
        self._server.daemon_threads = True
        self._thread = threading.Thread(
            target=self._server.serve_forever, kwargs={"poll_interval": 0.05}, name="fake-openai", daemon=True
        )

    @property
    def base_url(self) -> str:
        host, port = self._server.server_address[:2]
        return f"http://{host!s}:{port}/v1"

    def __enter__(self) -> FakeOpenAI:
        self._thread.start()
        return self

    def __exit__(self, *_exc: object) -> None:
        self._server.shutdown()
        self._server.server_close()

    def fail_next(self, failure: str) -> None:
        if failure not in FAILURES:
            raise ValueError(f"a failure is one of {FAILURES}")
        with self._lock:
            self._failures.append(failure)

    def answer_next_with(self, raw: bytes, headers: dict[str, str] | None = None, status: int = 200) -> None:
        """The next call is answered `status` with `raw` as its body, as it is (and `headers`, such
        as a Content-Encoding or a Location): a provider's answer that is no chat completion, or
        not even JSON, or no answer at all but a redirect."""
        with self._lock:
            self._raw_answers.append((status, raw, dict(headers or {})))

    def before_next(self, action: Callable[[], object]) -> None:
        """`action` runs when the next call arrives, before it is answered: what happens while
        the provider works on a call."""
        with self._lock:
            self._actions.append(action)

    def reset(self) -> None:
        with self._lock:
            self.calls.clear()
            self.requests.clear()
            self.keys.clear()
            self.missing.clear()
            self._failures.clear()
            self._raw_answers.clear()
            self._actions.clear()

    def answer(self, body: dict[str, Any]) -> tuple[int, dict[str, str], dict[str, Any] | bytes]:
        """(status, headers, JSON body or raw bytes) for a chat completions request."""
        request = recorded_request(body)
        digest = request_hash(request["model"], request["messages"], request["parameters"])
        with self._lock:
            self.calls.append(digest.hex())
            self.requests.append(request)
            failure = self._failures.pop(0) if self._failures else None
            raw = self._raw_answers.pop(0) if self._raw_answers else None
            action = self._actions.pop(0) if self._actions else None
        if action is not None:
            action()
        if raw is not None:
            status, raw_body, headers = raw
            return status, headers, raw_body
        if failure == "timeout":
            time.sleep(self.hold_seconds)
            return 500, {}, _error("server_error", "held past the client's timeout")
        if failure == "rate_limited":
            return 429, {"Retry-After": "7"}, _error("rate_limit_exceeded", "Rate limit reached (fake).")
        if failure == "server_error":
            return 500, {}, _error("server_error", "The server had an error (fake).")
        path = fixture_path(digest, self.fixtures)
        if self.record:
            recorded = {"request": request, "response": _ask_the_provider(body)}
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(json.dumps(recorded, indent=2, ensure_ascii=False, sort_keys=True) + "\n")
        if not path.exists():
            described = f"{digest.hex()} ({json.dumps(request, ensure_ascii=False)[:2000]})"
            with self._lock:
                self.missing.append(described)
            return 500, {}, _error("fixture_missing", f"no recorded answer for request {digest.hex()}")
        response: dict[str, Any] = json.loads(path.read_text())["response"]
        return 200, ({TRICKLE_HEADER: "1"} if failure == "trickle" else {}), response


def _error(code: str, message: str) -> dict[str, Any]:
    return {"error": {"message": message, "type": code, "param": None, "code": code}}


def _ask_the_provider(body: dict[str, Any]) -> dict[str, Any]:
    """The real provider's answer to the body, with this process's own key (recording only)."""
    import openai  # here: every pytest process imports this module, and only recording needs it

    client = openai.OpenAI(max_retries=0, timeout=60)
    try:
        completion = client.chat.completions.create(**body)
    finally:
        client.close()
    answer: dict[str, Any] = completion.model_dump(mode="json", exclude_none=True)
    return answer


def _handler(fake: FakeOpenAI) -> Callable[..., BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def do_POST(self) -> None:
            length = int(self.headers.get("content-length") or 0)
            raw = self.rfile.read(length)
            if self.path.rstrip("/") != "/v1/chat/completions":
                self._send(404, {}, _error("not_found", f"the fake serves no {self.path}"))
                return
            scheme, _, key = (self.headers.get("authorization") or "").partition(" ")
            if scheme != "Bearer" or not key:
                self._send(401, {}, _error("invalid_api_key", "no key"))
                return
            with fake._lock:
                fake.keys.add(key)
            try:
                body = json.loads(raw)
            except ValueError:
                self._send(400, {}, _error("invalid_json", "the body is not JSON"))
                return
            self._send(*fake.answer(body))

        def _send(self, status: int, headers: dict[str, str], payload: dict[str, Any] | bytes) -> None:
            data = payload if isinstance(payload, bytes) else json.dumps(payload).encode()
            trickle = headers.pop(TRICKLE_HEADER, None) is not None
            try:
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                for name, value in headers.items():
                    self.send_header(name, value)
                self.end_headers()
                if not trickle:
                    self.wfile.write(data)
                    return
                self.wfile.write(data[:-TRICKLED_BYTES])
                for position in range(len(data) - TRICKLED_BYTES, len(data)):
                    self.wfile.flush()
                    time.sleep(fake.hold_seconds / TRICKLED_BYTES)
                    self.wfile.write(data[position : position + 1])
            except OSError:  # the client gave up waiting (a held call)
                pass

        def log_message(self, format: str, *args: Any) -> None:
            """Quiet: the tests say what matters."""

    return Handler
