"""edge/upstream.py against a server that answers exactly the bytes each test scripts."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable

import pytest

from edge.upstream import Upstream, UpstreamBroken, UpstreamTimeout, UpstreamUnavailable

Script = Callable[[asyncio.StreamReader, asyncio.StreamWriter], Awaitable[None]]


async def read_request(reader: asyncio.StreamReader) -> bytes:
    return await reader.readuntil(b"\r\n\r\n")


def run(script: Script, exchange: Callable[[Upstream], Awaitable[None]]) -> int:
    """Runs `exchange` against a loopback server answering with `script`; returns how many
    connections the server accepted."""
    accepted = 0

    async def main() -> None:
        async def serve(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
            nonlocal accepted
            accepted += 1
            try:
                await script(reader, writer)
            finally:
                writer.close()

        server = await asyncio.start_server(serve, "127.0.0.1", 0)
        port = server.sockets[0].getsockname()[1]
        upstream = Upstream(
            f"http://127.0.0.1:{port}",
            size=2,
            wait_seconds=0.5,
            connect_seconds=1,
            read_seconds=0.5,
            buffer=16,
        )
        try:
            await exchange(upstream)
        finally:
            await upstream.close()
            server.close()

    asyncio.run(main())
    return accepted


async def chunked_twice(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    for _ in range(2):
        await read_request(reader)
        writer.write(
            b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\nSet-Cookie: a=1\r\nSet-Cookie: b=2\r\n\r\n"
        )
        writer.write(b"5\r\nhello\r\n6\r\n world\r\n0\r\n\r\n")
        await writer.drain()


def test_answers_are_parsed_and_the_connection_is_used_again() -> None:
    async def exchange(upstream: Upstream) -> None:
        for _ in range(2):
            answer = await upstream.request("GET", b"/rpc/x?a=1", [(b"cookie", b"s=1")], None)
            assert (answer.status, answer.head, answer.complete) == (200, b"hello world", True)
            assert [value for name, value in answer.headers if name == b"set-cookie"] == [b"a=1", b"b=2"]
            answer.release()
        assert upstream.in_use == 0

    assert run(chunked_twice, exchange) == 1


async def long_answer(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    await read_request(reader)
    writer.write(b"HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\n" + b"x" * 20)
    await writer.drain()
    await asyncio.sleep(0.1)
    writer.write(b"x" * 80)
    await writer.drain()


def test_an_answer_over_the_buffer_streams_after_its_head() -> None:
    async def exchange(upstream: Upstream) -> None:
        answer = await upstream.request("GET", b"/", [], None)
        assert not answer.complete
        assert len(answer.head) >= 16
        rest = b"".join([chunk async for chunk in answer.rest()])
        answer.release()
        assert answer.head + rest == b"x" * 100

    run(long_answer, exchange)


async def cut_short(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    await read_request(reader)
    writer.write(b"HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nabc")


async def not_http(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    await read_request(reader)
    writer.write(b"SSH-2.0-OpenSSH\r\n\r\n")
    await writer.drain()
    await asyncio.sleep(1)


@pytest.mark.parametrize("script", [cut_short, not_http])
def test_an_answer_cut_short_or_not_http_is_broken(script: Script) -> None:
    async def exchange(upstream: Upstream) -> None:
        with pytest.raises(UpstreamBroken):
            await upstream.request("POST", b"/", [], b"{}")
        assert upstream.in_use == 0

    run(script, exchange)


async def silent(reader: asyncio.StreamReader, _writer: asyncio.StreamWriter) -> None:
    await read_request(reader)
    await asyncio.sleep(2)


def test_a_silent_server_times_out_and_gives_its_slot_back() -> None:
    async def exchange(upstream: Upstream) -> None:
        with pytest.raises(UpstreamTimeout):
            await upstream.request("GET", b"/", [], None)
        assert upstream.in_use == 0

    run(silent, exchange)


async def head_answer(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    while True:
        await read_request(reader)
        writer.write(b"HTTP/1.1 200 OK\r\nContent-Length: 7\r\n\r\n")
        await writer.drain()


def test_a_head_answer_has_no_body_whatever_its_length_says() -> None:
    async def exchange(upstream: Upstream) -> None:
        for _ in range(2):
            answer = await upstream.request("HEAD", b"/", [], None)
            assert (answer.status, answer.head, answer.complete) == (200, b"", True)
            answer.release()

    # httptools would wait for the body: the connection is not used again.
    assert run(head_answer, exchange) == 2


def test_a_closed_port_is_unavailable() -> None:
    async def main() -> None:
        upstream = Upstream(
            "http://127.0.0.1:1", size=1, wait_seconds=0.1, connect_seconds=1, read_seconds=1, buffer=16
        )
        with pytest.raises(UpstreamUnavailable):
            await upstream.request("GET", b"/", [], None)
        assert upstream.in_use == 0

    asyncio.run(main())


async def answer_ended_by_close(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    await read_request(reader)
    writer.write(b"HTTP/1.0 400 Bad Request\r\nContent-Type: text/plain\r\n\r\nToo large")
    await writer.drain()


def test_an_answer_whose_end_is_the_close_is_read_whole() -> None:
    """HTTP/1.0 without Content-Length, as PostgREST's server refuses headers too large for it."""

    async def exchange(upstream: Upstream) -> None:
        answer = await upstream.request("GET", b"/rpc/x", [], None)
        assert (answer.status, answer.head, answer.complete) == (400, b"Too large", True)
        answer.release()
        assert upstream.in_use == 0

    run(answer_ended_by_close, exchange)
