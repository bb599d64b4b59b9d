"""Stopping the edge without dropping a request: SIGTERM first turns `/readyz` to 503 for
BLOSSOM_EDGE_STOP_DELAY seconds while every request is still served, so that a load balancer
stops sending new ones; then uvicorn stops accepting connections, lets the requests under way
finish (at most BLOSSOM_EDGE_GRACE_SECONDS; those left are answered 503 edge.shutting_down,
edge/tracing.py), and the process exits. A second signal stops at once."""

from __future__ import annotations

import logging
import time
from types import FrameType

import uvicorn

log = logging.getLogger("edge.lifecycle")


class Draining:
    """Whether the edge is on its way out (`/readyz` answers 503 edge.draining)."""

    def __init__(self) -> None:
        self.since: float | None = None

    @property
    def started(self) -> bool:
        return self.since is not None

    def start(self) -> None:
        if self.since is None:
            self.since = time.monotonic()


class DrainingServer(uvicorn.Server):
    """uvicorn's server, whose first SIGTERM or SIGINT starts `draining` and stops the server
    `stop_delay_seconds` later."""

    def __init__(self, config: uvicorn.Config, draining: Draining, stop_delay_seconds: float) -> None:
        super().__init__(config)
        self.draining = draining
        self.stop_delay_seconds = stop_delay_seconds
        self._signal: int | None = None
        self._announced = False

    def handle_exit(self, sig: int, frame: FrameType | None) -> None:
        if self.draining.started or self.stop_delay_seconds <= 0:
            self.draining.start()
            super().handle_exit(sig, frame)
            return
        # Called as a signal handler: note it, and let on_tick (the server's own loop) act.
        self._signal = sig
        self.draining.start()

    async def on_tick(self, counter: int) -> bool:
        since = self.draining.since
        if since is not None and self._signal is not None:
            if not self._announced:
                self._announced = True
                log.info("draining: /readyz answers 503; stopping in %g s", self.stop_delay_seconds)
            if time.monotonic() - since >= self.stop_delay_seconds:
                log.info("draining: no longer accepting; finishing the requests under way")
                # As uvicorn does for a signal: stop, then end by the same signal once stopped.
                sig, self._signal = self._signal, None
                super().handle_exit(sig, None)
        return await super().on_tick(counter)
