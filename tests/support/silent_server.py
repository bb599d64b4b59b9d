"""A server that takes connections and never answers, as Postgres does while it shuts down: a new
connection then waits, unanswered, until the server is gone. Records how long each connection
was kept open by its client."""

from __future__ import annotations

import selectors
import socket
import time
from dataclasses import dataclass

from tests.support.listening_thread import ListeningThread


@dataclass
class Held:
    opened: float
    closed: float | None = None

    def seconds(self, now: float) -> float:
        return (self.closed if self.closed is not None else now) - self.opened


class SilentServer(ListeningThread):
    def __init__(self) -> None:
        super().__init__("silent server")
        self.connections: list[Held] = []
        self._selector = selectors.DefaultSelector()

    def _serve(self) -> None:
        self.listener.setblocking(False)
        self._selector.register(self.listener, selectors.EVENT_READ)
        while not self._stopping.is_set():
            for key, _ in self._selector.select(timeout=0.05):
                if key.fileobj is self.listener:
                    conn, _ = self.listener.accept()
                    conn.setblocking(False)
                    held = Held(time.monotonic())
                    self.connections.append(held)
                    self._selector.register(conn, selectors.EVENT_READ, held)
                    continue
                client = key.fileobj
                assert isinstance(client, socket.socket)
                try:
                    received = client.recv(65536)
                except ConnectionError:
                    received = b""
                if not received:  # the client gave up: read to its end, and closed
                    key.data.closed = time.monotonic()
                    self._selector.unregister(client)
                    client.close()

    def longest_held(self) -> float:
        """The longest any client kept a connection open, so far (seconds)."""
        now = time.monotonic()
        return max((held.seconds(now) for held in self.connections), default=0.0)

    def _close(self) -> None:
        for key in list(self._selector.get_map().values()):
            key.fileobj.close()  # type: ignore[union-attr]
        self._selector.close()
