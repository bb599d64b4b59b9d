"""Slack through its official SDK (slack-sdk's AsyncWebClient), configured from the environment:

    BLOSSOM_SLACK_API_URL              the Web API's base URL (default https://slack.com/api/);
                                       tests and staging point it at a fake
    BLOSSOM_SLACK_TIMEOUT_SECONDS      how long one call may take (default 10, at most 60)

Every failure is a ServiceError. `temporary` ones (no answer in time, a 5xx, a 429 with its
Retry-After, an answer that is not one of Slack's, one over LARGEST_ANSWER_BYTES among them, which
is not read further, and a redirect, which is not followed) are worth another try later; the
SDK's own retries are off, so that the job queue decides when. A refusal of the token or the
channel for good is `broken` — posting again would be refused again until someone connects anew.
A bot token is never part of an error or a log.

A caller may give a check that must still hold when a post goes (`before_sending`: the worker's,
that its claim of the post is still held): it runs as the request is about to be sent, before the
connection to Slack is opened; when it fails, nothing is sent, and what it raised passes through
unchanged.
"""

from __future__ import annotations

import asyncio
import functools
import re
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from blossom_db.settings import env_http_url, env_number
from services.errors import (
    AnswerTooLarge,
    CheckFailed,
    ServiceError,
    check_before_handing_over,
    retry_after_seconds,
)
from services.text import inert, quoted, storable

if TYPE_CHECKING:
    import aiohttp
    from slack_sdk.errors import SlackApiError
    from slack_sdk.web.async_client import AsyncWebClient
    from slack_sdk.web.async_slack_response import AsyncSlackResponse

DEFAULT_API_URL = "https://slack.com/api/"

# Slack's names for a throttle, which it may answer with HTTP 200 as well as with 429 (chat.postMessage
# says `rate_limited` of posts in a burst): a call to make again later, not a refusal.
RATE_LIMITED_ERRORS = frozenset({"ratelimited", "rate_limited"})

# Slack's errors that mean the token or the channel will not work again as they are: the token's
# own, the channel's, and the workspace's settings that refuse the bot the channel (until an admin
# there changes them).
BROKEN_CONNECTION_ERRORS = frozenset(
    {
        "invalid_auth",
        "not_authed",
        "token_revoked",
        "token_expired",
        "account_inactive",
        "channel_not_found",
        "not_in_channel",
        "is_archived",
        "missing_scope",
        "team_access_not_granted",
        "restricted_action",
        "restricted_action_read_only_channel",
        "no_permission",
        "access_denied",
        "ekm_access_denied",
        "enterprise_is_restricted",
    }
)
TOKEN_ERRORS = frozenset({"invalid_auth", "not_authed", "token_revoked", "token_expired", "account_inactive"})
# Slack's own failures, answered HTTP 200 or 5xx: worth another try.
SLACK_FAILURES = frozenset({"internal_error", "fatal_error", "service_unavailable", "request_timeout"})
TEAM_ID_SHAPE = re.compile(r"[A-Z0-9]{1,32}")
# How much of Slack's error string our messages quote: its errors are short words (invalid_auth),
# and one of 100,000 characters came back whole in the edge's 502 and in app.outbox.last_error.
LONGEST_QUOTED_ERROR = 200
# The most of an answer read. Slack's answers to auth.test and chat.postMessage are a few KB (the
# latter echoes the message, at most 50 blocks and 40,000 characters of text); aiohttp read any
# answer whole: one of 300 MB took the edge to 1.5 GB and the worker to 1.2 GB.
LARGEST_ANSWER_BYTES = 1 << 20


def bot_token_context(org_id: str) -> str:
    """What a bot token is sealed to (services/secrets.py): its organization."""
    return f"slack.bot_token:{org_id}"


class SlackRefused(ServiceError):
    """Slack refused the call for good; `slack_error` is its error string (e.g. invalid_auth)."""

    def __init__(self, slack_error: str, code: str, message: str, status: int) -> None:
        super().__init__(code, message, status=status)
        self.slack_error = slack_error

    @property
    def broken(self) -> bool:
        """The connection's token or channel will not work again until it is connected anew."""
        return self.slack_error in BROKEN_CONNECTION_ERRORS


@dataclass(frozen=True)
class Name:
    """A name a user typed (a display name, an organization's), shown in bold in a message."""

    typed: str


class SlackMessage:
    """A message of our own words and the names users typed (`Name`), in order.

    Slack's mrkdwn has no escape for `*`, `_`, `~` or a backtick, so a name written into mrkdwn
    could close the bold around it and go on as if in our words (`Max* left *Acme`, a second
    event of a member's making). So the message is posted as a rich_text block, which Slack never
    reads as mrkdwn: each part one text element, a name's with the bold style, shown exactly as
    written; a mention or a link there would be an element of its own type, which we never make.
    The names are still made inert (services/text.py): one line, no control characters, nothing
    a reader's client or a copy of the text would make a link of. The top-level `text`, which
    notifications and screen readers show, is the same words in plain text, with mrkdwn off and
    the names escaped: it is still read for `<!channel>` and links."""

    def __init__(self, *parts: str | Name) -> None:
        self.parts = parts

    def blocks(self) -> list[dict[str, Any]]:
        """The message as one rich_text block (Slack refuses an empty text element)."""
        elements: list[dict[str, Any]] = []
        for part in self.parts:
            if isinstance(part, Name) and (name := inert(part.typed)):
                elements.append({"type": "text", "text": name, "style": {"bold": True}})
            elif isinstance(part, str) and part and elements and "style" not in elements[-1]:
                elements[-1]["text"] += part  # our words next to ours: one element
            elif isinstance(part, str) and part:
                elements.append({"type": "text", "text": part})
        return [{"type": "rich_text", "elements": [{"type": "rich_text_section", "elements": elements}]}]

    def fallback_text(self) -> str:
        """The message in plain text, names made inert and escaped."""
        return "".join(shown(part.typed) if isinstance(part, Name) else escape(part) for part in self.parts)


@dataclass(frozen=True)
class SlackIdentity:
    """Who a bot token is, as auth.test says."""

    team_id: str
    team_name: str
    bot_user_id: str | None


# The longest a call may be given: Slack answers in a second or two, and the weekly digest's claim
# (pipeline.slack_digest_claim) must outlive a post by far, or another run takes it over.
LONGEST_TIMEOUT_SECONDS = 60.0


@dataclass(frozen=True)
class SlackSettings:
    api_url: str = DEFAULT_API_URL
    timeout_seconds: float = 10.0

    def __post_init__(self) -> None:
        if not 0 < self.timeout_seconds <= LONGEST_TIMEOUT_SECONDS:
            raise ValueError(
                f"BLOSSOM_SLACK_TIMEOUT_SECONDS must be more than 0 and at most {LONGEST_TIMEOUT_SECONDS:g}"
                f" seconds, got {self.timeout_seconds:g}"
            )

    @classmethod
    def from_environment(cls) -> SlackSettings:
        api_url = env_http_url("BLOSSOM_SLACK_API_URL", DEFAULT_API_URL)
        return cls(
            api_url=api_url if api_url.endswith("/") else api_url + "/",
            timeout_seconds=env_number("BLOSSOM_SLACK_TIMEOUT_SECONDS", 10.0),
        )


class SlackClient:
    def __init__(self, settings: SlackSettings) -> None:
        self.settings = settings

    @classmethod
    def from_environment(cls) -> SlackClient:
        return cls(SlackSettings.from_environment())

    def _web(self, token: str, session: aiohttp.ClientSession) -> AsyncWebClient:
        # The SDK and aiohttp under it are loaded at the first call, not when the module is:
        # every edge and worker makes a SlackClient, and they were half of an edge's start (0.4
        # of its 0.8 s of CPU), for a service most processes never call.
        from slack_sdk.web.async_client import AsyncWebClient

        return AsyncWebClient(
            token=token,
            base_url=self.settings.api_url,
            session=session,
            retry_handlers=[],
        )

    async def auth_test(self, token: str) -> SlackIdentity:
        """The workspace and bot a token belongs to; SlackRefused when Slack refuses the token."""
        data = await self._call(token, "auth_test")
        team_id, team_name = data.get("team_id"), data.get("team")
        if (
            not isinstance(team_id, str)
            or not TEAM_ID_SHAPE.fullmatch(team_id)
            or not isinstance(team_name, str)
            or not team_name.strip()
            or not storable(team_name)
        ):
            raise ServiceError("slack.provider_error", "Slack's auth.test answer names no workspace.")
        bot_user_id = data.get("user_id")
        return SlackIdentity(team_id, team_name, bot_user_id if isinstance(bot_user_id, str) else None)

    async def post_message(
        self,
        token: str,
        channel: str,
        message: SlackMessage,
        *,
        before_sending: Callable[[], Awaitable[None]] | None = None,
    ) -> None:
        """Posts `message` to `channel`: its rich text, and its plain text for notifications.
        `before_sending`, if given, is awaited just before the request goes; what it raises, it
        raises, and Slack is sent nothing."""
        await self._call(
            token,
            "chat_postMessage",
            before_sending=before_sending,
            channel=channel,
            blocks=message.blocks(),
            text=message.fallback_text(),
            mrkdwn=False,
            unfurl_links=False,
        )

    async def _call(
        self,
        token: str,
        method: str,
        *,
        before_sending: Callable[[], Awaitable[None]] | None = None,
        **arguments: Any,
    ) -> dict[str, Any]:
        # The session the SDK would make for the call itself (one per call, closed after it), but
        # whose answers are read up to LARGEST_ANSWER_BYTES.
        async with _bounded_session(before_sending) as session:
            # Outside the try: a method we misname is our bug, not an answer of Slack's.
            call = getattr(self._web(token, session), method)
            return await self._answer(call, arguments)

    async def _answer(
        self, call: Callable[..., Awaitable[AsyncSlackResponse]], arguments: dict[str, Any]
    ) -> dict[str, Any]:
        import aiohttp  # loaded with the SDK (see _web)
        from slack_sdk.errors import SlackApiError

        try:
            async with asyncio.timeout(self.settings.timeout_seconds):
                response = await call(**arguments)
        except CheckFailed as failed:
            # Nothing was sent: the caller's to act on, not sorted as Slack's failure.
            raise failed.error from None
        except AnswerTooLarge:
            raise _unreadable(f"over {LARGEST_ANSWER_BYTES >> 20} MiB") from None
        except Redirected as redirect:
            raise _unreadable(f"a redirect, HTTP {redirect.status}, not followed") from None
        except TimeoutError:
            raise ServiceError(
                "slack.unavailable",
                "Slack did not answer in time.",
                status=503,
                retry_after=5,
                temporary=True,
            ) from None
        except (aiohttp.ClientError, OSError) as error:
            raise ServiceError(
                "slack.unavailable",
                f"Slack could not be reached ({type(error).__name__}).",
                status=503,
                retry_after=5,
                temporary=True,
            ) from None
        except SlackApiError as error:
            raise _refusal(error) from None
        except (AttributeError, TypeError, ValueError, RecursionError) as error:
            # What the SDK raises reading an answer that is not Slack's: its own check calls `.get`
            # on whatever JSON came (`[1]`: AttributeError), aiohttp decodes a body that is not
            # UTF-8 (UnicodeDecodeError, a ValueError), json gives up on deep nesting
            # (RecursionError). Slack's failure, not ours (never a 500), and one that may pass.
            raise _unreadable(type(error).__name__) from None
        data = response.data
        if not isinstance(data, dict):
            raise _unreadable("not a JSON object")
        return data


class Redirected(Exception):
    """Slack's API answered a redirect, which is not followed (_refuse_redirects)."""

    def __init__(self, status: int) -> None:
        super().__init__(f"HTTP {status}")
        self.status = status


REDIRECT_STATUSES = frozenset({301, 302, 303, 307, 308})


def _checked_before_sending(
    check: Callable[[], Awaitable[None]],
) -> Callable[
    [aiohttp.ClientRequest, Callable[[aiohttp.ClientRequest], Awaitable[aiohttp.ClientResponse]]],
    Awaitable[aiohttp.ClientResponse],
]:
    """A middleware that awaits `check` before the request is handed to aiohttp, which opens the
    connection and sends it: the latest point before Slack can see the request that aiohttp lets
    its user act at. What the check raises is wrapped, so that neither aiohttp (an OSError becomes
    its ClientOSError) nor our sorting of Slack's failures takes it for Slack's."""

    async def middleware(
        request: aiohttp.ClientRequest,
        handler: Callable[[aiohttp.ClientRequest], Awaitable[aiohttp.ClientResponse]],
    ) -> aiohttp.ClientResponse:
        await check_before_handing_over(check)
        return await handler(request)

    return middleware


def _bounded_session(before_sending: Callable[[], Awaitable[None]] | None = None) -> aiohttp.ClientSession:
    """An aiohttp session for one call, as the SDK would make (its proxy setting it still passes
    with each request), whose answers are read up to LARGEST_ANSWER_BYTES: past them, the reading
    stops with AnswerTooLarge and the connection is closed, the rest unread. The call's time is
    bounded around it, whole (_answer), which is why the session, and the SDK given it, have no
    timeout of their own. A redirect is not followed (_refuse_redirects). `before_sending`, if given,
    is awaited as each request is about to go (_checked_before_sending): the innermost middleware,
    nearest the send."""
    import aiohttp

    middlewares: tuple[Any, ...] = (_refuse_redirects,)
    if before_sending is not None:
        middlewares += (_checked_before_sending(before_sending),)
    return aiohttp.ClientSession(response_class=_bounded_response(), middlewares=middlewares)


async def _refuse_redirects(
    request: aiohttp.ClientRequest,
    handler: Callable[[aiohttp.ClientRequest], Awaitable[aiohttp.ClientResponse]],
) -> aiohttp.ClientResponse:
    """Raises Redirected for a redirect, before aiohttp follows it. Slack's API has one address
    and never redirects; aiohttp followed any (the SDK asks it no other way), so whatever answered
    for it sent a post's text and names on (307 and 308 send the body again) to another host or
    over plain HTTP, with the bot token where the host stayed, and its answer was taken for
    Slack's: a post recorded as delivered that Slack never saw, a token connected as another
    host's team."""
    response = await handler(request)
    if response.status in REDIRECT_STATUSES:
        response.close()
        raise Redirected(response.status)
    return response


@functools.cache
def _bounded_response() -> type[aiohttp.ClientResponse]:
    """aiohttp's response, read up to LARGEST_ANSWER_BYTES (made at the first call, with aiohttp)."""
    import aiohttp

    class BoundedResponse(aiohttp.ClientResponse):
        # The SDK reads an answer with `json()` or `text()` (`read()` for a gzip file), and those
        # read it with `read()`, which keeps it in `_body`: read here, an answer goes no further
        # than the cap whichever the SDK calls. A gzip answer is counted as aiohttp inflates it.
        async def read(self) -> bytes:
            if self._body is None:
                body = bytearray()
                try:
                    if (self.content_length or 0) > LARGEST_ANSWER_BYTES:
                        raise AnswerTooLarge
                    async for chunk in self.content.iter_any():
                        body += chunk
                        if len(body) > LARGEST_ANSWER_BYTES:
                            raise AnswerTooLarge
                except BaseException:
                    self.close()  # the connection, with the rest of the answer unread
                    raise
                self._body = bytes(body)
            return await super().read()  # what aiohttp does once the body is read

    return BoundedResponse


def _unreadable(what: str) -> ServiceError:
    """Slack answered something that is not one of its answers: a 502 to the edge's caller, and
    for the worker a temporary failure, tried again (a broken proxy or a bad deploy of Slack's
    passes) until its tries are spent."""
    return ServiceError("slack.provider_error", f"Slack's answer could not be read ({what}).", temporary=True)


def _refusal(error: SlackApiError) -> ServiceError:
    response = error.response
    status = getattr(response, "status_code", None) or getattr(response, "status", None) or 0
    headers = getattr(response, "headers", None) or {}
    data = getattr(response, "data", None)
    slack_error = _quoted(data.get("error")) if isinstance(data, dict) else None
    if status == 429 or slack_error in RATE_LIMITED_ERRORS:
        return ServiceError(
            "slack.unavailable",
            "Slack asked us to slow down.",
            status=503,
            retry_after=retry_after_seconds(headers.get("Retry-After")) or 30,
            temporary=True,
        )
    if status >= 500 or slack_error in (
        "internal_error",
        "fatal_error",
        "service_unavailable",
        "request_timeout",
    ):
        return ServiceError(
            "slack.unavailable", f"Slack failed (HTTP {status}).", status=503, retry_after=5, temporary=True
        )
    if slack_error:
        if slack_error in TOKEN_ERRORS:
            return SlackRefused(
                slack_error, "slack.invalid_token", f"Slack refused the bot token ({slack_error}).", 422
            )
        return SlackRefused(
            slack_error, "slack.provider_error", f"Slack refused the call ({slack_error}).", 502
        )
    return _unreadable(f"HTTP {status} without an error")


def _quoted(slack_error: object) -> str | None:
    """Slack's error string as our errors quote it (services/text.py), at most
    LONGEST_QUOTED_ERROR characters; None when it is no string."""
    if not isinstance(slack_error, str):
        return None
    return quoted(slack_error, LONGEST_QUOTED_ERROR)


def escape(text: str) -> str:
    """Text for a Slack message with &, < and > escaped as Slack asks, so that it cannot make a
    link or a mention (`<!channel>`)."""
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def shown(typed: str) -> str:
    """What a user typed (a name), as a Slack message shows it: inert (services/text.py), then
    escaped."""
    return escape(inert(typed))
