"""Serving the edge: uvicorn with limits and timeouts for a server that faces the internet.

uvicorn bounds how long an idle keep-alive connection stays, but not how long a request's
headers may take or how large they may be, nor how many connections are open (in all or from
one client), nor how many pipelined requests a connection may queue, nor how long an answer
may wait for a client that does not read it; and its own refusals are plain text. EdgeProtocol
is its HTTP protocol with these added:

- a request's headers must arrive within header_timeout_seconds of the connection opening or
  of the previous answer (408, or a plain close when nothing was sent), and be at most
  max_header_bytes in at most max_header_fields fields (431);
- at most max_connections connections in all (503) and max_client_connections from one client
  (429; a client is an address, an IPv6 one by its /64; not counted behind a trusted proxy);
- a chunked body's framing (its chunks' sizes and extensions) and trailer fields at most
  max_header_bytes (413; the body's own bytes are the application's to bound), and trailer
  fields never read as headers (RFC 9110, 6.5.1: they are not merged into the header section);
- at most max_pipelined requests queued behind the one being answered, holding at most
  max_pipelined_bytes (one largest request's headers and body): past either, the connection is
  dropped (a client that sends more without reading the answers is no browser);
  a pipelined request the server refuses is answered after the requests before it, in order;
- an answer not taken by the client within drain_seconds (its write buffer stays full, or
  stays unsent after the connection is closed, by the edge or by the client closing its side)
  drops the connection;
- an answer begun before the request's body is all received (a refusal on its headers) says
  `Connection: close` and closes the connection: nothing after it is read, as the body or as a
  request;
- a request that is not HTTP: 400; so is one with more than one Host field, an invalid one, none
  in HTTP/1.1, or an absolute target (`GET http://host/path`) whose host is not its Host's
  (RFC 9112, 3.2: a proxy in front that routes by the other Host than the one the edge reads
  sends a request where the edge does not believe it goes); and a request line of an HTTP other
  than 1.0 or 1.1 (the parser takes 2.0 and 0.9): 505; a method the parser does not know: 501.
  Every refusal is in Blossom's JSON error shape.
How long a body may take is the application's rule (edge.errors.read_body).
"""

from __future__ import annotations

import argparse
import asyncio
import ipaddress
import re
import resource
from collections import Counter, deque
from contextlib import suppress
from typing import Any, ClassVar

import httptools
import uvicorn
from uvicorn._types import ASGISendEvent
from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol, RequestResponseCycle

from blossom_db import logs
from blossom_db.settings import listen_host, tcp_port
from edge.app import create_app
from edge.config import EdgeConfig, Network, within
from edge.cors import answer_headers, request_origin
from edge.errors import error_body
from edge.lifecycle import Draining, DrainingServer
from edge.limits import client_key_of
from edge.tracing import REFUSED_STATUS_KEY, REQUEST_ID_KEY

REASONS = {
    400: b"Bad Request",
    408: b"Request Timeout",
    413: b"Content Too Large",
    429: b"Too Many Requests",
    431: b"Request Header Fields Too Large",
    503: b"Service Unavailable",
    501: b"Not Implemented",
    505: b"HTTP Version Not Supported",
}
# A request line's method (RFC 9110, 9.1: a token) and the space after it; a token's bytes so far.
METHOD = re.compile(rb"[!#$%&'*+.^_`|~0-9A-Za-z-]+ ")
TOKEN_SO_FAR = re.compile(rb"[!#$%&'*+.^_`|~0-9A-Za-z-]*")

# RFC 3986's host (a name, an IPv4 address, or an IPv6 one in brackets) and maybe a port: the
# value of a Host field (RFC 9110, 7.2). A name in other letters comes as punycode.
HOST_FIELD = re.compile(
    rb"(\[[0-9A-Fa-f:.]+\]|(?:[A-Za-z0-9._~!$&'()*+,;=-]|%[0-9A-Fa-f]{2})+)(?::([0-9]*))?"
)
DEFAULT_PORTS = {b"http": 80, b"https": 443}


def host_fault(version: str, headers: list[tuple[bytes, bytes]], target: bytes) -> str | None:
    """What makes the host a request is for unclear (RFC 9112, 3.2), or None: Host fields (names in
    lower case) other than one valid one (none is allowed in HTTP/1.0), or an absolute target
    whose host or port is not the field's."""
    fields = [value for name, value in headers if name == b"host"]
    if len(fields) > 1:
        return "More than one Host header field."
    if not fields:
        return "No Host header field." if version != "1.0" else None
    # The parser drops the whitespace before a value, not after it, which is no part of it either
    # (RFC 9112, 5): `Host: edge ` names edge.
    field = HOST_FIELD.fullmatch(fields[0].rstrip(b" \t"))
    if field is None:
        return "The Host header field is not a host and port."
    if target.startswith(b"/") or target == b"*":
        return None
    try:
        url = httptools.parse_url(target)
    except httptools.HttpParserInvalidURLError:
        return None  # not an absolute target: the parser's to refuse
    if not (url.schema and url.host):
        return None
    default = DEFAULT_PORTS.get(url.schema.lower())
    target_host = b"[%s]" % url.host if b":" in url.host else url.host
    field_port = int(field[2]) if field[2] else default
    if (target_host.lower(), default if url.port is None else url.port) != (field[1].lower(), field_port):
        return "The request's target names a host other than its Host header field."
    return None


def raw_error(
    status: int, code: str, message: str, request_id: str | None = None, cors_origin: str | None = None
) -> bytes:
    """A whole HTTP/1.1 answer in the JSON error shape, for the protocol to write itself, with the
    headers every answer of the edge has (edge/tracing.py): the request's id (a new one for a
    request no application saw), nosniff and no-store; and, for a request from an allowed origin
    (`cors_origin`), the CORS headers its page needs to read the answer (edge/cors.py)."""
    body = error_body(code, message)
    retry = b"retry-after: 1\r\n" if status in (429, 503) else b""
    cors = b""
    if cors_origin is not None:
        cors = b"".join(b"%s: %s\r\n" % field for field in answer_headers(cors_origin)) + b"vary: Origin\r\n"
    head = b"HTTP/1.1 %d %s\r\n" % (status, REASONS[status]) + (
        b"content-type: application/json\r\ncontent-length: %d\r\n%s%s"
        b"x-request-id: %s\r\nx-content-type-options: nosniff\r\ncache-control: no-store\r\n"
        b"connection: close\r\n\r\n"
        % (len(body), retry, cors, (request_id or logs.new_request_id()).encode())
    )
    return head + body


# A header section's end: llhttp takes no other line end than CRLF, and no empty line within.
HEADERS_END = b"\r\n\r\n"
CHUNK_SIZE = re.compile(rb"[0-9A-Fa-f]+")
# Where a size's leading zeros end: llhttp reads any number of them (`0000…05` is five).
NOT_ZERO = re.compile(rb"[^0]")
# A whole size line, read at once (ChunkedFraming.scan): its digits as the line by line reading
# keeps them, its first twenty after the leading zeros.
WHOLE_SIZE_LINE = re.compile(rb"0*([0-9A-Fa-f]{0,20})[^\n]*\n")
# A chunked body's lines (ChunkedFraming): a chunk's size, the end of its data, a trailer field.
SIZE_LINE, DATA_END, TRAILER_LINE = range(3)


class ChunkedFraming:
    """Where a chunked body's framing is (RFC 9112, 7.1), as llhttp reads it, each line ended by
    CRLF: each chunk's size line (its size in hex and any extension), the CRLF after its data, and
    the trailer section after the last chunk, to its empty line. What llhttp would refuse it may
    read otherwise: the parser refuses that request (400) before anything after it is read."""

    def __init__(self) -> None:
        self.finished = False
        self._data_left = 0
        self._line = SIZE_LINE
        # The first bytes of the line being read: a size's digits after its leading zeros (llhttp
        # refuses more than sixteen), or an empty line's CRLF.
        self._line_start = b""

    def scan(self, data: bytes, start: int, budget: int) -> tuple[int, int]:
        """Reads `data` from `start` to the body's end (`finished` then) or the data's, or until
        `budget` bytes of framing are read: where it stopped, and the framing among the bytes read."""
        position, framing = start, 0
        while position < len(data) and not self.finished and framing < budget:
            if self._data_left:
                taken = min(self._data_left, len(data) - position)
                self._data_left -= taken
                position += taken
                continue
            # Read line by line, a body of small chunks cost four times what the parser spends
            # on it: a chunk whole in this read, its size line, data and CRLF, is one step.
            whole = None
            if self._line == SIZE_LINE and not self._line_start:
                whole = WHOLE_SIZE_LINE.match(data, position)
            if whole is not None:
                framing += whole.end() - position
                position = whole.end()
                size = self._size_read(whole[1])
                if size and data.startswith(b"\r\n", position + size):
                    position, framing = position + size + 2, framing + 2
                    self._data_left, self._line = 0, SIZE_LINE
                continue
            line_end = data.find(b"\n", position)
            end = len(data) if line_end < 0 else line_end + 1
            if len(self._line_start) < 20:
                begin = position
                if self._line == SIZE_LINE and not self._line_start:
                    nonzero = NOT_ZERO.search(data, position, end)
                    begin = end if nonzero is None else nonzero.start()
                self._line_start += data[begin : min(end, begin + 20)]
            framing += end - position
            position = end
            if line_end >= 0:
                self._line_ended()
        return position, framing

    def _line_ended(self) -> None:
        line, self._line_start = self._line_start, b""
        if self._line == SIZE_LINE:
            size = CHUNK_SIZE.match(line)
            self._size_read(size[0] if size else b"")
        elif self._line == DATA_END:
            self._line = SIZE_LINE
        elif line == b"\r\n":
            self.finished = True

    def _size_read(self, digits: bytes) -> int:
        self._data_left = int(digits, 16) if digits else 0
        self._line = DATA_END if self._data_left else TRAILER_LINE
        return self._data_left


def body_after(headers: list[tuple[bytes, bytes]]) -> ChunkedFraming | int | None:
    """What follows a request's header section (names in lower case), as llhttp reads it (RFC
    9112, 6.3): a chunked body when it names a Transfer-Encoding (llhttp refuses one whose last
    coding is not chunked, or one beside a Content-Length), else Content-Length bytes, else none."""
    length = 0
    for name, value in headers:
        if name == b"transfer-encoding":
            return ChunkedFraming()
        if name == b"content-length":
            with suppress(ValueError):  # llhttp refuses such a request
                length = int(value)
    return length or None


# How long a connection refused stays open for the client to read the answer (_write_refusal).
LINGER_SECONDS = 2.0


class _Dropped(Exception):
    """Raised from a parser callback to stop parsing a connection that is being dropped."""


class CorkedTransport:
    """A transport whose writes in one turn of the event loop leave in one system call.

    uvicorn writes an answer's head and its body separately, and uvloop sends each at once:
    two system calls for every answer, which bench/proxy.py measured as a large part of the
    edge's cost per request. Writes are gathered and sent together at the end of the turn.
    Everything else is the transport's own.
    """

    def __init__(
        self, transport: asyncio.Transport, loop: asyncio.AbstractEventLoop, drain_seconds: float
    ) -> None:
        self._transport = transport
        self._loop = loop
        self._pending: list[bytes] = []
        self._ended = False
        self.drain_seconds = drain_seconds
        # Set while the client may still be sending what nothing will read (a refused request's
        # body): a close then lingers.
        self.linger = False

    def write(self, data: bytes) -> None:
        # After our half-close nothing more is sent: a write then (uvicorn's 100 Continue for a
        # request refused while its application waited for the body) failed, and the close after
        # it never came.
        if self._ended:
            return
        if not self._pending:
            self._loop.call_soon(self._flush)
        self._pending.append(data)

    def _flush(self) -> None:
        try:
            if self._pending and not self._transport.is_closing():
                self._transport.write(b"".join(self._pending))
        finally:
            self._pending.clear()

    def write_eof(self) -> None:
        self._flush()
        self._ended = True
        self._transport.write_eof()

    def close(self) -> None:
        """Closes the connection; lingering (`linger`), in two steps: our side at once, the whole
        once the client closes its side, or after LINGER_SECONDS, what it sends meanwhile read and
        dropped. Closed at once while a client still sent (the rest of a body too large), the
        connection was reset, and the client lost the answer it had not read yet."""
        if self.linger and not self._ended and self._transport.can_write_eof():
            self.write_eof()
            self._loop.call_later(LINGER_SECONDS, self._close_lingered)
            return
        try:
            self._flush()
        finally:
            self._transport.close()
        # close() waits for the buffer to drain, for ever if the client never reads.
        if self._transport.get_write_buffer_size():
            self._loop.call_later(self.drain_seconds, self._transport.abort)

    def _close_lingered(self) -> None:
        if not self._transport.is_closing():
            self.close()

    def __getattr__(self, name: str) -> Any:
        return getattr(self._transport, name)


class EdgeProtocol(HttpToolsProtocol):
    """uvicorn's HTTP protocol with the bounds above; protocol_for sets them from the config."""

    header_timeout_seconds = 10.0
    max_header_bytes = 32 * 1024
    # Browsers send about twenty; each costs a callback and a place in every list of headers.
    max_header_fields = 100
    max_connections = 16384
    max_client_connections = 256
    max_pipelined = 16
    # What the requests queued behind the one being answered may hold, headers and bodies: a
    # largest request's (headers and a body at their bounds). 16 of 96 KiB each were 1.5 MB a
    # connection, read and kept.
    max_pipelined_bytes = 32 * 1024 + 64 * 1024
    drain_seconds = 20.0
    trusted_proxies: tuple[Network, ...] = ()
    # Whose pages may read the refusals written here, as edge/cors.py lets them read every answer.
    allowed_origins: frozenset[str] = frozenset()
    # Open connections per client, shared by every connection of one server.
    per_client: ClassVar[Counter[str]] = Counter()

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._header_deadline: asyncio.TimerHandle | None = None
        self._drain_deadline: asyncio.TimerHandle | None = None
        self._in_headers = False
        self._header_bytes = 0
        self._parsed_header_bytes = 0
        self._header_fields = 0
        self._began_in_read = False
        # Between a request's headers and its end.
        self._in_content = False
        # Where the request being read is, for the reads to be cut where its parts begin and end
        # (`_next_part`): its header section's last bytes so far, and its body, once its headers
        # are whole: a chunked one's framing, or the bytes of a Content-Length one still to come.
        self._head_tail = b""
        self._body: ChunkedFraming | int | None = None
        self._framing_bytes = 0
        self._client_key: str | None = None
        self._dropped = False
        # A method the parser did not know, whose end had not come in the read it failed in.
        self._method_unended = False
        # A refusal held back until the answers owed before it (_owed of them) are written.
        self._refusal: bytes | None = None
        self._owed = 0
        # What the requests queued behind the one being answered hold (_queued_bytes).
        self._pipelined_bytes = 0

    # -- connections ----------------------------------------------------------------------------

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(CorkedTransport(transport, self.loop, self.drain_seconds))  # type: ignore[arg-type]
        # Over a limit on connections, nothing is kept, not even a while for the answer to be read.
        if len(self.connections) > self.max_connections:
            self._turn_away(503, "edge.overloaded", "The server has too many connections; try again shortly.")
            return
        key = self._key()
        if key is not None:
            if self.per_client[key] >= self.max_client_connections:
                self._turn_away(429, "edge.too_many_connections", "Too many connections from this client.")
                return
            self.per_client[key] += 1
            self._client_key = key
        self._await_headers()

    @property
    def _corked(self) -> CorkedTransport:
        return self.transport  # type: ignore[return-value]  # connection_made's

    def connection_lost(self, exc: Exception | None) -> None:
        self._cancel(self._header_deadline)
        self._cancel(self._drain_deadline)
        if self._client_key is not None:
            self.per_client[self._client_key] -= 1
            if not self.per_client[self._client_key]:
                del self.per_client[self._client_key]
            self._client_key = None
        super().connection_lost(exc)

    def eof_received(self) -> None:
        """The client closed its side: the connection is closed, as uvicorn closes it, but by
        close(), so that what of the answer is still unsent waits at most drain_seconds, and not
        lingering, as nothing more can come. Left to the transport, which closes itself when this
        returns, it waited for ever for a client that does not read (under the buffer's high mark,
        where no drain deadline runs): the connection and its place in the client's count kept."""
        self._corked.linger = False
        self.transport.close()

    def _key(self) -> str | None:
        """The client this connection counts against, or None (behind a trusted proxy, whose
        connections carry many clients, or with no address)."""
        if not self.client:
            return None
        try:
            peer = ipaddress.ip_address(self.client[0])
        except ValueError:
            return None
        if within(peer, self.trusted_proxies):
            return None
        return client_key_of(peer)

    # -- requests -------------------------------------------------------------------------------

    def data_received(self, data: bytes) -> None:
        """The read given to the parser in parts, each cut where a request's header section or
        body ends, so that a chunked body's framing is counted wherever it comes: in the read of
        its headers, of the request before it or after it (counted by the read, they went
        uncounted but for five bytes a chunk, and a chunk extension of any length passed)."""
        # A read, whatever it holds, is no idle connection: the keep-alive timeout an answer armed
        # (uvicorn's data_received ends it) is for one.
        self._unset_keepalive_if_required()
        if self._method_unended and not self._dropped:
            self._unknown_method_continued(data)
            return
        start = 0
        while start < len(data) and not self._dropped:
            end = self._next_part(data, start)
            if end is None:
                return
            self._part_received(data if end - start == len(data) else data[start:end])
            if self.transport.is_closing():
                return
            start = end

    def _next_part(self, data: bytes, start: int) -> int | None:
        """Where the part of `data` from `start` ends: at the end of the request's body (its
        framing counted, a chunked one's: None when that is over the bound, and refused), of its
        header section (llhttp takes only CRLF line ends: the first empty line ends it), or of the
        data. The CR and LF llhttp skips between requests are one part."""
        body = self._body
        if isinstance(body, ChunkedFraming):
            end, framing = body.scan(data, start, self.max_header_bytes - self._framing_bytes + 1)
            if body.finished:
                self._body = None
            self._count_framing(framing)
            return None if self._dropped else end
        if body is not None:  # a Content-Length body: its bytes, no framing
            end = min(len(data), start + body)
            self._body = body - (end - start) or None
            return end
        if not self._in_headers and data[start : start + 1] in (b"\r", b"\n"):
            rest = data[start:]
            return start + len(rest) - len(rest.lstrip(b"\r\n"))
        # The section's end may have begun in the part before (its last three bytes).
        tail = self._head_tail
        joined = (tail + data[start : start + 3]).find(HEADERS_END) if tail else -1
        end = start + joined + len(HEADERS_END) - len(tail) if joined >= 0 else data.find(HEADERS_END, start)
        if end < 0:
            self._head_tail = (tail + data[start:])[-3:]
            return len(data)
        self._head_tail = b""
        return end + len(HEADERS_END) if joined < 0 else end

    def _part_received(self, data: bytes) -> None:
        self._began_in_read = False
        # uvicorn's data_received, but for a method the parser does not know (it knows a list).
        try:
            self.parser.feed_data(data)
        except httptools.HttpParserError as error:
            self.logger.warning("Invalid HTTP request received.")
            if isinstance(error, httptools.HttpParserInvalidMethodError):
                # A request begins its part (_next_part); the parser fails at the first byte no
                # method it knows has there, and the bytes before it in the part are a token's.
                if TOKEN_SO_FAR.fullmatch(data):
                    self._method_unended = True  # a token or not: what comes next tells
                else:
                    self._refuse_method(METHOD.match(data) is not None)
            else:
                self.send_400_response("Invalid HTTP request received.")
        except httptools.HttpParserUpgrade:
            if self._should_upgrade():
                self.handle_websocket_upgrade()
            else:
                self._unsupported_upgrade_warning()
        if self._dropped or self.transport.is_closing():
            return
        # Headers still incomplete after this part: what the parser holds for them counts too.
        # A part in which they began also held the request before (its body, say), which is not
        # theirs: from there on, their complete parts are counted as the parser hands them over.
        if self._in_headers and not self._began_in_read:
            self._header_bytes += len(data)
            if self._header_bytes > self.max_header_bytes:
                self._headers_too_large()

    def _unknown_method_continued(self, data: bytes) -> None:
        """The rest of a method the parser did not know, the parser out of the reading: answered
        when it ends, as when it came whole in one read."""
        end = TOKEN_SO_FAR.match(data).end()  # type: ignore[union-attr]  # matches any bytes
        if end == len(data):
            self._header_bytes += len(data)
            if self._header_bytes > self.max_header_bytes:
                self._headers_too_large()
            return
        self._method_unended = False
        self._refuse_method(data[end : end + 1] == b" ")

    def _refuse_method(self, is_token: bool) -> None:
        if is_token:
            # A token the parser does not know (it knows a list): no fault of the request's form,
            # which 400 said (RFC 9110, 15.6.2).
            self._refuse(501, "edge.method_not_implemented", "The edge does not implement that method.")
        else:
            self._refuse(400, "edge.bad_request", "The request is not valid HTTP.")

    def on_message_begin(self) -> None:
        super().on_message_begin()
        self._in_headers = True
        self._began_in_read = True
        self._header_bytes = 0
        self._parsed_header_bytes = 0
        self._header_fields = 0
        self._framing_bytes = 0

    # Headers that arrive whole in one read are counted as the parser hands them over.
    def on_url(self, url: bytes) -> None:
        self._count_parsed(len(url))
        super().on_url(url)

    def on_header(self, name: bytes, value: bytes) -> None:
        self._header_fields += 1
        trailer = not self._in_headers  # a field after a chunked body: counted, and dropped
        if self._header_fields > self.max_header_fields:
            fields = self.max_header_fields
            if trailer:
                self._refuse(413, "edge.body_too_large", f"More than {fields} header and trailer fields.")
            else:
                self._refuse(431, "edge.headers_too_large", f"More than {fields} header fields.")
            raise _Dropped
        if trailer:  # its bytes counted as the body's framing (ChunkedFraming)
            return
        self._count_parsed(len(name) + len(value) + 4)  # ": " and CRLF
        super().on_header(name, value)

    def _count_parsed(self, size: int) -> None:
        self._parsed_header_bytes += size
        if self._parsed_header_bytes > self.max_header_bytes:
            self._headers_too_large()
            raise _Dropped  # the parser error this raises is no bad request of the client's

    def _count_framing(self, size: int) -> None:
        """Counted before the parser reads them: the request over the bound is the one whose body
        is being read."""
        self._framing_bytes += size
        if self._framing_bytes > self.max_header_bytes:
            self._refuse(
                413,
                "edge.body_too_large",
                f"A chunked body's framing and trailer fields are over {self.max_header_bytes} bytes.",
            )

    def _headers_too_large(self) -> None:
        self._refuse(431, "edge.headers_too_large", f"Request headers over {self.max_header_bytes} bytes.")

    def on_headers_complete(self) -> None:
        version = self.parser.get_http_version()
        if version not in ("1.0", "1.1"):
            self._refuse(
                505, "edge.http_version_not_supported", "Only HTTP/1.0 and HTTP/1.1 are served here."
            )
            raise _Dropped
        fault = host_fault(version, self.headers, self.url)
        if fault is not None:
            self._refuse(400, "edge.bad_request", fault)
            raise _Dropped
        self._in_headers = False
        self._cancel(self._header_deadline)
        super().on_headers_complete()
        self._in_content = True
        self._body = body_after(self.headers)
        if self._body is not None:
            self._close_if_answered_before_body(self.cycle)
        self._pipelined_bytes = self._queued_bytes()
        if len(self.pipeline) > self.max_pipelined or self._pipelined_bytes > self.max_pipelined_bytes:
            self._drop()
            raise _Dropped  # stops the parser: the rest of what was received is not read

    def on_body(self, body: bytes) -> None:
        super().on_body(body)
        # Added to, not counted anew: a body of many small chunks is as many calls.
        if self.pipeline:  # the body of the last request queued
            self._pipelined_bytes += len(body)
            if self._pipelined_bytes > self.max_pipelined_bytes:
                self._drop()
                raise _Dropped

    def _queued_bytes(self) -> int:
        """What the requests queued behind the one being answered hold: their targets, header
        fields and bodies as uvicorn keeps them."""
        held = 0
        for cycle, _app in self.pipeline:
            scope = cycle.scope
            held += len(scope["raw_path"]) + len(scope["query_string"]) + len(cycle.body)
            held += sum(len(name) + len(value) for name, value in scope["headers"])
        return held

    def _close_if_answered_before_body(self, cycle: RequestResponseCycle) -> None:
        """An answer begun before the request's body is all received (a refusal on its headers:
        406, 413 on a declared length, 404 …) closes the connection, and says so. Kept, the edge
        read on, for nothing, whatever body the client sent (a declared 100 kB, or, dripped, until
        a deadline); and a client that took the answer for the end of the exchange, or one that
        asked `Expect: 100-continue` and so need never send that body (RFC 9110, 10.1.1), had its
        next request read as the rest of it, and never answered."""
        send = cycle.send

        async def send_closing(message: ASGISendEvent) -> None:
            if message["type"] == "http.response.start" and cycle.more_body:
                cycle.keep_alive = False
                self._dropped = True  # nothing after it is read, as its body or as a request
                self._corked.linger = True
            await send(message)

        cycle.send = send_closing  # type: ignore[method-assign]

    def on_message_complete(self) -> None:
        self._in_content = False
        self._body = None
        super().on_message_complete()

    def on_response_complete(self) -> None:
        super().on_response_complete()
        self._pipelined_bytes = self._queued_bytes()  # less the request it started, if any
        if self._refusal is not None:
            self._owed -= 1
            if not self._owed:
                self._write_refusal()
        # The next request's headers, unless one is already queued (pipelined).
        elif not (self.transport.is_closing() or self._dropped or self.pipeline):
            self._await_headers()

    def _unsupported_upgrade_warning(self) -> None:
        """An Upgrade the edge does not offer (it serves no WebSocket): the request is answered
        as HTTP, as RFC 9110 (7.8) allows, and uvicorn's two warnings, a client's to multiply,
        are not logged. The parser took it for a switch of protocol and skipped its body, which,
        read after, was parsed as a request of its own: nothing more is read from the
        connection, which closes after the answer."""
        if self.cycle is not None:
            self.cycle.keep_alive = False
            if self.cycle.response_complete:
                self.transport.close()
        self._dropped = True

    def send_400_response(self, msg: str) -> None:
        if not self._dropped:  # a parser error raised by _drop's _Dropped is no bad request
            self._refuse(400, "edge.bad_request", "The request is not valid HTTP.")

    # -- answers the client does not take --------------------------------------------------------

    def pause_writing(self) -> None:
        super().pause_writing()
        if self._drain_deadline is None:
            self._drain_deadline = self.loop.call_later(self.drain_seconds, self._drop)

    def resume_writing(self) -> None:
        super().resume_writing()
        self._cancel(self._drain_deadline)
        self._drain_deadline = None

    def timeout_keep_alive_handler(self) -> None:
        self._cancel(self._header_deadline)
        super().timeout_keep_alive_handler()

    # -- helpers ----------------------------------------------------------------------------------

    def _await_headers(self) -> None:
        # Whether headers are under way is on_message_begin's and on_headers_complete's to say: a
        # pipelined request's may have begun while the answer before it was written. Said "no"
        # here, their bytes went uncounted (100 MiB of one header, the event loop held for seconds).
        self._cancel(self._header_deadline)
        self._header_deadline = self.loop.call_later(self.header_timeout_seconds, self._headers_too_slow)

    @staticmethod
    def _cancel(timer: asyncio.TimerHandle | None) -> None:
        if timer is not None:
            timer.cancel()

    def _headers_too_slow(self) -> None:
        self._header_deadline = None
        if self.transport.is_closing():
            return
        if self._in_headers:
            self._refuse(408, "edge.request_timeout", "The request's headers did not arrive in time.")
        else:
            self.transport.close()

    def _refuse(self, status: int, code: str, message: str) -> None:
        """Answers the request being read with an error, and closes the connection once that
        answer is written: after the answers to the requests before it (pipelined), which the
        client reads first; written at once, the error was read as the first of them, and their
        own were lost. Nothing more is read from the connection."""
        self._cancel(self._header_deadline)
        self._dropped = True
        if self.transport.is_closing() or self._refusal is not None:
            return
        # The request refused, when its headers were whole: the one being read.
        refused = self.cycle if self._in_content else None
        queued = [cycle for cycle, _ in self.pipeline]
        request_id = None
        # The Origin among the request's headers, whole or as far as they were read (a browser
        # sends it before its cookies, which are what grows past the limit).
        if refused is not None:
            origin = request_origin(refused.scope["headers"])
        else:
            origin = request_origin(self.headers) if self._in_headers else None
        cors_origin = origin if origin in self.allowed_origins else None
        if refused is not None and refused not in queued:
            # Its own application is under way: the error is its answer, unless one has begun.
            if refused.response_complete:
                self.transport.close()
                return
            if refused.response_started:
                self._drop()
                return
            # What it still sends, and what it reads, end as when the client goes; and no 100
            # Continue follows the refusal.
            refused.disconnected = True
            refused.waiting_for_100_continue = False
            refused.message_event.set()
            # Its line in the access log says what the client got, under the id it was given
            # (one of ours when its application has not begun yet, which then takes it).
            scope: dict[str, Any] = refused.scope  # type: ignore[assignment]  # ours to extend
            scope[REFUSED_STATUS_KEY] = status
            request_id = scope.setdefault(REQUEST_ID_KEY, logs.new_request_id())
            self._owed = 0
        elif queued:
            # Behind the answer under way, and those queued before it; its own never runs.
            self.pipeline = deque(entry for entry in self.pipeline if entry[0] is not refused)
            self._owed = 1 + len(self.pipeline)
        else:
            self._owed = int(self.cycle is not None and not self.cycle.response_complete)
        self._refusal = raw_error(status, code, message, request_id, cors_origin)
        if not self._owed:
            self._write_refusal()

    def _write_refusal(self) -> None:
        """The refusal, then the connection closed, lingering for the client to read it."""
        if self._refusal is None or self.transport.is_closing():
            return
        self.transport.write(self._refusal)
        self._corked.linger = True
        self.transport.close()

    def _turn_away(self, status: int, code: str, message: str) -> None:
        self._dropped = True
        self.transport.write(raw_error(status, code, message))
        self.transport.close()

    def _drop(self) -> None:
        """Closes the connection at once, whatever is still unsent."""
        self._dropped = True
        self._cancel(self._header_deadline)
        self.transport.abort()


def protocol_for(config: EdgeConfig, max_connections: int) -> type[EdgeProtocol]:
    """EdgeProtocol with the config's bounds, and a connection count of its own."""
    settings: dict[str, object] = {
        "header_timeout_seconds": config.header_timeout_seconds,
        "max_header_bytes": config.max_header_bytes,
        "max_connections": max_connections,
        "max_client_connections": config.client_connections,
        "max_pipelined": config.max_pipelined,
        "max_pipelined_bytes": config.max_header_bytes + config.max_body_bytes,
        "drain_seconds": config.drain_seconds,
        "trusted_proxies": config.trusted_proxies,
        "allowed_origins": config.allowed_origins,
        "per_client": Counter(),
    }
    return type("ConfiguredEdgeProtocol", (EdgeProtocol,), settings)


# File descriptors the process needs besides the clients' connections (upstream, database, logs).
RESERVED_FILES = 512


def allow_open_files(config: EdgeConfig) -> int:
    """Every connection is a file descriptor: raise the soft limit as far as the hard one allows
    and return how many connections fit (config.max_connections at most)."""
    wanted = config.max_connections + config.upstream_connections + RESERVED_FILES
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    ceiling = wanted if hard == resource.RLIM_INFINITY else min(wanted, hard)
    if soft != resource.RLIM_INFINITY and soft < ceiling:
        resource.setrlimit(resource.RLIMIT_NOFILE, (ceiling, hard))
        soft = ceiling
    if soft == resource.RLIM_INFINITY:
        return config.max_connections
    return max(1, min(config.max_connections, soft - config.upstream_connections - RESERVED_FILES))


def main() -> None:
    parser = argparse.ArgumentParser(prog="blossom-edge", description="Serve the Blossom edge.")
    parser.add_argument("--host", type=listen_host, default="127.0.0.1")
    # Checked here: uvicorn took 70000 modulo 65536 (4464), and 0 as a port of the kernel's
    # choosing, neither said anywhere.
    parser.add_argument("--port", type=tcp_port, default=8000)
    parser.add_argument("--log-level", default="warning", choices=sorted(uvicorn.config.LOG_LEVELS))
    args = parser.parse_args()
    logs.configure("edge")
    draining = Draining()
    try:
        config = EdgeConfig.from_env()
        # Its parts read their own settings (the outside services').
        app = create_app(config, draining)
    except ValueError as error:
        # The setting's name and what is wrong, without a traceback (as the worker says it).
        raise SystemExit(f"blossom-edge: {error}") from None
    max_connections = allow_open_files(config)
    server_config = uvicorn.Config(
        app,
        host=args.host,
        port=args.port,
        http=protocol_for(config, max_connections),
        # No WebSocket: an upgrade handed the connection to uvicorn's WebSocket protocol, and the
        # edge's never saw it close (each one kept a client's connection counted for ever).
        ws="none",
        loop="uvloop",
        lifespan="on",
        # The peer address is the client; a trusted-proxy setting, not a header, may change that.
        proxy_headers=False,
        server_header=False,
        # edge.tracing logs each request, as JSON lines (blossom_db.logs) like every line here.
        access_log=False,
        log_config=None,
        log_level=args.log_level,
        timeout_keep_alive=int(config.keep_alive_seconds),
        timeout_graceful_shutdown=config.grace_seconds,  # type: ignore[arg-type]  # a float waits as well
        backlog=2048,
    )
    DrainingServer(server_config, draining, config.stop_delay_seconds).run()


if __name__ == "__main__":
    main()
