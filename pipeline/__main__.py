"""`just pipeline-run [ASSET…] [--day YYYY-MM-DD]`: materialize assets once, from the command
line (for cron or CI), with the resources of pipeline/definitions.py; the exit status is non-zero
when any fails.

Without ASSET it materializes what needs only the database: org_daily_metrics (of --day, by
default today, UTC) and auth_housekeeping. Runs are recorded in the Dagster instance of
DAGSTER_HOME when it is set (`just pipeline` sets one), else in a throwaway one.
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Mapping
from datetime import UTC, date, datetime
from typing import Any

from dagster import AssetsDefinition, DagsterInstance, DagsterUnknownPartitionError, materialize

from pipeline.assets import DAYS
from pipeline.definitions import defs

DATABASE_ONLY = ("org_daily_metrics", "auth_housekeeping")


def run(names: list[str], day: date, resources: Mapping[str, Any] | None = None) -> bool:
    """Materialize the named assets (the daily ones of `day`), with the definitions' resources
    unless others are given; whether every one succeeded."""
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
    resources = dict(defs.resources or {}) if resources is None else dict(resources)
    with DagsterInstance.get() if os.environ.get("DAGSTER_HOME") else DagsterInstance.ephemeral() as instance:
        # Every group runs, whether one before it failed.
        return all(
            [
                materialized(group, partition, resources, instance)
                for group, partition in (
                    # A run is of one partition or of none: the day's assets, then the others.
                    ([a for a in chosen if a.partitions_def is not None], day.isoformat()),
                    ([a for a in chosen if a.partitions_def is None], None),
                )
                if group
            ]
        )


def materialized(
    group: list[AssetsDefinition], partition: str | None, resources: dict[str, Any], instance: DagsterInstance
) -> bool:
    """One run of the group; what it materialized, printed; whether it succeeded."""
    try:
        result = materialize(
            group, partition_key=partition, resources=resources, instance=instance, raise_on_error=False
        )
    except DagsterUnknownPartitionError:
        raise SystemExit(
            f"pipeline-run: no day {partition}: from {DAYS.start:%Y-%m-%d} to today (UTC)"
        ) from None
    for asset in group:
        for materialization in result.asset_materializations_for_node(asset.node_def.name):
            facts = ", ".join(f"{key} {value.value}" for key, value in materialization.metadata.items())
            print(f"pipeline-run: {materialization.asset_key.to_user_string()}: {facts}")
    if not result.success:
        failure = next(iter(result.get_step_failure_events()), None)
        print(f"pipeline-run: failed: {failure.message if failure else 'see the run'}", file=sys.stderr)
    return bool(result.success)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "assets", nargs="*", help=f"assets to materialize (default: {' '.join(DATABASE_ONLY)})"
    )
    parser.add_argument(
        "--day",
        type=date.fromisoformat,
        default=datetime.now(UTC).date(),
        help="the day of daily assets (UTC)",
    )
    args = parser.parse_args()
    raise SystemExit(0 if run(args.assets or list(DATABASE_ONLY), args.day) else 1)


if __name__ == "__main__":
    main()
