"""`python -m worker`: run the worker until SIGTERM or SIGINT (settings: worker/config.py)."""

from __future__ import annotations

import asyncio
import logging

from blossom_db import logs
from worker.config import WorkerConfig
from worker.delivery import GiveUpsByTheirReason
from worker.process import APPLICATION_NAME, ExpectedDatabaseLoss, WorkerProcess


def main() -> None:
    logs.configure("worker")
    # procrastinate logs every job's start and end; its warnings and errors are what matter here.
    logging.getLogger("procrastinate").setLevel(logging.WARNING)
    logging.getLogger("procrastinate.worker").addFilter(GiveUpsByTheirReason())
    # The database lost is the process's one line (`database unreachable (…)`), not procrastinate's
    # tracebacks: its worker's (a logger named after the worker too: a logger's filters do not see
    # its children's records), and its side tasks' as they are cancelled (procrastinate.utils).
    for name in ("procrastinate.worker", f"procrastinate.worker.{APPLICATION_NAME}", "procrastinate.utils"):
        logging.getLogger(name).addFilter(ExpectedDatabaseLoss())
    try:
        config = WorkerConfig.from_env()
    except ValueError as error:
        raise SystemExit(f"blossom-worker: {error}") from None
    asyncio.run(WorkerProcess(config).run())


main()
