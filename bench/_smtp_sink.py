"""An SMTP server that accepts every message and notes when each arrived (aiosmtpd, on
loopback): what the benchmarks send the worker's mail to."""

from __future__ import annotations

import threading
import time

from aiosmtpd.controller import Controller
from aiosmtpd.smtp import SMTP, Envelope, Session

from ops.scratch import free_port


class Sink:
    """Accepts everything; notes when each message's end of data arrived, by its Message-ID."""

    def __init__(self) -> None:
        self.port = free_port()
        self.arrivals: dict[str, float] = {}
        self.lock = threading.Lock()
        self.controller = Controller(self, hostname="127.0.0.1", port=self.port)

    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:
        arrived = time.time()
        content = envelope.content if isinstance(envelope.content, bytes) else b""
        for line in content.split(b"\r\n"):
            if line.lower().startswith(b"message-id:"):
                with self.lock:
                    self.arrivals[line.split(b"<", 1)[1].split(b"@", 1)[0].decode()] = arrived
                break
        return "250 Accepted"

    def wait_for(self, ids: list[str], timeout: float) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            with self.lock:
                if all(i in self.arrivals for i in ids):
                    return
            time.sleep(0.01)
        missing = sum(1 for i in ids if i not in self.arrivals)
        raise SystemExit(f"bench/mail: {missing} of {len(ids)} mails did not arrive within {timeout:.0f} s")
