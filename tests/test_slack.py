"""The Slack client (services/slack.py): the real slack-sdk against the fake Slack, and every
way a call can fail sorted into our error shape."""

from __future__ import annotations

import asyncio
import json
import socket
from collections.abc import Coroutine, Iterator
from typing import Any

import pytest

from ops.scratch import free_port
from services.errors import ServiceError
from services.slack import Name, SlackClient, SlackMessage, SlackRefused, SlackSettings, escape
from tests.support.fake_slack import FakeSlack
from tests.support.imports import loaded_by

TOKEN = "xoxb-1-good"
HELLO = SlackMessage("hello")


@pytest.fixture
def slack() -> Iterator[FakeSlack]:
    with FakeSlack() as fake:
        fake.add_workspace(TOKEN, team_id="T0001", team="Acme", channels={"C0001"})
        yield fake


def client(fake: FakeSlack, timeout: float = 5.0) -> SlackClient:
    return SlackClient(SlackSettings(api_url=fake.api_url, timeout_seconds=timeout))


def test_auth_test_names_the_workspace(slack: FakeSlack) -> None:
    identity = asyncio.run(client(slack).auth_test(TOKEN))
    assert (identity.team_id, identity.team_name, identity.bot_user_id) == ("T0001", "Acme", "U0BOT")


@pytest.mark.parametrize("team", ["Bad\x00Team", "Bad\ud800Team", ""])
def test_a_workspace_name_that_is_no_text_we_can_keep_is_slacks_failure(slack: FakeSlack, team: str) -> None:
    """A NUL in the name made the edge's connect answer 500 (Postgres refused to store it)."""
    slack.add_workspace("xoxb-odd", team_id="T0002", team=team, channels={"C0002"})
    with pytest.raises(ServiceError) as raised:
        asyncio.run(client(slack).auth_test("xoxb-odd"))
    assert raised.value.code == "slack.provider_error"


def test_a_message_reaches_the_channel(slack: FakeSlack) -> None:
    asyncio.run(client(slack).post_message(TOKEN, "C0001", HELLO))
    assert [(post.channel, post.shown, post.text) for post in slack.posts] == [("C0001", "hello", "hello")]


@pytest.mark.parametrize(
    "raised",
    [ConnectionResetError("the claim's connection"), ValueError("claim lost")],
    ids=["an OSError", "any other error"],
)
def test_a_check_that_fails_before_sending_leaves_slack_without_the_post(
    slack: FakeSlack, raised: Exception
) -> None:
    """What the check raises passes through as it is: neither aiohttp's (an OSError it would make
    its ClientOSError) nor sorted as Slack's failure (a temporary ServiceError, recorded as a
    failed try against a claim that is gone)."""
    checked: list[int] = []

    async def check() -> None:
        checked.append(len(slack.calls))
        raise raised

    with pytest.raises(type(raised)) as caught:
        asyncio.run(client(slack).post_message(TOKEN, "C0001", HELLO, before_sending=check))
    assert caught.value is raised
    assert checked == [0]
    assert slack.calls == [], "Slack was sent the post"


def test_a_check_that_holds_before_sending_lets_the_post_go(slack: FakeSlack) -> None:
    checked: list[int] = []

    async def check() -> None:
        checked.append(len(slack.calls))

    asyncio.run(client(slack).post_message(TOKEN, "C0001", HELLO, before_sending=check))
    assert checked == [0], "checked once, before Slack was called"
    assert [post.shown for post in slack.posts] == ["hello"]


def test_a_name_is_one_bold_text_element_shown_as_typed_never_read_as_formatting(slack: FakeSlack) -> None:
    """mrkdwn has no escape: `*` in a name closed the bold around it, and the rest read as ours."""
    typed = "Max* left *Acme* _a_ ~b~ `c` & <!channel> evil.example"
    message = SlackMessage(Name(typed), " joined ", Name("\x00\u202e"), "", Name(" Acme "), " & co.")
    asyncio.run(client(slack).post_message(TOKEN, "C0001", message))
    (post,) = slack.posts
    name = "Max* left *Acme* _a_ ~b~ `c` & <!channel> evil.\u200bexample"  # inert: no link
    assert post.runs == [(name, True), (" joined ", False), ("Acme", True), (" & co.", False)], (
        "an empty part is left out: Slack refuses an empty text element"
    )
    assert post.mrkdwn is False, "the fallback is not read as mrkdwn either"
    assert post.text == f"{escape(name)} joined Acme &amp; co."


def test_a_revoked_token_is_refused_for_good_and_never_named(slack: FakeSlack) -> None:
    slack.revoke(TOKEN)
    with pytest.raises(SlackRefused) as refused:
        asyncio.run(client(slack).post_message(TOKEN, "C0001", HELLO))
    assert (refused.value.code, refused.value.status, refused.value.broken) == (
        "slack.invalid_token",
        422,
        True,
    )
    assert not refused.value.temporary
    assert TOKEN not in str(refused.value)


def test_an_unknown_channel_breaks_the_connection(slack: FakeSlack) -> None:
    with pytest.raises(SlackRefused) as refused:
        asyncio.run(client(slack).post_message(TOKEN, "C9999", HELLO))
    assert (refused.value.slack_error, refused.value.broken, refused.value.temporary) == (
        "channel_not_found",
        True,
        False,
    )


@pytest.mark.parametrize(
    "slack_error",
    [
        "restricted_action",
        "restricted_action_read_only_channel",
        "no_permission",
        "access_denied",
        "ekm_access_denied",
        "enterprise_is_restricted",
    ],
)
def test_a_workspace_that_forbids_the_post_breaks_the_connection(slack: FakeSlack, slack_error: str) -> None:
    """The workspace's settings refuse the bot the channel: every post would be refused until an
    admin there changes them and the organization connects again. Not marked broken, one tenant's
    workspace failed every week's digest run (and the same week's again) for every tenant."""
    slack.answer_next(json.dumps({"ok": False, "error": slack_error}).encode())
    with pytest.raises(SlackRefused) as refused:
        asyncio.run(client(slack).post_message(TOKEN, "C0001", HELLO))
    assert (refused.value.slack_error, refused.value.broken, refused.value.temporary) == (
        slack_error,
        True,
        False,
    )


def test_rate_limits_are_temporary_with_slacks_retry_after(slack: FakeSlack) -> None:
    slack.fail_next(429, retry_after=7)
    with pytest.raises(ServiceError) as error:
        asyncio.run(client(slack).post_message(TOKEN, "C0001", HELLO))
    assert (error.value.code, error.value.status, error.value.retry_after, error.value.temporary) == (
        "slack.unavailable",
        503,
        7,
        True,
    )
    assert slack.posts == [], "the SDK's own retry is off: the job queue decides when"


@pytest.mark.parametrize("slack_error", ["ratelimited", "rate_limited"])
def test_a_rate_limit_answered_without_a_429_is_temporary_too(slack: FakeSlack, slack_error: str) -> None:
    """Slack names a throttle in the answer too (`ratelimited`; `rate_limited` for
    chat.postMessage's posts in a burst): with HTTP 200, it was a refusal for good, and the
    worker gave the post up at once."""
    slack.answer_next(json.dumps({"ok": False, "error": slack_error}).encode())
    with pytest.raises(ServiceError) as error:
        asyncio.run(client(slack).post_message(TOKEN, "C0001", HELLO))
    assert (error.value.code, error.value.status, error.value.temporary) == ("slack.unavailable", 503, True)
    assert not isinstance(error.value, SlackRefused)


def test_server_errors_are_temporary(slack: FakeSlack) -> None:
    slack.fail_next(503)
    with pytest.raises(ServiceError) as error:
        asyncio.run(client(slack).auth_test(TOKEN))
    assert (error.value.code, error.value.temporary) == ("slack.unavailable", True)


MALFORMED_ANSWERS = {
    "a JSON array": (b"[1]", "application/json"),
    "a JSON string": (b'"ok"', "application/json"),
    "JSON nested past any parser": (b"[" * 100_000 + b"]" * 100_000, "application/json"),
    "not JSON": (b"<html>Bad gateway</html>", "application/json"),
    "not UTF-8": (b'{"ok": "\xff"}', "application/json; charset=utf-8"),
    "plain text": (b"ok", "text/plain"),
    "an object refused without an error": (b'{"ok": false}', "application/json"),
    "an object with an error that is no string": (b'{"ok": false, "error": {"a": 1}}', "application/json"),
}


def calling(slack: FakeSlack, method: str) -> Coroutine[Any, Any, object]:
    """A call of the client's `method` ("auth_test" or "post_message") to the fake."""
    if method == "auth_test":
        return client(slack).auth_test(TOKEN)
    return client(slack).post_message(TOKEN, "C0001", HELLO)


@pytest.mark.parametrize("method", ["auth_test", "post_message"])
@pytest.mark.parametrize("answer", MALFORMED_ANSWERS.values(), ids=MALFORMED_ANSWERS.keys())
def test_an_answer_that_is_no_slack_answer_is_slacks_failure_for_now(
    slack: FakeSlack, method: str, answer: tuple[bytes, str]
) -> None:
    """`[1]` made the SDK's own check raise AttributeError: a 500 from the edge's connect, and in
    the worker a job that crashed with its outbox row never counted nor tried again."""
    slack.answer_next(*answer)
    with pytest.raises(ServiceError) as error:
        asyncio.run(calling(slack, method))
    assert (error.value.code, error.value.status, error.value.temporary) == (
        "slack.provider_error",
        502,
        True,
    )
    assert slack.posts == []


@pytest.mark.parametrize("method", ["auth_test", "post_message"])
@pytest.mark.parametrize("declared", [True, False], ids=["with its length", "until the connection closes"])
def test_an_answer_too_large_is_not_read_past_the_cap(slack: FakeSlack, method: str, declared: bool) -> None:
    """The SDK (aiohttp) read any answer whole: one of 300 MB took the edge to 1.5 GB and the
    worker to 1.2 GB. This one is Slack's own shape padded to 64 MiB, 64 times the cap: the call
    fails as an answer that is not Slack's, and the client hangs up long before the fake has
    written it all (what the kernel's buffers and aiohttp's take is a few MiB)."""
    flood = slack.flood_next(64 << 20, declared=declared)
    with pytest.raises(ServiceError) as error:
        asyncio.run(calling(slack, method))
    assert (error.value.code, error.value.status, error.value.temporary) == (
        "slack.provider_error",
        502,
        True,
    )
    assert error.value.message == "Slack's answer could not be read (over 1 MiB)."
    assert flood.finished.wait(10), "the client hung up: the fake's writing ended"
    assert flood.cut, "the connection was closed before the answer's end"
    assert flood.sent < 16 << 20, f"{flood.sent} bytes were taken of {flood.size}"


@pytest.mark.parametrize("method", ["auth_test", "post_message"])
@pytest.mark.parametrize("status", [301, 302, 303, 307, 308])
def test_a_redirect_is_not_followed(slack: FakeSlack, method: str, status: int) -> None:
    """aiohttp followed redirects: whatever answered for Slack's API could send a post's text
    and names on (307 and 308 send the body again, 301-303 a GET) to another host or over plain
    HTTP, with the bot token too where the host stayed, and its answer was taken as Slack's: a
    post recorded delivered that Slack never saw, a token connected to another host's team."""
    with FakeSlack(host="localhost") as elsewhere:
        elsewhere.add_workspace(TOKEN, team_id="T0EVIL", team="Elsewhere", channels={"C0001"})
        slack.redirect_next(
            elsewhere.api_url + ("auth.test" if method == "auth_test" else "chat.postMessage"), status
        )
        with pytest.raises(ServiceError) as error:
            asyncio.run(calling(slack, method))
        assert elsewhere.calls == [], "nothing reached where the redirect pointed"
    assert (error.value.code, error.value.status, error.value.temporary) == (
        "slack.provider_error",
        502,
        True,
    )
    assert (
        error.value.message == f"Slack's answer could not be read (a redirect, HTTP {status}, not followed)."
    )


def test_slacks_error_is_quoted_short_and_as_text_postgres_can_keep(slack: FakeSlack) -> None:
    """An error of 100,000 characters came back whole in the edge's 502; a NUL in it would make
    the worker's record of the try fail (Postgres keeps no NUL in text)."""
    slack.answer_next(json.dumps({"ok": False, "error": "x\u0000\n" + "y" * 100_000}).encode())
    with pytest.raises(SlackRefused) as refused:
        asyncio.run(client(slack).post_message(TOKEN, "C0001", HELLO))
    assert refused.value.message == f"Slack refused the call ({'x ' + 'y' * 198}…).", "its line break a space"
    assert (refused.value.code, refused.value.broken) == ("slack.provider_error", False)


def test_no_answer_in_time_is_temporary() -> None:
    with socket.socket() as silent:  # accepts connections, never answers
        silent.bind(("127.0.0.1", 0))
        silent.listen()
        settings = SlackSettings(
            api_url=f"http://127.0.0.1:{silent.getsockname()[1]}/api/", timeout_seconds=0.5
        )
        with pytest.raises(ServiceError) as error:
            asyncio.run(SlackClient(settings).auth_test(TOKEN))
    assert (error.value.code, error.value.temporary) == ("slack.unavailable", True)


def test_nobody_listening_is_temporary() -> None:
    settings = SlackSettings(api_url=f"http://127.0.0.1:{free_port()}/api/", timeout_seconds=2)
    with pytest.raises(ServiceError) as error:
        asyncio.run(SlackClient(settings).auth_test(TOKEN))
    assert (error.value.code, error.value.temporary) == ("slack.unavailable", True)


def test_the_base_url_is_a_setting(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("BLOSSOM_SLACK_API_URL", "http://127.0.0.9:1/api")
    assert SlackSettings.from_environment().api_url == "http://127.0.0.9:1/api/"
    monkeypatch.setenv("BLOSSOM_SLACK_API_URL", "ftp://nope")
    with pytest.raises(ValueError, match="BLOSSOM_SLACK_API_URL"):
        SlackSettings.from_environment()


def test_a_call_may_take_at_most_a_minute(monkeypatch: pytest.MonkeyPatch) -> None:
    """Longer, a post outlived the claim a weekly digest holds while it posts (ten minutes,
    pipeline.slack_digest_claim), which another run then took over and posted again."""
    monkeypatch.setenv("BLOSSOM_SLACK_TIMEOUT_SECONDS", "60")
    assert SlackSettings.from_environment().timeout_seconds == 60
    monkeypatch.setenv("BLOSSOM_SLACK_TIMEOUT_SECONDS", "600")
    with pytest.raises(ValueError, match="BLOSSOM_SLACK_TIMEOUT_SECONDS"):
        SlackSettings.from_environment()
    with pytest.raises(ValueError, match="at most 60"):
        SlackSettings(timeout_seconds=61)


def test_escaping_leaves_no_link_or_mention() -> None:
    assert escape("<!channel> & <https://evil.example|click>") == (
        "&lt;!channel&gt; &amp; &lt;https://evil.example|click&gt;"
    )


STARTS_WITHOUT_CALLING = """
import edge.app, worker.process
from services.slack import SlackClient
SlackClient.from_environment()
"""


def test_the_sdk_is_loaded_by_the_first_call_not_at_start() -> None:
    """Every edge and worker makes a SlackClient; the SDK and aiohttp were half of a start."""
    assert loaded_by(STARTS_WITHOUT_CALLING, ("slack_sdk", "aiohttp")) == []
