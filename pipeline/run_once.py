"""Materializing assets once, outside the daemon: what `just pipeline-run` (pipeline/__main__.py)
does with the arguments it has read, kept apart so that reading them loads no Dagster. Each group
of assets partitioned alike is one in-process run.
"""

from __future__ import annotations

import fcntl
import os
import signal
import sys
import threading
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager, suppress
from datetime import UTC, date, datetime, time
from typing import Any

from dagster import (
    AssetsDefinition,
    DagsterEventType,
    DagsterExecutionInterruptedError,
    DagsterInstance,
    ExecuteInProcessResult,
    PartitionsDefinition,
    TimeWindowPartitionsDefinition,
    materialize,
)

from pipeline import settings
from pipeline.assets import WEEKS
from pipeline.definitions import defs


def run(names: list[str], day: date | None, resources: Mapping[str, Any] | None = None) -> bool:
    """Materialize the named assets (the daily and weekly ones of `day`; by default each one's
    last: today, the last whole week), with the definitions' resources unless others are given;
    whether every one succeeded. The names are the definitions' (pipeline.__main__ reads them)."""
    assets = defined_assets()
    # Each once, however often it was named: a run of one asset twice told of it twice.
    named = list(dict.fromkeys(names))
    chosen = [assets[name] for name in named]
    if day is not None and all(asset.partitions_def is None for asset in chosen):
        raise SystemExit(f"pipeline-run: --day is for the daily and weekly assets; {', '.join(named)}: none")
    runs = partitioned_runs(chosen, day)
    resources = dict(defs.resources or {}) if resources is None else dict(resources)
    succeeded = True
    with dagster_instance() as instance, stops_noted() as stopped:
        for number, (group, partition) in enumerate(runs):
            # Every group runs, whether one before it failed; none after one that was stopped.
            try:
                result: ExecuteInProcessResult | None = materialized(group, partition, resources, instance)
            except KeyboardInterrupt:
                # Ctrl-C or SIGTERM as Dagster began or ended the run, outside its own handling,
                # which told of it without naming the run, nor those left.
                result = None
            if result is None or interrupted(result) or stopped():
                left = names_of([asset for later, _ in runs[number + 1 :] for asset in later])
                print(
                    f"pipeline-run: {settings.STOPPED} in {names_of(group)}"
                    + (f"; not run: {left}" if left else ""),
                    file=sys.stderr,
                )
                return False
            succeeded = succeeded and result.success
    return succeeded


STOPPING_SIGNALS = frozenset({signal.SIGINT, signal.SIGTERM})


@contextmanager
def stops_noted() -> Iterator[Callable[[], bool]]:
    """A function telling whether SIGTERM or Ctrl-C came since: Dagster's handler notes either
    during a run only to act on it at its next step, and forgets it as the run ends, so that one
    that came after the last step was lost, and the next run began. Python writes the number of
    every signal it handles to the wakeup descriptor, whichever handler it runs; off the main
    thread, where no signal is handled, nothing comes."""
    if threading.current_thread() is not threading.main_thread():
        yield lambda: False
        return
    read, write = os.pipe()
    os.set_blocking(read, False)
    os.set_blocking(write, False)
    previous = signal.set_wakeup_fd(write, warn_on_full_buffer=False)
    seen: set[int] = set()

    def stopped() -> bool:
        with suppress(BlockingIOError):
            while chunk := os.read(read, 512):
                seen.update(chunk)
        return bool(seen & STOPPING_SIGNALS)

    try:
        yield stopped
    finally:
        signal.set_wakeup_fd(previous)
        os.close(read)
        os.close(write)


def defined_assets() -> dict[str, AssetsDefinition]:
    """The assets of the definitions, by name."""
    return {
        asset.key.to_user_string(): asset
        for asset in defs.assets or []
        if isinstance(asset, AssetsDefinition)
    }


def dagster_instance() -> DagsterInstance:
    """DAGSTER_HOME's instance, or a throwaway one when it is not set. Opened by one run at a
    time: each makes the instance's SQLite storage when it is not there yet, and of runs begun
    together on a new one (cron's of one minute) all but one failed ("table runs already exists").
    Once open, runs go on side by side."""
    # Checked by pipeline.__main__ before Dagster loads; here again for a run begun otherwise
    # (run() called in a process of its own, as tests do), which ended in Dagster's traceback or
    # the lock's.
    with settings.wrong_setting_refused("pipeline-run"):
        home = settings.dagster_home()
        opening = None if home is None else settings.opening_lock(home)
    if opening is None:
        return DagsterInstance.ephemeral()
    with opening:
        fcntl.flock(opening, fcntl.LOCK_EX)
        return DagsterInstance.get()


def partitioned_runs(
    chosen: list[AssetsDefinition], day: date | None
) -> list[tuple[list[AssetsDefinition], str | None]]:
    """The runs that materialize the assets: one per way of partitioning them (a run is of one
    partition or of none): the day's first (the week's digest reads them), then the week's, then
    the others."""
    groups: dict[PartitionsDefinition | None, list[AssetsDefinition]] = {}
    for asset in chosen:
        groups.setdefault(asset.partitions_def, []).append(asset)
    return [
        (group, None if partitions is None else partition_of(partitions, group, day))
        for partitions, group in sorted(groups.items(), key=lambda item: (item[0] is None, item[0] is WEEKS))
    ]


def partition_of(partitions: PartitionsDefinition, group: list[AssetsDefinition], day: date | None) -> str:
    """The partition that holds `day`, or the last (today's, the last whole week's) when there is
    no day; SystemExit naming the assets and their range when there is no such partition."""
    assert isinstance(partitions, TimeWindowPartitionsDefinition)
    first, last = partitions.get_first_partition_key(), partitions.get_last_partition_key()
    assert last is not None, "a partitioned asset of ours has partitions from its start on"
    if day is None:
        return last
    # Told from the partitions' span, not by asking Dagster for the day's own partition: its week
    # of a day near Python's first or last (0001-01-01, 9999-12-31) overflowed, a traceback.
    begins = partitions.time_window_for_partition_key(first).start.date()
    ends = partitions.time_window_for_partition_key(last).end.date()
    if not begins <= day < ends:
        raise SystemExit(
            f"pipeline-run: {', '.join(asset.key.to_user_string() for asset in group)} has no"
            f" {'week' if partitions is WEEKS else 'day'} of {day.isoformat()}: from {first} to {last} (UTC)"
        )
    return partitions.get_partition_key_for_timestamp(datetime.combine(day, time(), UTC).timestamp())


def names_of(assets: list[AssetsDefinition]) -> str:
    return ", ".join(asset.key.to_user_string() for asset in assets)


def materialized(
    group: list[AssetsDefinition], partition: str | None, resources: dict[str, Any], instance: DagsterInstance
) -> ExecuteInProcessResult:
    """One run of the group; what it materialized, printed, and why it failed unless it was
    stopped (run() tells that)."""
    result = materialize(
        group, partition_key=partition, resources=resources, instance=instance, raise_on_error=False
    )
    for asset in group:
        for materialization in result.asset_materializations_for_node(asset.node_def.name):
            facts = ", ".join(f"{key} {value.value}" for key, value in materialization.metadata.items())
            # Flushed: cron mails stdout and stderr as one, in the order written, and a stdout not
            # flushed came after the stop or the failure that stderr told later (the last line).
            print(f"pipeline-run: {materialization.asset_key.to_user_string()}: {facts}", flush=True)
    if not result.success and not interrupted(result):
        failed_steps = {failure.step_key for failure in result.get_step_failure_events()}
        # The assets whose step failed; the others of the run were materialized, or skipped after it.
        names = names_of([asset for asset in group if asset.node_def.name in failed_steps]) or names_of(group)
        print(f"pipeline-run: {names} failed: {why_failed(result)}", file=sys.stderr)
    return result


def interrupted(result: ExecuteInProcessResult) -> bool:
    """Whether the run was ended by SIGTERM or Ctrl-C, which Dagster records as its failure."""
    return any(
        event.event_type == DagsterEventType.RUN_FAILURE
        and event.job_failure_data.error is not None
        and event.job_failure_data.error.cls_name == DagsterExecutionInterruptedError.__name__
        for event in result.all_events
    )


def why_failed(result: ExecuteInProcessResult) -> str:
    """The error that failed the run's first failed step, on one line: the asset's own (Dagster
    wraps it in an error that says only that the step failed, and the cause was pages of the log
    above the last line, which is what cron mails and a terminal shows last)."""
    failure = next(iter(result.get_step_failure_events()), None)
    if failure is None:
        return "see the run"
    error = failure.step_failure_data.error if failure.step_failure_data else None
    if error is None:
        return failure.message or "see the run"
    return " ".join((error.cause or error).message.split())
