"""The pipeline's assets: daily organization metrics into analytics (a partition per UTC day,
idempotent: a day run again replaces its rows), their export to a Google Sheet, and the
housekeeping of the auth tables, whose counts are its metadata."""

# No `from __future__ import annotations`: Dagster reads the context parameter's annotation.
from datetime import UTC, date, datetime, timedelta

from dagster import AssetExecutionContext, DailyPartitionsDefinition, MaterializeResult, asset

from blossom_db.generated import (
    pipeline_org_daily_metrics,
    pipeline_purge_auth,
    pipeline_refresh_org_daily_metrics,
)
from pipeline.resources import PostgresResource, SheetsResource

# One partition per UTC day, today's included (a day may be counted while it lasts and again
# once it is over: the scheduled run counts yesterday).
DAYS = DailyPartitionsDefinition(start_date="2026-01-01", timezone="UTC", end_offset=1)
# The days the export shows, the last one included.
EXPORTED_DAYS = 30
EXPORT_WORKSHEET = "org_daily_metrics"
EXPORT_HEADER = (
    "day",
    "org_id",
    "members",
    "invitations_sent",
    "invitations_accepted",
    "logins",
    "active_users",
)


@asset(partitions_def=DAYS, group_name="analytics", kinds={"postgres"})
def org_daily_metrics(context: AssetExecutionContext, postgres: PostgresResource) -> MaterializeResult[None]:
    """Each organization's counts of one UTC day (members, invitations sent and accepted, logins,
    active members) in analytics.org_daily_metrics, replacing that day's rows."""
    day = date.fromisoformat(context.partition_key)
    with postgres.transaction() as conn:
        done = pipeline_refresh_org_daily_metrics(conn, p_day=day)
    return MaterializeResult(
        metadata={"day": day.isoformat(), "rows": done.written, "replaced": done.replaced}
    )


@asset(deps=[org_daily_metrics], group_name="analytics", kinds={"googlesheets"})
def org_metrics_sheet(postgres: PostgresResource, sheets: SheetsResource) -> MaterializeResult[None]:
    """The last days' metrics in the worksheet org_daily_metrics of the metrics spreadsheet,
    replaced whole in one batch."""
    last = datetime.now(UTC).date()
    with postgres.transaction() as conn:
        metrics = pipeline_org_daily_metrics(conn, p_from=last - timedelta(days=EXPORTED_DAYS - 1), p_to=last)
    rows = [EXPORT_HEADER] + [
        (m.day, m.org_id, m.members, m.invitations_sent, m.invitations_accepted, m.logins, m.active_users)
        for m in metrics
    ]
    sheets.client().replace_rows(sheets.spreadsheet_key, EXPORT_WORKSHEET, rows)
    return MaterializeResult(metadata={"rows": len(metrics), "worksheet": EXPORT_WORKSHEET})


@asset(group_name="maintenance", kinds={"postgres"})
def auth_housekeeping(postgres: PostgresResource) -> MaterializeResult[None]:
    """Dead sessions, spent reset and verification tokens, old rate-limit rows and forgotten
    devices deleted; tokens taken out of the outbox's delivered or expired messages."""
    with postgres.transaction() as conn:
        purged = pipeline_purge_auth(conn)
    return MaterializeResult(
        metadata={
            "sessions": purged.sessions or 0,
            "rate_limit_hits": purged.rate_limit_hits or 0,
            "password_resets": purged.password_resets or 0,
            "email_verifications": purged.email_verifications or 0,
            "devices": purged.devices or 0,
            "outbox_secrets": purged.outbox_secrets or 0,
        }
    )
