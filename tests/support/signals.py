"""Signal handlers in tests: the process's own, kept across code that changes them for good, and a
child's Ctrl-C, given it as a terminal gives it."""

from __future__ import annotations

import signal
from collections.abc import Iterator
from contextlib import contextmanager


@contextmanager
def signal_handlers_as_found() -> Iterator[None]:
    """SIGINT's and SIGTERM's handlers put back as they were on entry, whatever ran meanwhile.
    An ignored one is inherited by every child started afterwards (exec keeps SIG_IGN)."""
    found = {number: signal.getsignal(number) for number in (signal.SIGINT, signal.SIGTERM)}
    try:
        yield
    finally:
        for number, handler in found.items():
            if handler is not None:  # None: set outside Python, which cannot put it back
                signal.signal(number, handler)


def ctrl_c_as_on_a_terminal() -> None:
    """For preexec_fn: SIGINT at its default in the child, as a shell gives it to a job it runs
    in the foreground. A test run from a script's background job ignores SIGINT, and a child
    started from it would ignore Ctrl-C too: Python then installs no KeyboardInterrupt."""
    signal.signal(signal.SIGINT, signal.SIG_DFL)
