"""A call's arguments are checked by the edge against its function's (edge/proxy.py,
check_arguments, from blossom_db.generated.API_CALL_ARGUMENTS): an unknown or missing argument,
or a JSON object where the function takes a scalar, is a 400 edge.invalid_arguments that names
them, and changes nothing. PostgREST answered the first two 404 PGRST202 ("no such function")
and passed an object's text for the third."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from tests.support.auth_client import Account, signup
from tests.support.http import Reply, request
from tests.support.stack import Stack, make_stack

# A function this edge's table does not know, as one added by a later migration would be.
NEWER_FUNCTION_SQL = """
create function api.added_later(n integer) returns integer language sql immutable as $$ select n $$;
grant execute on function api.added_later(integer) to web_anon, authenticated;
"""


@pytest.fixture(scope="module")
def arguments_stack(
    pg_server: str, template_database: str, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Stack]:
    logs = tmp_path_factory.mktemp("arguments")
    with make_stack(pg_server, template_database, logs, NEWER_FUNCTION_SQL) as running:
        yield running


@pytest.fixture(scope="module")
def account(arguments_stack: Stack) -> Account:
    return signup(arguments_stack.edge_url)


def rpc(stack: Stack, account: Account, function: str, body: Any) -> Reply:
    headers = {"Origin": stack.edge_url} | account.cookie
    return request(stack.edge_url, "POST", f"/rpc/{function}", json_body=body, headers=headers)


def refusal(reply: Reply) -> dict[str, Any]:
    assert reply.status == 400, reply.body
    answer = reply.json()
    assert answer["code"] == "edge.invalid_arguments", answer
    details: dict[str, Any] = answer["details"]
    return details


def organization_names(stack: Stack, account: Account) -> list[str]:
    listed = request(stack.edge_url, "GET", "/rpc/list_organizations", headers=account.cookie)
    assert listed.status == 200, listed.body
    return [org["name"] for org in listed.json()]


@pytest.mark.parametrize(
    ("body", "unknown", "missing", "not_scalar"),
    [
        ({"nme": "Acme"}, ["nme"], ["name"], []),
        ({}, [], ["name"], []),
        ({"name": "Acme", "slug": "acme"}, ["slug"], [], []),
        ({"name": {"text": "Acme"}}, [], [], ["name"]),
        ({"name": ["Acme"]}, [], [], ["name"]),
    ],
)
def test_a_call_with_wrong_arguments_is_refused_naming_them_and_changes_nothing(
    arguments_stack: Stack,
    account: Account,
    body: dict[str, Any],
    unknown: list[str],
    missing: list[str],
    not_scalar: list[str],
) -> None:
    details = refusal(rpc(arguments_stack, account, "create_organization", body))
    assert details == {"unknown": unknown, "missing": missing, "not_scalar": not_scalar}
    assert organization_names(arguments_stack, account) == []


def test_the_message_says_what_the_function_takes(arguments_stack: Stack, account: Account) -> None:
    reply = rpc(arguments_stack, account, "list_audit_events", {"org": "org_x"})
    refusal(reply)
    assert reply.json()["message"] == (
        "list_audit_events takes org_id (and optionally before, limit); unknown: org; missing: org_id."
    )


def test_optional_arguments_may_be_left_out_or_given(arguments_stack: Stack, account: Account) -> None:
    made = rpc(arguments_stack, account, "create_organization", {"name": "Optional Ltd"})
    assert made.status == 200, made.body
    org_id = made.json()["id"]
    for body in ({"org_id": org_id}, {"org_id": org_id, "limit": 5}, {"org_id": org_id, "before": None}):
        reply = rpc(arguments_stack, account, "list_audit_events", body)
        assert reply.status == 200, (body, reply.body)


def test_a_get_checks_what_is_missing_and_leaves_filters_to_postgrest(
    arguments_stack: Stack, account: Account
) -> None:
    edge = arguments_stack.edge_url
    made = rpc(arguments_stack, account, "create_organization", {"name": "Filtered Ltd"})
    org_id = made.json()["id"]
    missing = request(edge, "GET", "/rpc/list_members?role=eq.owner", headers=account.cookie)
    assert refusal(missing) == {"unknown": [], "missing": ["org_id"], "not_scalar": []}
    filtered = request(
        edge, "GET", f"/rpc/list_members?org_id={org_id}&role=eq.admin", headers=account.cookie
    )
    assert (filtered.status, filtered.json()) == (200, [])


def test_a_function_the_edge_does_not_know_is_left_to_postgrest(
    arguments_stack: Stack, account: Account
) -> None:
    assert rpc(arguments_stack, account, "added_later", {"n": 7}).json() == 7
    # PostgREST's own answer to arguments the function does not take.
    reply = rpc(arguments_stack, account, "added_later", {"m": 7})
    assert (reply.status, reply.json()["code"]) == (404, "PGRST202")
