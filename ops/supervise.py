"""`just up`'s processes, the way `docker compose up` shows and keeps them: every line a process
writes is shown with its name in front, interleaved as it comes, and a process that exits is
started again after a back-off that doubles while it keeps failing."""

from __future__ import annotations

import subprocess
import sys
import threading
import time
from collections.abc import Callable
from contextlib import suppress
from pathlib import Path
from typing import IO

# The first restart comes this soon; each further one in a row waits twice as long, up to the
# longest; a process that ran this long before it exited is restarted at the first wait again.
FIRST_BACKOFF_SECONDS = 0.5
LONGEST_BACKOFF_SECONDS = 30.0
HEALTHY_SECONDS = 30.0
NAME_WIDTH = 9


class Output:
    """Lines of several sources on one stream, each with its source's name in front."""

    def __init__(self, stream: IO[str] = sys.stdout) -> None:
        self.stream = stream
        self.lock = threading.Lock()

    def line(self, name: str, text: str) -> None:
        # OSError: the terminal is gone (EIO). The line is lost, and the relay reading a process's
        # output goes on, lest the process block on a full pipe.
        with self.lock, suppress(OSError):
            self.stream.write(f"{name:<{NAME_WIDTH}}| {text.rstrip()}\n")
            self.stream.flush()

    def relay(self, name: str, source: IO[bytes]) -> threading.Thread:
        """A thread that shows every line of `source` until it ends."""

        def run() -> None:
            with source:
                for raw in source:
                    self.line(name, raw.decode("utf-8", "replace"))

        thread = threading.Thread(target=run, name=f"relay {name}", daemon=True)
        thread.start()
        return thread

    def follow(self, name: str, path: Path, stop: threading.Event) -> threading.Thread:
        """A thread that shows the lines added to the file at `path` from now on, until `stop`."""

        def run() -> None:
            offset = path.stat().st_size if path.exists() else 0
            while not stop.wait(0.2):
                if not path.exists():
                    continue
                with open(path, "rb") as handle:
                    handle.seek(offset)
                    for raw in handle:
                        if not raw.endswith(b"\n"):
                            break  # half a line: the rest comes later
                        offset += len(raw)
                        self.line(name, raw.decode("utf-8", "replace"))

        thread = threading.Thread(target=run, name=f"follow {name}", daemon=True)
        thread.start()
        return thread


class Child:
    """One process of the stack, which `start` starts with its output piped to us."""

    def __init__(self, name: str, start: Callable[[], subprocess.Popen[bytes]], output: Output) -> None:
        self.name = name
        self.start = start
        self.output = output
        self.backoff = FIRST_BACKOFF_SECONDS
        self.restart_at: float | None = None
        self.process = self._launch()

    def _launch(self) -> subprocess.Popen[bytes]:
        process = self.start()
        self.started_at = time.monotonic()
        if process.stdout is not None:
            self.output.relay(self.name, process.stdout)
        self.output.line("blossom", f"{self.name} started (pid {process.pid})")
        return process

    def keep_running(self) -> None:
        """Notes an exit and schedules the restart; restarts when its time has come."""
        now = time.monotonic()
        if self.restart_at is None:
            if self.process.poll() is None:
                return
            if now - self.started_at >= HEALTHY_SECONDS:
                self.backoff = FIRST_BACKOFF_SECONDS
            self.output.line(
                "blossom",
                f"{self.name} exited with status {self.process.returncode}; restarting in {self.backoff:g} s",
            )
            self.restart_at = now + self.backoff
            self.backoff = min(self.backoff * 2, LONGEST_BACKOFF_SECONDS)
        if now >= self.restart_at:
            try:
                self.process = self._launch()
                self.restart_at = None
            except (RuntimeError, OSError) as error:
                self.output.line("blossom", f"{self.name} could not be started: {error}; trying again")
                self.restart_at = now + self.backoff
                self.backoff = min(self.backoff * 2, LONGEST_BACKOFF_SECONDS)
