"""POST /ext/ai/org-summary end to end: real edge, PostgREST and Postgres, the real `openai` SDK
in the edge talking to the local fake provider (tests/support/fake_openai.py), which replays the
answers recorded under tests/fixtures/llm/ (`./dev rerecord-llm` records them again).

The organization each test makes has the same names, roles and times (its ids differ, and the
request holds none), so the edge makes the same requests every run and finds their recordings:
one for what an owner may see (the audit events too), one for what a plain member may see.
"""

from __future__ import annotations

import json
import os
import secrets
import signal
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import psycopg
import pytest

from tests.support.auth_client import Account, post, signup
from tests.support.fake_openai import LLM_FIXTURES, MALFORMED_ANSWERS, FakeOpenAI
from tests.support.http import Reply, loopback_address, request
from tests.support.stack import Stack, make_stack
from tests.support.worker import eventually

ROUTE = "/ext/ai/org-summary"
API_KEY = "sk-fake-for-tests"
# The events of the organization each test makes, oldest first: (time, action, actor, details).
EVENTS = [
    ("2026-03-01 08:00", "org.created", "Ada", {"name": "Bloom"}),
    ("2026-03-02 09:00", "org.member_invited", "Ada", {"email": "ben@example.com", "role": "admin"}),
    ("2026-03-02 09:30", "org.invitation_accepted", "Ben", {"role": "admin"}),
    ("2026-03-03 14:00", "org.member_invited", "Ben", {"email": "cleo@example.com", "role": "member"}),
    ("2026-03-03 14:15", "org.invitation_accepted", "Cleo", {"role": "member"}),
]
JOINED = {
    "Ada": ("owner", "2026-03-01 08:00"),
    "Ben": ("admin", "2026-03-02 09:30"),
    "Cleo": ("member", "2026-03-03 14:15"),
}


@dataclass(frozen=True)
class AiWorld:
    stack: Stack
    fake: FakeOpenAI
    logs: Path


@pytest.fixture(scope="module")
def ai_world(
    pg_server: str, template_database: str, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[AiWorld]:
    with FakeOpenAI(hold_seconds=3.0) as fake:
        settings = {
            "OPENAI_API_KEY": API_KEY,
            "BLOSSOM_OPENAI_BASE_URL": fake.base_url,
            "BLOSSOM_OPENAI_MODEL": "gpt-4o-mini",
            "BLOSSOM_OPENAI_TIMEOUT_SECONDS": "1",
        }
        logs = tmp_path_factory.mktemp("ai")
        # Each test signs up four people from one address: the sign-up limit is tested elsewhere
        # (test_auth_limits), and the module's tests on one worker passed it.
        with make_stack(
            pg_server,
            template_database,
            logs,
            settings=settings,
            database_settings={"signups_per_address_per_hour": "100000"},
        ) as stack:
            yield AiWorld(stack, fake, logs)


@pytest.fixture
def world(ai_world: AiWorld) -> Iterator[AiWorld]:
    ai_world.fake.reset()
    yield ai_world
    if ai_world.fake.missing:
        pytest.fail(
            "no recorded LLM answer for request "
            + "; ".join(ai_world.fake.missing)
            + f": record it into {LLM_FIXTURES.relative_to(Path.cwd())} with ./dev rerecord-llm",
            pytrace=False,
        )


@dataclass(frozen=True)
class Bloom:
    org_id: str
    people: dict[str, Account]


def make_bloom(stack: Stack) -> Bloom:
    """Organization Bloom: Ada (owner), Ben (admin), Cleo (member), their invitations and joins
    at fixed times; and Otto, who belongs to none."""
    people = {name: signup(stack.edge_url, name=name) for name in ("Ada", "Ben", "Cleo", "Otto")}
    with psycopg.connect(stack.database_url, autocommit=True) as conn:
        row = conn.execute(
            "insert into app.organizations (name, slug) values ('Bloom', %s) returning id",
            (f"bloom-{secrets.token_hex(4)}",),
        ).fetchone()
        assert row is not None
        org_id = str(row[0])
        for name, (role, joined) in JOINED.items():
            conn.execute(
                "insert into app.memberships (org_id, user_id, role, joined_at)"
                " values (%s, %s, %s, %s::timestamptz)",
                (org_id, people[name].user["id"], role, f"{joined}+00"),
            )
        for at, action, actor, details in EVENTS:
            # Event ids are time-ordered to the millisecond: one apart keeps them in this order.
            time.sleep(0.002)
            conn.execute(
                "insert into app.audit_events (at, actor_id, action, org_id, target, details)"
                " values (%s::timestamptz, %s, %s, %s, %s, %s)",
                (f"{at}+00", people[actor].user["id"], action, org_id, org_id, json.dumps(details)),
            )
    return Bloom(org_id, people)


def summary(stack: Stack, account: Account | None, org_id: Any) -> Reply:
    return post(stack.edge_url, ROUTE, {"org_id": org_id}, headers=account.cookie if account else None)


def recorded_text(fake: FakeOpenAI, index: int = -1) -> str:
    """The recorded answer the fake gave to its call number `index`."""
    recording = json.loads((LLM_FIXTURES / f"{fake.calls[index]}.json").read_text())
    text: str = recording["response"]["choices"][0]["message"]["content"]
    return text.strip()


def recorded_request(fake: FakeOpenAI, index: int = -1) -> dict[str, Any]:
    recording: dict[str, Any] = json.loads((LLM_FIXTURES / f"{fake.calls[index]}.json").read_text())[
        "request"
    ]
    return recording


def recorded_tokens(fake: FakeOpenAI, index: int = -1) -> int:
    usage = json.loads((LLM_FIXTURES / f"{fake.calls[index]}.json").read_text())["response"]["usage"]
    return int(usage["prompt_tokens"]) + int(usage["completion_tokens"])


def ledger(stack: Stack, org_id: str) -> list[tuple[str, int, str | None]]:
    with psycopg.connect(stack.database_url, autocommit=True) as conn:
        rows = conn.execute(
            "select outcome::text, (prompt_tokens + completion_tokens)::int, failure"
            " from app.ai_usage where org_id = %s order by id",
            (org_id,),
        ).fetchall()
    return [(str(outcome), int(tokens), failure) for outcome, tokens, failure in rows]


def test_a_member_gets_the_providers_answer_and_the_same_request_again_from_the_cache(world: AiWorld) -> None:
    stack, fake = world.stack, world.fake
    bloom = make_bloom(stack)
    first = summary(stack, bloom.people["Ada"], bloom.org_id)
    assert first.status == 200, first.body
    assert first.json() == {"org_id": bloom.org_id, "summary": recorded_text(fake), "cached": False}
    assert first.header("cache-control") == "no-store"
    again = summary(stack, bloom.people["Ada"], bloom.org_id)
    assert again.status == 200, again.body
    assert again.json() == {"org_id": bloom.org_id, "summary": recorded_text(fake), "cached": True}
    assert len(fake.calls) == 1, "the provider was called once"
    assert ledger(stack, bloom.org_id) == [("answered", recorded_tokens(fake), None), ("cached", 0, None)]

    usage = post(
        stack.edge_url, "/rpc/get_ai_usage", {"org_id": bloom.org_id}, headers=bloom.people["Ben"].cookie
    )
    assert usage.status == 200, usage.body
    assert {k: v for k, v in usage.json().items() if k not in ("org_id", "month_start")} == {
        "quota_tokens": 1000000,
        "used_tokens": recorded_tokens(fake),
        "reserved_tokens": 0,
        "calls": 1,
        "cached_calls": 1,
        "failed_calls": 0,
    }
    refused = post(
        stack.edge_url, "/rpc/get_ai_usage", {"org_id": bloom.org_id}, headers=bloom.people["Cleo"].cookie
    )
    assert (refused.status, refused.json()["code"]) == (403, "org.forbidden")


def test_the_provider_is_sent_what_the_caller_may_read_and_nothing_more(world: AiWorld) -> None:
    stack, fake = world.stack, world.fake
    bloom = make_bloom(stack)
    for name in ("Ada", "Cleo"):
        reply = summary(stack, bloom.people[name], bloom.org_id)
        assert reply.status == 200, reply.body
        assert reply.json()["summary"] == recorded_text(fake)
    owner_view, member_view = (
        json.loads(recorded_request(fake, i)["messages"][1]["content"]) for i in (0, 1)
    )
    assert [event["action"] for event in owner_view["recent_events"]] == [e[1] for e in reversed(EVENTS)]
    assert member_view["recent_events"] == [], "a plain member does not read the audit trail"
    assert [member["name"] for member in member_view["newest_members"]] == ["Cleo", "Ben", "Ada"]
    sent = json.dumps([recorded_request(fake, i) for i in (0, 1)])
    assert "@" not in sent, "no email address reaches the provider"
    assert bloom.org_id not in sent
    assert not any(account.user["id"] in sent for account in bloom.people.values()), "nor an id"


def waiting_for_an_organization(stack: Stack) -> int:
    """How many transactions of the stack's database wait for an organization's lock (an
    advisory lock: app.lock_org)."""
    with psycopg.connect(stack.database_url, autocommit=True) as conn:
        row = conn.execute(
            "select count(*) from pg_locks l join pg_database d on d.oid = l.database"
            " where not l.granted and l.locktype = 'advisory' and d.datname = current_database()"
        ).fetchone()
    assert row is not None
    return int(row[0])


def test_an_admin_demoted_while_asking_is_not_sent_the_audit_trail(world: AiWorld) -> None:
    """Ada demotes Ben, an admin, as he asks for a summary: his activity was read (the audit
    trail with it, an admin's) in one transaction and the call admitted in another, which only
    asked whether he was still a member. A demotion committed between the two had the provider
    summarize the trail for a plain member. Here the organization's lock, held by the test, lines
    them up: Ada's demotion waits first, then Ben's call, and the demotion commits first."""
    stack, fake = world.stack, world.fake
    bloom = make_bloom(stack)
    ada, ben = bloom.people["Ada"], bloom.people["Ben"]
    fake.answer_next_with(counted_answer("Bloom has three members."))
    replies: dict[str, Reply] = {}

    def ask(name: str, path: str, body: dict[str, Any], account: Account) -> threading.Thread:
        thread = threading.Thread(
            target=lambda: replies.update({name: post(stack.edge_url, path, body, headers=account.cookie)}),
            daemon=True,
        )
        thread.start()
        return thread

    with psycopg.connect(stack.database_url) as holder:
        holder.execute("select app.lock_org(%s)", (bloom.org_id,))
        demotion = ask(
            "demotion",
            "/rpc/change_member_role",
            {"org_id": bloom.org_id, "user_id": ben.user["id"], "role": "member"},
            ada,
        )
        eventually(lambda: waiting_for_an_organization(stack) >= 1, 10, "the demotion waiting")
        asking = ask("summary", ROUTE, {"org_id": bloom.org_id}, ben)
        eventually(lambda: waiting_for_an_organization(stack) >= 2, 10, "Ben's call waiting behind it")
        holder.rollback()
    for thread in (demotion, asking):
        thread.join(timeout=30)
    assert replies["demotion"].status == 200, replies["demotion"].body
    assert replies["summary"].status == 200, replies["summary"].body
    [sent] = fake.requests
    activity = json.loads(sent["messages"][1]["content"])
    assert activity["recent_events"] == [], "a plain member does not read the audit trail"
    assert {"name": "Ben", "role": "member", "joined": JOINED["Ben"][1]} in activity["newest_members"]


def test_a_non_member_is_told_there_is_no_such_organization_before_any_call(world: AiWorld) -> None:
    stack, fake = world.stack, world.fake
    bloom = make_bloom(stack)
    for account, org_id in [(bloom.people["Otto"], bloom.org_id), (bloom.people["Ada"], "org_nonsense")]:
        reply = summary(stack, account, org_id)
        assert (reply.status, reply.json()["code"]) == (404, "org.not_found")
    signed_out = summary(stack, None, bloom.org_id)
    assert (signed_out.status, signed_out.json()["code"]) == (401, "auth.not_signed_in")
    assert fake.calls == []
    assert ledger(stack, bloom.org_id) == []


@pytest.mark.parametrize(
    ("body", "headers", "status", "code"),
    [
        ({}, {}, 422, "request.invalid_field"),
        ({"org_id": 7}, {}, 422, "request.invalid_field"),
        ([1], {}, 400, "request.invalid_json"),
        (None, {"Content-Type": "text/plain"}, 403, "auth.csrf"),
        ({"org_id": "x"}, {"Origin": "https://evil.example"}, 403, "auth.csrf"),
    ],
)
def test_bad_requests_are_refused_before_any_call(
    world: AiWorld, body: Any, headers: dict[str, str], status: int, code: str
) -> None:
    stack, fake = world.stack, world.fake
    ada = make_bloom(stack).people["Ada"]
    reply = post(stack.edge_url, ROUTE, body if body is not None else "x", headers=ada.cookie | headers)
    assert (reply.status, reply.json()["code"]) == (status, code), reply.body
    assert fake.calls == []


def test_a_small_quota_answers_429_and_the_ledger_shows_the_spend(world: AiWorld) -> None:
    stack, fake = world.stack, world.fake
    bloom = make_bloom(stack)
    first = summary(stack, bloom.people["Ada"], bloom.org_id)
    assert first.status == 200, first.body
    spent = recorded_tokens(fake)
    with psycopg.connect(stack.database_url, autocommit=True) as conn:
        conn.execute(
            "insert into app.ai_quotas (org_id, monthly_tokens) values (%s, %s)", (bloom.org_id, spent)
        )
    over = summary(stack, bloom.people["Cleo"], bloom.org_id)
    assert (over.status, over.json()["code"]) == (429, "ai.quota_exceeded"), over.body
    retry_after = int(over.header("retry-after") or 0)
    assert 0 < retry_after <= 31 * 86400, "until the next month"
    cached = summary(stack, bloom.people["Ada"], bloom.org_id)
    assert cached.json()["cached"] is True, "an answer already paid for is still served"
    assert len(fake.calls) == 1
    assert ledger(stack, bloom.org_id) == [("answered", spent, None), ("cached", 0, None)]


def ai_requests_counted(stack: Stack, account: Account) -> int:
    """The AI requests counted against the member's hourly limit."""
    with psycopg.connect(stack.database_url, autocommit=True) as conn:
        row = conn.execute(
            "select count(*) from app.rate_limit_hits where kind = 'ai.user' and key = %s",
            (account.user["id"],),
        ).fetchone()
    return int(row[0]) if row else 0


def test_the_same_request_while_its_call_is_under_way_is_told_to_ask_again_and_not_charged(
    world: AiWorld,
) -> None:
    """Two members who may see the same asked for the summary at once: both missed the cache,
    both calls went to the provider, and the organization paid for the answer twice."""
    stack, fake = world.stack, world.fake
    bloom = make_bloom(stack)
    meanwhile: list[Reply] = []
    # Ben (admin) sees what Ada (owner) sees: his request is hers, byte for byte.
    fake.before_next(lambda: meanwhile.append(summary(stack, bloom.people["Ben"], bloom.org_id)))
    first = summary(stack, bloom.people["Ada"], bloom.org_id)
    assert first.status == 200, first.body
    [during] = meanwhile
    assert (during.status, during.json()["code"]) == (409, "ai.in_progress"), during.body
    assert during.header("retry-after") == "2"
    assert during.header("cache-control") == "no-store"
    assert len(fake.calls) == 1, "one call to the provider"
    # Not counted against Ben's hour: a client asking again as told spent it waiting.
    assert ai_requests_counted(stack, bloom.people["Ben"]) == 0
    after = summary(stack, bloom.people["Ben"], bloom.org_id)
    assert after.json() == {"org_id": bloom.org_id, "summary": recorded_text(fake), "cached": True}
    assert ledger(stack, bloom.org_id) == [("answered", recorded_tokens(fake), None), ("cached", 0, None)]
    other = summary(stack, bloom.people["Cleo"], bloom.org_id)
    assert other.json()["cached"] is False, "a request of its own (a member sees no events) is called"


def test_a_member_makes_at_most_30_calls_an_hour_cached_ones_too(world: AiWorld) -> None:
    """One plain member used up the organization's monthly tokens in seconds (a new display
    name made each call a new request), and repeating one request flooded the ledger with
    cached rows. Every call counts against its caller's hourly limit (app.settings.
    ai_calls_per_user_per_hour, 30), before the cache is looked at."""
    stack, fake = world.stack, world.fake
    bloom = make_bloom(stack)
    cleo = bloom.people["Cleo"]
    replies = [summary(stack, cleo, bloom.org_id) for _ in range(30)]
    assert [reply.status for reply in replies] == [200] * 30, replies[-1].body
    assert [reply.json()["cached"] for reply in replies] == [False] + [True] * 29
    over = summary(stack, cleo, bloom.org_id)
    assert (over.status, over.json()["code"]) == (429, "ai.user_rate_limited"), over.body
    assert 0 < int(over.header("retry-after") or 0) <= 3600
    assert len(fake.calls) == 1
    assert len(ledger(stack, bloom.org_id)) == 30, "a refused call leaves no row"
    other = summary(stack, bloom.people["Ben"], bloom.org_id)
    assert other.status == 200, "the limit is the member's own"


@pytest.mark.parametrize(
    ("failure", "status", "code", "retry_after"),
    [
        ("timeout", 504, "ai.timeout", None),
        ("rate_limited", 503, "ai.rate_limited", "7"),
        ("server_error", 502, "ai.provider_error", None),
    ],
)
def test_provider_failures_are_answered_in_our_shape_and_charge_nothing(
    world: AiWorld, failure: str, status: int, code: str, retry_after: str | None
) -> None:
    stack, fake = world.stack, world.fake
    bloom = make_bloom(stack)
    fake.fail_next(failure)
    reply = summary(stack, bloom.people["Cleo"], bloom.org_id)
    assert (reply.status, reply.json()["code"], reply.header("retry-after")) == (status, code, retry_after)
    assert ledger(stack, bloom.org_id) == [("failed", 0, code)]
    # The access line says 502 and no more: the operator reads why in a line of the request's own.
    request_id = reply.header("x-request-id")
    (warning,) = eventually(
        lambda: [w for w in edge_warnings(stack, "edge.ai") if w.get("request_id") == request_id],
        5,
        "the edge's warning naming the failure",
    )
    assert (warning["code"], warning["status"], warning["org_id"]) == (code, status, bloom.org_id)
    assert warning["event"].startswith("the AI call failed: "), warning
    assert API_KEY not in json.dumps(warning)
    again = summary(stack, bloom.people["Cleo"], bloom.org_id)
    assert again.status == 200, again.body
    assert again.json()["cached"] is False, "a failure caches nothing"
    assert ledger(stack, bloom.org_id) == [("failed", 0, code), ("answered", recorded_tokens(fake), None)]


@pytest.mark.parametrize("raw", MALFORMED_ANSWERS.values(), ids=MALFORMED_ANSWERS.keys())
def test_an_answer_that_is_no_chat_completion_is_a_provider_error_and_charges_nothing(
    world: AiWorld, raw: bytes
) -> None:
    """The provider's fault is never our 500: it was, and the reservation stayed held for 10 minutes."""
    stack, fake = world.stack, world.fake
    bloom = make_bloom(stack)
    fake.answer_next_with(raw)
    reply = summary(stack, bloom.people["Cleo"], bloom.org_id)
    assert (reply.status, reply.json()["code"]) == (502, "ai.provider_error"), reply.body
    assert ledger(stack, bloom.org_id) == [("failed", 0, "ai.provider_error")]


def counted_answer(content: object) -> bytes:
    """A chat completion of 120 prompt and 7 completion tokens whose message says `content`."""
    return json.dumps(
        {
            "id": "chatcmpl-unkept",
            "object": "chat.completion",
            "created": 1767225600,
            "model": "gpt-4o-mini",
            "choices": [
                {"index": 0, "message": {"role": "assistant", "content": content}, "finish_reason": "stop"}
            ],
            "usage": {"prompt_tokens": 120, "completion_tokens": 7, "total_tokens": 127},
        }
    ).encode()


@pytest.mark.parametrize("content", [None, "Bloom\u0000 is quiet."], ids=["none", "NUL"])
def test_an_answer_counted_but_with_no_text_to_keep_is_charged_what_was_counted(
    world: AiWorld, content: object
) -> None:
    """The provider answered and counted the tokens it bills us for, but with no text the ledger
    can keep or the caller be shown: released, the call was charged nothing and cached nothing,
    so a member whose names steer the model to such an answer had the same request sent and
    billed again and again, the organization's quota never counting it."""
    stack, fake = world.stack, world.fake
    bloom = make_bloom(stack)
    fake.answer_next_with(counted_answer(content))
    reply = summary(stack, bloom.people["Cleo"], bloom.org_id)
    assert (reply.status, reply.json()["code"]) == (502, "ai.provider_error"), reply.body
    assert ledger(stack, bloom.org_id) == [("answered", 127, None)]
    again = summary(stack, bloom.people["Cleo"], bloom.org_id)
    assert again.status == 200, again.body
    assert again.json()["cached"] is False, "nothing was cached: the next asking is a call of its own"
    assert ledger(stack, bloom.org_id) == [("answered", 127, None), ("answered", recorded_tokens(fake), None)]


# A chat completion whose usage is absurd: the most tokens of each kind the ledger takes, for a
# call that reserved a few thousand.
HUGE_USAGE = json.dumps(
    {
        "id": "chatcmpl-huge",
        "object": "chat.completion",
        "created": 1767225600,
        "model": "gpt-4o-mini",
        "choices": [
            {
                "index": 0,
                "message": {"role": "assistant", "content": "Bloom is quiet."},
                "finish_reason": "stop",
            }
        ],
        "usage": {"prompt_tokens": 10_000_000, "completion_tokens": 10_000_000, "total_tokens": 20_000_000},
    }
).encode()


def edge_warnings(stack: Stack, logger: str) -> list[dict[str, Any]]:
    """The edge's warnings from `logger` so far (a warning is written out at once)."""
    lines = (stack.services.logs / "edge.log").read_text(errors="replace").splitlines()
    found = [json.loads(line) for line in lines if line.startswith("{")]
    return [line for line in found if line.get("logger") == logger and line.get("level") == "warning"]


def test_a_provider_reporting_more_than_was_reserved_is_charged_only_the_reservation(world: AiWorld) -> None:
    """A provider (or a proxy in between) said a call used 10,000,000 prompt and 10,000,000
    completion tokens: the organization was charged 20,000,000 of its 1,000,000 a month, and every
    member was refused AI until the next month. A call is charged at most what it reserved; what
    was reported beyond that is kept for the operators, and the edge logs it."""
    stack, fake = world.stack, world.fake
    bloom = make_bloom(stack)
    fake.answer_next_with(HUGE_USAGE)
    reply = summary(stack, bloom.people["Cleo"], bloom.org_id)
    assert reply.status == 200, reply.body
    assert reply.json() == {"org_id": bloom.org_id, "summary": "Bloom is quiet.", "cached": False}
    with psycopg.connect(stack.database_url, autocommit=True) as conn:
        row = conn.execute(
            "select reserved_tokens, prompt_tokens + completion_tokens, to_jsonb(u) -> 'reported_tokens'"
            " from app.ai_usage u where org_id = %s",
            (bloom.org_id,),
        ).fetchone()
    assert row is not None
    reserved, charged, reported = row
    assert 0 < reserved < 10_000, "the most the call could use: its prompt's bytes and 300 tokens of answer"
    assert (charged, reported) == (reserved, 20_000_000)

    other = summary(stack, bloom.people["Ada"], bloom.org_id)
    assert other.status == 200, f"the organization is not locked out of AI for the month: {other.body!r}"
    assert other.json()["cached"] is False
    assert ledger(stack, bloom.org_id) == [
        ("answered", reserved, None),
        ("answered", recorded_tokens(fake), None),
    ]

    (warning,) = eventually(
        lambda: [w for w in edge_warnings(stack, "edge.ai") if w.get("org_id") == bloom.org_id],
        5,
        "the edge's warning",
    )
    assert {
        k: warning.get(k) for k in ("org_id", "reserved_tokens", "reported_tokens", "charged_tokens")
    } == {
        "org_id": bloom.org_id,
        "reserved_tokens": reserved,
        "reported_tokens": 20_000_000,
        "charged_tokens": reserved,
    }


@contextmanager
def settle_connection_killed(
    stack: Stack, org_id: str, times: int, outcome: str = "answered"
) -> Iterator[None]:
    """The connection of the next `times` settles (or releases: outcome 'failed') of the
    organization's calls is killed by the
    database as the settle writes (a trigger on the ledger that terminates its own backend, with
    a sequence counting the kills, which a rollback does not undo): what a restart, a failover or
    a connection killed between the provider's answer and the settle does, without any timing."""
    name = f"kill_settle_{secrets.token_hex(4)}"
    with psycopg.connect(stack.database_url, autocommit=True) as conn:
        conn.execute(f"create sequence public.{name}")
        conn.execute(
            f"""create function public.{name}() returns trigger language plpgsql security definer
                set search_path = '' as $$
                begin
                  if pg_catalog.nextval('public.{name}') <= {times} then
                    perform pg_catalog.pg_terminate_backend(pg_catalog.pg_backend_pid());
                    perform pg_catalog.pg_sleep(10);  -- not reached: the session ends here
                  end if;
                  return new;
                end $$"""
        )
        conn.execute(
            f"create trigger {name} before update on app.ai_usage for each row"
            f" when (new.org_id = '{org_id}' and new.outcome = '{outcome}') execute function public.{name}()"
        )
    try:
        yield
    finally:
        with psycopg.connect(stack.database_url, autocommit=True) as conn:
            conn.execute(f"drop trigger {name} on app.ai_usage")
            conn.execute(f"drop function public.{name}()")
            conn.execute(f"drop sequence public.{name}")


def edge_errors(stack: Stack, logger: str) -> list[dict[str, Any]]:
    lines = (stack.services.logs / "edge.log").read_text(errors="replace").splitlines()
    found = [json.loads(line) for line in lines if line.startswith("{")]
    return [line for line in found if line.get("logger") == logger and line.get("level") == "error"]


def test_a_settle_whose_database_connection_is_lost_is_tried_again(world: AiWorld) -> None:
    """The provider answered, then the settle's connection was lost: the caller was answered
    503, the reservation stayed held for 10 minutes (the same request 409 ai.in_progress all that
    time) and the tokens the provider counted were charged to nobody."""
    stack, fake = world.stack, world.fake
    bloom = make_bloom(stack)
    with settle_connection_killed(stack, bloom.org_id, times=2):
        reply = summary(stack, bloom.people["Ada"], bloom.org_id)
    assert reply.status == 200, reply.body
    assert reply.json() == {"org_id": bloom.org_id, "summary": recorded_text(fake), "cached": False}
    assert ledger(stack, bloom.org_id) == [("answered", recorded_tokens(fake), None)]
    again = summary(stack, bloom.people["Ada"], bloom.org_id)
    assert again.json()["cached"] is True, "settled: the answer is in the cache"
    assert len(fake.calls) == 1


def test_a_call_that_cannot_be_settled_is_answered_and_logged_for_the_operators(world: AiWorld) -> None:
    """The database stayed out of reach for every try of the settle: the provider has answered
    (and charged us), so the caller has the answer, not a 503 that would send them to pay for it
    again; the tokens are logged at ERROR for the operators, and the reservation, left unsettled,
    is charged in full once it lapses."""
    stack, fake = world.stack, world.fake
    bloom = make_bloom(stack)
    with settle_connection_killed(stack, bloom.org_id, times=1000):
        reply = summary(stack, bloom.people["Ada"], bloom.org_id)
    assert reply.status == 200, reply.body
    assert reply.json() == {"org_id": bloom.org_id, "summary": recorded_text(fake), "cached": False}
    with psycopg.connect(stack.database_url, autocommit=True) as conn:
        row = conn.execute(
            "select id, outcome::text, reserved_tokens from app.ai_usage where org_id = %s", (bloom.org_id,)
        ).fetchone()
    assert row is not None
    reservation, outcome, reserved = row
    assert outcome == "reserved"
    recording = json.loads((LLM_FIXTURES / f"{fake.calls[-1]}.json").read_text())["response"]["usage"]
    (error,) = eventually(
        lambda: [e for e in edge_errors(stack, "edge.ai") if e.get("org_id") == bloom.org_id],
        5,
        "the edge's error naming the unsettled call",
    )
    assert {
        k: error.get(k)
        for k in ("reservation_id", "model", "reserved_tokens", "prompt_tokens", "completion_tokens")
    } == {
        "reservation_id": reservation,
        "model": "gpt-4o-mini",
        "reserved_tokens": reserved,
        "prompt_tokens": recording["prompt_tokens"],
        "completion_tokens": recording["completion_tokens"],
    }
    assert error["request_id"] == reply.header("x-request-id")
    logged = json.dumps(error)
    assert API_KEY not in logged
    assert "summarize" not in logged, "no prompt text"
    assert "Bloom" not in logged, "nor the organization's name it holds"
    assert recorded_text(fake)[:40] not in logged

    # Lapsed, the reservation is charged what it held: the call was made, what it cost unknown
    # to the ledger, and the most it could cost is what it reserved.
    with psycopg.connect(stack.database_url, autocommit=True) as conn:
        conn.execute(
            "update app.ai_usage set started_at = now() - interval '11 minutes' where id = %s", (reservation,)
        )
    usage = post(
        stack.edge_url, "/rpc/get_ai_usage", {"org_id": bloom.org_id}, headers=bloom.people["Ada"].cookie
    )
    assert (usage.json()["used_tokens"], usage.json()["reserved_tokens"]) == (reserved, 0), usage.body


def test_a_release_whose_database_connection_is_lost_is_tried_again(world: AiWorld) -> None:
    """The provider failed, then the release's connection was lost: the reservation stayed
    reserved, and once lapsed the organization was charged the tokens it reserved (a lapsed
    reservation is charged in full) for a call that failed, by faults of neither the caller nor
    the organization. The release is tried again, as the settle is, and is charged nothing."""
    stack, fake = world.stack, world.fake
    bloom = make_bloom(stack)
    fake.fail_next("server_error")
    with settle_connection_killed(stack, bloom.org_id, times=2, outcome="failed"):
        reply = summary(stack, bloom.people["Ada"], bloom.org_id)
    assert reply.status != 200, reply.body
    with psycopg.connect(stack.database_url, autocommit=True) as conn:
        rows = conn.execute(
            "select outcome::text from app.ai_usage where org_id = %s", (bloom.org_id,)
        ).fetchall()
        assert rows == [("failed",)]
        lapsed = "update app.ai_usage set started_at = now() - interval '11 minutes' where org_id = %s"
        conn.execute(lapsed, (bloom.org_id,))
    usage = post(
        stack.edge_url, "/rpc/get_ai_usage", {"org_id": bloom.org_id}, headers=bloom.people["Ada"].cookie
    )
    assert (usage.json()["used_tokens"], usage.json()["reserved_tokens"]) == (0, 0), usage.body


def waiting_for_sessions(stack: Stack) -> int:
    """How many transactions wait for a lock on app.sessions."""
    with psycopg.connect(stack.database_url, autocommit=True) as conn:
        row = conn.execute(
            "select count(*) from pg_locks where not granted and relation = 'app.sessions'::regclass"
        ).fetchone()
    assert row is not None
    return int(row[0])


def test_a_settle_that_finds_every_database_connection_busy_gives_up_within_about_a_second(
    pg_server: str, template_database: str, tmp_path: Path
) -> None:
    """Every one of the edge's database connections busy (here: ten calls waiting for a lock)
    when the provider answered: each try of the settle waited the edge's whole wait for a
    connection (2 s) before it failed, and the three tries more held the caller some 9 s for an
    answer the edge already had, where the retries were to take about a second in all."""
    with FakeOpenAI() as fake:
        settings = {
            "OPENAI_API_KEY": API_KEY,
            "BLOSSOM_OPENAI_BASE_URL": fake.base_url,
            "BLOSSOM_OPENAI_TIMEOUT_SECONDS": "30",
        }
        with make_stack(pg_server, template_database, tmp_path, settings=settings) as stack:
            bloom = make_bloom(stack)
            ada = bloom.people["Ada"]
            locker = psycopg.connect(stack.database_url)
            blocked: list[threading.Thread] = []
            answered: list[float] = []

            def fill_the_edges_connections() -> None:
                locker.execute("lock table app.sessions in access exclusive mode")
                # The edge's database connections (EdgeConfig.database_connections), from clients
                # of their own: one client holds only its share of them.
                for _ in range(10):
                    thread = threading.Thread(
                        target=request,
                        args=(stack.edge_url, "GET", "/auth/session"),
                        kwargs={"headers": ada.cookie, "timeout": 60, "source": loopback_address()},
                        daemon=True,
                    )
                    thread.start()
                    blocked.append(thread)
                eventually(
                    lambda: waiting_for_sessions(stack) >= 10, 10, "ten calls holding the edge's connections"
                )
                answered.append(time.monotonic())

            fake.before_next(fill_the_edges_connections)
            try:
                reply = summary(stack, ada, bloom.org_id)
                took = time.monotonic() - answered[0]
            finally:
                locker.rollback()
                locker.close()
                for thread in blocked:
                    thread.join(timeout=30)
            assert reply.status == 200, reply.body
            assert reply.json()["cached"] is False
            assert took < 4.0, f"the caller waited {took:.1f} s after the provider answered"
            eventually(
                lambda: [e for e in edge_errors(stack, "edge.ai") if e.get("org_id") == bloom.org_id],
                5,
                "the edge's error naming the unsettled call",
            )


@pytest.mark.parametrize("failure", [None, "server_error"])
def test_an_organization_deleted_during_the_call_is_not_found(world: AiWorld, failure: str | None) -> None:
    """Its ledger went with it, the reservation included: settling the call (or releasing it,
    the call failed) answered 500. The ledger now waits for the housekeeping's purge, the
    reservation in it neither settled nor released."""
    stack, fake = world.stack, world.fake
    bloom = make_bloom(stack)
    if failure is not None:
        fake.fail_next(failure)
    deleted: list[Reply] = []
    fake.before_next(
        lambda: deleted.append(
            post(
                stack.edge_url,
                "/rpc/delete_organization",
                {"org_id": bloom.org_id},
                headers=bloom.people["Ada"].cookie,
            )
        )
    )
    reply = summary(stack, bloom.people["Cleo"], bloom.org_id)
    assert [d.status for d in deleted] == [204]
    assert (reply.status, reply.json()["code"]) == (404, "org.not_found"), reply.body
    assert len(fake.calls) == 1
    assert ledger(stack, bloom.org_id) == [("reserved", 0, None)]
    with psycopg.connect(stack.database_url, autocommit=True) as conn:
        conn.execute("select pipeline.purge_auth()")
    assert ledger(stack, bloom.org_id) == []


def test_the_key_reaches_the_provider_and_no_answer_table_or_log(world: AiWorld) -> None:
    stack, fake = world.stack, world.fake
    bloom = make_bloom(stack)
    ada = bloom.people["Ada"]
    replies = [summary(stack, ada, bloom.org_id) for _ in range(2)]
    replies.append(post(stack.edge_url, "/rpc/get_ai_usage", {"org_id": bloom.org_id}, headers=ada.cookie))
    fake.fail_next("server_error")
    replies.append(summary(stack, bloom.people["Cleo"], bloom.org_id))
    assert [reply.status for reply in replies] == [200, 200, 200, 502]
    assert fake.keys == {API_KEY}
    for reply in replies:
        assert API_KEY not in reply.body.decode()
    with psycopg.connect(stack.database_url, autocommit=True) as conn:
        for table in ("app.ai_usage", "app.ai_answers", "app.ai_quotas", "app.audit_events"):
            row = conn.execute(f"select coalesce(string_agg(t::text, ' '), '') from {table} t").fetchone()
            assert row is not None
            assert API_KEY not in row[0], table
    for log in world.logs.rglob("*.log"):
        assert API_KEY not in log.read_text(errors="replace"), log.name


def test_without_a_key_the_route_answers_503_not_configured(stack: Stack) -> None:
    if os.environ.get("OPENAI_API_KEY"):
        pytest.skip("this process has OPENAI_API_KEY (recording): the shared stack's edge has it too")
    ada = signup(stack.edge_url, name="Ada")
    reply = post(stack.edge_url, ROUTE, {"org_id": "org_whatever"}, headers=ada.cookie)
    assert (reply.status, reply.json()["code"]) == (503, "ai.not_configured")


def test_a_call_the_edge_gives_up_on_as_it_stops_is_released(
    pg_server: str, template_database: str, tmp_path: Path
) -> None:
    """SIGTERM to the edge while the provider had not answered: past its grace period the edge
    cancelled the request, and its reservation stayed held, its request under way for everyone
    who asked it (409 ai.in_progress) for ten minutes."""
    with FakeOpenAI() as fake:
        settings = {
            "OPENAI_API_KEY": API_KEY,
            "BLOSSOM_OPENAI_BASE_URL": fake.base_url,
            "BLOSSOM_EDGE_GRACE_SECONDS": "1",
        }
        with make_stack(pg_server, template_database, tmp_path, settings=settings) as stack:
            bloom = make_bloom(stack)
            edge = stack.services.edge

            def stop_the_edge_meanwhile() -> None:
                edge.send_signal(signal.SIGTERM)
                edge.wait(timeout=10)

            fake.before_next(stop_the_edge_meanwhile)
            reply = summary(stack, bloom.people["Ada"], bloom.org_id)
            assert (reply.status, reply.json()["code"]) == (503, "edge.shutting_down")
            assert edge.wait(timeout=10) is not None
            assert ledger(stack, bloom.org_id) == [("failed", 0, "ai.cancelled")]
