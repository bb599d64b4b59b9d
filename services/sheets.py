"""Google Sheets, through gspread: open a spreadsheet by its key, replace a worksheet's rows.

    BLOSSOM_GOOGLE_SERVICE_ACCOUNT_FILE   the service account's JSON key file (required)
    BLOSSOM_SHEETS_API_URL                the Sheets API's base URL (default Google's)
    BLOSSOM_SHEETS_TIMEOUT                seconds one call (`open`, `replace_rows`) may take in
                                          all, its requests and the token's included (30)

gspread names every endpoint by its full Google URL (gspread.urls) and sends every request
through its HTTP client's `request`; the client class is a parameter of `gspread.Client`, so the
base URL is changed there, in one place, by a subclass that rewrites the start of each URL. The
OAuth token is fetched from the `token_uri` the service-account file names, as Google's library
does: a test's file names its fake. Only the Sheets API is rebased; the operations here use
nothing else (no Drive API).

Both sessions (gspread's and the token's) send through BoundedAdapter: an answer is read up to
LARGEST_ANSWER_BYTES and no further, and a call is bounded as a whole, not only each read of a
socket (requests' own timeout, which an answer sent a byte at a time never reached): each request
waits at most what is left of the call, and when the call's time is up, the sockets of its
connections are shut down, which ends whatever read or write it is blocked in (CallDeadline).

Every failure becomes a ServiceError (`sheets.*`), temporary when trying again later may work
(429 with its Retry-After, 5xx, a timeout, no connection, an answer that could not be read). Its
message never carries the provider's answer or a credential.
"""

from __future__ import annotations

import contextlib
import json
import os
import secrets
import socket
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from contextvars import ContextVar
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from types import TracebackType
from typing import Any, TypeVar

import gspread
import requests
import urllib3
from google.auth.exceptions import RefreshError, TransportError
from google.auth.transport.requests import AuthorizedSession, Request
from google.oauth2.service_account import Credentials
from gspread.exceptions import APIError, SpreadsheetNotFound, WorksheetNotFound
from gspread.http_client import HTTPClient
from requests.adapters import HTTPAdapter
from urllib3.connection import HTTPConnection, HTTPSConnection
from urllib3.connectionpool import HTTPConnectionPool, HTTPSConnectionPool

from services.errors import AnswerTooLarge, ServiceError, retry_after_seconds
from services.sheets_settings import GOOGLE_SHEETS_URL, sheets_api_url, sheets_timeout

# Reading and writing spreadsheets the service account was given; nothing of Drive.
SCOPES = ("https://www.googleapis.com/auth/spreadsheets",)
# The most of an answer read (decompressed). The answers are a spreadsheet's metadata (every
# worksheet's properties, and what a person may have added: conditional formats, protected and
# named ranges, charts, filter views; never cells: includeGridData is false), a batch's replies
# (ours: a few bytes a request) and a token: KBs, and a spreadsheet much decorated some hundreds.
# 8 MiB leaves it room many times over, and bounds what a broken or hostile server can make the
# pipeline hold (the answer and its JSON parsed, some tens of MB): requests read any answer whole.
LARGEST_ANSWER_BYTES = 8 << 20
# The most of a request sent: Google refuses one over 10 MiB ("Request payload size exceeds the
# limit: 10485760 bytes."), some 25,000 rows of the metrics export. The rows of a larger
# replacement go in parts of at most this (a 2 MiB margin), less room for what is around them.
LARGEST_REQUEST_BYTES = 8 << 20
REQUEST_ROOM_BYTES = 4 << 10
# The title of the worksheet a large replacement is written to before it is copied over the
# worksheet it replaces: "<worksheet> (being replaced) <when it began, UTC> <random>".
STAGING_MARK = "(being replaced) "
STAGING_TIME_FORMAT = "%Y-%m-%dT%H:%M:%SZ"
# How far the clocks of two machines exporting to one spreadsheet may differ: a staging worksheet
# begun longer ago than a call's timeout and this was left by a replacement that stopped.
STAGING_CLOCK_MARGIN = timedelta(minutes=2)
READ_CHUNK_BYTES = 64 << 10

Cell = str | int | float | Decimal | bool | date | datetime | None
T = TypeVar("T")


@dataclass(frozen=True)
class SheetsSettings:
    service_account_file: Path
    api_url: str = GOOGLE_SHEETS_URL
    timeout: float = 30.0

    @classmethod
    def from_environment(cls) -> SheetsSettings:
        path = os.environ.get("BLOSSOM_GOOGLE_SERVICE_ACCOUNT_FILE", "").strip()
        if not path:
            raise ValueError(
                "BLOSSOM_GOOGLE_SERVICE_ACCOUNT_FILE must name a service account's JSON key file"
            )
        return cls(
            service_account_file=Path(path),
            api_url=sheets_api_url(),
            timeout=sheets_timeout(),
        )


def _client_class(api_url: str) -> type[HTTPClient]:
    """gspread's HTTP client with Google's base URL replaced by `api_url`."""

    class RebasedHTTPClient(HTTPClient):
        def request(self, method: str, endpoint: str, *args: Any, **kwargs: Any) -> requests.Response:
            if endpoint.startswith(GOOGLE_SHEETS_URL):
                endpoint = api_url + endpoint[len(GOOGLE_SHEETS_URL) :]
            return super().request(method, endpoint, *args, **kwargs)

    return RebasedHTTPClient


class SheetsClient:
    """Built from settings, for one thread (the pipeline makes one per run): each call makes its
    requests and returns. Not to be shared by threads calling at once: a call whose time is up
    shuts down the sockets of every connection it used, one that went back to the keep-alive
    pool and another thread's call took since among them (CallDeadline)."""

    def __init__(self, settings: SheetsSettings) -> None:
        try:
            credentials = Credentials.from_service_account_file(  # type: ignore[no-untyped-call]
                str(settings.service_account_file), scopes=list(SCOPES)
            )
        except (OSError, ValueError) as error:
            raise ValueError(
                f"BLOSSOM_GOOGLE_SERVICE_ACCOUNT_FILE: not a service account's key file: {error}"
            ) from None
        # google-auth's own session for the token (which it mounts with three tries of a failed
        # connection to an https URL), made here to send through BoundedAdapter too.
        token_session = requests.Session()
        token_session.hooks["response"].append(_keep_token_answer)
        token_session.mount("https://", BoundedAdapter(max_retries=3))
        token_session.mount("http://", BoundedAdapter())
        session = AuthorizedSession(  # type: ignore[no-untyped-call]
            credentials,
            auth_request=Request(token_session),
            refresh_timeout=settings.timeout,
        )
        session.mount("https://", BoundedAdapter())
        session.mount("http://", BoundedAdapter())
        # No redirect is followed (the first raises TooManyRedirects): neither API redirects, and
        # requests followed 30, sending a 307's or 308's body again wherever it pointed, another
        # host or plain HTTP: every tenant's rows, and the token's signed assertion, which Google
        # exchanges for an access token for an hour.
        token_session.max_redirects = 0
        session.max_redirects = 0
        self._gspread = gspread.Client(credentials, session, http_client=_client_class(settings.api_url))
        self._gspread.set_timeout(settings.timeout)
        self._timeout = settings.timeout

    @classmethod
    def from_environment(cls) -> SheetsClient:
        return cls(SheetsSettings.from_environment())

    def open(self, key: str) -> gspread.Spreadsheet:
        """The spreadsheet of that key (its metadata read once). What is then asked of it through
        gspread reads at most LARGEST_ANSWER_BYTES an answer, each request bounded by requests'
        timeout only, and fails with gspread's and requests' errors."""
        return _provider_call(lambda: self._gspread.open_by_key(key), self._timeout)

    def replace_rows(self, key: str, worksheet: str, rows: Sequence[Sequence[Cell]]) -> None:
        """Make the worksheet hold exactly `rows` (the first one is usually a header): one batch
        that resizes the grid, clears it and writes every cell, applied by Sheets all or nothing.
        The worksheet is added when the spreadsheet has none of that title. Rows too many for one
        request (Google takes at most 10 MiB) are written part by part into a worksheet of their
        own, hidden, which one last batch copies over the worksheet and deletes: the worksheet is
        still replaced at once, and left as it was when a part fails."""
        width = max((len(row) for row in rows), default=0)
        # Made before the call: what fails in our code is no failure of Google's.
        cells = [{"values": [_cell(value) for value in row]} for row in rows]
        parts = _parts(cells, LARGEST_REQUEST_BYTES)
        grid = {"rowCount": max(len(rows), 1), "columnCount": max(width, 1)}

        def resized_and_cleared(sheet: gspread.Worksheet) -> list[dict[str, Any]]:
            # Rows or columns a person froze (a header, to scroll or filter) stay frozen, and Sheets
            # refuses a grid with none past them: one empty row or column is kept after them.
            kept = {
                "rowCount": max(grid["rowCount"], sheet.frozen_row_count + 1),
                "columnCount": max(grid["columnCount"], sheet.frozen_col_count + 1),
            }
            return [
                {
                    "updateSheetProperties": {
                        "properties": {"sheetId": sheet.id, "gridProperties": kept},
                        "fields": "gridProperties.rowCount,gridProperties.columnCount",
                    }
                },
                {"updateCells": {"range": {"sheetId": sheet.id}, "fields": "userEnteredValue"}},
            ]

        def written(sheet_id: int, first: int, part: list[dict[str, Any]]) -> dict[str, Any]:
            return {
                "updateCells": {
                    "start": {"sheetId": sheet_id, "rowIndex": first, "columnIndex": 0},
                    "rows": part,
                    "fields": "userEnteredValue",
                }
            }

        def replace() -> None:
            spreadsheet = self._gspread.open_by_key(key)
            try:
                sheet = spreadsheet.worksheet(worksheet)
            except WorksheetNotFound:
                sheet = spreadsheet.add_worksheet(worksheet, rows=max(len(rows), 1), cols=max(width, 1))
            sheet_id = sheet.id
            if len(parts) <= 1:
                spreadsheet.batch_update(
                    {"requests": [*resized_and_cleared(sheet), written(sheet_id, 0, cells)]}
                )
                return
            # Those another replacement left (it stopped, or failed, midway) go with this one's;
            # not those of a replacement that may be under way (another export at once).
            prefix = f"{worksheet} {STAGING_MARK}"
            began = datetime.now(UTC)
            left_before = began - timedelta(seconds=self._timeout) - STAGING_CLOCK_MARGIN
            left = [
                other.id
                for other in spreadsheet.worksheets()
                if other.title.startswith(prefix) and _staging_began(other.title[len(prefix) :]) < left_before
            ]
            added = spreadsheet.batch_update(
                {
                    "requests": [
                        *({"deleteSheet": {"sheetId": other}} for other in left),
                        {
                            "addSheet": {
                                "properties": {
                                    "title": f"{prefix}{began:{STAGING_TIME_FORMAT}} {secrets.token_hex(4)}",
                                    "hidden": True,
                                    "gridProperties": grid,
                                }
                            }
                        },
                    ]
                }
            )
            staging = int(added["replies"][-1]["addSheet"]["properties"]["sheetId"])
            first = 0
            for part in parts:
                spreadsheet.batch_update({"requests": [written(staging, first, part)]})
                first += len(part)
            whole = {
                "sheetId": staging,
                "startRowIndex": 0,
                "endRowIndex": len(rows),
                "startColumnIndex": 0,
                "endColumnIndex": max(width, 1),
            }
            origin = {"sheetId": sheet_id, "startRowIndex": 0, "startColumnIndex": 0}
            spreadsheet.batch_update(
                {
                    "requests": [
                        *resized_and_cleared(sheet),
                        {
                            "copyPaste": {
                                "source": whole,
                                "destination": origin,
                                "pasteType": "PASTE_VALUES",
                            }
                        },
                        {"deleteSheet": {"sheetId": staging}},
                    ]
                }
            )

        _provider_call(replace, self._timeout)


def _staging_began(title_rest: str) -> datetime:
    """When the replacement of a staging worksheet began, from its title after the mark; the
    earliest time for a title that says none (one of an earlier version's, or a person's)."""
    try:
        return datetime.strptime(title_rest.split(" ", 1)[0], STAGING_TIME_FORMAT).replace(tzinfo=UTC)
    except ValueError:
        return datetime.min.replace(tzinfo=UTC)


def _parts(cells: list[dict[str, Any]], largest: int) -> list[list[dict[str, Any]]]:
    """The rows in runs each of which, as JSON (as requests sends it), takes at most `largest`
    bytes less room for the request around it; one row larger than that is a run of its own."""
    parts: list[list[dict[str, Any]]] = [[]]
    size = 0
    room = largest - REQUEST_ROOM_BYTES
    for row in cells:
        row_size = len(json.dumps(row)) + 2  # and its ", "
        if parts[-1] and size + row_size > room:
            parts.append([])
            size = 0
        parts[-1].append(row)
        size += row_size
    return parts


def _cell(value: Cell) -> Mapping[str, Any]:
    if value is None:
        return {}
    if isinstance(value, bool):
        return {"userEnteredValue": {"boolValue": value}}
    if isinstance(value, int | float | Decimal):
        return {"userEnteredValue": {"numberValue": float(value)}}
    if isinstance(value, date):  # datetime included
        return {"userEnteredValue": {"stringValue": value.isoformat()}}
    return {"userEnteredValue": {"stringValue": value}}


class DeadlinePassed(Exception):
    """A request was to start after its call's time was up."""


# The provider call under way in this thread (gspread and requests make no thread of their own).
_CALL: ContextVar[CallDeadline | None] = ContextVar("sheets_call", default=None)


class CallDeadline:
    """A provider call's time, from when it starts: the connections its requests use are watched,
    and once the time is up a timer's thread shuts their sockets down (shutdown, not close: the
    socket stays the call's to close), which ends the read or write the call is blocked in, with
    an error of requests' that the call turns into a timeout. The timer's thread ends with the
    call. Not bounded: a host name's resolution, a connection being made (bounded by its own
    timeout, at most what was left of the call), and google-auth's sleep between two tries of
    the token (a second or two), after which no request starts."""

    def __init__(self, seconds: float) -> None:
        self.seconds = seconds
        self.ends = time.monotonic() + seconds
        self.passed = False
        # The last answer of Google's token endpoint in the call (_keep_token_answer): the
        # RefreshError google-auth raises for a refusal, and after its last try of an outage or a
        # 429, carries no status.
        self.token_answer: requests.Response | None = None
        self._over = False
        self._connections: set[HTTPConnection] = set()
        self._sockets: set[socket.socket] = set()
        self._lock = threading.Lock()
        self._timer = threading.Timer(seconds, self._expire)
        self._timer.daemon = True

    def __enter__(self) -> CallDeadline:
        self._context = _CALL.set(self)
        self._timer.start()
        return self

    def __exit__(
        self, kind: type[BaseException] | None, error: BaseException | None, trace: TracebackType | None
    ) -> None:
        with self._lock:
            self._over = True
        self._timer.cancel()
        self._timer.join()
        _CALL.reset(self._context)

    def remaining(self) -> float:
        """The seconds left; DeadlinePassed when there are none."""
        left = self.ends - time.monotonic()
        if left <= 0 or self.passed:
            raise DeadlinePassed
        return left

    def watch(self, connection: HTTPConnection) -> None:
        """`connection`'s socket, whichever it is when the time is up, and the one it has now:
        an answer that ends with its connection is read after http.client let go of it."""
        with self._lock:
            if self.passed:
                raise DeadlinePassed
            self._connections.add(connection)
            if connection.sock is not None:
                self._sockets.add(connection.sock)

    def _expire(self) -> None:
        with self._lock:
            if self._over:
                return
            self.passed = True
            sockets = {c.sock for c in self._connections if c.sock is not None} | self._sockets
        for sock in sockets:
            with contextlib.suppress(OSError):  # closed meanwhile
                # socket.socket's own: an SSLSocket's would drop its TLS state under the reader.
                socket.socket.shutdown(sock, socket.SHUT_RDWR)


class WatchedHTTPConnection(HTTPConnection):
    """urllib3's connection, watched by the call under way (if any) from the moment it connects,
    sends a request or reads an answer: a connection kept alive is watched by each call that uses
    it."""

    def connect(self) -> None:
        _watch(self)
        super().connect()

    def request(self, *args: Any, **kwargs: Any) -> None:
        _watch(self)
        super().request(*args, **kwargs)

    def getresponse(self) -> urllib3.HTTPResponse:  # type: ignore[override]  # as urllib3 says it
        _watch(self)  # its socket, connected by now
        return super().getresponse()


class WatchedHTTPSConnection(WatchedHTTPConnection, HTTPSConnection):
    pass


class WatchedHTTPConnectionPool(HTTPConnectionPool):
    ConnectionCls = WatchedHTTPConnection


class WatchedHTTPSConnectionPool(HTTPSConnectionPool):
    ConnectionCls = WatchedHTTPSConnection


def _watch(connection: HTTPConnection) -> None:
    call = _CALL.get()
    if call is not None:
        call.watch(connection)


def _watched(manager: urllib3.PoolManager) -> urllib3.PoolManager:
    """`manager`, its pools' connections watched; a SOCKS proxy's manager, which has pools of its
    own, is left as it is (its requests are still bounded by what is left of the call)."""
    if manager.pool_classes_by_scheme == {"http": HTTPConnectionPool, "https": HTTPSConnectionPool}:
        manager.pool_classes_by_scheme = {
            "http": WatchedHTTPConnectionPool,
            "https": WatchedHTTPSConnectionPool,
        }
    return manager


class BoundedAdapter(HTTPAdapter):
    """requests' adapter, within the call under way: a request waits (to connect, for each read) at
    most what is left of the call, its connection is watched (CallDeadline), and its answer is read
    here, up to LARGEST_ANSWER_BYTES (AnswerTooLarge past them, the connection closed with the rest
    unread)."""

    def init_poolmanager(self, *args: Any, **kwargs: Any) -> None:
        super().init_poolmanager(*args, **kwargs)
        _watched(self.poolmanager)

    def proxy_manager_for(self, proxy: str, **proxy_kwargs: Any) -> Any:
        return _watched(super().proxy_manager_for(proxy, **proxy_kwargs))

    def send(
        self,
        request: requests.PreparedRequest,
        stream: bool = False,
        timeout: Any = None,
        verify: Any = True,
        cert: Any = None,
        proxies: dict[str, str] | None = None,
    ) -> requests.Response:
        call = _CALL.get()
        if call is not None:
            timeout = _within(timeout, call.remaining())
        response = super().send(
            request, stream=True, timeout=timeout, verify=verify, cert=cert, proxies=proxies
        )
        if not stream:
            _read(response)
        return response


def _within(timeout: Any, left: float) -> Any:
    """requests' timeout (seconds, or a (connect, read) pair), at most `left` seconds each."""
    if isinstance(timeout, tuple):
        return tuple(left if part is None else min(part, left) for part in timeout)
    if timeout is None or isinstance(timeout, int | float):
        return left if timeout is None else min(timeout, left)
    return timeout  # urllib3's Timeout, which nothing here passes


def _read(response: requests.Response) -> None:
    """The answer's body, read into the response as requests would have, up to
    LARGEST_ANSWER_BYTES: past them (or a Content-Length saying so), AnswerTooLarge."""
    body = bytearray()
    try:
        if _declared_length(response) > LARGEST_ANSWER_BYTES:
            raise AnswerTooLarge
        for chunk in response.iter_content(READ_CHUNK_BYTES):
            body += chunk
            if len(body) > LARGEST_ANSWER_BYTES:
                raise AnswerTooLarge
    except BaseException:
        response.close()  # and its connection, with the rest of the answer unread
        raise
    response._content = bytes(body)  # what `Response.content` reads, and returns from then on


def _declared_length(response: requests.Response) -> int:
    try:
        return int(response.headers.get("Content-Length") or 0)
    except ValueError:
        return 0


# What a call may raise that is Google's doing (or the network's), each turned into a ServiceError
# by _failure. The shapes of an answer gspread and google-auth did not expect come as what reading
# it raised: KeyError, IndexError, TypeError, AttributeError, ValueError (JSONDecodeError and
# UnicodeDecodeError among them), RecursionError (JSON nested too deep), OverflowError (a token's
# expires_in that google-auth adds to the clock past datetime's range, or JSON's Infinity).
UNREADABLE_ANSWER = (
    requests.exceptions.ChunkedEncodingError,
    requests.exceptions.ContentDecodingError,
    requests.exceptions.JSONDecodeError,
    KeyError,
    IndexError,
    TypeError,
    AttributeError,
    ValueError,
    RecursionError,
    OverflowError,
)
PROVIDER_FAILURES = (
    APIError,
    SpreadsheetNotFound,
    RefreshError,
    TransportError,
    DeadlinePassed,
    AnswerTooLarge,
    OSError,  # requests' errors among them, and PermissionError (gspread's 403)
    *UNREADABLE_ANSWER,
)


def _provider_call(call: Callable[[], T], seconds: float) -> T:
    """`call()`, in `seconds` at most, with gspread's, requests' and google-auth's failures, and
    what reading an answer of another shape raises, turned into ServiceError."""
    with CallDeadline(seconds) as deadline:
        try:
            return call()
        except PROVIDER_FAILURES as error:
            failure = _failure(error, deadline)
            if failure is None:
                raise
            raise failure from None


def _keep_token_answer(response: requests.Response, *_args: Any, **_kwargs: Any) -> None:
    """A response hook of the token's session: its answer, kept for the call under way."""
    call = _CALL.get()
    if call is not None:
        call.token_answer = response


def _failure(error: BaseException, deadline: CallDeadline) -> ServiceError | None:
    """The ServiceError `error` stands for; None for one of ours (a request we could not make)."""
    if deadline.passed or isinstance(error, requests.Timeout | DeadlinePassed):
        return ServiceError(
            "sheets.timeout",
            f"Google Sheets did not answer within {deadline.seconds:g} seconds.",
            status=504,
            temporary=True,
        )
    if isinstance(error, TransportError) and isinstance(error.__cause__, requests.RequestException):
        return _failure(error.__cause__, deadline)  # the token's request, as google-auth wraps it
    if isinstance(error, APIError):
        return _from_status(error.response)
    # gspread's open_by_key turns a 404 and a 403 into these, without the answer.
    if isinstance(error, SpreadsheetNotFound):
        return ServiceError("sheets.not_found", "No such spreadsheet.", status=404)
    if isinstance(error, PermissionError):
        return _forbidden()
    if isinstance(error, RefreshError) and isinstance(error.__cause__, UNREADABLE_ANSWER):
        # google-auth's "No access token in response.": a 200 it could not read (the KeyError it
        # wraps), called a refusal for good; it is an answer of another shape, which passes.
        return _failure(error.__cause__, deadline)
    answer = deadline.token_answer
    if (
        isinstance(error, RefreshError)
        and answer is not None
        and (answer.status_code == 429 or answer.status_code >= 500)
    ):
        return _from_status(answer, "Google's token endpoint")
    if isinstance(error, RefreshError):
        return ServiceError(
            "sheets.auth_failed",
            "Google refused the service account's credentials.",
            temporary=bool(getattr(error, "retryable", False)),
        )
    if isinstance(error, AnswerTooLarge):
        return ServiceError(
            "sheets.provider_error",
            f"Google Sheets' answer was over {LARGEST_ANSWER_BYTES >> 20} MiB.",
            temporary=True,
        )
    if isinstance(error, requests.TooManyRedirects):
        return ServiceError("sheets.provider_error", "Google answered a redirect, which is not followed.")
    if isinstance(error, UNREADABLE_ANSWER):
        return ServiceError(
            "sheets.provider_error",
            f"Google Sheets' answer could not be read ({type(error).__name__}).",
            temporary=True,
        )
    if isinstance(error, requests.exceptions.InvalidJSONError):
        return None  # a body requests could not write as JSON (a NaN): ours, never sent
    # requests.ConnectionError (no connection, a TLS failure, a proxy's) and the other requests'
    # errors and the network's.
    return ServiceError("sheets.unreachable", "Google Sheets could not be reached.", temporary=True)


def _from_status(response: requests.Response, service: str = "Google Sheets") -> ServiceError:
    status = response.status_code
    if status == 429:
        return ServiceError(
            "sheets.rate_limited",
            f"{service} asked us to slow down.",
            status=503,
            retry_after=retry_after_seconds(response.headers.get("Retry-After")),
            temporary=True,
        )
    if status >= 500:
        return ServiceError("sheets.unavailable", f"{service} failed ({status}).", temporary=True)
    if status == 404:
        return ServiceError("sheets.not_found", "No such spreadsheet or worksheet.", status=404)
    if status in (401, 403):
        return _forbidden()
    return ServiceError("sheets.rejected", f"Google Sheets refused the request ({status}).")


def _forbidden() -> ServiceError:
    return ServiceError("sheets.forbidden", "The service account may not use this spreadsheet.")
