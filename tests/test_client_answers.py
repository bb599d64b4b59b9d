"""What the server really answers fits the types the generated clients give it.

Through a real stack (edge, PostgREST, Postgres, a fake Slack and a fake AI provider), every
RPC of the API and every route of the edge is called on its way to success and on its error
paths, with the data that bends types: empty lists, optional arguments sent as null, a deleted
account in the audit trail and as the sender of a pending invitation, a broken Slack
connection, an organization whose members are all gone. Each answer is written into a
TypeScript file as a literal that must `satisfies` the type the client declares for that call
(the result, or the error shape with its code in the call's union), and tsc compiles it against
clients/typescript/src/generated.ts: a field the server sends that the type lacks, a null where
the type admits none, a string where it says number, or a code the union leaves out, fails to
compile. The Python wrappers (blossom_db/generated.py) are held so too: each `api` wrapper is
called on such data and its result checked, at run time, against its return annotation.
(tests/test_api_nullability.py holds the @notnull promises in SQL; tests/test_codegen_node.py
runs the TypeScript client itself.)
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass, field, is_dataclass
from datetime import datetime
from pathlib import Path
from types import UnionType
from typing import Any, ForwardRef, Literal, NewType, Union, get_args, get_origin, get_type_hints

import psycopg
import pytest

from blossom_db import generated
from codegen.config import ROOT
from services.secrets import new_key_entry
from tests.support.auth_client import Account, signup
from tests.support.fake_openai import FakeOpenAI
from tests.support.fake_slack import FakeSlack
from tests.support.http import Reply, request
from tests.support.mailbox import messages
from tests.support.orgs_db import become, email_of, make_user
from tests.support.stack import Stack, make_stack

TSC = ROOT / ".tools" / "typescript-5.6.3" / "package" / "bin" / "tsc"
CLIENT = ROOT / "clients" / "typescript" / "src" / "generated.ts"
BOT_TOKEN = "xoxb-1111-2222-tokenthatmustneverleak"
CHANNEL = "C0ANSWERS"
COMPLETION = {
    "id": "chatcmpl-answers",
    "object": "chat.completion",
    "created": 1767225600,
    "model": "gpt-4o-mini",
    "choices": [{"index": 0, "message": {"role": "assistant", "content": "Quiet."}, "finish_reason": "stop"}],
    "usage": {"prompt_tokens": 12, "completion_tokens": 3, "total_tokens": 15},
}

# The answer types of the client's calls, by path: (result type, error code union), read from
# the committed client's own `_request<Result, ErrorCode>(client, METHOD, PATH` lines.
CALL_TYPES = re.compile(r'_request<(.+?), (\w+ErrorCode)>\(client, "(?:GET|POST)", "([^"]+)"')

# A branded ID type (`string & { __brand }`) is not something a JSON literal can be; every other
# type is kept as it is, literal unions (roles, codes) included.
PRELUDE = """\
import type * as G from "./generated.js";
type Wire<T> = T extends { readonly __brand: string } ? string
  : T extends readonly (infer U)[] ? Wire<U>[]
  : T extends G.Json ? T
  : T extends object ? { [K in keyof T]: Wire<T[K]> }
  : T;
interface ErrorShape<C> { code: C; message: string; details: G.Json; hint: string | null }
"""


@dataclass
class Recorder:
    stack: Stack
    answers: list[tuple[str, str, Reply]] = field(default_factory=list)

    def call(
        self, label: str, account: Account | None, path: str, body: Any = None, method: str = "POST"
    ) -> Reply:
        headers = {"Origin": self.stack.edge_url} | (account.cookie if account else {})
        if method == "GET":
            reply = request(self.stack.edge_url, "GET", path, headers=headers)
        else:
            reply = request(
                self.stack.edge_url, "POST", path, json_body={} if body is None else body, headers=headers
            )
        self.answers.append((label, path, reply))
        return reply

    def rpc(self, label: str, account: Account | None, function: str, **args: Any) -> Reply:
        return self.call(label, account, f"/rpc/{function}", args)


@dataclass(frozen=True)
class World:
    stack: Stack
    slack: FakeSlack
    ai: FakeOpenAI


@pytest.fixture(scope="module")
def world(
    pg_server: str, template_database: str, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[World]:
    with FakeSlack() as slack, FakeOpenAI() as ai:
        slack.add_workspace(BOT_TOKEN, team_id="T0ANSWERS", team="Answers", channels={CHANNEL})
        settings = {
            "BLOSSOM_SLACK_API_URL": slack.api_url,
            "BLOSSOM_SECRETS_KEY": new_key_entry("answers-1"),
            "OPENAI_API_KEY": "sk-answers",
            "BLOSSOM_OPENAI_BASE_URL": ai.base_url,
            "BLOSSOM_OPENAI_MODEL": "gpt-4o-mini",
        }
        with make_stack(
            pg_server, template_database, tmp_path_factory.mktemp("answers"), settings=settings
        ) as stack:
            yield World(stack, slack, ai)


def mailed_token(database_url: str, to: str, topic: str = "mail.org_invitation") -> str:
    """The token of the newest mail of `topic` to `to`."""
    sent = messages(database_url, to, topic)
    assert sent, (topic, to)
    return str(sent[0]["token"])


def delete_account(database_url: str, user_id: str) -> None:
    with psycopg.connect(database_url) as conn:
        conn.execute("delete from app.users where id = %s", (user_id,))


def organization_flow(world: World, r: Recorder) -> None:
    """Every RPC and /ext route, on success and on its refusals, in one organization's life."""
    url, db = world.stack.edge_url, world.stack.database_url
    owner, admin, member, outsider = (signup(url, name=name) for name in ("Owner", "Admin", "Member", "Out"))
    r.rpc("no organizations yet", owner, "list_organizations")
    org_id = r.rpc("create", owner, "create_organization", name="Acme").json()["id"]
    r.rpc("create: blank name", owner, "create_organization", name="   ")
    r.rpc("get", owner, "get_organization", org_id=org_id)
    r.rpc("get: malformed id", owner, "get_organization", org_id="org_nope")
    r.rpc("get: null id", owner, "get_organization", org_id=None)
    r.rpc("get: argument left out", owner, "get_organization")
    r.rpc("get: outsider", outsider, "get_organization", org_id=org_id)
    r.rpc("get: signed out", None, "get_organization", org_id=org_id)
    r.call("get: a GET", owner, f"/rpc/get_organization?org_id={org_id}", method="GET")
    r.rpc("no invitations", owner, "list_invitations", org_id=org_id)
    r.rpc("invitations: nulls", owner, "list_invitations", org_id=org_id, before=None, limit=None)
    r.rpc("invitations: bad cursor", owner, "list_invitations", org_id=org_id, before="inv_nope")
    r.rpc("invitations: bad limit", owner, "list_invitations", org_id=org_id, limit=0)
    for invitee, role in ((admin, "admin"), (member, "member")):
        r.rpc(f"invite {role}", owner, "invite_member", org_id=org_id, email=invitee.email, role=role)
        token = mailed_token(db, invitee.email)
        r.rpc(f"accept: {role}, wrong account", outsider, "accept_invitation", token=token)
        r.rpc(f"accept: {role}", invitee, "accept_invitation", token=token)
        r.rpc(f"accept again: {role}", invitee, "accept_invitation", token=token)
    r.rpc("invite: bad role", owner, "invite_member", org_id=org_id, email=outsider.email, role="boss")
    r.rpc("invite: bad email", owner, "invite_member", org_id=org_id, email="nope", role="member")
    r.rpc("invite: a member", owner, "invite_member", org_id=org_id, email=member.email, role="member")
    r.rpc("invite: as member", member, "invite_member", org_id=org_id, email=outsider.email, role="member")
    invitation = r.rpc(
        "invite outsider", admin, "invite_member", org_id=org_id, email=outsider.email, role="member"
    )
    r.rpc("pending invitations", owner, "list_invitations", org_id=org_id)
    r.rpc("invitations: as member", member, "list_invitations", org_id=org_id)
    r.rpc("decline: bad token", outsider, "decline_invitation", token="nope")
    r.rpc("revoke", owner, "revoke_invitation", invitation_id=invitation.json()["id"])
    r.rpc("revoke again", owner, "revoke_invitation", invitation_id=invitation.json()["id"])
    r.rpc("revoke: unknown", owner, "revoke_invitation", invitation_id="inv_nope")
    r.rpc("invite outsider again", owner, "invite_member", org_id=org_id, email=outsider.email, role="member")
    r.rpc(
        "decline",
        outsider,
        "decline_invitation",
        token=mailed_token(db, outsider.email),
    )
    r.rpc("members", member, "list_members", org_id=org_id)
    r.rpc("members: nulls", member, "list_members", org_id=org_id, after=None, limit=None)
    r.rpc("members: bad cursor", member, "list_members", org_id=org_id, after="mem_nope")
    r.rpc("members: bad limit", member, "list_members", org_id=org_id, limit=501)
    r.rpc("role", owner, "change_member_role", org_id=org_id, user_id=member.user["id"], role="admin")
    r.rpc("role back", owner, "change_member_role", org_id=org_id, user_id=member.user["id"], role="member")
    r.rpc(
        "role: bad role", owner, "change_member_role", org_id=org_id, user_id=member.user["id"], role="boss"
    )
    r.rpc(
        "role: not a member",
        owner,
        "change_member_role",
        org_id=org_id,
        user_id=outsider.user["id"],
        role="admin",
    )
    r.rpc(
        "role: admin makes an owner",
        admin,
        "change_member_role",
        org_id=org_id,
        user_id=member.user["id"],
        role="owner",
    )
    r.rpc(
        "role: last owner",
        owner,
        "change_member_role",
        org_id=org_id,
        user_id=owner.user["id"],
        role="member",
    )
    r.rpc("rename", admin, "update_organization", org_id=org_id, name="Acme Two")
    r.rpc("rename: as member", member, "update_organization", org_id=org_id, name="Mine")
    r.rpc("rename: bad name", admin, "update_organization", org_id=org_id, name="\u200b")
    r.rpc("profile", member, "update_profile", display_name="  Max  ")
    r.rpc("profile: bad name", member, "update_profile", display_name="")
    r.rpc("me", member, "me")
    r.rpc("me: signed out", None, "me")
    r.call("me: a GET", member, "/rpc/me", method="GET")
    r.rpc("usage: none yet", owner, "get_ai_usage", org_id=org_id)
    r.rpc("usage: as member", member, "get_ai_usage", org_id=org_id)
    r.rpc("slack: not connected", member, "get_slack_connection", org_id=org_id)
    connect = {"org_id": org_id, "bot_token": BOT_TOKEN, "channel": CHANNEL}
    r.call("slack connect", admin, "/ext/slack/connect", connect)
    r.call("slack connect: as member", member, "/ext/slack/connect", connect)
    r.call("slack connect: bad channel", admin, "/ext/slack/connect", connect | {"channel": "not a channel"})
    r.call("slack connect: bad token", admin, "/ext/slack/connect", connect | {"bot_token": "nope"})
    r.call(
        "slack connect: unknown token",
        admin,
        "/ext/slack/connect",
        connect | {"bot_token": "xoxb-0000-unknowntoken"},
    )
    r.call("slack connect: bad body", admin, "/ext/slack/connect", {"org_id": org_id})
    r.rpc("slack", member, "get_slack_connection", org_id=org_id)
    world.ai.answer_next_with(json.dumps(COMPLETION).encode())
    r.call("ai summary", member, "/ext/ai/org-summary", {"org_id": org_id})
    r.call("ai summary: cached", member, "/ext/ai/org-summary", {"org_id": org_id})
    r.call("ai summary: outsider", outsider, "/ext/ai/org-summary", {"org_id": org_id})
    r.call("ai summary: signed out", None, "/ext/ai/org-summary", {"org_id": org_id})
    r.rpc("usage", owner, "get_ai_usage", org_id=org_id)
    demote = {"org_id": org_id, "user_id": admin.user["id"], "role": "member"}
    r.rpc("role: the connector demoted", owner, "change_member_role", **demote)
    broken = r.rpc("slack: broken", member, "get_slack_connection", org_id=org_id)
    assert broken.json()["broken_at"] is not None, broken.body  # its nulls filled
    r.call("slack connect: mended", owner, "/ext/slack/connect", connect)
    r.rpc("role: admin again", owner, "change_member_role", **(demote | {"role": "admin"}))
    r.rpc("transfer", owner, "transfer_ownership", org_id=org_id, user_id=admin.user["id"])
    r.rpc("transfer: not a member", admin, "transfer_ownership", org_id=org_id, user_id=outsider.user["id"])
    r.rpc("leave: last owner", admin, "leave_organization", org_id=org_id)
    r.rpc("leave", member, "leave_organization", org_id=org_id)
    r.rpc("leave: not a member", member, "leave_organization", org_id=org_id)
    r.rpc(
        "invite outsider to stay", owner, "invite_member", org_id=org_id, email=outsider.email, role="member"
    )
    r.rpc("accept: outsider", outsider, "accept_invitation", token=mailed_token(db, outsider.email))
    r.rpc("remove a member", owner, "remove_member", org_id=org_id, user_id=outsider.user["id"])
    r.rpc("remove: not a member", admin, "remove_member", org_id=org_id, user_id=outsider.user["id"])
    r.rpc("slack: after a removal", owner, "get_slack_connection", org_id=org_id)
    r.call("slack disconnect", owner, "/ext/slack/disconnect", {"org_id": org_id})
    r.call("slack disconnect again", owner, "/ext/slack/disconnect", {"org_id": org_id})
    r.rpc(
        "invite, then be deleted",
        owner,
        "invite_member",
        org_id=org_id,
        email="later@example.com",
        role="member",
    )
    delete_account(db, owner.user["id"])  # in the audit trail (its invitation revoked, by no one)
    r.rpc("audit: a deleted account", admin, "list_audit_events", org_id=org_id)
    r.rpc("audit: nulls", admin, "list_audit_events", org_id=org_id, before=None, limit=None)
    r.rpc("audit: bad cursor", admin, "list_audit_events", org_id=org_id, before="evt_nope")
    r.rpc("audit: bad limit", admin, "list_audit_events", org_id=org_id, limit=201)
    r.rpc("invitations: sender deleted (revoked)", admin, "list_invitations", org_id=org_id)
    r.rpc("organizations", admin, "list_organizations")
    r.rpc("delete: its owner, once an admin", admin, "delete_organization", org_id=org_id)
    alone = r.rpc("create another", admin, "create_organization", name="Alone").json()["id"]
    # Its only owner's account is not deleted while it owns it (409 org.last_owner): an operator
    # deletes the organization first, then the account.
    with psycopg.connect(db) as conn:
        conn.execute("delete from app.organizations where id = %s", (alone,))
    delete_account(db, admin.user["id"])
    r.rpc("get: its members gone", outsider, "get_organization", org_id=alone)
    mine = r.rpc("create mine", outsider, "create_organization", name="Mine").json()["id"]
    r.rpc("delete", outsider, "delete_organization", org_id=mine)
    r.rpc("delete again", outsider, "delete_organization", org_id=mine)


def auth_flow(world: World, r: Recorder) -> None:
    """Every /auth route, on success and on its refusals."""
    url, db = world.stack.edge_url, world.stack.database_url
    signup_body = {"email": "answers@example.com", "password": "correct horse battery", "display_name": "A"}
    r.call("signup", None, "/auth/signup", signup_body)
    r.call("signup: taken", None, "/auth/signup", signup_body)
    r.call("signup: bad email", None, "/auth/signup", signup_body | {"email": "nope"})
    r.call(
        "signup: weak password",
        None,
        "/auth/signup",
        signup_body | {"email": "b@example.com", "password": "x"},
    )
    r.call(
        "signup: bad name",
        None,
        "/auth/signup",
        signup_body | {"email": "c@example.com", "display_name": " "},
    )
    r.call("signup: not JSON", None, "/auth/signup", "[")
    r.call("signup: field missing", None, "/auth/signup", {"email": "d@example.com"})
    person = signup(url, name="Person")
    r.call("login", None, "/auth/login", {"email": person.email, "password": person.password})
    r.call(
        "login: wrong password", None, "/auth/login", {"email": person.email, "password": "wrong password!"}
    )
    r.call("session", person, "/auth/session", method="GET")
    r.call("session: signed out", None, "/auth/session", method="GET")
    r.call("resend verification", person, "/auth/verify-email/resend")
    r.call("resend verification: signed out", None, "/auth/verify-email/resend")
    r.call("verify: bad token", None, "/auth/verify-email", {"token": "nope"})
    token = mailed_token(db, person.email, "mail.email_verification")
    r.call("verify", None, "/auth/verify-email", {"token": token})
    r.call("resend verification: verified", person, "/auth/verify-email/resend")
    r.call(
        "password: wrong",
        person,
        "/auth/password",
        {"current_password": "nope", "new_password": "another horse battery"},
    )
    r.call(
        "password: weak", person, "/auth/password", {"current_password": person.password, "new_password": "x"}
    )
    r.call("password: signed out", None, "/auth/password", {"current_password": "a", "new_password": "b"})
    r.call(
        "password",
        person,
        "/auth/password",
        {"current_password": person.password, "new_password": "another horse battery"},
    )
    r.call("reset", None, "/auth/password-reset", {"email": person.email})
    reset = mailed_token(db, person.email, "mail.password_reset")
    r.call(
        "reset confirm: bad token",
        None,
        "/auth/password-reset/confirm",
        {"token": "nope", "new_password": "third horse battery"},
    )
    r.call("reset confirm: weak", None, "/auth/password-reset/confirm", {"token": reset, "new_password": "x"})
    r.call(
        "reset confirm",
        None,
        "/auth/password-reset/confirm",
        {"token": reset, "new_password": "third horse battery"},
    )
    other = signup(url, name="Other")
    r.call("logout-all", other, "/auth/logout-all")
    r.call("logout-all: signed out", None, "/auth/logout-all")
    r.call("logout", None, "/auth/logout")


def typescript_assertions(answers: list[tuple[str, str, Reply]], client: str) -> str:
    types = {path: (result, codes) for result, codes, path in CALL_TYPES.findall(client)}
    lines = [PRELUDE]
    for index, (label, path, reply) in enumerate(answers):
        route = path.split("?", 1)[0]
        assert route in types, f"{label}: the client has no call for {route}"
        result, codes = types[route]
        body = reply.json() if reply.body else None
        if 200 <= reply.status < 300:
            shape = "Wire<" + re.sub(r"\b([A-Z]\w*)", r"G.\1", result) + ">"
        else:
            shape = f"ErrorShape<G.{codes}>"
        # One line each, so that tsc's error names the answer's label.
        lines.append(f"// {label}: {reply.status} {route}")
        lines.append(f"export const answer{index} = {json.dumps(body)} satisfies {shape};")
    return "\n".join(lines) + "\n"


def compile_answers(work: Path, source: str) -> subprocess.CompletedProcess[str]:
    if not TSC.exists() or shutil.which("node") is None:
        pytest.fail("TypeScript or node is missing: run ./dev (it installs TypeScript into .tools/)")
    shutil.copy(CLIENT, work / "generated.ts")
    (work / "answers.ts").write_text(source)
    options = [
        "--strict",
        "--noEmit",
        "--target",
        "ES2022",
        "--module",
        "ES2022",
        "--moduleResolution",
        "Bundler",
    ]
    options += ["--skipDefaultLibCheck", "--lib", "ES2022,DOM"]
    return subprocess.run(
        ["node", str(TSC), *options, str(work / "answers.ts")], capture_output=True, text=True, check=False
    )


@pytest.mark.stack
def test_every_answer_fits_the_clients_type(world: World, tmp_path: Path) -> None:
    recorder = Recorder(world.stack)
    organization_flow(world, recorder)
    auth_flow(world, recorder)
    source = typescript_assertions(recorder.answers, CLIENT.read_text())
    compiled = compile_answers(tmp_path, source)
    numbered = "\n".join(f"{n + 1}: {line}" for n, line in enumerate(source.splitlines()))
    assert compiled.returncode == 0, compiled.stdout + compiled.stderr + "\n" + numbered


def fits(value: object, hint: Any) -> bool:
    """Whether `value` is of the type `hint` (as the wrappers' annotations write them)."""
    if hint is Any or isinstance(hint, ForwardRef):  # JsonValue, which refers to itself
        return _is_json(value)
    if hint is None or hint is type(None):
        return value is None
    if isinstance(hint, NewType):
        return fits(value, hint.__supertype__)
    origin, args = get_origin(hint), get_args(hint)
    if origin in (Union, UnionType):
        return any(fits(value, arg) for arg in args)
    if origin is Literal:
        return value in args
    if origin is list:
        return isinstance(value, list) and all(fits(item, args[0]) for item in value)
    if origin is dict:
        return isinstance(value, dict) and all(
            fits(k, args[0]) and fits(v, args[1]) for k, v in value.items()
        )
    if isinstance(hint, type) and is_dataclass(hint):
        hints = get_type_hints(hint, vars(generated))
        return isinstance(value, hint) and all(fits(getattr(value, name), hints[name]) for name in hints)
    if hint is int:
        return isinstance(value, int) and not isinstance(value, bool)
    if hint is datetime:
        return isinstance(value, datetime) and value.tzinfo is not None
    return isinstance(value, hint)


def _is_json(value: object) -> bool:
    if isinstance(value, dict):
        return all(isinstance(key, str) and _is_json(item) for key, item in value.items())
    if isinstance(value, list):
        return all(_is_json(item) for item in value)
    return value is None or isinstance(value, str | int | float | bool)


@dataclass
class WrapperCalls:
    """Calls the api wrappers (blossom_db.generated) as a user, each in a transaction of its
    own that is committed, and checks each result against the wrapper's return annotation."""

    conn: psycopg.Connection[Any]
    called: set[str] = field(default_factory=set)

    def __call__(self, caller: str, function: str, /, **args: Any) -> Any:
        wrapper = getattr(generated, f"api_{function}")
        with self.conn.transaction():
            become(self.conn, caller)
            result = wrapper(self.conn, **args)
        expected = get_type_hints(wrapper, vars(generated))["return"]
        assert fits(result, expected), f"api_{function} returned {result!r}, typed {expected}"
        self.called.add(function)
        return result


def test_every_api_wrapper_returns_what_it_is_typed(database_url: str) -> None:
    with (
        psycopg.connect(database_url, autocommit=True) as db,
        psycopg.connect(database_url, autocommit=True) as conn,
    ):
        owner, admin, member, guest = (make_user(db, name) for name in ("Ann", "Bo", "Cy", "Di"))
        call = WrapperCalls(conn)
        call(owner, "list_organizations")
        org_id = call(owner, "create_organization", name="Acme").id
        call(owner, "list_invitations", org_id=org_id)
        call(owner, "list_invitations", org_id=org_id, before=None)
        call(owner, "list_audit_events", org_id=org_id, before=None)
        call(owner, "get_ai_usage", org_id=org_id)
        for user_id, role in ((admin, "admin"), (member, "member")):
            call(owner, "invite_member", org_id=org_id, email=email_of(db, user_id), role=role)
            call(user_id, "accept_invitation", token=mailed_token(database_url, email_of(db, user_id)))
        invitation = call(admin, "invite_member", org_id=org_id, email=email_of(db, guest), role="member")
        call(owner, "revoke_invitation", invitation_id=invitation.id)
        call(owner, "invite_member", org_id=org_id, email=email_of(db, guest), role="member")
        call(guest, "decline_invitation", token=mailed_token(database_url, email_of(db, guest)))
        call(owner, "change_member_role", org_id=org_id, user_id=member, role="admin")
        call(owner, "change_member_role", org_id=org_id, user_id=member, role="member")
        call(admin, "update_organization", org_id=org_id, name="Acme Two")
        call(member, "update_profile", display_name="  Cy  ")
        call(member, "me")
        call(member, "get_organization", org_id=org_id)
        call(member, "list_members", org_id=org_id, after=None)
        db.execute(
            "insert into app.slack_connections (org_id, team_id, team_name, channel, bot_token_key_id,"
            " bot_token_sealed, connected_by) values (%s, 'T1', 'Acme', 'C1', 'k1', %s, %s)",
            (org_id, bytes(40), admin),
        )
        call(owner, "change_member_role", org_id=org_id, user_id=admin, role="member")  # breaks Slack
        call(member, "get_slack_connection", org_id=org_id)
        call(owner, "transfer_ownership", org_id=org_id, user_id=member)
        call(admin, "leave_organization", org_id=org_id)
        call(owner, "invite_member", org_id=org_id, email=email_of(db, guest), role="member")
        call(guest, "accept_invitation", token=mailed_token(database_url, email_of(db, guest)))
        call(owner, "remove_member", org_id=org_id, user_id=guest)
        call(owner, "invite_member", org_id=org_id, email="later@example.com", role="member")
        db.execute("delete from app.users where id = %s", (owner,))  # in the trail, as a sender
        call(member, "list_audit_events", org_id=org_id)
        call(member, "list_invitations", org_id=org_id)  # its invitation revoked with its sender
        call(member, "delete_organization", org_id=org_id)
    assert set(generated.API_FUNCTIONS) <= call.called, (
        f"call {sorted(generated.API_FUNCTIONS - call.called)} too"
    )
