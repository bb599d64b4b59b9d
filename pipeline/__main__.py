"""`just pipeline-run [ASSET…] [--day YYYY-MM-DD]`: materialize assets once, from the command
line (for cron or CI), with the resources of pipeline/definitions.py; the exit status is non-zero
when any fails.

Without ASSET it materializes what needs only the database: org_daily_metrics (of --day, by
default today, UTC) and auth_housekeeping. A weekly asset is materialized for the week (from
Monday, UTC) that holds --day, by default the last whole week. Runs are recorded in the Dagster
instance of DAGSTER_HOME when it is set (`just pipeline` sets one), else in a throwaway one.
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Mapping
from datetime import UTC, date, datetime, time
from typing import Any

from dagster import (
    AssetsDefinition,
    DagsterInstance,
    ExecuteInProcessResult,
    PartitionsDefinition,
    TimeWindowPartitionsDefinition,
    materialize,
)

from pipeline.assets import WEEKS
from pipeline.definitions import defs

DATABASE_ONLY = ("org_daily_metrics", "auth_housekeeping")


def run(names: list[str], day: date | None, resources: Mapping[str, Any] | None = None) -> bool:
    """Materialize the named assets (the daily and weekly ones of `day`; by default each one's
    last: today, the last whole week), with the definitions' resources unless others are given;
    whether every one succeeded."""
    assets = {
        asset.key.to_user_string(): asset
        for asset in defs.assets or []
        if isinstance(asset, AssetsDefinition)
    }
    unknown = sorted(set(names) - set(assets))
    if unknown:
        raise SystemExit(
            f"pipeline-run: no asset {', '.join(unknown)} (there are: {', '.join(sorted(assets))})"
        )
    chosen = [assets[name] for name in names]
    if day is not None and all(asset.partitions_def is None for asset in chosen):
        raise SystemExit(f"pipeline-run: --day is for the daily and weekly assets; {', '.join(names)}: none")
    runs = partitioned_runs(chosen, day)
    resources = dict(defs.resources or {}) if resources is None else dict(resources)
    with DagsterInstance.get() if os.environ.get("DAGSTER_HOME") else DagsterInstance.ephemeral() as instance:
        # Every group runs, whether one before it failed.
        return all([materialized(group, partition, resources, instance) for group, partition in runs])


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
    key = partitions.get_partition_key_for_timestamp(datetime.combine(day, time(), UTC).timestamp())
    if not partitions.has_partition_key(key):
        raise SystemExit(
            f"pipeline-run: {', '.join(asset.key.to_user_string() for asset in group)} has no"
            f" {'week' if partitions is WEEKS else 'day'} of {day:%Y-%m-%d}: from {first} to {last} (UTC)"
        )
    return key


def materialized(
    group: list[AssetsDefinition], partition: str | None, resources: dict[str, Any], instance: DagsterInstance
) -> bool:
    """One run of the group; what it materialized, printed; whether it succeeded."""
    result = materialize(
        group, partition_key=partition, resources=resources, instance=instance, raise_on_error=False
    )
    for asset in group:
        for materialization in result.asset_materializations_for_node(asset.node_def.name):
            facts = ", ".join(f"{key} {value.value}" for key, value in materialization.metadata.items())
            print(f"pipeline-run: {materialization.asset_key.to_user_string()}: {facts}")
    if not result.success:
        failed_steps = {failure.step_key for failure in result.get_step_failure_events()}
        # The assets whose step failed; the others of the run were materialized, or skipped after it.
        names = ", ".join(
            asset.key.to_user_string() for asset in group if asset.node_def.name in failed_steps
        ) or ", ".join(asset.key.to_user_string() for asset in group)
        print(f"pipeline-run: {names} failed: {why_failed(result)}", file=sys.stderr)
    return bool(result.success)


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


def _day(raw: str) -> date:
    try:
        return date.fromisoformat(raw)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{raw!r} is no day: YYYY-MM-DD") from None


def main() -> None:
    parser = argparse.ArgumentParser(prog="just pipeline-run", description=__doc__.split("\n\n", 1)[0])
    parser.add_argument(
        "assets", nargs="*", help=f"assets to materialize (default: {' '.join(DATABASE_ONLY)})"
    )
    parser.add_argument(
        "--day",
        type=_day,
        help="the day of the daily assets, and the day in the week of the weekly ones (UTC; default: today)",
    )
    args = parser.parse_args()
    raise SystemExit(0 if run(args.assets or list(DATABASE_ONLY), args.day) else 1)


if __name__ == "__main__":
    main()
