"""The worker process: procrastinate's worker on queues `mail` and `slack`, kept running through database
outages, stopped gracefully by SIGTERM or SIGINT.

Jobs are deferred in SQL, in the transaction that writes the mail (sql/functions/app/outbox.sql
names the queue and the task below); a NOTIFY at commit wakes the worker (app.tg_jobs__wake_the_worker,
not while Postgres's notification queue is backed up: then the worker's poll finds the job).

What procrastinate leaves to its user, done here:
  - Postgres going away ends procrastinate's worker (its listener or heartbeat fails); this
    process waits until Postgres answers again, then starts a new one, and runs again at once
    the jobs the old one left `doing` (their end not recorded).
  - A worker that died holding jobs (SIGKILL, a lost machine) leaves them `doing`: every
    heartbeat, the jobs of workers silent for BLOSSOM_WORKER_STALLED_SECONDS are run again.
  - A job's end that the database failed to record while the worker runs on is tried again,
    then the worker starts over (QueueWorker).
  - How a failed try is retried: DeliveryRetry, from what Deliverer recorded.
  - Notifications only wake the worker (QueueConnector): any login may send one.
"""

from __future__ import annotations

import asyncio
import json
import logging
import signal
import time
from collections.abc import Iterable
from contextlib import suppress
from datetime import UTC, datetime, timedelta
from typing import Any

import psycopg
from procrastinate import App, PsycopgConnector, exceptions
from procrastinate.connector import Notify
from procrastinate.job_context import JobContext, JobResult
from procrastinate.jobs import Job, Status
from procrastinate.manager import JobManager
from procrastinate.retry import BaseRetryStrategy, RetryDecision
from procrastinate.worker import Worker

from blossom_db import logs
from blossom_db.connections import AsyncConnection
from blossom_db.database import Database, DatabaseUnavailable, connection_lost
from blossom_db.settings import database_shown
from services.slack import SlackClient
from services.smtp import Mailer
from worker.config import WorkerConfig
from worker.delivery import Deliverer, RetryLater, retry_delay
from worker.metrics import WorkerMetrics
from worker.slack import SlackPoster

log = logging.getLogger("blossom.worker")

MAIL_QUEUE = "mail"
DELIVER_TASK = "deliver_mail"
SLACK_QUEUE = "slack"
SLACK_TASK = "post_to_slack"
APPLICATION_NAME = "blossom-worker"
# How long to wait before trying Postgres again, growing to the longest.
RECONNECT_FIRST_SECONDS = 0.2
RECONNECT_LONGEST_SECONDS = 5.0
# How many runs a job may have per try its mail is allowed (BLOSSOM_MAIL_MAX_ATTEMPTS) before a
# failure on a database state that should pass (not the database lost) ends it: its runs count
# its counted tries, those put back by a stop, and those a passing state failed (16 with the
# defaults, about 10 hours of waits doubling up to an hour).
RUNS_PER_TRY = 2
# What a try at the database may raise: psycopg's errors, procrastinate's wrapping of them, no
# connection to be had (DatabaseUnavailable), a socket's error.
DATABASE_ERRORS = (exceptions.ConnectorException, psycopg.Error, DatabaseUnavailable, OSError)


def database_lost(error: BaseException) -> bool:
    """Whether `error` says that the database could not be reached or the connection to it was
    lost (blossom_db.database.connection_lost for psycopg's errors), as opposed to an error of
    what was asked of it. Every psycopg error of procrastinate's is a ConnectorException, with
    the error as its cause: a foreign-key violation in its job queue was logged as the database
    unreachable."""
    if isinstance(error, exceptions.ConnectorException) and not isinstance(error.__cause__, psycopg.Error):
        return True  # procrastinate's own, or ours: the worker ended by itself
    error = _unwrapped(error)
    if isinstance(error, DatabaseUnavailable | OSError):
        return True
    return isinstance(error, psycopg.Error) and connection_lost(error)


def _unwrapped(error: BaseException) -> BaseException:
    """The error procrastinate wrapped in a ConnectorException (its cause), else `error`."""
    if isinstance(error, exceptions.ConnectorException) and error.__cause__ is not None:
        return error.__cause__
    return error


def may_pass(error: BaseException) -> bool:
    """Whether a try that failed on `error` may succeed later unchanged, without counting against
    its mail: the database lost, or in a state that passes (a deadlock, a serialization failure,
    a lock or statement timeout, resources short: psycopg's other OperationalErrors)."""
    error = _unwrapped(error)
    return database_lost(error) or isinstance(error, psycopg.OperationalError)


def database_error_shown(error: BaseException) -> str:
    """An error of the database as a log line shows it: its SQLSTATE, when the server gave one,
    and its message's first line."""
    error = _unwrapped(error)
    state = error.sqlstate if isinstance(error, psycopg.Error) else None
    return f"SQLSTATE {state}: {_first_line(error)}" if state else _first_line(error)


class DeliveryRetry(BaseRetryStrategy):
    """When a `deliver_mail` or `post_to_slack` job runs again: as the try said (RetryLater); at once
    after a shutdown stopped it; after a growing wait when the database could not be reached, or
    was in a state that passes (may_pass: nothing was recorded, and nothing counts against the
    mail's tries), the latter at most until the job's runs reach RUNS_PER_TRY per try allowed.
    Never after GaveUp or any other error: those end the job `failed`, with the error in the
    worker's log."""

    def __init__(self, config: WorkerConfig) -> None:
        self.config = config

    def get_retry_decision(self, *, exception: BaseException, job: Job) -> RetryDecision | None:
        if isinstance(exception, RetryLater):
            return RetryDecision(retry_at=_in_seconds(exception.delay_seconds))
        if isinstance(exception, asyncio.CancelledError | exceptions.JobAborted):
            return RetryDecision()
        if may_pass(exception):
            runs = job.attempts + 1  # this one's included
            if not database_lost(exception) and runs >= self.config.max_attempts * RUNS_PER_TRY:
                # The database answered each time, and what should have passed did not: a job
                # whose every run hit a statement timeout (or a limit of the data's, 54000) ran
                # again every hour for ever, never failed, never alerted. It ends `failed` now,
                # the error in the log and the failed-deliveries sensor's to see.
                log.error(
                    "job %s (%s): run %d failed on the database again (%s); not run again",
                    job.id,
                    job.call_string,
                    runs,
                    database_error_shown(exception),
                )
                return None
            # The same doubling as a failed try's (its bound keeps a job of a thousand tries
            # from overflowing a float), counting the job's tries.
            wait = retry_delay(self.config, runs)
            if not database_lost(exception):
                # procrastinate logs a retry at info level, which the worker leaves out; the
                # database lost has lines of its own.
                log.warning(
                    "job %s (%s): run %d failed on the database (%s); it runs again in %.1f s",
                    job.id,
                    job.call_string,
                    runs,
                    database_error_shown(exception),
                    wait,
                )
            return RetryDecision(retry_at=_in_seconds(wait))
        return None


def _in_seconds(seconds: float) -> datetime:
    """`seconds` from now as procrastinate's retry decision takes it: a time of this machine's
    clock, which DatabaseClockJobManager turns back into the wait it means."""
    return datetime.now(UTC) + timedelta(seconds=seconds)


# procrastinate's retry_job query, with the time the job runs again computed by the database.
RETRY_BY_DATABASE_CLOCK = """
select procrastinate_retry_job_v2(
  %(job_id)s, pg_catalog.now() + pg_catalog.make_interval(secs => %(wait_seconds)s),
  %(new_priority)s, %(new_queue_name)s, %(new_lock)s
)
"""


class DatabaseClockJobManager(JobManager):
    """procrastinate's job manager, whose retries are scheduled by the database's clock.
    procrastinate writes a retry's time as this machine's (its retry decision's retry_at, or
    its own now for one at once) and runs the job once the database's now() has passed it: a
    worker whose clock ran 10 minutes behind the database's retried at once (the doubling
    back-off gone, a mail's 8 tries spent in seconds and then given up), one ahead held even a
    job meant to run again at once (a delivery cut short by a stop) 10 minutes. Every retry of
    ours means a wait from now, so the wait is read off this machine's clock, which made it,
    and added to the database's."""

    async def retry_job_by_id_async(
        self,
        job_id: int,
        retry_at: datetime,
        priority: int | None = None,
        queue: str | None = None,
        lock: str | None = None,
    ) -> None:
        wait_seconds = max((retry_at - datetime.now(UTC)).total_seconds(), 0.0)
        await self.connector.execute_query_async(
            query=RETRY_BY_DATABASE_CLOCK,
            job_id=job_id,
            wait_seconds=wait_seconds,
            new_priority=priority,
            new_queue_name=queue,
            new_lock=lock,
        )

    async def retry_stalled_job(self, job: Job, seconds_since_heartbeat: float) -> bool:
        """Puts back to run again at once `job`, listed by get_stalled_jobs, if it is still as it
        was listed: `doing`, its tries as many, under no worker or that worker, still silent for
        `seconds_since_heartbeat`. Whether it was put back.

        Between the listing and this, another worker's sweep may have put it back and a worker
        run it: procrastinate's retry (procrastinate_retry_job_v2) takes a `failed` job too, and
        one `doing` under any worker. A failed delivery ran again (the claim found nothing,
        `skipped`) and was deleted with its events, its failure with them, which the pipeline's
        failed-deliveries sensor never saw; one running again was set back to `todo` under the
        worker running it, to be run twice. One UPDATE, so that a change under way (a worker
        ending the job) is waited for and its outcome checked again (READ COMMITTED)."""
        rows = await self.connector.execute_query_all_async(
            query=RETRY_STALLED_JOB,
            job_id=job.id,
            attempts=job.attempts,
            worker_id=job.worker_id,
            seconds_since_heartbeat=seconds_since_heartbeat,
        )
        return bool(rows)


# A stalled job put back as procrastinate_retry_job_v2 does with one due at once (one whose
# abort was asked for ends `failed`), on the condition that it is still as the sweep listed it.
# Each retry adds a try, so one run again meanwhile and `doing` once more has more.
RETRY_STALLED_JOB = """
update procrastinate_jobs
   set status = case when abort_requested then 'failed' else 'todo' end::procrastinate_job_status,
       attempts = case when abort_requested then attempts else attempts + 1 end,
       scheduled_at = case when abort_requested then scheduled_at else pg_catalog.now() end
 where id = %(job_id)s
   and status = 'doing'
   and attempts = %(attempts)s
   and (worker_id is null
        or (worker_id = %(worker_id)s
            and exists (select from procrastinate_workers w
                         where w.id = procrastinate_jobs.worker_id
                           and w.last_heartbeat < pg_catalog.now()
                               - pg_catalog.make_interval(secs => %(seconds_since_heartbeat)s))))
returning id
"""


# Whether a job is still `doing` at the tries it was run with (QueueWorker._end_recorded).
STILL_RUNNING = """
select exists (select from procrastinate_jobs
                where id = %(job_id)s and status = 'doing' and attempts = %(attempts)s) as running
"""


class QueueConnector(PsycopgConnector):
    """procrastinate's connector, whose LISTEN passes on only a new job's notification, the
    wake-up. Any login may NOTIFY any channel, panopticon (which may only read) too, and
    procrastinate's worker believed what came: it cancelled the running job that an
    `abort_job_requested` named (the delivery under way dropped and run again at once: a mail
    the server had taken before its answer came, sent twice), and a payload that was not a JSON
    object ended its listener for good, leaving every mail to wait for the next poll. A real
    abort is asked for in the job queue's table, which only the roles that may write it can do,
    and the worker's poll of the table still finds it (tests/test_worker.py)."""

    async def listen_notify(self, on_notification: Notify, channels: Iterable[str]) -> None:
        async def wake_up(*, channel: str, payload: str) -> None:
            try:
                notification = json.loads(payload)
            # RecursionError: a payload nested past the parser's depth ("[" * 7000 fits in a
            # NOTIFY), which ended the listener, and procrastinate stops a worker whose listener
            # ended (the deliveries under way cut short and run again).
            except (ValueError, RecursionError):
                notification = None
            if isinstance(notification, dict) and notification.get("type") == "job_inserted":
                await on_notification(channel=channel, payload=payload)
            else:
                log.debug("a notification on %s that is no new job's, ignored", channel)

        await super().listen_notify(wake_up, channels)


class StartingOver(Exception):
    """The worker stopped itself with the database answering: it starts over, saying why, not as
    for the database lost (the line on-call would search an outage for)."""


class QueueWorker(Worker):
    """procrastinate's worker, whose side tasks (the listener, the heartbeat) are watched, and
    whose jobs' ends that the database's loss kept from being recorded are said in one line."""

    # Why it stopped itself with the database answering (WorkerProcess says it as it starts over).
    ended_because: str | None = None

    async def _periodic_deferrer(self) -> None:
        # procrastinate stops its worker when a side task fails, watching for the first one to
        # end; its periodic deferrer, with no periodic task (none here), ended at once, and the
        # watch with it. A listener that Postgres restarting ended (its reconnection refused) was
        # then dead until the worker stopped: no wake-up at commit any more, every mail waiting
        # for the next poll, and its traceback logged only at the stop. Now it waits, and a side
        # task that fails stops the worker, which starts over (WorkerProcess.run).
        if self.app.periodic_registry.periodic_tasks:
            await super()._periodic_deferrer()  # type: ignore[no-untyped-call]
        else:
            await asyncio.Event().wait()

    async def _persist_job_status(
        self,
        job: Job,
        status: Status,
        retry_decision: RetryDecision | None,
        context: JobContext,
        job_result: JobResult | None,
    ) -> None:
        # A job's end that the database failed to record while the worker ran on (one of the job
        # queue's connections ended, its pool's wait for one run out, the database otherwise
        # answering) stayed `doing` under a worker whose heartbeat went on: no sweep took it for
        # stalled, and its mail was never tried again. It is tried again while the worker runs,
        # as long as a silent worker's jobs are left to it (BLOSSOM_WORKER_STALLED_SECONDS, the
        # same wait for a job held up by a worker that cannot say anything); then the worker starts
        # over, and the job runs again as a gone worker's do (WorkerProcess._sweep_stalled_jobs_once).
        # A stop ends the tries at once: procrastinate awaits this to the end, even from a job it
        # cancels.
        deadline = time.monotonic() + self.stalled_worker_timeout
        wait = RECONNECT_FIRST_SECONDS
        tried = False
        while True:
            try:
                # A try whose statement committed as its connection broke, its answer lost: the
                # end is there, and procrastinate refused it again (not found, or not `doing`),
                # an error and its traceback, or set back a retry run again meanwhile.
                if tried and await self._end_recorded(job):
                    log.info("job %s (%s): its end was recorded already", job.id, job.call_string)
                    # As procrastinate forgets it once an end is recorded: an abort asked for
                    # this run must not reach the job's next.
                    assert job.id is not None
                    self._job_ids_to_abort.pop(job.id, None)
                    return
                tried = True
                await super()._persist_job_status(
                    job=job,
                    status=status,
                    retry_decision=retry_decision,
                    context=context,
                    job_result=job_result,
                )
                return
            except DATABASE_ERRORS as error:
                if not may_pass(error):
                    raise
                if self._stop_event.is_set() or time.monotonic() + wait > deadline:
                    if not self._stop_event.is_set():
                        self.ended_because = (
                            f"a job's end could not be recorded for {self.stalled_worker_timeout:g} s"
                            f" ({database_error_shown(error)})"
                        )
                    self.stop()  # type: ignore[no-untyped-call]
                    raise
                log.warning(
                    "job %s (%s): its end could not be recorded (%s); trying again",
                    job.id,
                    job.call_string,
                    database_error_shown(error),
                )
            with suppress(TimeoutError):
                await asyncio.wait_for(self._stop_event.wait(), wait)
            wait = min(wait * 2, RECONNECT_LONGEST_SECONDS)

    async def _end_recorded(self, job: Job) -> bool:
        """Whether the job is no longer `doing` at the tries it was run with: its end recorded
        (its retry adds a try, its success deletes it), or taken from this worker."""
        row = await self.app.connector.execute_query_one_async(
            query=STILL_RUNNING, job_id=job.id, attempts=job.attempts
        )
        return not row["running"]

    async def stopping(self) -> None:
        """Until its stop begins: asked for by the process, or its own (a job's end that could
        not be recorded, a side task that failed)."""
        await self._stop_event.wait()

    async def _process_job(self, context: JobContext) -> None:
        # A job's end that could not be recorded (the database lost) ended its task with the
        # error, which nothing awaits: asyncio logged it, traceback and all, as "Task exception
        # was never retrieved". The job runs again once the database is back (_gone_worker_ids);
        # so does one whose end a passing state (a lock or statement timeout, the pool's wait for a
        # connection) kept from being recorded for BLOSSOM_WORKER_STALLED_SECONDS, as the worker it stopped
        # starts over (_persist_job_status): it too was such a traceback. Any other error is left
        # to surface as it did.
        try:
            await super()._process_job(context)
        except DATABASE_ERRORS as error:
            if not may_pass(error):
                raise
            if database_lost(error):
                log.warning(
                    "job %s (%s): its end was not recorded, the database unreachable (%s); it runs"
                    " again once the database is back",
                    context.job.id,
                    context.job.call_string,
                    _first_line(error),
                )
            else:
                log.warning(
                    "job %s (%s): its end was not recorded (%s); it runs again as the worker starts over",
                    context.job.id,
                    context.job.call_string,
                    database_error_shown(error),
                )


class ExpectedDatabaseLoss(logging.Filter):
    """procrastinate logs a side task ended by an error (its listener, its heartbeat), once as it
    fails and once as its worker stops, with the traceback. The database lost (Postgres
    restarting, a network cut) is an expected event, and the process says it in one line
    (`database unreachable (…)`, WorkerProcess.run): a planned restart showed on-call stack traces.
    Any other error keeps its record and its traceback."""

    def filter(self, record: logging.LogRecord) -> bool:
        error = record.exc_info[1] if record.exc_info else None
        return error is None or not database_lost(error)


def build_app(config: WorkerConfig, deliverer: Deliverer, poster: SlackPoster) -> App:
    connector = QueueConnector(
        conninfo=config.database_url,
        # procrastinate names its tables and functions without a schema.
        kwargs={
            "options": "-c search_path=jobs",
            "application_name": f"{APPLICATION_NAME}-queue",
            # As every connection of ours: an attempt Postgres takes but does not answer (as
            # while it shuts down) is given up, its socket closed (blossom_db/connections.py).
            "connect_timeout": 2,
        },
        connection_class=AsyncConnection,
        min_size=1,
        max_size=4,
        timeout=5,
    )
    app = App(connector=connector)
    # Before the tasks below are made: each keeps the manager it was made with.
    app.job_manager = DatabaseClockJobManager(connector)

    @app.task(name=DELIVER_TASK, queue=MAIL_QUEUE, retry=DeliveryRetry(config))
    async def deliver_mail(event_id: str, request_id: str | None = None) -> None:
        # The request that queued the mail (app.outbox.request_id): the job's log lines name it.
        with logs.bind(request=logs.valid_request_id(request_id)):
            await deliverer.deliver(event_id)

    @app.task(name=SLACK_TASK, queue=SLACK_QUEUE, retry=DeliveryRetry(config))
    async def post_to_slack(event_id: str, request_id: str | None = None) -> None:
        with logs.bind(request=logs.valid_request_id(request_id)):
            await poster.post(event_id)

    return app


class WorkerProcess:
    def __init__(self, config: WorkerConfig) -> None:
        self.config = config
        self.database = Database(
            config.database_url,
            max_connections=config.concurrency,
            wait_seconds=30.0,
            application_name=APPLICATION_NAME,
        )
        self.metrics = WorkerMetrics()
        self.app = build_app(
            config,
            Deliverer(config, self.database, Mailer(config.smtp), self.metrics),
            SlackPoster(config, self.database, SlackClient(config.slack), config.keyring, self.metrics),
        )
        self._stopping = asyncio.Event()
        self._worker: Worker | None = None
        self._sweeper: asyncio.Task[None] | None = None
        # This process's procrastinate workers that ended without unregistering (the database
        # lost under them): their jobs were ended here, whatever the queue still says of them.
        self._gone_worker_ids: set[int] = set()

    def stop(self) -> None:
        """Graceful: jobs under way get shutdown_seconds to finish, then are stopped and put
        back to run again."""
        if not self._stopping.is_set():
            log.info("stopping: finishing the jobs under way (at most %g s)", self.config.shutdown_seconds)
        self._stopping.set()
        # Its heartbeat stops now too: this worker's own jobs must not look stalled to itself.
        if self._sweeper is not None:
            self._sweeper.cancel()
        if self._worker is not None:
            self._worker.stop()  # type: ignore[no-untyped-call]  # procrastinate leaves it unannotated

    async def run(self) -> None:
        loop = asyncio.get_running_loop()
        for signum in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(signum, self.stop)
        log.info(
            "delivering mail from %s through %s",
            database_shown(self.config.database_url),
            self.config.smtp.shown(),
        )
        if self.config.metrics_port is not None:
            self.metrics.serve(
                self.config.metrics_host,
                self.config.metrics_port,
                self.config.database_url,
                (MAIL_QUEUE, SLACK_QUEUE),
            )
        wait = RECONNECT_FIRST_SECONDS
        try:
            while not self._stopping.is_set():
                try:
                    await self._run_once()
                    wait = RECONNECT_FIRST_SECONDS
                except StartingOver as reason:
                    log.warning("the worker starts over: %s", reason)
                except DATABASE_ERRORS as error:
                    if database_lost(error):
                        log.warning("database unreachable (%s); trying again", _first_line(error))
                    else:
                        # Reached, and it refused what was asked: a fault of the data, the schema
                        # or the grants, which no network mending ends.
                        log.error(
                            "the job queue failed on a database error (%s); starting it again",
                            database_error_shown(error),
                        )
                        await self._pause(wait)
                        wait = min(wait * 2, RECONNECT_LONGEST_SECONDS)
                        continue
                if not self._stopping.is_set():
                    await self._wait_for_database(wait)
                    wait = min(wait * 2, RECONNECT_LONGEST_SECONDS)
        finally:
            await self.database.close()
        log.info("stopped")

    async def _run_once(self) -> None:
        """One procrastinate worker, from registration to its end: a stop asked for, or the
        database lost under it."""
        if not await self._open_queue():
            return
        worker: QueueWorker | None = None
        try:
            worker = QueueWorker(
                app=self.app,
                queues=[MAIL_QUEUE, SLACK_QUEUE],
                name=APPLICATION_NAME,
                concurrency=self.config.concurrency,
                fetch_job_polling_interval=self.config.poll_seconds,
                shutdown_graceful_timeout=self.config.shutdown_seconds,
                install_signal_handlers=False,
                update_heartbeat_interval=self.config.heartbeat_seconds,
                stalled_worker_timeout=self.config.stalled_seconds,
                delete_jobs="successful",
            )
            self._worker = worker
            if self._stopping.is_set():
                return
            sweeper = self._sweeper = asyncio.create_task(self._run_stalled_jobs_again(), name="stalled jobs")
            alive = asyncio.create_task(self._heartbeat_while_stopping(worker), name="stopping heartbeat")
            try:
                await worker.run()  # type: ignore[no-untyped-call]  # procrastinate leaves it unannotated
            finally:
                self._worker = self._sweeper = None
                await _cancelled(sweeper)
                await _cancelled(alive)
                # procrastinate unregisters a worker once its jobs have ended; one still
                # registered could not be (the database away), and its jobs may be left `doing`.
                if worker.worker_id is not None:
                    self._gone_worker_ids.add(worker.worker_id)
        finally:
            await self.app.close_async()
        if not self._stopping.is_set():
            if worker is not None and worker.ended_because:
                raise StartingOver(worker.ended_because)
            raise exceptions.ConnectorException(
                "the worker ended by itself (its database connection was lost)"
            )

    async def _open_queue(self) -> bool:
        """Opens the job queue's connections; False when a stop came first. A stop cuts the
        opening short: psycopg_pool waits up to 30 s for a database that does not answer."""
        opening = asyncio.ensure_future(self.app.open_async())
        stop = asyncio.ensure_future(self._stopping.wait())
        await asyncio.wait({opening, stop}, return_when=asyncio.FIRST_COMPLETED)
        await _cancelled(stop)
        await _cancelled(opening)
        if self._stopping.is_set():
            await self.app.close_async()
            return False
        opening.result()  # what the opening raised, if it did
        return True

    async def _run_stalled_jobs_again(self) -> None:
        """Every heartbeat, from the start: runs again the jobs of workers taken for dead, and at
        once those of this process's own workers gone with the database. Those waited until
        their last heartbeat was stalled_seconds old (30 s) before their deliveries, cut short
        by Postgres going away, were tried again."""
        while True:
            try:
                await self._sweep_stalled_jobs_once()
            except DATABASE_ERRORS as error:
                log.warning("looking for stalled jobs failed (%s)", database_error_shown(error))
            await asyncio.sleep(self.config.heartbeat_seconds)

    async def _sweep_stalled_jobs_once(self) -> None:
        """One sweep: the jobs of workers taken for dead (or gone) put back, those workers pruned."""
        manager = self.app.job_manager
        assert isinstance(manager, DatabaseClockJobManager)
        for gone in sorted(self._gone_worker_ids):
            # Its jobs are left without a worker, which the query below takes as stalled.
            await manager.unregister_worker(gone)
            self._gone_worker_ids.discard(gone)
        # Never the jobs of the worker this process runs, whatever its heartbeat says (one that
        # failed, in a stop's grace): they are under way here, and put back they ran again
        # beside themselves.
        running = self._worker.worker_id if self._worker is not None else None
        stalled = await manager.get_stalled_jobs(seconds_since_heartbeat=self.config.stalled_seconds)
        for job in (job for job in stalled if running is None or job.worker_id != running):
            if await manager.retry_stalled_job(job, self.config.stalled_seconds):
                log.warning(
                    "job %s (%s) was held by a worker that stopped answering: running it again",
                    job.id,
                    job.call_string,
                )
            else:
                # Another worker's sweep put it back first and it ran, or runs, again; or its
                # worker was heard from again.
                log.info(
                    "stalled job %s (%s) was taken up again meanwhile: left as it is", job.id, job.call_string
                )
        await manager.prune_stalled_workers(self.config.stalled_seconds)

    async def _heartbeat_while_stopping(self, worker: QueueWorker) -> None:
        """Heartbeats from the start of its stop until `worker` has unregistered. procrastinate
        stops its own as its graceful stop begins, while jobs may run on for shutdown_seconds: a
        peer took the worker for dead once stalled_seconds passed and ran its jobs again beside
        it. The worker's own stop too: only a stop asked for kept it, and a self-stop's grace
        left its jobs to every sweep."""
        await worker.stopping()
        while (worker_id := worker.worker_id) is not None:
            try:
                await self.app.job_manager.update_heartbeat(worker_id)
            except DATABASE_ERRORS as error:
                log.warning("the heartbeat of a stopping worker failed (%s)", database_error_shown(error))
            await asyncio.sleep(self.config.heartbeat_seconds)

    async def _pause(self, seconds: float) -> None:
        """`seconds`, or less when a stop is asked for meanwhile."""
        with suppress(asyncio.TimeoutError):
            await asyncio.wait_for(self._stopping.wait(), seconds)

    async def _wait_for_database(self, wait: float) -> None:
        """Until Postgres accepts a connection again, or a stop is asked for."""
        while not self._stopping.is_set():
            await self._pause(wait)
            if self._stopping.is_set():
                return
            try:
                conn = await AsyncConnection.connect(
                    self.config.database_url, connect_timeout=2, application_name=APPLICATION_NAME
                )
            except psycopg.OperationalError as error:
                if database_lost(error):
                    log.warning("database still unreachable (%s)", _first_line(error))
                else:
                    log.error(
                        "the database refuses the worker's connection (%s)", database_error_shown(error)
                    )
                wait = min(wait * 2, RECONNECT_LONGEST_SECONDS)
                continue
            await conn.close()
            log.info("database reachable again")
            return


async def _cancelled(task: asyncio.Future[Any]) -> None:
    """Cancels `task`, unless it is done, and waits for its end. On Python 3.11 asyncio.wait_for,
    with which psycopg_pool waits, drops a cancellation that lands as what it waits for is done,
    and the task goes on as if none had been asked: a stop then waited for ever on the stalled
    jobs' sweeper. So it is asked again until the task ends."""
    while not task.done():
        task.cancel()
        await asyncio.wait({task}, timeout=0.1)
    if not task.cancelled():
        task.exception()  # retrieved: the caller asks for the result if it wants it


def _first_line(error: BaseException) -> str:
    # procrastinate's own errors say "Database error."; what happened is in their cause.
    if isinstance(error, exceptions.ConnectorException) and error.__cause__ is not None:
        error = error.__cause__
    return (str(error).strip().splitlines() or [type(error).__name__])[0]
