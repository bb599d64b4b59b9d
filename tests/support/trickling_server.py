"""An HTTP server that answers one byte at a time, `interval` seconds apart, from the status line
on: its headers never end before the client has waited long past any read timeout it set (each
byte comes in time), which is what only a bound on the whole call cuts. Records how much went out
and whether the client hung up first."""

from __future__ import annotations

import threading
import time

from tests.support.listening_thread import ListeningThread


class TricklingServer(ListeningThread):
    # A byte at a time takes its while: the answer is let run to its end, or to the client's.
    join_seconds = 30.0

    def __init__(self, answer: bytes, interval: float) -> None:
        super().__init__("trickling server")
        self.answer = answer
        self.interval = interval
        self.sent = 0
        self.cut = False
        self.finished = threading.Event()

    def _serve(self) -> None:
        self.listener.settimeout(0.05)
        while True:  # one connection, or none before the test ends
            try:
                conn, _ = self.listener.accept()
                break
            except TimeoutError:
                if self._stopping.is_set():
                    self.finished.set()
                    return
        conn.settimeout(None)
        with conn:
            try:
                received = b""
                while b"\r\n\r\n" not in received and (chunk := conn.recv(65536)):
                    received += chunk
                for index in range(len(self.answer)):
                    time.sleep(self.interval)
                    conn.sendall(self.answer[index : index + 1])
                    self.sent = index + 1
            except OSError:  # the client hung up
                pass
            finally:
                self.cut = self.sent < len(self.answer)
                self.finished.set()
