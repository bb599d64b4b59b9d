"""Posting an organization's events to its Slack channel: the job `post_to_slack` runs this,
once per try, in one transaction of the worker's own (sql/functions/delivery/slack.sql):

    claim the event          its row locked; with the channel and sealed bot token of the
                             organization's working connection, and the names to show;
    open the token and post  chat.postMessage (services/slack.py);
    record the outcome       delivered; or a failed try, tried again later when Slack may
                             answer then (429 after its Retry-After, 5xx, no answer); or the
                             connection marked broken when Slack refuses its token or channel
                             for good, and the event given up.

As for mail, the row lock keeps two jobs of one event from posting it at once, and the lock lives
on the try's database connection, which may be lost meanwhile (a Postgres restart): just before
the request goes, the claim is checked to hold still (check_claim_held), and when it does not,
nothing is posted. A post is still at least once, not at most: one Slack took but answered past
the timeout (a temporary failure, tried again), or whose worker died or lost its database
connection between that check and the commit, is posted again; chat.postMessage has no
idempotency key (docs/services.md).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from string import Formatter

from blossom_db.database import Database
from blossom_db.generated import delivery_claim_slack_post_async, delivery_slack_broken_async
from services.errors import ServiceError
from services.secrets import KeyRing, Sealed, SecretUnreadable
from services.slack import Name, SlackClient, SlackMessage, SlackRefused, bot_token_context
from services.text import inert
from worker.config import WorkerConfig
from worker.delivery import (
    GaveUp,
    RetryLater,
    check_claim_held,
    count_failed_try,
    finished_despite_a_stop,
    record_delivered,
    record_failed_try,
    record_skipped,
)
from worker.metrics import WorkerMetrics

log = logging.getLogger("blossom.worker")


class UnpostableEvent(Exception):
    """The event cannot become a Slack message (an unknown topic, a name missing)."""


# Each topic's message; {user}, {by}, {org}, {new_name} are names users typed, shown in bold,
# and {role} is ours.
MESSAGES = {
    "notify.member_joined": "{user} joined {org} as {role}.",
    "notify.member_left": "{user} left {org}.",
    "notify.member_removed": "{user} was removed from {org} by {by}.",
    "notify.org_renamed": "{by} renamed the organization to {new_name}.",
    "notify.ownership_transferred": "{user} is now an owner of {org}, made one by {by}.",
}
# Which field of the claim's names each placeholder of a message shows.
NAME_FIELDS = {"user": "user_name", "by": "by_name", "org": "org_name", "new_name": "new_name"}
NOBODY = "someone"


def slack_message(topic: str, names: object) -> SlackMessage:
    """The message for an event: our words, and each typed name a part of its own (never read
    as formatting; services/slack.py)."""
    template = MESSAGES.get(topic)
    if template is None:
        raise UnpostableEvent(f"no Slack message is made for topic {topic!r}")
    found = names if isinstance(names, dict) else {}
    parts: list[str | Name] = []
    for words, placeholder, _spec, _conversion in Formatter().parse(template):
        parts.append(words)
        if placeholder == "role":
            parts.append(str(found.get("role") or "member"))
        elif placeholder is not None:
            value = found.get(NAME_FIELDS[placeholder])
            # A name with nothing left to show once made inert (only controls) is nobody's.
            parts.append(Name(value) if isinstance(value, str) and inert(value) else NOBODY)
    return SlackMessage(*parts)


@dataclass(frozen=True)
class SlackPoster:
    config: WorkerConfig
    database: Database
    slack: SlackClient
    keyring: KeyRing | None
    metrics: WorkerMetrics

    async def post(self, event_id: str) -> None:
        """One try at posting `event_id`; RetryLater or GaveUp when it failed (recorded by then)."""
        outcome: GaveUp | RetryLater
        async with self.database.transaction() as conn:
            claim = await delivery_claim_slack_post_async(conn, p_event_id=event_id)
            if claim.topic is None:
                await record_skipped(
                    conn,
                    self.metrics,
                    "slack",
                    f"event {event_id}: posted, given up or withdrawn already; nothing to do",
                )
                return
            this_try = (claim.attempts or 0) + 1

            async def failed(
                reason: str, *, temporary: bool, wait_at_least: float = 0.0
            ) -> GaveUp | RetryLater:
                return await record_failed_try(
                    conn,
                    self.config,
                    event_id,
                    this_try,
                    reason,
                    temporary=temporary,
                    wait_at_least=wait_at_least,
                )

            # A post is claimed only with its organization's working connection: without one,
            # delivery.claim_slack_post withdrew it and answered no topic.
            assert claim.channel is not None
            assert claim.token_key_id is not None
            assert claim.token_sealed is not None
            assert claim.connected_at is not None
            if self.keyring is None:
                # A deployment without the key ring: worth trying again once it is configured.
                reason = "this worker has no BLOSSOM_SECRETS_KEY to open the bot token"
                outcome = await failed(reason, temporary=True)
            else:
                org_id = str(claim.org_id)
                try:
                    message = slack_message(claim.topic, claim.names)
                    token = self.keyring.open(
                        Sealed(claim.token_key_id, claim.token_sealed), bot_token_context(org_id)
                    )
                    # The claim's connection may have been lost since the claim (a Postgres
                    # restart): posted then, the post could not be recorded and went again at
                    # the next try. Checked just before the request goes (one round trip);
                    # lost, nothing is posted, and the job runs again as for any database lost.
                    await self.slack.post_message(
                        token,
                        claim.channel,
                        message,
                        before_sending=lambda: check_claim_held(conn, event_id),
                    )
                except SecretUnreadable as error:
                    # A key not in this worker's ring may be one it has not been given yet (a
                    # rotation restarts the edge, which seals with the new key, and the worker one
                    # after the other): tried again, as without any ring, and given up after the
                    # last try. One that does not open with its key never will.
                    outcome = await failed(str(error), temporary=error.key_missing)
                except UnpostableEvent as error:
                    outcome = await failed(str(error), temporary=False)
                except SlackRefused as error:
                    # Refused for good: the connection is marked broken first, so nothing more is
                    # queued; the one claimed, not one an admin made since with another token.
                    if error.broken:
                        await delivery_slack_broken_async(
                            conn,
                            p_org_id=org_id,
                            p_reason=error.slack_error,
                            p_connected_at=claim.connected_at,
                        )
                    outcome = await failed(error.message, temporary=False)
                except ServiceError as error:
                    outcome = await failed(
                        error.message, temporary=error.temporary, wait_at_least=error.retry_after or 0.0
                    )
                else:

                    def announce() -> None:
                        log.info("event %s: posted to Slack (%s) at try %d", event_id, claim.topic, this_try)
                        self.metrics.deliveries.labels("slack", "delivered").inc()

                    # Slack has the post: its record, then its log line and count, are finished
                    # whatever stop comes meanwhile (cancelled there, it rolled back, and the next
                    # try posted it again).
                    await finished_despite_a_stop(record_delivered(conn, event_id, announce))
                    return
        count_failed_try(self.metrics, "slack", outcome)
        raise outcome
