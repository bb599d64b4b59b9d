"""One way to log, for every process of ours (the edge, the worker, the pipeline): JSON lines on
stdout, and the request they belong to.

Each line is one JSON object: `time` (UTC, ISO 8601), `level`, `process`, `event` (what
happened, in words), and when known `request_id`, `user_id`, `org_id`, then any fields the
caller passed as `extra={"fields": {...}}` (route, status, duration_ms, ...).

The request id, user id and org id live in context variables: set once where a request or a
job starts (`bind`), they reach every line logged while it runs, the tasks it starts, and the
database: `blossom_db.database` sets `app.request_id` and `application_name` from the request id
in each transaction, so that audit events, outbox rows and Postgres's own log lines carry it.

What is logged is ours to choose: a route and a status, never a body, a cookie, a query string
or a header's value (a test sends secrets through every route and reads every log).
"""

from __future__ import annotations

import io
import json
import logging
import re
import secrets
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager, nullcontext
from contextvars import ContextVar
from datetime import UTC, datetime
from typing import Any

# What a request id may look like: taken from a trusted proxy only when it does, so that it is
# safe in a log line, in a header and in Postgres's application_name (at most 63 bytes).
REQUEST_ID_SHAPE = re.compile(r"[A-Za-z0-9._:/+=-]{1,63}")

request_id: ContextVar[str | None] = ContextVar("request_id", default=None)
user_id: ContextVar[str | None] = ContextVar("user_id", default=None)
org_id: ContextVar[str | None] = ContextVar("org_id", default=None)


def new_request_id() -> str:
    """A fresh request id: 128 random bits in hex."""
    return secrets.token_hex(16)


def valid_request_id(value: str | None) -> str | None:
    """`value` when it has a request id's shape, else None."""
    return value if value is not None and REQUEST_ID_SHAPE.fullmatch(value) else None


@contextmanager
def bind(*, request: str | None = None, user: str | None = None, org: str | None = None) -> Iterator[None]:
    """Within the block, log lines (and database transactions) carry these ids."""
    tokens = [
        (variable, variable.set(value))
        for variable, value in ((request_id, request), (user_id, user), (org_id, org))
        if value is not None
    ]
    try:
        yield
    finally:
        for variable, token in reversed(tokens):
            variable.reset(token)


# One encoder for every line: json.dumps with options of its own builds a new one per call.
ENCODER = json.JSONEncoder(default=str, ensure_ascii=False)
# Escapes a character as JSON does with ensure_ascii (`"\u009b"`, a pair of surrogates past U+FFFF).
_ESCAPED = json.JSONEncoder(ensure_ascii=True)


def encoded(line: dict[str, Any]) -> str:
    """A line as JSON, with every character Python does not call printable escaped, as
    ensure_ascii would escape it: JSON escapes the C0 controls alone, and a line carries what
    clients chose (the path they asked for), which reached every terminal and reader of the log
    as written. A C1 control is a terminal's escape (U+009B is CSI: the screen cleared, the
    cursor moved, a line rewritten), a bidi override turns what follows around, and U+2028 ends
    a line for str.splitlines and other readers. Each of them stands only in a JSON string (the
    rest of a line is ASCII), where its escape is the same text."""
    text = ENCODER.encode(line)
    if text.isprintable():
        return text
    return "".join(char if char.isprintable() else _ESCAPED.encode(char)[1:-1] for char in text)


class JsonLines(logging.Formatter):
    """A record as one JSON object on one line (see the module's docstring)."""

    def __init__(self, process: str) -> None:
        super().__init__()
        self.process = process

    def line(self, created: float, level: str, logger: str, event: str, fields: object) -> dict[str, Any]:
        line: dict[str, Any] = {
            "time": datetime.fromtimestamp(created, UTC).isoformat(timespec="milliseconds"),
            "level": level,
            "process": self.process,
            "logger": logger,
            "event": event,
        }
        for name, variable in (("request_id", request_id), ("user_id", user_id), ("org_id", org_id)):
            value = variable.get()
            if value is not None:
                line[name] = value
        if isinstance(fields, dict):
            line.update(fields)
        return line

    def format(self, record: logging.LogRecord) -> str:
        line = self.line(
            record.created,
            record.levelname.lower(),
            record.name,
            record.getMessage(),
            getattr(record, "fields", None),
        )
        if record.exc_info:
            line["error"] = self.formatException(record.exc_info)
        return encoded(line)


def info(logger: logging.Logger, event: str, fields: dict[str, Any]) -> None:
    """`logger.info(event, extra={"fields": fields})`, written straight to our handler: for the
    line the edge logs per request, where making a LogRecord and passing it through logging's
    machinery cost several times what the line itself does (bench/proxy.py)."""
    if not logger.isEnabledFor(logging.INFO):
        return
    handler, formatter, handlers = _direct_handler, _direct_formatter, logging.root.handlers
    if (
        formatter is not None
        and len(handlers) == 1
        and handlers[0] is handler
        and handler.formatter is formatter
    ):
        handler.write(encoded(formatter.line(time.time(), "info", logger.name, event, fields)))
        return
    logger.info(event, extra={"fields": fields})


class BatchedStdout(logging.StreamHandler[io.TextIOWrapper]):
    """Lines to stdout through a buffer of our own, written out every FLUSH_SECONDS (by a
    thread), at once for a warning or worse, and by `flush()`: a busy edge logs a line per
    request, and a system call per line cost it a fifth of its throughput (bench/proxy.py)."""

    FLUSH_SECONDS = 0.2

    def __init__(self) -> None:
        binary = io.BufferedWriter(io.FileIO(sys.stdout.fileno(), "w", closefd=False), 1 << 16)
        super().__init__(io.TextIOWrapper(binary, encoding="utf-8", errors="backslashreplace"))
        threading.Thread(target=self._flush_often, name="log flush", daemon=True).start()

    def emit(self, record: logging.LogRecord) -> None:
        try:
            self.write(self.format(record), flush=record.levelno >= logging.WARNING)
        except Exception:  # noqa: BLE001 - as logging's own handlers: report, never raise
            self.handleError(record)

    def write(self, line: str, *, flush: bool = False) -> None:
        with self.lock or nullcontext():
            self.stream.write(line + "\n")
            if flush:
                self.stream.flush()

    def _flush_often(self) -> None:
        while True:
            time.sleep(self.FLUSH_SECONDS)
            self.flush()


def configure(process: str, level: int = logging.INFO) -> None:
    """Every logger of the process writes JSON lines to stdout, at `level` and above."""
    # What a line does not show is not gathered for it: the caller's file and line (a walk up
    # the stack), the thread, the process (the logging documentation's own advice). The edge
    # logs a line per request, and these took a third of the time that line cost.
    logging._srcfile = None
    logging.logThreads = False
    logging.logProcesses = False
    logging.logMultiprocessing = False
    global _direct_handler, _direct_formatter
    handler = BatchedStdout()
    formatter = JsonLines(process)
    handler.setFormatter(formatter)
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level)
    _direct_handler, _direct_formatter = handler, formatter


# What `info` writes to without logging's machinery: configure's handler, while it is the root
# logger's only one and keeps its formatter.
_direct_handler: BatchedStdout | None = None
_direct_formatter: JsonLines | None = None


def flush() -> None:
    """Writes out what is buffered: before a process ends by a signal, which runs no atexit."""
    for handler in logging.getLogger().handlers:
        handler.flush()
