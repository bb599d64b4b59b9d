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

import json
import logging
import re
import secrets
import sys
from collections.abc import Iterator
from contextlib import contextmanager
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


class JsonLines(logging.Formatter):
    """A record as one JSON object on one line (see the module's docstring)."""

    def __init__(self, process: str) -> None:
        super().__init__()
        self.process = process

    def format(self, record: logging.LogRecord) -> str:
        line: dict[str, Any] = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname.lower(),
            "process": self.process,
            "logger": record.name,
            "event": record.getMessage(),
        }
        for name, variable in (("request_id", request_id), ("user_id", user_id), ("org_id", org_id)):
            value = variable.get()
            if value is not None:
                line[name] = value
        fields = getattr(record, "fields", None)
        if isinstance(fields, dict):
            line.update(fields)
        if record.exc_info:
            line["error"] = self.formatException(record.exc_info)
        return json.dumps(line, default=str, ensure_ascii=False)


def configure(process: str, level: int = logging.INFO) -> None:
    """Every logger of the process writes JSON lines to stdout, at `level` and above."""
    handler = logging.StreamHandler(sys.stdout)
    handler.setFormatter(JsonLines(process))
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level)
