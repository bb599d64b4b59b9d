"""A real SMTP server for the worker's tests (aiosmtpd, on loopback), that a test can stop and
start, make refuse, or make hold a delivery half-way.

    with SmtpServer() as smtp:
        smtp.refuse_next("451 4.3.0 Try again later")   # the next message's end of data
        smtp.hold()                                      # the next RCPT TO waits ...
        smtp.held.wait(5); smtp.release()                # ... until released
        smtp.stop(); smtp.start()                        # down, then up again on the same port
        smtp.on_next_rcpt(action)                        # the next RCPT TO runs action() first
        smtp.hold_goodbye()                              # the next QUIT is answered only ...
        smtp.goodbye_held.wait(5); smtp.release()        # ... once released
        smtp.hold_data_end()                             # the next message is taken, its end ...
        smtp.data_end_held.wait(5); smtp.release()       # ... of data answered once released

A message counts as received only when its end of data was answered 250, as for a real server;
or, held, as soon as its end of data came (a relay that queues the message before it answers, as
Postfix does, delivers it even when the client hung up meanwhile).
"""

from __future__ import annotations

import asyncio
import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from email import message_from_bytes, policy
from email.message import EmailMessage
from typing import Any

from aiosmtpd.controller import Controller
from aiosmtpd.smtp import SMTP, AuthResult, Envelope, LoginPassword, Session

from ops.scratch import free_port


@dataclass(frozen=True)
class Received:
    to: tuple[str, ...]
    message: EmailMessage
    # The user the client logged in as, if it did.
    login: str | None = None

    @property
    def message_id(self) -> str:
        return str(self.message["Message-ID"])

    def part(self, subtype: str) -> str:
        body = self.message.get_body(preferencelist=(subtype,))
        assert body is not None, f"no text/{subtype} part"
        return str(body.get_content())


class _Handler:
    def __init__(self, owner: SmtpServer) -> None:
        self.owner = owner

    async def handle_RCPT(
        self, server: SMTP, session: Session, envelope: Envelope, address: str, rcpt_options: list[str]
    ) -> str:
        owner = self.owner
        with owner._lock:
            action, owner._rcpt_action = owner._rcpt_action, None
        if action is not None:
            # In a thread of its own: the action may block (a database round trip), this loop not.
            await asyncio.get_running_loop().run_in_executor(None, action)
        if owner._holding.is_set():
            owner._holding.clear()
            owner.held.set()
            # The release comes from the test's thread; wait for it without blocking this loop.
            await asyncio.get_running_loop().run_in_executor(None, owner._released.wait)
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_QUIT(self, server: SMTP, session: Session, envelope: Envelope) -> str:
        owner = self.owner
        if owner._holding_goodbye.is_set():
            owner._holding_goodbye.clear()
            owner.goodbye_held.set()
            await asyncio.get_running_loop().run_in_executor(None, owner._released.wait)
        return "221 Bye"

    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:
        owner = self.owner
        with owner._lock:
            if owner._refusals:
                return owner._refusals.popleft()
            content = (
                envelope.content if isinstance(envelope.content, bytes) else str(envelope.content).encode()
            )
            parsed = message_from_bytes(content, policy=policy.default)
            assert isinstance(parsed, EmailMessage)
            login = session.login_data.decode() if isinstance(session.login_data, bytes) else None
            owner._received.append(
                Received(tuple(envelope.rcpt_tos), parsed, login if session.authenticated else None)
            )
            holding = owner._holding_data_end.is_set()
            owner._holding_data_end.clear()
        if holding:
            owner.data_end_held.set()
            await asyncio.get_running_loop().run_in_executor(None, owner._released.wait)
        return "250 2.0.0 Accepted"


class SmtpServer:
    def __init__(self, login: tuple[str, str] | None = None) -> None:
        """With `login` (user, password), the server accepts them (AUTH, without TLS)."""
        self.login = login
        self.port = free_port()
        self._lock = threading.Lock()
        self._received: list[Received] = []
        self._refusals: deque[str] = deque()
        self._holding = threading.Event()
        self._released = threading.Event()
        self.held = threading.Event()
        self._holding_goodbye = threading.Event()
        self.goodbye_held = threading.Event()
        self._holding_data_end = threading.Event()
        self.data_end_held = threading.Event()
        self._rcpt_action: Callable[[], None] | None = None
        self._controller: Controller | None = None

    @property
    def url(self) -> str:
        return f"smtp://127.0.0.1:{self.port}"

    def _authenticate(
        self, server: SMTP, session: Session, envelope: Envelope, mechanism: str, data: object
    ) -> AuthResult:
        given = (data.login.decode(), data.password.decode()) if isinstance(data, LoginPassword) else None
        return AuthResult(success=given == self.login, handled=False, auth_data=data)

    def start(self) -> None:
        # AUTH is offered without TLS (this is loopback) but not required, which aiosmtpd would
        # warn of on every connection; Received.login says whether the client logged in.
        self._controller = Controller(
            _Handler(self),
            hostname="127.0.0.1",
            port=self.port,
            ready_timeout=5,
            authenticator=self._authenticate if self.login else None,
            auth_require_tls=False,
        )
        self._controller.start()

    def stop(self) -> None:
        if self._controller is not None:
            self._released.set()
            self._controller.stop()
            self._controller = None

    def __enter__(self) -> SmtpServer:
        self.start()
        return self

    def __exit__(self, *_exc: Any) -> None:
        self.stop()

    def refuse_next(self, *replies: str) -> None:
        """The next messages' ends of data are answered with these replies, in turn."""
        with self._lock:
            self._refusals.extend(replies)

    def hold(self) -> None:
        """The next RCPT TO waits for release(); `held` is set once it waits."""
        self.held.clear()
        self._released.clear()
        self._holding.set()

    def hold_goodbye(self) -> None:
        """The next QUIT waits for release() before it is answered; `goodbye_held` is set once it
        waits (the message it ends accepted by then)."""
        self.goodbye_held.clear()
        self._released.clear()
        self._holding_goodbye.set()

    def hold_data_end(self) -> None:
        """The next message is taken (received) at its end of data, which is answered only once
        released; `data_end_held` is set once it waits."""
        self.data_end_held.clear()
        self._released.clear()
        self._holding_data_end.set()

    def on_next_rcpt(self, action: Callable[[], None]) -> None:
        """The next RCPT TO runs `action` to its end before it is answered (what happens to the
        client meanwhile, at the very point of its conversation: its database connection lost)."""
        with self._lock:
            self._rcpt_action = action

    def release(self) -> None:
        self._released.set()

    @property
    def received(self) -> list[Received]:
        with self._lock:
            return list(self._received)

    def to(self, address: str) -> list[Received]:
        return [message for message in self.received if address in message.to]

    def wait_for(self, count: int, timeout: float = 10.0) -> list[Received]:
        """The messages received, once there are at least `count`; AssertionError after `timeout`."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            received = self.received
            if len(received) >= count:
                return received
            time.sleep(0.02)
        raise AssertionError(f"{len(self.received)} message(s) received in {timeout:.0f} s, wanted {count}")
