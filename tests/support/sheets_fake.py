"""A local fake of the Google Sheets v4 endpoints services/sheets.py uses, and of Google's OAuth
token endpoint, on a real HTTP server (pytest-httpserver) on loopback: gspread and google-auth run
unchanged against it.

  POST /token                                   a service account's signed JWT → an access token
  GET  /v4/spreadsheets/{key}                   the spreadsheet's metadata (its worksheets)
  POST /v4/spreadsheets/{key}:batchUpdate       addSheet, deleteSheet, updateSheetProperties,
                                                updateCells, copyPaste

As Google, it refuses a request of more than 10 MiB (400, "Request payload size exceeds the
limit: 10485760 bytes."), and a grid of no more rows (or columns) than a person froze (400, "Sorry,
it is not possible to delete all non-frozen rows.": `freeze` freezes them).

The token endpoint checks the assertion's RS256 signature against the service account's public
key, and the Sheets endpoints the bearer token it issued. A test can make the next requests fail
(`fail_next`: a status, with headers), answer late (`delay`), answer anything at all
(`answer_next`: any status, headers and body, as they are, to the next requests or to those of
one path), or write an answer piece by piece (`stream_next`: a byte at a time every so often, or
as fast as the client takes it; its Stream says how much went out, and whether the client hung
up first).
"""

from __future__ import annotations

import base64
import functools
import json
import re
import secrets
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding, rsa
from pytest_httpserver import HTTPServer
from werkzeug import Request, Response

GOOGLE_TOKEN_AUDIENCE = "https://oauth2.googleapis.com/token"
SPREADSHEET_PATH = re.compile(r"^/v4/spreadsheets/([A-Za-z0-9_-]+)(:batchUpdate)?$")
# Google's bound on a request's body.
LARGEST_REQUEST_BYTES = 10 << 20


@dataclass
class Worksheet:
    sheet_id: int
    title: str
    rows: int = 1000
    columns: int = 26
    # The cells' entered values, row by row ('' for an empty cell).
    cells: list[list[Any]] = field(default_factory=list)
    # The rows and columns a person froze (View > Freeze), which stay in view as the rest scrolls.
    frozen_rows: int = 0
    frozen_columns: int = 0

    def properties(self, index: int) -> dict[str, Any]:
        grid = {"rowCount": self.rows, "columnCount": self.columns}
        # As Google answers: a count of none is left out.
        if self.frozen_rows:
            grid["frozenRowCount"] = self.frozen_rows
        if self.frozen_columns:
            grid["frozenColumnCount"] = self.frozen_columns
        return {
            "sheetId": self.sheet_id,
            "title": self.title,
            "index": index,
            "sheetType": "GRID",
            "gridProperties": grid,
        }


@dataclass
class Failure:
    status: int
    headers: dict[str, str]


@dataclass
class Stream:
    """An answer's body written `piece` bytes at a time, `interval` seconds apart. `sent` is how
    much of it went out; `cut`, whether the client hung up before the end (`finished` is set once
    the writing is over, one way or the other)."""

    body: bytes
    piece: int
    interval: float
    sent: int = 0
    cut: bool = False
    finished: threading.Event = field(default_factory=threading.Event)

    def pieces(self) -> Iterator[bytes]:
        view = memoryview(self.body)
        try:
            for start in range(0, len(view), self.piece):
                if self.interval:
                    time.sleep(self.interval)
                yield bytes(view[start : start + self.piece])
                self.sent = min(start + self.piece, len(view))  # written: the server asks for more
        finally:  # the end, or the server gave up writing (the client hung up)
            self.cut = self.sent < len(view)
            self.finished.set()


@dataclass
class Answer:
    """What the test has the next request whose path ends with `path` answered, as it is."""

    status: int
    headers: dict[str, str]
    body: bytes | Stream
    path: str = ""


@functools.cache
def service_account_key() -> rsa.RSAPrivateKey:
    """The fake service account's key, made once a process: a 2048-bit key took 0.15 s of CPU
    to make, as long as all else a test of the fake does."""
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


class FakeSheets:
    def __init__(self, server: HTTPServer, key_file: Path) -> None:
        self.server = server
        self.spreadsheets: dict[str, list[Worksheet]] = {}
        self.tokens: set[str] = set()
        self.requests: list[str] = []  # "METHOD /path", in order (the token endpoint's too)
        self.delay = 0.0
        self._failures: list[Failure] = []
        self._answers: list[Answer] = []
        self._private_key = service_account_key()
        self.key_file = key_file
        key_file.write_text(json.dumps(self.service_account()))
        server.expect_request(re.compile(".*")).respond_with_handler(self._handle)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server.port}"

    def service_account(self) -> dict[str, str]:
        """A service account's JSON key file, as Google makes them, whose token_uri is ours."""
        pem = self._private_key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        ).decode()
        return {
            "type": "service_account",
            "project_id": "blossom-test",
            "private_key_id": "key-1",
            "private_key": pem,
            "client_email": "pipeline@blossom-test.iam.gserviceaccount.com",
            "client_id": "1",
            "token_uri": f"{self.url}/token",
        }

    def add_spreadsheet(self, key: str, *titles: str) -> None:
        self.spreadsheets[key] = [
            Worksheet(sheet_id=index + 1, title=title) for index, title in enumerate(titles)
        ]

    def freeze(self, key: str, title: str, rows: int = 0, columns: int = 0) -> None:
        """A person freezes the worksheet's first rows and columns (its header, to scroll or filter)."""
        sheet = self._worksheet(key, title)
        sheet.frozen_rows, sheet.frozen_columns = rows, columns

    def frozen(self, key: str, title: str) -> tuple[int, int]:
        """The worksheet's frozen rows and columns."""
        sheet = self._worksheet(key, title)
        return sheet.frozen_rows, sheet.frozen_columns

    def _worksheet(self, key: str, title: str) -> Worksheet:
        return next(sheet for sheet in self.spreadsheets[key] if sheet.title == title)

    def values(self, key: str, title: str) -> list[list[Any]]:
        """The worksheet's cells, as a person would read them."""
        return [list(row) for row in self._worksheet(key, title).cells]

    def metadata(self, key: str) -> dict[str, Any]:
        """The spreadsheet's metadata, as GET /v4/spreadsheets/{key} answers it."""
        return {"spreadsheetId": key, "properties": {"title": key}, "sheets": self._sheets(key)}

    def fail_next(self, status: int, times: int = 1, headers: dict[str, str] | None = None) -> None:
        self._failures.extend(Failure(status, headers or {}) for _ in range(times))

    def answer_next(
        self,
        body: bytes,
        *,
        status: int = 200,
        headers: dict[str, str] | None = None,
        path: str = "",
        times: int = 1,
    ) -> None:
        """The next `times` requests whose path ends with `path` (any, by default) are answered
        `status`, `headers` and `body` as they are: whatever a broken Google or a proxy in between
        might send. JSON unless the headers say otherwise."""
        headers = {"Content-Type": "application/json; charset=UTF-8"} | (headers or {})
        self._answers.extend(Answer(status, headers, body, path) for _ in range(times))

    def stream_next(
        self,
        body: bytes,
        *,
        piece: int = 64 << 10,
        interval: float = 0.0,
        declared: bool = True,
        path: str = "",
    ) -> Stream:
        """The next request whose path ends with `path` is answered 200 with `body`, written `piece`
        bytes at a time, `interval` seconds apart; with its Content-Length when `declared`, else
        ended by closing the connection."""
        stream = Stream(body, piece, interval)
        headers = {"Content-Type": "application/json; charset=UTF-8"}
        if declared:
            headers["Content-Length"] = str(len(body))
        self._answers.append(Answer(200, headers, stream, path))
        return stream

    # The server's side.

    def _handle(self, request: Request) -> Response:
        self.requests.append(f"{request.method} {request.path}")
        if self.delay:
            time.sleep(self.delay)
        answer = next((a for a in self._answers if request.path.endswith(a.path)), None)
        if answer is not None:
            self._answers.remove(answer)
            if isinstance(answer.body, Stream):
                return Response(answer.body.pieces(), status=answer.status, headers=answer.headers)
            response = Response(answer.body, status=answer.status)
            response.headers.update(answer.headers)  # a Content-Length of the test's, however wrong
            return response
        if self._failures:
            failure = self._failures.pop(0)
            return _error(failure.status, "injected by the test", failure.headers)
        if (request.content_length or 0) > LARGEST_REQUEST_BYTES:
            return _error(400, f"Request payload size exceeds the limit: {LARGEST_REQUEST_BYTES} bytes.")
        if request.path == "/token" and request.method == "POST":
            return self._token(request)
        if request.headers.get("Authorization", "").removeprefix("Bearer ") not in self.tokens:
            return _error(401, "Request had invalid authentication credentials.")
        found = SPREADSHEET_PATH.match(request.path)
        if not found or found.group(1) not in self.spreadsheets:
            return _error(404, "Requested entity was not found.")
        key = found.group(1)
        if request.method == "GET" and not found.group(2):
            return _json(self.metadata(key))
        if request.method == "POST" and found.group(2):
            return self._batch_update(key, request.get_json())
        return _error(405, "Method not allowed.")

    def _token(self, request: Request) -> Response:
        if request.form.get("grant_type") != "urn:ietf:params:oauth:grant-type:jwt-bearer":
            return _json({"error": "unsupported_grant_type"}, 400)
        try:
            header, payload, signature = request.form["assertion"].split(".")
            self._private_key.public_key().verify(
                _unb64(signature), f"{header}.{payload}".encode(), padding.PKCS1v15(), hashes.SHA256()
            )
            claims = json.loads(_unb64(payload))
        except (KeyError, ValueError, InvalidSignature):
            return _json({"error": "invalid_grant", "error_description": "Invalid JWT Signature."}, 400)
        # google-auth signs for Google's own token endpoint, wherever it posts the assertion.
        if claims.get("aud") != GOOGLE_TOKEN_AUDIENCE or "spreadsheets" not in claims.get("scope", ""):
            return _json({"error": "invalid_grant", "error_description": "Invalid audience or scope."}, 400)
        token = secrets.token_urlsafe(16)
        self.tokens.add(token)
        return _json({"access_token": token, "expires_in": 3600, "token_type": "Bearer"})

    def _sheets(self, key: str) -> list[dict[str, Any]]:
        return [{"properties": sheet.properties(index)} for index, sheet in enumerate(self.spreadsheets[key])]

    def _batch_update(self, key: str, body: Any) -> Response:
        sheets = self.spreadsheets[key]
        replies: list[dict[str, Any]] = []
        changed = [replace(s, cells=[list(r) for r in s.cells]) for s in sheets]
        by_id = {sheet.sheet_id: sheet for sheet in changed}
        for item in body.get("requests", []):
            (kind, request), *_ = item.items()
            if kind == "addSheet":
                grid = request["properties"].get("gridProperties", {})
                sheet = Worksheet(
                    max(by_id, default=0) + 1,
                    request["properties"]["title"],
                    grid.get("rowCount", 1000),
                    grid.get("columnCount", 26),
                )
                changed.append(sheet)
                by_id[sheet.sheet_id] = sheet
                replies.append({"addSheet": {"properties": sheet.properties(len(changed) - 1)}})
                continue
            if kind == "deleteSheet":
                if request["sheetId"] not in by_id:
                    return _error(400, f"No grid with id: {request['sheetId']}")
                changed.remove(by_id.pop(request["sheetId"]))
                replies.append({})
                continue
            if kind == "copyPaste":
                source, destination = request["source"], request["destination"]
                if source.get("sheetId") not in by_id or destination.get("sheetId") not in by_id:
                    return _error(400, "No grid with id.")
                copied = [
                    row[source.get("startColumnIndex", 0) : source.get("endColumnIndex")]
                    for row in by_id[source["sheetId"]].cells[
                        source.get("startRowIndex", 0) : source.get("endRowIndex")
                    ]
                ]
                if not _written(by_id[destination["sheetId"]], destination.get("startRowIndex", 0), copied):
                    return _error(400, "Range exceeds grid limits.")
                replies.append({})
                continue
            sheet_id = (request.get("properties") or request.get("range") or request.get("start") or {}).get(
                "sheetId"
            )
            if sheet_id not in by_id:
                return _error(400, f"No grid with id: {sheet_id}")
            sheet = by_id[sheet_id]
            if kind == "updateSheetProperties":
                grid = request["properties"]["gridProperties"]
                for count, frozen, what in (
                    (grid["rowCount"], sheet.frozen_rows, "rows"),
                    (grid["columnCount"], sheet.frozen_columns, "columns"),
                ):
                    if frozen and count <= frozen:
                        return _error(
                            400,
                            f"Invalid requests[{len(replies)}].updateSheetProperties:"
                            f" Sorry, it is not possible to delete all non-frozen {what}.",
                        )
                sheet.rows, sheet.columns = grid["rowCount"], grid["columnCount"]
                sheet.cells = [row[: sheet.columns] for row in sheet.cells[: sheet.rows]]
            elif kind == "updateCells" and "range" in request:
                sheet.cells = []
            elif kind == "updateCells":
                rows = [[_entered(value) for value in row["values"]] for row in request["rows"]]
                if not _written(sheet, request["start"].get("rowIndex", 0), rows):
                    return _error(400, "Range exceeds grid limits.")
            else:
                return _error(400, f"Unknown request {kind}.")
            replies.append({})
        # All or nothing, as Sheets applies a batch.
        self.spreadsheets[key] = changed
        return _json({"spreadsheetId": key, "replies": replies})


def _written(sheet: Worksheet, first: int, rows: list[list[Any]]) -> bool:
    """`rows` written over the sheet's from row `first` (column A on); false, and nothing
    written, when they do not fit its grid."""
    if first + len(rows) > sheet.rows or any(len(row) > sheet.columns for row in rows):
        return False
    sheet.cells.extend([] for _ in range(first + len(rows) - len(sheet.cells)))
    sheet.cells[first : first + len(rows)] = [list(row) for row in rows]
    return True


def _entered(value: dict[str, Any]) -> Any:
    entered = value.get("userEnteredValue", {})
    return next(iter(entered.values()), "")


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def _json(body: Any, status: int = 200, headers: dict[str, str] | None = None) -> Response:
    return Response(json.dumps(body), status=status, headers=headers, content_type="application/json")


def _error(status: int, message: str, headers: dict[str, str] | None = None) -> Response:
    return _json({"error": {"code": status, "message": message, "status": "ERROR"}}, status, headers)
