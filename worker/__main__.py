"""`python -m worker`: run the worker until SIGTERM or SIGINT (settings: worker/config.py)."""

from __future__ import annotations

import asyncio
import logging

from blossom_db import logs
from worker.config import WorkerConfig
from worker.delivery import GiveUpsByTheirReason
from worker.process import WorkerProcess


def main() -> None:
    logs.configure("worker")
    # procrastinate logs every job's start and end; its warnings and errors are what matter here.
    logging.getLogger("procrastinate").setLevel(logging.WARNING)
    logging.getLogger("procrastinate.worker").addFilter(GiveUpsByTheirReason())
    try:
        config = WorkerConfig.from_env()
    except ValueError as error:
        raise SystemExit(f"blossom-worker: {error}") from None
    asyncio.run(WorkerProcess(config).run())


main()
