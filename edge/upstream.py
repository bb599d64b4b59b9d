"""HTTP/1.1 to PostgREST: a pool of keep-alive connections, written for the proxy's hot path.

Every /rpc call goes through here (edge/proxy.py). A general HTTP client cost the edge more CPU
per request than all the rest of it together (aiohttp's: ~180 µs of ~560 µs, measured under
bench/proxy.py's load), for what a proxy to one known server never uses: a cookie jar (which
would also carry a cookie one client's answer set into the next client's request), redirects,
encodings, hooks. This client does only what the proxy needs:

- one server; each request written in one send; answers parsed by httptools (the parser uvicorn
  uses for the edge's own clients);
- at most `size` connections in use: a request waits at most `wait_seconds` for one
  (UpstreamBusy), then connects within `connect_seconds` (UpstreamUnavailable) or reuses an idle
  connection;
- an answer's headers must come within `read_seconds`, and then each part of its body
  (UpstreamTimeout); an answer cut short or not HTTP is UpstreamBroken;
- up to `buffer` bytes of an answer are read before it is handed over, so that a short answer
  frees its connection before the client is written to; a longer one is streamed, reading from
  PostgREST no faster than the client takes it;
- a connection is used again only after a complete answer that allows it, and not after
  `idle_seconds` idle (PostgREST closes idle connections after 30 s; one closed while in the
  pool is dropped as soon as the close arrives).
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Callable
from typing import cast
from urllib.parse import urlsplit

import httptools

from blossom_db.settings import url_port

Headers = list[tuple[bytes, bytes]]


def http_address(url: str) -> tuple[str, int, bytes]:
    """The host, port and Host header of an http://host[:port] URL; ValueError for any other."""
    parts = urlsplit(url)
    try:
        port = url_port(parts) or 80
    except ValueError:  # no number, past 65535, or 0
        port = 0
    if parts.scheme != "http" or not parts.hostname or not port or parts.path.strip("/") or parts.query:
        raise ValueError(f"must be an http://host[:port] URL, not {url!r}")
    return parts.hostname, port, parts.netloc.encode("idna")


class UpstreamError(Exception):
    """The request got no usable answer."""


class UpstreamBusy(UpstreamError):
    """Every connection stayed in use for the whole wait."""


class UpstreamUnavailable(UpstreamError):
    """No connection could be opened (refused, unreachable or too slow)."""


class UpstreamTimeout(UpstreamError):
    """The server did not answer, or stopped answering, in time."""


class UpstreamBroken(UpstreamError):
    """The connection closed mid-answer, or what came was not HTTP."""


class Upstream:
    def __init__(
        self,
        url: str,
        *,
        size: int,
        wait_seconds: float,
        connect_seconds: float,
        read_seconds: float,
        buffer: int,
        idle_seconds: float = 10.0,
    ) -> None:
        self.host, self.port, self._host_header = http_address(url)
        self.size = size
        self.wait_seconds = wait_seconds
        self.connect_seconds = connect_seconds
        self.read_seconds = read_seconds
        self.buffer = buffer
        self.idle_seconds = idle_seconds
        self._slots = asyncio.Semaphore(size)
        self._idle: list[_Connection] = []
        self._closed = False

    @property
    def in_use(self) -> int:
        """Requests holding a connection now."""
        return self.size - self._slots._value

    async def request(self, method: str, target: bytes, headers: Headers, body: bytes | None) -> Answer:
        """The server's answer to `method target`; `headers` are sent as given, then Host and,
        with a body, Content-Length. The caller must `release()` the answer."""
        await self._take_slot()
        try:
            connection = await self._connection()
            head = b"".join(
                [
                    method.encode("ascii"),
                    b" ",
                    target,
                    b" HTTP/1.1\r\nhost: ",
                    self._host_header,
                    b"\r\n",
                    *(b"%s: %s\r\n" % pair for pair in headers),
                    b"content-length: %d\r\n\r\n" % len(body) if body is not None else b"\r\n",
                ]
            )
            return await connection.exchange(head + body if body else head, method == "HEAD")
        except BaseException:
            self._slots.release()
            raise

    async def _take_slot(self) -> None:
        if not self._slots.locked():  # the usual case: no timer to arm
            await self._slots.acquire()
            return
        try:
            async with asyncio.timeout(self.wait_seconds):
                await self._slots.acquire()
        except TimeoutError:
            raise UpstreamBusy from None

    async def _connection(self) -> _Connection:
        now = time.monotonic()
        while self._idle:
            connection = self._idle.pop()
            if connection.open and now - connection.idle_since < self.idle_seconds:
                return connection
            connection.close()
        loop = asyncio.get_running_loop()
        try:
            async with asyncio.timeout(self.connect_seconds):
                _, connection = await loop.create_connection(lambda: _Connection(self), self.host, self.port)
        except (OSError, TimeoutError):
            raise UpstreamUnavailable from None
        return connection

    def _give_back(self, connection: _Connection, reusable: bool) -> None:
        if reusable and not self._closed:
            connection.idle_since = time.monotonic()
            self._idle.append(connection)
        else:
            connection.close()
        self._slots.release()

    async def close(self) -> None:
        """Closes the idle connections now, and each one in use when its answer is released."""
        self._closed = True
        while self._idle:
            self._idle.pop().close()


class Answer:
    """The status, the headers (names in lower case, as sent, repeated ones repeated) and the
    first part of the body: all of it when `complete`, else the rest comes from `rest()`."""

    def __init__(self, connection: _Connection, status: int, headers: Headers, head: bytes, complete: bool):
        self._connection: _Connection | None = connection
        self.status = status
        self.headers = headers
        self.head = head
        self.complete = complete

    def header(self, name: bytes) -> bytes | None:
        """The first value of a header (`name` in lower case)."""
        return next((value for key, value in self.headers if key == name), None)

    async def rest(self) -> AsyncIterator[bytes]:
        """The body after `head`, as it arrives."""
        connection = self._connection
        if self.complete or connection is None:
            return
        while True:
            chunk = await connection.next_chunk()
            if not chunk:
                return
            yield chunk

    def release(self) -> None:
        """Gives the connection back: into the pool when the answer was read whole."""
        connection, self._connection = self._connection, None
        if connection is not None:
            connection.finish()


class _Connection(asyncio.Protocol):
    """One connection to the server, one exchange at a time."""

    def __init__(self, upstream: Upstream) -> None:
        self._upstream = upstream
        self._loop = asyncio.get_running_loop()
        self._parser = httptools.HttpResponseParser(self)
        self.transport: asyncio.Transport | None = None
        self.open = False
        self.idle_since = 0.0
        # The exchange under way.
        self._active = False
        self._head_request = False
        self._status = 0
        self._headers: Headers = []
        self._headers_done = False
        self._chunks: list[bytes] = []
        self._buffered = 0
        self._complete = False
        self._reusable = False
        self._paused = False
        self._error: UpstreamError | None = None
        self._waiter: asyncio.Future[None] | None = None
        self._ready: Callable[[], bool] = lambda: True

    # -- the exchange -----------------------------------------------------------------------------

    async def exchange(self, request: bytes, head_request: bool) -> Answer:
        assert self.transport is not None
        assert not self._active
        self._active = True
        self._head_request = head_request
        self._status = 0
        self._headers = []
        self._headers_done = False
        self._chunks = []
        self._buffered = 0
        self._complete = False
        self._reusable = False
        self._error = None
        self.transport.write(request)
        limit = self._upstream.buffer
        await self._wait(lambda: self._complete or (self._headers_done and self._buffered >= limit))
        head, self._chunks, self._buffered = b"".join(self._chunks), [], 0
        self._resume()
        return Answer(self, self._status, self._headers, head, self._complete)

    async def next_chunk(self) -> bytes:
        """The body received since the last call, waiting for some; b"" at its end."""
        await self._wait(lambda: self._complete or bool(self._chunks))
        chunk, self._chunks, self._buffered = b"".join(self._chunks), [], 0
        self._resume()
        return chunk

    def finish(self) -> None:
        reusable = self._complete and self._reusable and self._error is None and self.open
        self._active = False
        self._resume()
        self._upstream._give_back(self, reusable)

    async def _wait(self, ready: Callable[[], bool]) -> None:
        """Until `ready()`, an error, or read_seconds without it; on timeout or cancellation the
        connection is closed (its answer is half read)."""
        if self._error is None and ready():
            return
        if self._error is None:
            self._ready = ready
            self._waiter = waiter = self._loop.create_future()
            timer = self._loop.call_later(self._upstream.read_seconds, self._time_out, waiter)
            try:
                await waiter
            except BaseException:
                self.close()
                raise
            finally:
                timer.cancel()
                self._waiter = None
        if self._error is not None:
            self.close()
            raise self._error

    def _time_out(self, waiter: asyncio.Future[None]) -> None:
        if not waiter.done():
            self._error = UpstreamTimeout()
            waiter.set_result(None)

    def _poke(self) -> None:
        waiter = self._waiter
        if waiter is not None and not waiter.done() and (self._error is not None or self._ready()):
            waiter.set_result(None)

    def _fail(self, error: UpstreamError) -> None:
        if self._active and not self._complete and self._error is None:
            self._error = error
            self._poke()

    def _resume(self) -> None:
        if self._paused and self.transport is not None:
            self._paused = False
            self.transport.resume_reading()

    def close(self) -> None:
        self.open = False
        if self.transport is not None:
            self.transport.close()

    # -- asyncio's callbacks ----------------------------------------------------------------------

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        # uvloop's transports are not asyncio.Transport's subclasses, only alike.
        self.transport = cast(asyncio.Transport, transport)
        self.open = True

    def connection_lost(self, exc: Exception | None) -> None:
        self.open = False
        if (
            exc is None
            and self._active
            and self._headers_done
            and not self._complete
            and self._ends_at_close()
        ):
            self._complete = True
            self._poke()
        self._fail(UpstreamBroken())

    def _ends_at_close(self) -> bool:
        """Whether the answer's body is what comes before the connection closes: it has neither
        Content-Length nor Transfer-Encoding (PostgREST's HTTP/1.0 refusal of headers too large
        for it). httptools has no way to be told of the close, so the end is noted here."""
        return not any(name in (b"content-length", b"transfer-encoding") for name, _ in self._headers)

    def data_received(self, data: bytes) -> None:
        if not self._active:
            self.close()  # nothing was asked: the connection is of no use
            return
        try:
            self._parser.feed_data(data)
        except httptools.HttpParserError:
            self._fail(UpstreamBroken())
            self.close()

    # -- httptools' callbacks ---------------------------------------------------------------------

    def on_message_begin(self) -> None:
        if self._complete:  # a second answer, to no request: the connection is not used again
            self._reusable = False

    def on_header(self, name: bytes, value: bytes) -> None:
        if not self._headers_done:  # not a chunked body's trailers
            self._headers.append((name.lower(), value))

    def on_headers_complete(self) -> None:
        status = self._parser.get_status_code()
        if status < 200:  # an interim answer (100 Continue): the final one follows
            self._headers = []
            return
        self._status = status
        self._headers_done = True
        if self._head_request:
            # No body follows whatever Content-Length says; httptools cannot be told so, and would
            # wait for one: the answer ends here and the connection is not used again.
            self._complete = True
        self._poke()

    def on_body(self, body: bytes) -> None:
        if self._complete:
            return
        self._chunks.append(body)
        self._buffered += len(body)
        if self._buffered >= self._upstream.buffer and not self._paused and self.transport is not None:
            self._paused = True
            self.transport.pause_reading()
        self._poke()

    def on_message_complete(self) -> None:
        if self._status == 0:
            return  # the end of an interim answer
        if not self._complete:
            self._complete = True
            self._reusable = self._parser.should_keep_alive()
        self._poke()
