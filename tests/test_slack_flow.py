"""Slack end to end: the real edge, PostgREST, worker and Postgres, the real slack-sdk talking to
the fake Slack. Connecting (who may, what Slack must say first), posting an organization's
events once each, a broken token, and the token kept out of every answer, table and log."""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import psycopg
import pytest

from services.secrets import KeyRing, new_key_entry
from services.slack import bot_token_context
from tests.support.auth_client import Account, signup
from tests.support.fake_slack import FakeSlack
from tests.support.http import Reply, request
from tests.support.smtp_server import SmtpServer
from tests.support.stack import Stack, make_stack
from tests.support.worker import eventually, running_worker

BOT_TOKEN = "xoxb-1111-2222-tokenthatmustneverleak"
OTHER_TOKEN = "xoxb-3333-4444-anotherworkspacetoken"
CHANNEL = "C0ANNOUNCE"
MAX_ATTEMPTS = 8  # BLOSSOM_MAIL_MAX_ATTEMPTS's default, which the worker here runs with
# The key ring of the edge and the worker here.
WORKER_KEY = new_key_entry("test-1")


@dataclass(frozen=True)
class World:
    stack: Stack
    slack: FakeSlack
    smtp: SmtpServer
    logs: Path

    def call(self, account: Account, path: str, body: dict[str, Any]) -> Reply:
        headers = {"Origin": self.stack.edge_url} | account.cookie
        return request(self.stack.edge_url, "POST", path, json_body=body, headers=headers)

    def rpc(self, account: Account, function: str, **args: Any) -> Reply:
        return self.call(account, f"/rpc/{function}", args)

    def org_with_member(self, role: str = "member") -> tuple[Account, Account, str]:
        """An owner's new organization and a member who accepted the mailed invitation."""
        owner, member = (
            signup(self.stack.edge_url, name="Olive Owner"),
            signup(self.stack.edge_url, name="Max"),
        )
        org_id = self.rpc(owner, "create_organization", name="Acme").json()["id"]
        assert self.rpc(owner, "invite_member", org_id=org_id, email=member.email, role=role).status == 200
        self.accept_invitation(member)
        return owner, member, org_id

    def accept_invitation(self, invitee: Account) -> None:
        def mailed_token() -> str | None:
            for received in self.smtp.received:
                if invitee.email in received.to and "/invitations/accept" in received.part("plain"):
                    found = re.search(r"token=([A-Za-z0-9_-]{43})", received.part("plain"))
                    return found.group(1) if found else None
            return None

        token = eventually(mailed_token, what="the invitation mail")
        assert self.rpc(invitee, "accept_invitation", token=token).status == 200


@pytest.fixture(scope="module")
def world(
    pg_server: str, template_database: str, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[World]:
    logs = tmp_path_factory.mktemp("slack")
    key = WORKER_KEY
    with FakeSlack() as slack, SmtpServer() as smtp:
        slack.add_workspace(BOT_TOKEN, team_id="T0ACME", team="Acme Corp", channels={CHANNEL})
        settings = {"BLOSSOM_SLACK_API_URL": slack.api_url, "BLOSSOM_SECRETS_KEY": key}
        with (
            make_stack(pg_server, template_database, logs, settings=settings) as stack,
            running_worker(stack.database_url, smtp.url, logs, **settings),
        ):
            yield World(stack, slack, smtp, logs)


def connect(
    world: World, owner: Account, org_id: str, token: str = BOT_TOKEN, channel: str = CHANNEL
) -> Reply:
    return world.call(owner, "/ext/slack/connect", {"org_id": org_id, "bot_token": token, "channel": channel})


def test_connect_then_a_member_joins_and_slack_hears_it_once(world: World) -> None:
    owner = signup(world.stack.edge_url, name="Olive Owner")
    org_id = world.rpc(owner, "create_organization", name="Acme <Rockets>").json()["id"]
    connected = connect(world, owner, org_id)
    assert connected.status == 200, connected.body
    assert connected.json() | {"connected_at": None} == {
        "org_id": org_id,
        "team_id": "T0ACME",
        "team_name": "Acme Corp",
        "channel": CHANNEL,
        "connected_at": None,
        "broken_at": None,
        "broken_reason": None,
    }
    shown = world.rpc(owner, "get_slack_connection", org_id=org_id)
    assert shown.status == 200
    assert shown.json() == connected.json()

    before = len(world.slack.posts_to(CHANNEL))
    joiner = signup(world.stack.edge_url, name="Jo <!channel>")
    assert world.rpc(owner, "invite_member", org_id=org_id, email=joiner.email, role="member").status == 200
    world.accept_invitation(joiner)
    posts = eventually(lambda: world.slack.posts_to(CHANNEL)[before:], what="the post")
    assert len(posts) == 1
    assert posts[0].shown == "*Jo <!channel>* joined *Acme <Rockets>* as member.", "text elements: no mention"
    assert posts[0].text == "Jo &lt;!channel&gt; joined Acme &lt;Rockets&gt; as member."
    assert posts[0].token == BOT_TOKEN
    eventually(lambda: _outbox(world, org_id, "notify.member_joined")["delivered_at"], what="delivered")
    assert len(world.slack.posts_to(CHANNEL)[before:]) == 1, "posted once, not again"


def test_a_name_cannot_format_the_post_it_is_shown_in(world: World) -> None:
    """Slack's mrkdwn has no escape: `*` in a name closed the bold around it, and the rest read
    as our own words, a second event of the member's making."""
    owner = signup(world.stack.edge_url, name="Olive Owner")
    org_id = world.rpc(owner, "create_organization", name="Acme").json()["id"]
    assert connect(world, owner, org_id).status == 200
    before = len(world.slack.posts_to(CHANNEL))
    name = "Max* joined as owner *Eve* _left_ ~x~ `y` *Z"
    joiner = signup(world.stack.edge_url, name=name)
    assert world.rpc(owner, "invite_member", org_id=org_id, email=joiner.email, role="member").status == 200
    world.accept_invitation(joiner)
    (post,) = eventually(lambda: world.slack.posts_to(CHANNEL)[before:], what="the post")
    assert post.runs == [(name, True), (" joined ", False), ("Acme", True), (" as member.", False)]
    assert (post.text, post.mrkdwn) == (f"{name} joined Acme as member.", False), "the fallback: plain text"


def test_slack_failing_for_now_is_tried_again_and_posted_once(world: World) -> None:
    owner, _member, org_id = world.org_with_member()
    assert connect(world, owner, org_id).status == 200
    before = len(world.slack.posts_to(CHANNEL))
    world.slack.fail_next(503)
    world.slack.fail_next(429, retry_after=1)
    assert world.rpc(owner, "update_organization", org_id=org_id, name="Acme Again").status == 200
    eventually(lambda: _outbox(world, org_id, "notify.org_renamed")["delivered_at"], what="posted at last")
    row = _outbox(world, org_id, "notify.org_renamed")
    assert row["attempts"] == 3, "a 503, a 429, then the post"
    posts = world.slack.posts_to(CHANNEL)[before:]
    assert [post.shown for post in posts] == ["*Olive Owner* renamed the organization to *Acme Again*."]
    # Each try that failed for now is a warning of the worker's (procrastinate's own line of a
    # retry is at info level, which the worker leaves out): the log said nothing of them.
    retried = eventually(
        lambda: found if len(found := _warnings_of(world, row["id"])) == 2 else None,
        what="the warnings",
    )
    assert [line.split(" failed: ")[0] for line in retried] == [
        f"event {row['id']}: try 1",
        f"event {row['id']}: try 2",
    ]


@pytest.mark.parametrize(
    "answer",
    [b"[1]", b"<html>Bad gateway</html>", b'{"ok": false}', b'{"ok": true, "team_id": ["T0ACME"]}'],
    ids=["a JSON array", "not JSON", "refused without an error", "no workspace named"],
)
def test_an_answer_that_is_no_slack_answer_is_slacks_failure_on_connect(world: World, answer: bytes) -> None:
    """`[1]` made the connect answer 500 edge.internal_error: our failure, for Slack's."""
    owner = signup(world.stack.edge_url)
    org_id = world.rpc(owner, "create_organization", name="Acme").json()["id"]
    world.slack.answer_next(answer)
    assert _code(connect(world, owner, org_id)) == (502, "slack.provider_error")
    assert _code(world.rpc(owner, "get_slack_connection", org_id=org_id)) == (404, "slack.not_connected")


def test_slacks_error_is_quoted_short_on_connect(world: World) -> None:
    owner = signup(world.stack.edge_url)
    org_id = world.rpc(owner, "create_organization", name="Acme").json()["id"]
    world.slack.answer_next(json.dumps({"ok": False, "error": "x" * 100_000}).encode())
    refused = connect(world, owner, org_id)
    assert _code(refused) == (502, "slack.provider_error")
    assert refused.json()["message"] == f"Slack refused the call ({'x' * 200}…)."


def test_an_answer_that_is_no_slack_answer_to_a_post_is_tried_again(world: World) -> None:
    """The same `[1]` to chat.postMessage crashed the job: its outbox row stayed at 0 attempts,
    neither posted nor given up, and no later try was scheduled."""
    owner, _member, org_id = world.org_with_member()
    assert connect(world, owner, org_id).status == 200
    before = len(world.slack.posts_to(CHANNEL))
    world.slack.answer_next(b"[1]")
    assert world.rpc(owner, "update_organization", org_id=org_id, name="Acme Anew").status == 200
    eventually(lambda: _outbox(world, org_id, "notify.org_renamed")["delivered_at"], what="posted at last")
    assert _outbox(world, org_id, "notify.org_renamed")["attempts"] == 2, "the answer counted, then the post"
    assert len(world.slack.posts_to(CHANNEL)[before:]) == 1


def test_answers_that_are_no_slack_answers_to_a_post_give_it_up_after_the_last_try(world: World) -> None:
    owner, _member, org_id = world.org_with_member()
    assert connect(world, owner, org_id).status == 200
    before = len(world.slack.posts_to(CHANNEL))
    for _ in range(MAX_ATTEMPTS):
        world.slack.answer_next(b"[1]")
    assert world.rpc(owner, "update_organization", org_id=org_id, name="Acme Lost").status == 200
    given_up = eventually(
        lambda: (row := _outbox(world, org_id, "notify.org_renamed"))["given_up_at"] and row,
        timeout=30,
        what="given up",
    )
    assert given_up["attempts"] == MAX_ATTEMPTS
    assert "Slack's answer could not be read" in given_up["last_error"]
    assert world.slack.posts_to(CHANNEL)[before:] == []


def _seal_with(world: World, org_id: str, key: str) -> None:
    """The organization's token sealed again with `key` (KEY_ID:BASE64), as an edge given that
    key would seal it when the organization connects."""
    sealed = KeyRing.from_entries(key).seal(BOT_TOKEN, bot_token_context(org_id))
    with psycopg.connect(world.stack.database_url) as conn:
        conn.execute(
            "update app.slack_connections set bot_token_key_id = %s, bot_token_sealed = %s where org_id = %s",
            (sealed.key_id, sealed.ciphertext, org_id),
        )


def test_a_token_sealed_with_a_key_the_worker_has_not_been_given_yet_is_tried_again(world: World) -> None:
    """A key rotation restarts the edge, the worker and the pipeline one after another: a token
    the edge sealed with the new key meanwhile reached a worker still on the old ring, and the
    post was given up at once, where a worker without any key ring tries it again later."""
    owner, _member, org_id = world.org_with_member()
    assert connect(world, owner, org_id).status == 200
    before = len(world.slack.posts_to(CHANNEL))
    _seal_with(world, org_id, new_key_entry("test-2"))
    assert world.rpc(owner, "update_organization", org_id=org_id, name="Acme Rotated").status == 200
    failed = eventually(
        lambda: (row := _outbox(world, org_id, "notify.org_renamed"))["attempts"] and row, what="a failed try"
    )
    assert "'test-2'" in failed["last_error"]
    assert failed["given_up_at"] is None, "to be tried again once the worker has the key"
    _seal_with(world, org_id, WORKER_KEY)  # as if the worker were given the new key
    eventually(lambda: _outbox(world, org_id, "notify.org_renamed")["delivered_at"], what="posted at last")
    assert len(world.slack.posts_to(CHANNEL)[before:]) == 1


def test_who_may_connect_is_asked_before_slack_is(world: World) -> None:
    owner, member, org_id = world.org_with_member()
    stranger = signup(world.stack.edge_url)
    calls = len(world.slack.calls)
    assert _code(connect(world, member, org_id)) == (403, "org.forbidden")
    assert _code(connect(world, stranger, org_id)) == (404, "org.not_found")
    assert _code(connect(world, owner, "org_nonsense")) == (404, "org.not_found")
    assert _code(connect(world, owner, org_id, channel="not a channel")) == (422, "slack.invalid_channel")
    assert _code(connect(world, owner, org_id, token="not-a-bot-token")) == (422, "request.invalid_field")
    signed_out = request(
        world.stack.edge_url, "POST", "/ext/slack/connect", headers={"Origin": world.stack.edge_url},
        json_body={"org_id": org_id, "bot_token": BOT_TOKEN, "channel": CHANNEL},
    )  # fmt: skip
    assert _code(signed_out) == (401, "auth.not_signed_in")
    cross_site = request(
        world.stack.edge_url,
        "POST",
        "/ext/slack/connect",
        headers={"Origin": "https://evil.example"} | owner.cookie,
        json_body={"org_id": org_id, "bot_token": BOT_TOKEN, "channel": CHANNEL},
    )
    assert _code(cross_site) == (403, "auth.csrf")
    assert world.slack.calls[calls:] == [], "no token was sent to Slack for a refused caller"
    assert _code(world.rpc(stranger, "get_slack_connection", org_id=org_id)) == (404, "org.not_found")
    assert _code(world.rpc(member, "get_slack_connection", org_id=org_id)) == (404, "slack.not_connected")


def test_slacks_refusal_or_absence_stores_nothing(world: World) -> None:
    owner = signup(world.stack.edge_url)
    org_id = world.rpc(owner, "create_organization", name="Acme").json()["id"]
    assert _code(connect(world, owner, org_id, token=OTHER_TOKEN)) == (422, "slack.invalid_token")
    world.slack.fail_next(429, retry_after=3)
    limited = connect(world, owner, org_id)
    assert _code(limited) == (503, "slack.unavailable")
    assert limited.header("Retry-After") == "3"
    world.slack.fail_next(500)
    failed = connect(world, owner, org_id)
    assert _code(failed) == (503, "slack.unavailable")
    assert _code(world.rpc(owner, "get_slack_connection", org_id=org_id)) == (404, "slack.not_connected")
    # The access line says 503 and no more: the operator reads why in a line of the request's own.
    warnings = eventually(
        lambda: [
            w for w in edge_warnings(world.stack) if w.get("request_id") == failed.header("x-request-id")
        ],
        5,
        "the edge's warning naming the failure",
    )
    assert [(w["code"], w["status"], w["org_id"]) for w in warnings] == [("slack.unavailable", 503, org_id)]
    assert warnings[0]["event"] == "connecting Slack failed: Slack failed (HTTP 500)."
    assert BOT_TOKEN not in json.dumps(warnings)


@pytest.mark.parametrize(
    "team",
    [
        pytest.param("Acme\u202egnp.exe", id="a right-to-left override"),
        pytest.param("Acme\u200b Corp", id="a zero-width space"),
        pytest.param("Acme\x07Corp", id="a control character"),
        pytest.param("A" * 101, id="101 characters"),
    ],
)
def test_a_workspace_whose_name_breaks_the_rule_of_names_is_not_connected(world: World, team: str) -> None:
    """The workspace's name, Slack's answer to auth.test, is shown to every member
    (get_slack_connection) beside the names they typed, but was stored as it came: a bidi
    override in it ("Acme" U+202E "gnp.exe" reads "Acmeexe.png") reached every member's screen,
    which display and organization names refuse (app.name_fault). Refused with a code of its
    own, and nothing stored."""
    token = "xoxb-7777-8888-" + hashlib.sha256(team.encode()).hexdigest()[:20]
    world.slack.add_workspace(token, team_id="T0ODDNAME", team=team, channels={CHANNEL})
    owner = signup(world.stack.edge_url)
    org_id = world.rpc(owner, "create_organization", name="Acme").json()["id"]
    assert _code(connect(world, owner, org_id, token=token)) == (422, "slack.invalid_team_name")
    assert _code(world.rpc(owner, "get_slack_connection", org_id=org_id)) == (404, "slack.not_connected")


def test_a_workspace_name_is_kept_trimmed(world: World) -> None:
    token = "xoxb-7777-9999-paddedworkspacename"
    world.slack.add_workspace(token, team_id="T0PADDED", team="\u3000 Acme Corp \u00a0", channels={CHANNEL})
    owner = signup(world.stack.edge_url)
    org_id = world.rpc(owner, "create_organization", name="Acme").json()["id"]
    connected = connect(world, owner, org_id, token=token)
    assert (connected.status, connected.json()["team_name"]) == (200, "Acme Corp"), connected.body


def edge_warnings(stack: Stack) -> list[dict[str, Any]]:
    """The edge's warnings from logger edge.slack so far (a warning is written out at once)."""
    lines = (stack.services.logs / "edge.log").read_text(errors="replace").splitlines()
    found = [json.loads(line) for line in lines if line.startswith("{")]
    return [line for line in found if line.get("logger") == "edge.slack" and line.get("level") == "warning"]


def test_a_revoked_token_marks_the_connection_broken_once(world: World) -> None:
    token = "xoxb-5555-6666-revokedlatertoken"
    world.slack.add_workspace(token, team_id="T0LATER", team="Later", channels={"C0LATER"})
    owner, member, org_id = world.org_with_member()
    assert connect(world, owner, org_id, token=token, channel="C0LATER").status == 200
    world.slack.revoke(token)
    assert world.rpc(member, "leave_organization", org_id=org_id).status == 204
    broken = eventually(
        lambda: (r := world.rpc(owner, "get_slack_connection", org_id=org_id).json())["broken_at"] and r,
        what="the connection marked broken",
    )
    assert broken["broken_reason"] == "invalid_auth"
    left = _outbox(world, org_id, "notify.member_left")
    assert left["given_up_at"] is not None
    assert left["attempts"] == 1, "not retried forever"
    # Further events are not even queued for Slack while it is broken; the org was told once.
    assert world.rpc(owner, "update_organization", org_id=org_id, name="Renamed").status == 200
    with psycopg.connect(world.stack.database_url) as conn:
        (slack_jobs,) = conn.execute(
            "select count(*) from jobs.procrastinate_jobs j join app.outbox o on j.args ->> 'event_id' = o.id"
            " where o.topic = 'notify.org_renamed' and o.payload ->> 'org_id' = %s",
            (org_id,),
        ).fetchone() or (None,)
        (told,) = conn.execute(
            "select count(*) from app.audit_events where org_id = %s and action = 'org.slack_broken'",
            (org_id,),
        ).fetchone() or (None,)
    assert (slack_jobs, told) == (0, 1)
    events = world.rpc(owner, "list_audit_events", org_id=org_id).json()
    assert "org.slack_broken" in [event["action"] for event in events]
    # Connecting again mends it.
    world.slack.add_workspace(token, team_id="T0LATER", team="Later", channels={"C0LATER"})
    mended = connect(world, owner, org_id, token=token, channel="C0LATER")
    assert mended.status == 200
    assert mended.json()["broken_at"] is None


def test_disconnect(world: World) -> None:
    owner, member, org_id = world.org_with_member(role="admin")
    assert connect(world, owner, org_id).status == 200
    assert world.call(member, "/ext/slack/disconnect", {"org_id": org_id}).status == 204  # an admin may
    assert _code(world.call(owner, "/ext/slack/disconnect", {"org_id": org_id})) == (
        404,
        "slack.not_connected",
    )
    assert _code(world.rpc(owner, "get_slack_connection", org_id=org_id)) == (404, "slack.not_connected")


def test_the_token_is_in_no_answer_no_table_and_no_log(world: World) -> None:
    owner = signup(world.stack.edge_url)
    org_id = world.rpc(owner, "create_organization", name="Acme").json()["id"]
    assert BOT_TOKEN not in connect(world, owner, org_id).body.decode()
    assert BOT_TOKEN not in world.rpc(owner, "get_slack_connection", org_id=org_id).body.decode()
    with psycopg.connect(world.stack.database_url) as conn:
        dump = conn.execute(
            "select string_agg(t::text, ' ') from (select * from app.slack_connections) t"
        ).fetchone()
        audit = conn.execute("select string_agg(a::text, ' ') from app.audit_events a").fetchone()
    assert dump is not None
    assert audit is not None
    for text in (dump[0], audit[0]):
        assert BOT_TOKEN not in text
        assert BOT_TOKEN.encode().hex() not in text
    for log in world.logs.rglob("*.log"):
        assert BOT_TOKEN not in log.read_text(errors="replace"), log.name


def _code(reply: Reply) -> tuple[int, str]:
    return reply.status, reply.json().get("code")


def _warnings_of(world: World, event_id: str) -> list[str]:
    """The worker's warning lines about the event, in the order they were written."""
    lines = [
        json.loads(line)
        for log in sorted(world.logs.glob("worker-*.log"))
        for line in log.read_text(errors="replace").splitlines()
        if line.startswith("{")
    ]
    return [line["event"] for line in lines if line["level"] == "warning" and event_id in line["event"]]


def _outbox(world: World, org_id: str, topic: str) -> dict[str, Any]:
    with psycopg.connect(world.stack.database_url) as conn:
        row = conn.execute(
            "select delivered_at, given_up_at, attempts, last_error, id from app.outbox"
            " where topic = %s and payload ->> 'org_id' = %s order by created_at desc limit 1",
            (topic, org_id),
        ).fetchone()
    assert row is not None, f"no {topic} for {org_id}"
    return {
        "delivered_at": row[0],
        "given_up_at": row[1],
        "attempts": row[2],
        "last_error": row[3],
        "id": row[4],
    }
