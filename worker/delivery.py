"""Delivering one outbox event: the job `deliver_mail` runs this, once per try.

In one transaction of the worker's own (sql/functions/delivery/messages.sql):

    claim the event          its row locked until the transaction ends; nothing to do when
                             it was delivered or given up already, or is no longer wanted:
                             an invitation's mail whose invitation was revoked, replaced,
                             answered or deleted with its organization meanwhile, a reset or
                             verification mail whose link was spent (the claim withdraws it);
    compose and send it      over SMTP; just before the message is handed over (DATA), asked
                             once more whether it is still wanted (check_still_wanted): an
                             invitation taken back, or a link spent, during the conversation
                             withdraws it;
    record the outcome       delivered (its token leaves the payload), or a failed try with
                             its error, given up when it was permanent or the last one allowed.

The lock is what makes delivery at most once per event: a second job for the same event (a
second worker, a job run again after its worker was taken for dead) waits for it, then finds
the event delivered. A worker killed while sending loses its transaction and its lock, and a
later try sends again. The lock lives on the transaction's connection, which may be lost while
the server is talked to (a Postgres restart): just before the message is handed over (DATA), the
claim is checked to hold still (check_still_wanted), and when it does not, the message is not sent.
One window remains, as with any SMTP client: a message the server accepted whose delivery cannot
then be committed goes again at the next try (a crash, or the database connection lost, between
that check and the commit); the message carries the event's id in its Message-ID for the
receiving side to see.
"""

from __future__ import annotations

import asyncio
import logging
import random
import time
from collections.abc import Awaitable, Callable, Coroutine
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, TypeVar

import psycopg
from psycopg import AsyncConnection

from blossom_db.database import Database
from blossom_db.generated import (
    delivery_claim_async,
    delivery_delivered_async,
    delivery_failed_async,
    delivery_still_wanted_async,
)
from services.smtp import Mailer, PermanentFailure, TemporaryFailure
from services.text import quoted
from worker.config import WorkerConfig
from worker.messages import UnsendableMessage, compose
from worker.metrics import WorkerMetrics

log = logging.getLogger("blossom.worker")
# What of a failure's reason app.outbox.last_error keeps (an SMTP server's reply may run long).
LONGEST_RECORDED_REASON = 1000
# The share of the session's idle_in_transaction_session_timeout (the worker role's: 5 min) that
# one send may take: the delivery's transaction is idle while the server is talked to, and
# Postgres ends the session past it. The rest is for recording the outcome.
SEND_SHARE_OF_IDLE_LIMIT = 0.8
T = TypeVar("T")


async def idle_limit_seconds(conn: AsyncConnection[Any]) -> float | None:
    """How long this session may stay idle in a transaction before Postgres ends it; None
    when it may for ever."""
    cursor = await conn.execute(
        "select extract(epoch from"
        " pg_catalog.current_setting('idle_in_transaction_session_timeout')::interval)"
    )
    row = await cursor.fetchone()
    seconds = float(row[0]) if row is not None and row[0] is not None else 0.0
    return seconds if seconds > 0 else None


class Withdrawn(Exception):
    """The message was withdrawn just before it was handed over (delivery.still_wanted: its
    invitation taken back, or its link spent, since the claim), recorded so; it is not sent."""


async def _answered_while_claimed(event_id: str, question: Awaitable[T]) -> T:
    """What `question`, a statement in the claim's transaction, answers; raises (the database's
    error) unless the claim of `event_id` still holds: its transaction, which holds the outbox
    row's lock, still open on a live connection. Awaited just before the message is handed over
    (to the SMTP server at DATA, to Slack as its post's request goes, worker/slack.py): a
    connection lost meanwhile (Postgres restarted, the session ended) took the claim with it, and
    a message handed over then could not be recorded, and went again at the next try. A
    statement answered in the claim's transaction proves the session, and with it the lock,
    alive."""
    try:
        return await question
    except psycopg.Error as error:
        reason = str(error).strip().partition("\n")[0] or type(error).__name__
        log.warning(
            "event %s: claim lost before the message was handed over (%s); not sent", event_id, reason
        )
        raise


async def check_claim_held(conn: AsyncConnection[Any], event_id: str) -> None:
    """Raises unless the claim of `event_id` still holds (_answered_while_claimed)."""
    await _answered_while_claimed(event_id, conn.execute("select"))


async def check_still_wanted(conn: AsyncConnection[Any], event_id: str) -> None:
    """check_claim_held for a mail, by the same call, and Withdrawn unless the mail is still
    wanted (delivery.still_wanted). The claim asked that, and nothing after it: an invitation
    revoked, or its organization deleted, or a reset link spent by a password change, while the
    server was talked to was mailed all the same."""
    if not await _answered_while_claimed(event_id, delivery_still_wanted_async(conn, p_event_id=event_id)):
        raise Withdrawn(f"event {event_id}: withdrawn just before it was handed over; not sent")


class RetryLater(Exception):
    """The try failed for a reason that may pass; it is recorded, and the job runs again in
    `delay_seconds`."""

    def __init__(self, reason: str, delay_seconds: float) -> None:
        super().__init__(reason)
        self.delay_seconds = delay_seconds


class GaveUp(Exception):
    """The event will not be delivered (a permanent refusal, or its last try failed); it is
    recorded with the event (app.outbox.given_up_at, last_error)."""


class GiveUpsByTheirReason(logging.Filter):
    """procrastinate logs a job that ended on an exception with its traceback. A GaveUp is an
    outcome decided and recorded, not a fault of the worker's code: its line gives the reason
    alone, where a traceback of the worker's own frames buried it and read as a crash. Any other
    error keeps its traceback."""

    def filter(self, record: logging.LogRecord) -> bool:
        if record.exc_info and isinstance(record.exc_info[1], GaveUp):
            record.fields = {**getattr(record, "fields", {}), "error": str(record.exc_info[1])}
            record.exc_info = None
        return True


def retry_delay(config: WorkerConfig, failed_tries: int) -> float:
    """How long to wait after the `failed_tries`-th failure: doubling from retry_seconds, at
    most retry_max_seconds, varied by up to a fifth either way."""
    # The doubling stops where it passes any bound: after a thousand tries it overflowed a float.
    base = min(config.retry_seconds * 2.0 ** min(failed_tries - 1, 64), config.retry_max_seconds)
    return float(base * random.uniform(0.8, 1.2))


async def record_failed_try(
    conn: AsyncConnection[Any],
    config: WorkerConfig,
    event_id: str,
    this_try: int,
    reason: str,
    *,
    temporary: bool,
    wait_at_least: float = 0.0,
) -> GaveUp | RetryLater:
    """Records a failed try of an event (delivery.failed) and says what follows: another try
    after the back-off (and not before `wait_at_least`, a provider's Retry-After) when the
    failure may pass and tries are left; else the event is given up. The reason is quoted as
    Postgres can keep it: a server's reply with a NUL, or a byte that is no UTF-8, failed the
    record, and with it the job, and the mail was never tried again nor given up."""
    reason = quoted(reason, LONGEST_RECORDED_REASON)
    outcome: GaveUp | RetryLater
    if temporary and this_try < config.max_attempts:
        delay = max(wait_at_least, retry_delay(config, this_try))
        outcome = RetryLater(f"event {event_id}: try {this_try} failed: {reason}", delay)
    else:
        outcome = GaveUp(f"event {event_id}: given up at try {this_try}: {reason}")
    await delivery_failed_async(
        conn, p_event_id=event_id, p_error=reason, p_give_up=isinstance(outcome, GaveUp)
    )
    return outcome


async def record_delivered(conn: AsyncConnection[Any], event_id: str, announce: Callable[[], None]) -> None:
    """Marks the event delivered and commits, then `announce`s it (its log line and its count):
    awaited through finished_despite_a_stop, once the message is the server's (a mail's) or
    Slack's (a post's). Announced here, the delivery is logged and counted whenever its record
    committed: after the shield, a stop that came during the record left both undone, and the
    job run again counted the delivery skipped."""
    await delivery_delivered_async(conn, p_event_id=event_id)
    await conn.commit()
    announce()


async def record_skipped(conn: AsyncConnection[Any], metrics: WorkerMetrics, channel: str, line: str) -> None:
    """Commits what the try wrote (a withdrawal, at the claim or at a mail's hand-over), then logs
    `line` and counts the delivery skipped: logged and counted before, a commit that failed left
    the message as it was, said withdrawn, and the job run again counted it a second time."""
    await conn.commit()
    log.info("%s", line)
    metrics.deliveries.labels(channel, "skipped").inc()


async def finished_despite_a_stop(work: Coroutine[Any, Any, None]) -> None:
    """Awaits `work` to its end; when the task awaiting it is cancelled meanwhile, once or more,
    `work` runs on to its end all the same, and the cancellation is raised after it. Each wait is
    shielded: procrastinate cancels a job again when a stop's grace runs out after an abort, and
    a second cancellation went through to `work` (its record rolled back). What must follow
    `work` whatever stop comes belongs in it: nothing after this call runs once it raises."""
    task = asyncio.ensure_future(work)
    stop: asyncio.CancelledError | None = None
    while not task.done():
        try:
            await asyncio.shield(task)
        except asyncio.CancelledError as cancelled:
            stop = cancelled
    task.result()  # what `work` raised, if it did
    if stop is not None:
        raise stop


class _DatabaseTime:
    """The database's clock as a delivery reads it: its time at the claim (delivery.claim's
    claimed_at), advanced by this machine's monotonic clock, which steps with no clock setting."""

    def __init__(self, claimed_at: datetime | None) -> None:
        if claimed_at is None:
            raise ValueError("delivery.claim answered no claimed_at")
        self.claimed_at = claimed_at
        self.claimed = time.monotonic()

    def now(self) -> datetime:
        return self.claimed_at + timedelta(seconds=time.monotonic() - self.claimed)


def outcome_label(failure: GaveUp | RetryLater) -> str:
    """A failed try's outcome as the worker's metrics count it."""
    return "failed" if isinstance(failure, GaveUp) else "retried"


def count_failed_try(metrics: WorkerMetrics, channel: str, outcome: GaveUp | RetryLater) -> None:
    """Counts a failed try once it is recorded, and logs one that will be made again as a warning:
    procrastinate logs a retry at info level, among its lines per job that the worker leaves out,
    so a relay refusing every mail for now left the log silent for the hour of tries before the
    first was given up (a give-up is procrastinate's own error line, GiveUpsByTheirReason)."""
    metrics.deliveries.labels(channel, outcome_label(outcome)).inc()
    if isinstance(outcome, RetryLater):
        log.warning("%s; tried again in %.1f s", outcome, outcome.delay_seconds)


@dataclass(frozen=True)
class Deliverer:
    config: WorkerConfig
    database: Database
    mailer: Mailer
    metrics: WorkerMetrics

    async def deliver(self, event_id: str) -> None:
        """One try at delivering `event_id`; RetryLater or GaveUp when it failed (recorded by
        then); database errors pass through unrecorded."""
        outcome: GaveUp | RetryLater
        async with self.database.transaction() as conn:
            claim = await delivery_claim_async(conn, p_event_id=event_id)
            if claim.topic is None:
                await record_skipped(
                    conn,
                    self.metrics,
                    "mail",
                    f"event {event_id}: delivered, given up or withdrawn already; nothing to do",
                )
                return
            this_try = (claim.attempts or 0) + 1
            # Times are the database's (its clock set queued_at and the link's expiry), the
            # claim's and what this machine's monotonic clock counted since: this machine's own
            # clock may be off that one's by minutes (several machines, a drifting container's,
            # a VM resumed from suspend).
            database_time = _DatabaseTime(claim.claimed_at)
            # A send that outlived the session's idle limit took the mail while its record could
            # no longer be made: the session was ended under it, the job failed for good, and the
            # outbox row stayed undelivered, its token in it (or, had it been retried, the mail
            # went twice). A send is cut short before, as a temporary failure, recorded.
            idle_limit = await idle_limit_seconds(conn)
            budget = idle_limit * SEND_SHARE_OF_IDLE_LIMIT if idle_limit is not None else None
            try:
                message = compose(
                    event_id,
                    claim.topic,
                    claim.payload,
                    sender=self.config.mail_from,
                    app_url=self.config.app_url,
                    now=database_time.now(),
                )
                try:
                    async with asyncio.timeout(budget):
                        await self.mailer.send(
                            message, before_data=lambda: check_still_wanted(conn, event_id)
                        )
                except TimeoutError:
                    raise TemporaryFailure(
                        f"the server took longer than {budget:g} s, the most a send may take"
                    ) from None
            except Withdrawn as withdrawn:
                await record_skipped(conn, self.metrics, "mail", str(withdrawn))
                return
            except (UnsendableMessage, PermanentFailure, TemporaryFailure) as error:
                outcome = await record_failed_try(
                    conn,
                    self.config,
                    event_id,
                    this_try,
                    str(error),
                    temporary=isinstance(error, TemporaryFailure),
                )
            else:

                def announce() -> None:
                    log.info("event %s: delivered (%s) at try %d", event_id, claim.topic, this_try)
                    self.metrics.deliveries.labels("mail", "delivered").inc()
                    if claim.queued_at is not None:
                        self.metrics.latency.observe((database_time.now() - claim.queued_at).total_seconds())

                # The server has the mail: its record, then its log line and count, are finished
                # whatever stop comes meanwhile. Cancelled there (a stopping worker's grace run
                # out), it rolled back, and the next worker sent the mail again.
                await finished_despite_a_stop(record_delivered(conn, event_id, announce))
                return
        count_failed_try(self.metrics, "mail", outcome)
        # Raised once the failure is committed: the job's own bookkeeping follows from it.
        raise outcome
