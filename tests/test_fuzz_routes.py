"""A seeded fuzzer of every RPC (`/rpc/*`, through the edge) and every edge route (`/auth/*`,
`/ext/*`, `/healthz`, `/readyz`, `/metrics`): each argument in turn gets values of every JSON type
and the shapes that break parsers and casts (NUL, lone surrogates, 1e309, 2**64, nesting,
ids of the wrong kind or of another tenant), as an owner, a member, a stranger and signed out.

Every answer must be below 500, be JSON with a `code` that docs/api.md documents and the
generated TypeScript client declares for the call, and, when it refuses, leave the tenants'
tables, the audit trail and the outbox as they were. The cases are a fixed list plus a seeded
sample, so a run is deterministic and stays within a few seconds."""

from __future__ import annotations

import json
import random
import re
from collections.abc import Iterator
from dataclasses import dataclass

import psycopg
import pytest

from blossom_db.generated import API_CALL_ARGUMENTS
from codegen.config import ROOT
from edge.routes import SPECS
from tests.support.auth_client import Account, signup
from tests.support.http import Reply, request
from tests.support.stack import Stack

SEED = 20261203
API_DOC = (ROOT / "docs" / "api.md").read_text()
# Every code docs/api.md names in backquotes: ours (`org.not_found`) and PostgREST's (`PGRST202`).
DOCUMENTED_CODES = frozenset(re.findall(r"`((?:[a-z]+\.[a-z_]+)|PGRST\d{3})`", API_DOC))


def client_codes() -> dict[str, frozenset[str]]:
    """{path: the codes the committed TypeScript client declares for its call}: a code it does not
    declare reaches the caller as client.unexpected, which says "report it", not "handle it"."""
    client = (ROOT / "clients" / "typescript" / "src" / "generated.ts").read_text()
    common = {
        name: json.loads(codes)
        for name, codes in re.findall(r"const (_\w+_COMMON): readonly string\[\] = (\[.*\]);", client)
    }
    calls = re.findall(
        r'_request<[^(]*\(client, "\w+", "([^"]+)", (?:\{[^}]*\}|\w+), '
        r'\[((?:"[^"]+", )*)\.\.\.(_\w+_COMMON)\]',
        client,
    )
    assert len(calls) == client.count("return _request<"), "a call of the client the test cannot read"
    return {path: frozenset(re.findall(r'"([^"]+)"', own)) | set(common[rest]) for path, own, rest in calls}


CLIENT_CODES = client_codes()

# A value of an argument, as the JSON text sent: a raw text so that what a JSON library would
# not write (a lone surrogate, 1e309, -0) can be sent too.
BREAKING_VALUES: tuple[str, ...] = (
    "null",
    "true",
    "false",
    "0",
    "-0",
    "1",
    "-1",
    "5.5",
    "-0.0",
    "1e309",
    "-1e309",
    "1e-400",
    str(2**63),
    str(2**64),
    str(-(2**63) - 1),
    str(10**400),
    '""',
    '" "',
    '"5"',
    '"5.5"',
    '"-0"',
    '"1e309"',
    '"NaN"',
    '"Infinity"',
    '"true"',
    '"null"',
    '"\\u0000"',
    '"a\\u0000b"',
    '"\\ud800"',
    '"x\\udfffy"',
    '"\\udbff\\udfff"',
    '"\\u0001\\u001b[31m\\u007f"',
    '"\\t\\r\\n"',
    '"\\u202e\\u200b"',
    json.dumps("a" * 5000),
    json.dumps("é" * 3000, ensure_ascii=False),
    json.dumps("😀" * 2000),
    "[]",
    "[1, 2]",
    '[""]',
    "{}",
    '{"a": {"b": []}}',
    "[" * 60 + "]" * 60,
    '{"x":' * 40 + "1" + "}" * 40,
    '"org_"',
    '"org_0000000000000000000000000z"',
    '"ORG_01JB3S1N7HY7Q9V3C5D7F9GBHK"',
    '"usr_01jb3s1n7hy7q9v3c5d7f9gbhk"',
    '"inv_01jb3s1n7hy7q9v3c5d7f9gbhk"',
    '"org_01jb3s1n7hy7q9v3c5d7f9gbhk"',
    '"evt_01jb3s1n7hy7q9v3c5d7f9gbhk"',
    '"mem_01jb3s1n7hy7q9v3c5d7f9gbhk"',
    '"org_01jb3s1n7hy7q9v3c5d7f9gbhk "',
    '" org_01jb3s1n7hy7q9v3c5d7f9gbhk"',
    '"owner"',
    '"OWNER"',
    '"x@example.com"',
    '"x@127.0.0.1"',
    '"\'; drop table app.users; --"',
)

# The tables a refusal must leave as they were: the tenants' data, the audit trail and the
# outbox (sessions and rate-limit rows are left out: a request marks its session used, and a
# failed login counts, as documented).
WATCHED_TABLES = (
    "app.users",
    "app.organizations",
    "app.memberships",
    "app.invitations",
    "app.audit_events",
    "app.outbox",
    "app.slack_connections",
    "app.password_resets",
    "app.email_verifications",
    "app.ai_usage",
    "app.user_secrets",
)
FINGERPRINT = "select " + ", ".join(
    f"(select md5(coalesce(string_agg(t::text, ',' order by t::text), '')) from {table} t)"
    for table in WATCHED_TABLES
)

# Routes whose refusals write by design (docs/api.md): a failed login is audited and counted.
REFUSALS_THAT_WRITE = frozenset({"/auth/login", "/auth/signup", "/auth/password"})


@dataclass(frozen=True)
class World:
    stack: Stack
    owner: Account
    member: Account
    stranger: Account
    org_id: str
    other_org_id: str
    invitation_id: str

    def identities(self) -> dict[str, dict[str, str]]:
        return {
            "owner": self.owner.cookie,
            "member": self.member.cookie,
            "stranger": self.stranger.cookie,
            "signed out": {},
        }


@pytest.fixture(scope="module")
def world(stack: Stack) -> World:
    owner, member, stranger = (signup(stack.edge_url, name=name) for name in ("Owner", "Member", "Stranger"))
    with psycopg.connect(stack.database_url, autocommit=True) as conn:
        org_id, other_org_id = (
            str(row[0])
            for row in (
                conn.execute(
                    "insert into app.organizations (name, slug) values (%s, %s) returning id", (name, slug)
                ).fetchone()
                or ()
                for name, slug in (("Fuzzed", f"fuzzed-{SEED}"), ("Other", f"other-{SEED}"))
            )
        )
        for org, user, role in (
            (org_id, owner.user["id"], "owner"),
            (org_id, member.user["id"], "member"),
            (other_org_id, stranger.user["id"], "owner"),
        ):
            conn.execute(
                "insert into app.memberships (org_id, user_id, role) values (%s, %s, %s)", (org, user, role)
            )
        invitation = conn.execute(
            "insert into app.invitations (org_id, email, role, invited_by, token_hash, expires_at)"
            " values (%s, 'invitee@example.com', 'member', %s, sha256('fuzz'), now() + interval '1 day')"
            " returning id",
            (org_id, owner.user["id"]),
        ).fetchone()
    assert invitation
    return World(stack, owner, member, stranger, org_id, other_org_id, str(invitation[0]))


def valid_arguments(world: World, names: tuple[str, ...]) -> dict[str, str]:
    """A plausible JSON text for each argument, so that only the fuzzed one is wrong."""
    plausible = {
        "org_id": json.dumps(world.org_id),
        "user_id": json.dumps(world.member.user["id"]),
        "invitation_id": json.dumps(world.invitation_id),
        "role": '"admin"',
        "name": '"Fuzzed"',
        "display_name": '"Fuzzer"',
        "email": '"fuzz@example.com"',
        "token": '"no-such-token"',
        "limit": "10",
        "before": "null",
        "after": "null",
        "password": '"correct horse battery"',
        "current_password": '"wrong password here"',
        "new_password": '"correct horse battery"',
        "bot_token": '"xoxb-0000000000"',
        "channel": '"C0000000"',
    }
    return {name: plausible.get(name, '"x"') for name in names}


def body_of(arguments: dict[str, str], extra: str = "") -> bytes:
    text = "{" + ", ".join(f"{json.dumps(name)}: {value}" for name, value in arguments.items())
    return (text + (", " if arguments and extra else "") + extra + "}").encode("utf-8", "surrogatepass")


@dataclass(frozen=True)
class Case:
    path: str
    body: bytes
    identity: str


def cases(world: World) -> Iterator[Case]:
    rng = random.Random(SEED)
    identities = list(world.identities())
    routes: dict[str, tuple[str, ...]] = {
        f"/rpc/{name}": (*call.required, *call.optional) for name, call in API_CALL_ARGUMENTS.items()
    }
    routes |= {spec.path: tuple(spec.body) for spec in SPECS if spec.method == "POST"}
    tenant_ids = [json.dumps(world.other_org_id), json.dumps(world.stranger.user["id"])]
    for path, names in routes.items():
        good = valid_arguments(world, names)
        # The body as a whole: no argument, null for each, one unknown, one twice.
        shapes = [
            b"{}",
            body_of(dict.fromkeys(names, "null")),
            body_of(good, '"unknown_argument": 1'),
            body_of(good, f"{json.dumps(names[0])}: {good[names[0]]}") if names else b'{"a": 1, "a": 2}',
            b"[]",
            b'"text"',
        ]
        for body in shapes:
            for identity in identities:
                yield Case(path, body, identity)
        for name in names:
            # Every breaking value, each as one identity; a sample as every identity.
            for value in (*BREAKING_VALUES, *tenant_ids):
                yield Case(path, body_of(good | {name: value}), rng.choice(identities))
            for value in rng.sample(BREAKING_VALUES, 2):
                for identity in identities:
                    yield Case(path, body_of(good | {name: value}), identity)


def fingerprint(conn: psycopg.Connection) -> tuple[object, ...]:
    row = conn.execute(FINGERPRINT).fetchone()
    assert row is not None
    return tuple(row)


# The services the test stack has no key for answer 503 `*.not_configured`: documented, and
# checked only after the body, which is what is fuzzed.
NOT_CONFIGURED = frozenset({"ai.not_configured", "slack.not_configured"})


def problems_of(reply: Reply, path: str) -> list[str]:
    """What is wrong with an answer: a refusal must be JSON of the documented shape and code, one
    the generated client declares for the call, and below 500."""
    if reply.status < 400:
        return []
    try:
        answer = json.loads(reply.body)
    except ValueError:
        return [f"status {reply.status}, not JSON"]
    if not isinstance(answer, dict) or set(answer) != {"code", "message", "details", "hint"}:
        return [f"status {reply.status}, not the error shape"]
    problems = []
    if reply.status >= 500 and answer["code"] not in NOT_CONFIGURED:
        problems.append(f"status {reply.status}")
    if answer["code"] not in DOCUMENTED_CODES:
        problems.append(f"undocumented code {answer['code']!r}")
    declared = CLIENT_CODES.get(path.partition("?")[0])
    if declared is not None and answer["code"] not in declared:
        problems.append(f"code {answer['code']!r} that the client does not declare for the call")
    return problems


class Findings:
    """What the answers broke, one example per route and problem."""

    def __init__(self, world: World, conn: psycopg.Connection) -> None:
        self.edge = world.stack.edge_url
        self.conn = conn
        self.found: dict[tuple[str, str], str] = {}
        # The tables as the last answer left them: nothing else writes them meanwhile, so it is
        # the next request's "before", one query a request instead of two.
        self.last = fingerprint(conn)

    def send(
        self, method: str, path: str, body: bytes | None, headers: dict[str, str], *, watch: bool = True
    ) -> None:
        reply = request(self.edge, method, path, body=body, headers=headers)
        problems = problems_of(reply, path)
        before, self.last = self.last, fingerprint(self.conn)
        if watch and reply.status >= 400 and self.last != before:
            problems.append("a refusal wrote")
        for problem in problems:
            caller = headers.get("Cookie", "signed out")[:40]
            example = f"{caller} {(body or b'')[:200]!r} -> {reply.status} {reply.body[:300]!r}"
            self.found.setdefault((f"{method} {path[:80]}", problem), example)

    def report(self) -> str:
        return "\n".join(f"{route} {problem}: {example}" for (route, problem), example in self.found.items())


def test_every_route_answers_bad_bodies_with_a_documented_refusal_that_changes_nothing(world: World) -> None:
    identities = world.identities()
    with psycopg.connect(world.stack.database_url, autocommit=True) as conn:
        findings = Findings(world, conn)
        for case in cases(world):
            headers = {"Content-Type": "application/json", **identities[case.identity]}
            findings.send("POST", case.path, case.body, headers, watch=case.path not in REFUSALS_THAT_WRITE)
    assert not findings.found, findings.report()


# Query values as sent (percent-encoded): NUL, a lone surrogate and bytes that are no UTF-8,
# numbers out of range, PostgREST's operators, and a value near the query's 2 KiB limit.
QUERY_VALUES = (
    "",
    "%00",
    "a%00b",
    "%ED%A0%80",
    "%FF",
    "%C0%AE",
    "1e309",
    str(2**64),
    "-0",
    "5.5",
    "null",
    "true",
    "%5B%5D",
    "%7B%7D",
    "org_",
    "eq.x",
    "a" * 1500,
    "%E2%80%AE",
    "%0A%0D",
)
# Session tokens that are no token, in the cookie and in the header (sent as Latin-1 bytes).
BAD_TOKENS = ("", "x", "%00", "é", "a" * 4000, "ses_x", "a\u0001b", "=;=", "\udcff")


def test_read_only_rpcs_queries_and_bad_session_tokens_are_refused_with_documented_codes(
    world: World,
) -> None:
    identities = world.identities()
    with psycopg.connect(world.stack.database_url, autocommit=True) as conn:
        findings = Findings(world, conn)
        for name, call in API_CALL_ARGUMENTS.items():
            if not call.read_only:
                continue
            for argument in (*call.required, *call.optional, "unknown"):
                for value in QUERY_VALUES:
                    for headers in identities.values():
                        findings.send("GET", f"/rpc/{name}?{argument}={value}", None, headers)
        for token in BAD_TOKENS:
            raw = token.encode("utf-8", "surrogateescape").decode("latin-1")
            for header in ({"Cookie": f"blossom_session={raw}"}, {"X-Blossom-Session": raw}):
                for method, path in (
                    ("GET", "/rpc/me"),
                    ("GET", "/auth/session"),
                    ("POST", "/auth/logout"),
                    ("POST", "/rpc/create_organization"),
                    ("POST", "/ext/ai/org-summary"),
                ):
                    body = b'{"name": "x", "org_id": "org_x"}' if method == "POST" else None
                    findings.send(method, path, body, {"Content-Type": "application/json", **header})
        for path in (
            "/healthz",
            "/readyz",
            "/metrics",
            "/rpc/",
            "/rpc/me?x=%00",
            "/auth/nothing",
            "/ext/nothing",
        ):
            findings.send("GET", path, None, {}, watch=False)
    assert not findings.found, findings.report()
