"""The pipeline's one Definitions: assets, jobs, schedules, the sensor, and the resources built
from the environment (`just pipeline` runs Dagster's UI on it, `just pipeline-run` materializes
from the command line)."""

from __future__ import annotations

from datetime import UTC, timedelta

from dagster import (
    AssetSelection,
    DefaultScheduleStatus,
    Definitions,
    RunRequest,
    ScheduleDefinition,
    ScheduleEvaluationContext,
    define_asset_job,
    schedule,
)

from pipeline.assets import auth_housekeeping, org_daily_metrics, org_metrics_sheet, weekly_slack_digest
from pipeline.resources import PostgresResource, SheetsResource, SlackResource
from pipeline.sensors import delivery_incident_alert, failed_deliveries_sensor

daily_metrics_job = define_asset_job("daily_metrics", AssetSelection.assets(org_daily_metrics))
metrics_export_job = define_asset_job("metrics_export", AssetSelection.assets(org_metrics_sheet))
maintenance_job = define_asset_job("maintenance", AssetSelection.assets(auth_housekeeping))
weekly_digest_job = define_asset_job("weekly_digest", AssetSelection.assets(weekly_slack_digest))


# What needs only the database (the day's metrics, the housekeeping) runs as the daemon starts;
# the digest and the export reach Slack and Google, and wait for an operator to turn them on.
@schedule(
    job=daily_metrics_job,
    cron_schedule="30 0 * * *",
    execution_timezone="UTC",
    default_status=DefaultScheduleStatus.RUNNING,
)
def daily_metrics_schedule(context: ScheduleEvaluationContext) -> RunRequest:
    """Yesterday (UTC), once it is over."""
    yesterday = (context.scheduled_execution_time.astimezone(UTC) - timedelta(days=1)).date()
    return RunRequest(run_key=yesterday.isoformat(), partition_key=yesterday.isoformat())


@schedule(job=weekly_digest_job, cron_schedule="0 8 * * 1", execution_timezone="UTC")
def weekly_digest_schedule(context: ScheduleEvaluationContext) -> RunRequest:
    """Monday morning (UTC): the week that ended, from the Monday before."""
    monday = (context.scheduled_execution_time.astimezone(UTC) - timedelta(days=7)).date()
    return RunRequest(run_key=monday.isoformat(), partition_key=monday.isoformat())


defs = Definitions(
    assets=[org_daily_metrics, org_metrics_sheet, weekly_slack_digest, auth_housekeeping],
    jobs=[daily_metrics_job, metrics_export_job, weekly_digest_job, maintenance_job, delivery_incident_alert],
    schedules=[
        daily_metrics_schedule,
        weekly_digest_schedule,
        ScheduleDefinition(job=metrics_export_job, cron_schedule="0 1 * * *", execution_timezone="UTC"),
        ScheduleDefinition(
            job=maintenance_job,
            cron_schedule="15 * * * *",
            execution_timezone="UTC",
            default_status=DefaultScheduleStatus.RUNNING,
        ),
    ],
    sensors=[failed_deliveries_sensor],
    resources={
        "postgres": PostgresResource.from_environment(),
        "sheets": SheetsResource.from_environment(),
        "slack": SlackResource.from_environment(),
    },
)
