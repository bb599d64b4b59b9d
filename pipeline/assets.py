"""The pipeline's assets: daily organization metrics into analytics (a partition per UTC day,
idempotent: a day run again replaces its rows), their export to a Google Sheet, a weekly digest
of them to each connected organization's Slack channel, and the housekeeping of the auth tables,
whose counts are its metadata."""

# No `from __future__ import annotations`: Dagster reads the context parameter's annotation.
import asyncio
import functools
import time
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import Literal

from dagster import (
    AssetExecutionContext,
    DailyPartitionsDefinition,
    MaterializeResult,
    WeeklyPartitionsDefinition,
    asset,
)

from blossom_db.generated import (
    OrgDailyMetrics,
    PipelineSlackDigestTargetsRow,
    pipeline_org_daily_metrics,
    pipeline_purge_auth,
    pipeline_refresh_org_daily_metrics,
    pipeline_slack_digest_claim,
    pipeline_slack_digest_failed,
    pipeline_slack_digest_posted,
    pipeline_slack_digest_refused,
    pipeline_slack_digest_targets,
)
from pipeline.resources import PostgresResource, SheetsResource, SlackResource
from pipeline.retries import tried_again_when_the_database_passes
from services.errors import ServiceError
from services.secrets import Sealed, SecretUnreadable
from services.slack import Name, SlackMessage, SlackRefused, bot_token_context

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
    "ai_tokens",
)


@asset(partitions_def=DAYS, group_name="analytics", kinds={"postgres"})
@tried_again_when_the_database_passes
def org_daily_metrics(context: AssetExecutionContext, postgres: PostgresResource) -> MaterializeResult[None]:
    """Each organization's counts of one UTC day (members, invitations sent and accepted, logins,
    active members, AI tokens charged) in analytics.org_daily_metrics, replacing that day's rows."""
    day = date.fromisoformat(context.partition_key)
    with postgres.transaction() as conn:
        done = pipeline_refresh_org_daily_metrics(conn, p_day=day)
    return MaterializeResult(
        metadata={"day": day.isoformat(), "rows": done.written, "replaced": done.replaced}
    )


@asset(deps=[org_daily_metrics], group_name="analytics", kinds={"googlesheets"})
@tried_again_when_the_database_passes
def org_metrics_sheet(postgres: PostgresResource, sheets: SheetsResource) -> MaterializeResult[None]:
    """The last days' metrics in the worksheet org_daily_metrics of the metrics spreadsheet,
    replaced whole in one batch."""
    last = datetime.now(UTC).date()
    with postgres.transaction() as conn:
        metrics = pipeline_org_daily_metrics(conn, p_from=last - timedelta(days=EXPORTED_DAYS - 1), p_to=last)
    rows = [EXPORT_HEADER] + [
        (
            m.day,
            m.org_id,
            m.members,
            m.invitations_sent,
            m.invitations_accepted,
            m.logins,
            m.active_users,
            m.ai_tokens,
        )
        for m in metrics
    ]
    sheets.client().replace_rows(sheets.spreadsheet_key, EXPORT_WORKSHEET, rows)
    return MaterializeResult(metadata={"rows": len(metrics), "worksheet": EXPORT_WORKSHEET})


# Weeks from Monday (UTC); a week's digest is posted once the week is over.
WEEKS = WeeklyPartitionsDefinition(start_date="2026-01-05", timezone="UTC", day_offset=1)
# A digest another run holds the claim of is being posted by it: a run that came to it waits, once
# done with its own, for the other run to be done with it (a post at most, which the Slack client
# gives up on after its timeout) and this much more, looking again every HELD_POLL_SECONDS.
HELD_MARGIN_SECONDS = 5.0
HELD_POLL_SECONDS = 0.25


@dataclass(frozen=True)
class DigestOutcome:
    """What became of one organization's digest in a run: posted by it, sent by another run, its
    organization gone, its Slack connection gone or broken since the run listed it, held by
    another run's claim (until lapses_at), or failed (why, never the token)."""

    kind: Literal["posted", "sent", "gone", "disconnected", "held", "failed"]
    why: str = ""
    lapses_at: datetime | None = None


def digest_message(org_name: str, first: date, days: Sequence[OrgDailyMetrics]) -> SlackMessage:
    """The week of one organization in a few lines, its name in bold (never read as formatting:
    services/slack.py)."""
    last = first + timedelta(days=6)
    members = days[-1].members if days else 0
    busiest = max((day.active_users for day in days), default=0)
    return SlackMessage(
        Name(org_name),
        "\n".join(
            [
                f", the week of {first:%d %b} to {last:%d %b %Y}:",
                f"• {members} members",
                f"• {sum(day.invitations_sent for day in days)} invitations sent,"
                f" {sum(day.invitations_accepted for day in days)} accepted",
                f"• {sum(day.logins for day in days)} logins; at most {busiest} members active in a day",
            ]
        ),
    )


@asset(partitions_def=WEEKS, deps=[org_daily_metrics], group_name="analytics", kinds={"slack"})
@tried_again_when_the_database_passes
def weekly_slack_digest(
    context: AssetExecutionContext, postgres: PostgresResource, slack: SlackResource
) -> MaterializeResult[None]:
    """Each organization with a working Slack connection gets its week's metrics in its channel,
    once, whatever runs of the week are under way: a run claims each digest just before it posts
    it (pipeline.slack_digest_claim), posts only those it got the claim of, with the connection as
    the claim finds it (one disconnected or broken since the run began gets nothing), and records each as
    sent as soon as it is posted, in a transaction of its own. A digest another run is posting is
    left to it; once done with its own, the run waits for the other to be done with those (a post
    at most), and posts any it failed. A refusal for one (a broken token, a temporary failure)
    does not stop the others: its claim is released for the next run, and the run fails when any
    was not posted, so that it is seen. A connection Slack refused for good (its token or channel)
    is marked broken, as the worker marks it, so that the weeks after do not fail on it. The week
    run again, after any failure or stop, posts only to the organizations that did not get it; a
    run that stopped while posting one holds its claim for ten minutes, after which the next run
    takes it over and posts it, twice if the stopped run's post had reached Slack (it says so in
    its log: docs/pipeline.md)."""
    first = date.fromisoformat(context.partition_key)
    with postgres.transaction() as conn:
        targets = pipeline_slack_digest_targets(conn, p_week=first)
        metrics = pipeline_org_daily_metrics(conn, p_from=first, p_to=first + timedelta(days=6))
    by_org: dict[str, list[OrgDailyMetrics]] = {}
    for day in metrics:
        by_org.setdefault(day.org_id, []).append(day)
    # Asked for only when a token is to be opened: a deployment none of whose organizations is on
    # Slack keeps no key, and its digest posts nothing and fails nothing.
    key_ring, client = functools.cache(slack.key_ring), slack.client()
    broken: dict[str, str] = {}

    async def post(target: PipelineSlackDigestTargetsRow) -> DigestOutcome:
        """Claimed, then posted by this run if the claim is its own."""
        org_id = str(target.org_id)
        with postgres.transaction() as conn:
            claimed = pipeline_slack_digest_claim(
                conn, p_week=first, p_org_id=org_id, p_run=context.run.run_id
            )
        if claimed.outcome == "held":
            return DigestOutcome("held", "claimed by another run", claimed.lapses_at)
        if claimed.outcome == "claimed_earlier":
            # Not waited for: that attempt ended (this is the run tried again).
            lapses = claimed.lapses_at.isoformat(timespec="seconds") if claimed.lapses_at else "?"
            return DigestOutcome(
                "failed",
                "claimed by an earlier attempt of this run, which may have posted it (its connection"
                f" was lost): the week run again after {lapses}, when its claim lapses, posts it",
            )
        if claimed.outcome == "sent":
            return DigestOutcome("sent")
        if claimed.outcome == "gone":
            return DigestOutcome("gone")
        if claimed.outcome == "disconnected":
            return DigestOutcome("disconnected")
        if claimed.outcome not in ("claimed", "taken_over"):
            raise RuntimeError(f"pipeline.slack_digest_claim answered {claimed.outcome!r}")
        if claimed.outcome == "taken_over":
            context.log.warning(
                f"weekly digest of {org_id}: taken over from a run that stopped while it was posting it"
                " ten minutes ago; if that run's post had reached Slack, the channel gets it twice"
            )

        def failed(why: str) -> DigestOutcome:
            """Not posted: the claim released, for the next run to post it."""
            with postgres.transaction() as conn:
                pipeline_slack_digest_failed(conn, p_week=first, p_org_id=org_id, p_claim=claimed.claim)
            return DigestOutcome("failed", why)

        try:
            # The connection as the claim found it, not as the run listed it (since then, it may
            # have been disconnected, broken, or connected anew elsewhere).
            token = key_ring().open(
                Sealed(str(claimed.token_key_id), bytes(claimed.token_sealed or b"")),
                bot_token_context(org_id),
            )
            message = digest_message(str(target.org_name), first, by_org.get(org_id, []))
            await client.post_message(token, str(claimed.channel), message)
        except SecretUnreadable as unreadable:
            return failed(str(unreadable))
        except ServiceError as refused:
            if isinstance(refused, SlackRefused) and refused.broken:
                broken[org_id] = refused.slack_error
                with postgres.transaction() as conn:
                    pipeline_slack_digest_refused(
                        conn,
                        p_org_id=org_id,
                        p_reason=refused.slack_error,
                        p_connected_at=claimed.connected_at,
                    )
            return failed(str(refused.code))
        except Exception:
            # An error no one expected ends the run; not known to be posted, the digest is
            # released for the week run again (at least once: docs/pipeline.md).
            failed("unexpected error")
            raise
        with postgres.transaction() as conn:
            pipeline_slack_digest_posted(conn, p_week=first, p_org_id=org_id)
        return DigestOutcome("posted")

    async def post_all() -> dict[str, DigestOutcome]:
        # One after another: the database calls between the posts hold up no other.
        outcomes = {str(target.org_id): await post(target) for target in targets}
        # Those another run was posting when this one came to them: claimed again until that run
        # is done with them, posted here if it failed them.
        deadline = time.monotonic() + slack.timeout_seconds + HELD_MARGIN_SECONDS
        while time.monotonic() < deadline and (
            held := [target for target in targets if outcomes[str(target.org_id)].kind == "held"]
        ):
            await asyncio.sleep(HELD_POLL_SECONDS)
            for target in held:
                outcomes[str(target.org_id)] = await post(target)
        return outcomes

    outcomes = asyncio.run(post_all())
    failed = {org_id: outcome for org_id, outcome in outcomes.items() if outcome.kind in ("failed", "held")}
    for org_id, outcome in failed.items():
        marked = " (its connection is now marked broken)" if org_id in broken else ""
        if outcome.kind == "held":
            lapses = outcome.lapses_at.isoformat(timespec="seconds") if outcome.lapses_at else "?"
            marked = (
                ", which has not posted it yet (a run still posting, or one that stopped: its claim"
                f" lapses at {lapses}, and the week run again after that posts it)"
            )
        context.log.warning(f"weekly digest of {org_id} not posted: {outcome.why}{marked}")
    if failed:
        raise RuntimeError(
            f"{len(failed)} of {len(targets)} weekly digests were not posted:"
            f" {sorted({outcome.why for outcome in failed.values()})}"
        )
    kinds = [outcome.kind for outcome in outcomes.values()]
    return MaterializeResult(
        metadata={
            "week": first.isoformat(),
            "posted": kinds.count("posted"),
            "posted_elsewhere": kinds.count("sent"),
        }
    )


@asset(group_name="maintenance", kinds={"postgres"})
@tried_again_when_the_database_passes
def auth_housekeeping(postgres: PostgresResource) -> MaterializeResult[None]:
    """Dead sessions, spent reset and verification tokens, old rate-limit rows and forgotten
    devices deleted; tokens taken out of the outbox's delivered or expired messages, and the
    messages delivered over 30 days ago deleted; invitations that expired unanswered closed; the
    rows of organizations their owners deleted purged, a bounded batch a run, then those
    organizations (what is left: admin.organization_deletions)."""
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
            "outbox_delivered": purged.outbox_delivered or 0,
            "invitations": purged.invitations or 0,
            "deleted_organizations": purged.deleted_organizations or 0,
            "deleted_organization_rows": purged.deleted_organization_rows or 0,
        }
    )
