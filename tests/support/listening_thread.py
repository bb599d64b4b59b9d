"""A test server's lifecycle: a listener on a free loopback port, served by a thread of its own
from `with` to its end; the subclass says how it serves (`_serve`, which returns soon after
`_stopping` is set) and what else it closes at the end (`_close`)."""

from __future__ import annotations

import socket
import threading
from types import TracebackType
from typing import Self


class ListeningThread:
    # How long the end of a `with` waits for the serving thread.
    join_seconds = 5.0

    def __init__(self, name: str) -> None:
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.port = int(self.listener.getsockname()[1])
        self._stopping = threading.Event()
        self._thread = threading.Thread(target=self._serve, name=name, daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def _serve(self) -> None:
        raise NotImplementedError

    def _close(self) -> None:
        """What the subclass holds besides the listener, closed once its thread ended."""

    def __enter__(self) -> Self:
        self._thread.start()
        return self

    def __exit__(
        self, kind: type[BaseException] | None, error: BaseException | None, trace: TracebackType | None
    ) -> None:
        self._stopping.set()
        self._thread.join(timeout=self.join_seconds)
        self.listener.close()
        self._close()
