"""Failed deliveries: a sensor on the job queue's failed jobs that alerts once per incident.

An incident opens with the first failure after a quiet spell and stays open while failures keep
coming; it closes once none came for `quiet_seconds` (an hour by default). Each tick reads only
the failures after the last one seen (the sensor's cursor), so each is counted once. The alert is
a run of the job `delivery_incident_alert`, keyed by the incident (its first failure: its id and
when it failed), so Dagster starts it once whatever the sensor asks again; the run logs the
incident as an error. A database whose failures started again (restored from a backup, made again)
is read from its first failure again; a failure gone with its job (run again and succeeded) is not
taken for that. A failure whose mail was delivered since it failed (tried again by a DBA) is no
incident: it was over before it was seen; nor is one whose message the housekeeping deleted, which
it does only 30 days after the message was delivered. Read from the first failure again, an
incident alerted already one of whose failures went so since (or was run again and succeeded) is
keyed by what is left of it, and alerted once more.
"""

# No `from __future__ import annotations`: Dagster reads the context parameter's annotation.
import json
import math
import time
from collections.abc import Sequence
from dataclasses import asdict, dataclass, fields, replace
from datetime import UTC
from typing import Any

import psycopg
from dagster import (
    Config,
    DefaultSensorStatus,
    OpExecutionContext,
    RunRequest,
    SensorEvaluationContext,
    SensorResult,
    SkipReason,
    job,
    op,
    sensor,
)

from blossom_db.generated import (
    PipelineFailedDeliveriesRow,
    pipeline_failed_deliveries,
    pipeline_last_failure_through,
)
from pipeline.resources import PostgresResource

QUIET_SECONDS = 3600.0


@dataclass(frozen=True)
class Incidents:
    """The sensor's cursor: the last failure seen and when it failed (to know it again), the open
    incident (its first failure) and when its last failure was seen."""

    last_failure_id: int = 0
    open_incident: int | None = None
    last_failure_at: float | None = None
    # When failure last_failure_id failed; None in a cursor of a release before it, or when the
    # database did not say.
    last_seen_failed_at: float | None = None

    @classmethod
    def from_cursor(cls, cursor: str | None) -> "Incidents":
        """The state a cursor keeps. One of the form before failures had ids of their own
        (last_job_id) is read from the start again: its job id says nothing of the failures.
        UnreadableCursor for one this sensor never writes (set by hand, or by a later release)."""
        try:
            state = json.loads(cursor) if cursor else {}
        except ValueError:
            raise UnreadableCursor("not JSON") from None
        if not isinstance(state, dict):
            raise UnreadableCursor("not a JSON object")
        if "last_failure_id" not in state:
            return cls()
        unknown = sorted(set(state) - {field.name for field in fields(cls)})
        if unknown:
            raise UnreadableCursor(f"no field {', '.join(unknown)}")
        for name, value in state.items():
            if not _cursor_value_fits(name, value):
                raise UnreadableCursor(f"{name} {json.dumps(value)}")
        return cls(**state)

    def to_cursor(self) -> str:
        return json.dumps(asdict(self))

    def still_there(self, first: PipelineFailedDeliveriesRow | None) -> bool:
        """Whether `first`, the first failure from the last one seen on, is that one, as it was seen.
        Not when the database's failures started again below it (a database restored from a backup
        made before it, or made again): their ids are given out again, and the failures after the
        cursor were none until the ids passed it."""
        if first is None or first.failure_id != self.last_failure_id:
            return False
        return self.last_seen_failed_at is None or failed_at(first) == self.last_seen_failed_at

    def gone_with_its_job(self, conn: psycopg.Connection[Any]) -> "Incidents | None":
        """This state, anchored at the newest failure before the last one seen, when that one is
        gone only because its job was deleted: a failed job run again that succeeds is deleted
        with its events, its failure too, and the sensor took that for a database restored from
        an older backup, forgot the incident under way and alerted its next failure as a second
        one. None when the failures before it tell of a restore (one failed after the last one
        seen: its id was given out again), or when the cursor does not say when that one failed."""
        if self.last_seen_failed_at is None:
            return None
        rows = pipeline_last_failure_through(conn, p_failure_id=self.last_failure_id)
        if not rows:
            # None left before it either (all run again, or a restore with no failure since):
            # a failure given an id again after a restore shows here once it happens.
            return self
        before = rows[0]
        before_at = before.failed_at.timestamp() if before.failed_at is not None else None
        if before.failure_id is None or before_at is None or before.failure_id == self.last_failure_id:
            return None  # the last one seen is there, failed at another time: a restore
        if before_at > self.last_seen_failed_at:
            return None
        return replace(self, last_failure_id=before.failure_id, last_seen_failed_at=before_at)

    def seen(
        self, failures: Sequence[PipelineFailedDeliveriesRow], now: float, quiet_seconds: float
    ) -> tuple["Incidents", dict[int, list[PipelineFailedDeliveriesRow]]]:
        """The state once `failures` (the new ones, oldest first) are seen at `now`, and the
        failures by the incident each belongs to. An incident is told by when its failures
        happened (failed_at), not by when the sensor saw them: a daemon stopped for longer than
        the quiet spell while failures kept coming took those it saw after its restart for a new
        incident, and alerted again; one that saw a failure late took the next, after a quiet
        spell, for the same incident. A failure whose mail was delivered since is seen (the
        cursor passes it) and belongs to no incident."""
        if not failures:
            # Nothing to tell: whether the next failure opens an incident is told by its failed_at
            # then. Closed here on the sensor's clock, measured against the database's failed_at,
            # an incident closed early when the two clocks differ (or a failure committed late),
            # and its next failure, within the quiet spell, was alerted as a new one.
            return self, {}
        incident, last_at = self.open_incident, self.last_failure_at
        incidents: dict[int, list[PipelineFailedDeliveriesRow]] = {}
        for failure in failures:
            if failure.delivered_at is not None or failure.event_id is None:
                # Mended and delivered since (delivery.try_again) before it was seen: over, it
                # opens no incident and keeps none open; an alert of it told of a mail that went.
                # So is one whose message is gone: the housekeeping deletes a message only 30 days
                # after it was delivered, and a sensor reading from the first failure again took
                # such a failure for one never delivered.
                continue
            at = failure.failed_at.timestamp() if failure.failed_at is not None else now
            if incident is None or last_at is None or at - last_at > quiet_seconds:
                incident = failure.failure_id or 0
            incidents.setdefault(incident, []).append(failure)
            last_at = at if last_at is None else max(last_at, at)
        last_seen = max(failures, key=lambda failure: failure.failure_id or 0)
        state = Incidents(
            last_failure_id=last_seen.failure_id or 0,
            open_incident=incident,
            last_failure_at=last_at,
            last_seen_failed_at=failed_at(last_seen),
        )
        return state, incidents


class UnreadableCursor(ValueError):
    """A cursor the sensor never writes, and why it cannot be read."""


def _cursor_value_fits(name: str, value: object) -> bool:
    """Whether `value` is one the sensor writes for field `name`: an id (a count from 1; 0 for
    none seen yet), or seconds since the epoch, the open incident and the times possibly null."""
    if value is None:
        return name != "last_failure_id"
    if isinstance(value, bool):
        return False
    if name in ("last_failure_id", "open_incident"):
        return isinstance(value, int) and value >= 0
    if isinstance(value, int):
        # Past a float's range (a 1 and 400 zeros, by hand), math.isfinite raised OverflowError.
        return abs(value) < 2**63
    return isinstance(value, float) and math.isfinite(value)


def failed_at(failure: PipelineFailedDeliveriesRow) -> float | None:
    return failure.failed_at.timestamp() if failure.failed_at is not None else None


class IncidentAlert(Config):
    incident: int
    failures: int
    topics: list[str]
    last_error: str


@op
def alert_delivery_incident(context: OpExecutionContext, config: IncidentAlert) -> None:
    context.log.error(
        f"delivery incident {config.incident}: {config.failures} failed deliveries"
        f" ({', '.join(config.topics)}); last error: {config.last_error}"
    )


@job(description="The alert of one incident of failed deliveries (started by failed_deliveries_sensor).")
def delivery_incident_alert() -> None:
    alert_delivery_incident()


def incident_alert(incident: int, failures: Sequence[PipelineFailedDeliveriesRow]) -> RunRequest:
    """The alert of an incident that began among `failures` (its own, the first one first)."""
    began = failures[0].failed_at
    return RunRequest(
        # Not "delivery-incident-…", the keys of incidents named by their first failed job: a
        # failure's id may equal one, and Dagster would take the alert for one it had made. And
        # when it began: ids are given out again in a database restored from an older backup, and
        # an incident that began with an id alerted already went unsaid.
        run_key=f"delivery-failures-{incident}-{began.astimezone(UTC):%Y%m%dT%H%M%S.%fZ}"
        if began is not None
        else f"delivery-failures-{incident}",
        run_config={
            "ops": {
                "alert_delivery_incident": {
                    "config": {
                        "incident": incident,
                        "failures": len(failures),
                        "topics": sorted({failure.topic or "?" for failure in failures}),
                        "last_error": failures[-1].last_error or "",
                    }
                }
            }
        },
    )


@sensor(
    job=delivery_incident_alert,
    minimum_interval_seconds=60,
    default_status=DefaultSensorStatus.RUNNING,
    description="Failed deliveries of the job queue; alerts once per incident.",
)
def failed_deliveries_sensor(
    context: SensorEvaluationContext, postgres: PostgresResource
) -> SensorResult | SkipReason:
    try:
        before = Incidents.from_cursor(context.cursor)
    except UnreadableCursor as error:
        # Failing every tick until someone cleared it alerted nothing meanwhile. Read from the
        # start, an incident alerted already asks for its alert under the key it had, which
        # Dagster does not start twice.
        context.log.warning(
            f"failed deliveries: {(context.cursor or '')[:200]!r} is not a cursor of this sensor"
            f" ({error}; set by hand?): read from the first failure again, as on a first run"
            " (the incidents alerted already are not alerted again, unless a failure of theirs was"
            " run again or delivered since)"
        )
        before = Incidents()
    with postgres.transaction() as conn:
        # From the last failure seen itself, to know that it is still there.
        failures = pipeline_failed_deliveries(
            conn, p_after_failure_id=max(before.last_failure_id - 1, 0), p_limit=1000
        )
        if before.last_failure_id and before.still_there(next(iter(failures), None)):
            failures = failures[1:]
        elif before.last_failure_id and (anchor := before.gone_with_its_job(conn)) is not None:
            # Its job was run again and succeeded, and went with its events: nothing else changed.
            # The failures after it are the new ones; the one before it is the one to know again.
            before = anchor
        elif before.last_failure_id:
            context.log.warning(
                f"failed deliveries: failure {before.last_failure_id}, the last one seen, is not in the"
                " database as it was seen (restored from an older backup, or made again): read from"
                " its first failure again (the incidents alerted already are not alerted again, unless"
                " a failure of theirs was run again or delivered since)"
            )
            before = Incidents()
            failures = pipeline_failed_deliveries(conn, p_after_failure_id=0, p_limit=1000)
    after, incidents = before.seen(failures, time.time(), QUIET_SECONDS)
    # Each incident that began among these failures (more than one when the sensor was stopped
    # for longer than a quiet spell): the open one was alerted when it began.
    opened = {incident: its for incident, its in incidents.items() if incident != before.open_incident}
    if opened:
        return SensorResult(
            run_requests=[incident_alert(incident, its) for incident, its in opened.items()],
            cursor=after.to_cursor(),
        )
    context.update_cursor(after.to_cursor())
    return SkipReason(f"{len(failures)} new failed deliveries; no new incident")
