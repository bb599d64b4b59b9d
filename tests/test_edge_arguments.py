"""A call is checked by the edge against its function (edge/proxy.py, from
blossom_db.generated.API_CALL_ARGUMENTS): an unknown or missing argument, or a JSON object where
the function takes a scalar, is a 400 edge.invalid_arguments that names them, and changes
nothing (PostgREST answered the first two 404 PGRST202, "no such function", and passed an
object's text for the third); a GET of a function that writes is a 405, an Accept without JSON
a 406, and OPTIONS is answered by the edge."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from typing import Any
from urllib.parse import quote, urlencode

import psycopg
import pytest

from blossom_db.runtime import CallArguments, ScalarKind
from edge.errors import Refused
from edge.proxy import check_arguments, check_body
from tests.support.auth_client import Account, signup
from tests.support.http import Reply, raw_exchange, request
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


def rpc(
    stack: Stack, account: Account, function: str, body: Any, headers: dict[str, str] | None = None
) -> Reply:
    sent = {"Origin": stack.edge_url} | account.cookie | (headers or {})
    return request(stack.edge_url, "POST", f"/rpc/{function}", json_body=body, headers=sent)


def rpc_raw(stack: Stack, account: Account, function: str, body: str) -> Reply:
    headers = {"Origin": stack.edge_url, "Content-Type": "application/json"} | account.cookie
    return request(stack.edge_url, "POST", f"/rpc/{function}", body=body.encode(), headers=headers)


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
    ("body", "unknown", "missing", "not_scalar", "wrong_type"),
    [
        ('{"nme": "Acme"}', ["nme"], ["name"], [], []),
        ("{}", [], ["name"], [], []),
        ('{"name": "Acme", "slug": "acme"}', ["slug"], [], [], []),
        ('{"name": {"text": "Acme"}}', [], [], ["name"], []),
        ('{"name": ["Acme"]}', [], [], ["name"], []),
        # PostgREST passed a number's or a boolean's text ("123", "true"), and answered a NUL or
        # a lone surrogate with Postgres's 22P05 or a misleading PGRST102 "invalid json".
        ('{"name": 123}', [], [], [], ["name"]),
        ('{"name": 1e1000000000}', [], [], [], ["name"]),
        ('{"name": true}', [], [], [], ["name"]),
        ('{"name": "\\u0000x"}', [], [], [], ["name"]),
        ('{"name": "a\\ud800b"}', [], [], [], ["name"]),
        ('{"name": 1, "slug": 2}', ["slug"], [], [], ["name"]),
    ],
)
def test_a_call_with_wrong_arguments_is_refused_naming_them_and_changes_nothing(
    arguments_stack: Stack,
    account: Account,
    body: str,
    unknown: list[str],
    missing: list[str],
    not_scalar: list[str],
    wrong_type: list[str],
) -> None:
    before = organization_names(arguments_stack, account)
    details = refusal(rpc_raw(arguments_stack, account, "create_organization", body))
    assert details == {
        "unknown": unknown,
        "missing": missing,
        "not_scalar": not_scalar,
        "wrong_type": wrong_type,
    }
    assert organization_names(arguments_stack, account) == before


@pytest.mark.parametrize(
    ("limit", "accepted"),
    [
        ("5", True),
        ("null", True),
        ("-1", True),  # of its type: the function's own rule refuses it (422 audit.invalid_limit)
        ('"5"', True),  # a JSON string of an integer, as Postgres reads it
        ('"abc"', False),
        ('"10000000000"', False),
        ("1.5", False),
        ("5.0", False),
        ("true", False),
        ("10000000000", False),
        ("1" + "0" * 5000, False),
    ],
)
def test_an_integer_argument_takes_an_integer_of_its_range(
    arguments_stack: Stack, parity_org: tuple[Account, str], limit: str, accepted: bool
) -> None:
    """PostgREST answered Postgres's own 22P02 or 22003 (even to a caller not signed in: the
    cast comes before the function), where the function's code was due."""
    owner, org_id = parity_org
    reply = rpc_raw(
        arguments_stack, owner, "list_audit_events", f'{{"org_id": "{org_id}", "limit": {limit}}}'
    )
    if accepted:
        assert reply.status in (200, 422), reply.body
    else:
        assert refusal(reply)["wrong_type"] == ["limit"]
        assert "limit (an integer" in reply.json()["message"]


def test_a_get_argument_is_checked_for_its_type_as_well(
    arguments_stack: Stack, parity_org: tuple[Account, str]
) -> None:
    """A query's values are all text: a NUL (%00) is none that Postgres takes."""
    owner, org_id = parity_org
    reply = request(
        arguments_stack.edge_url, "GET", f"/rpc/list_members?org_id={org_id}%00", headers=owner.cookie
    )
    assert refusal(reply)["wrong_type"] == ["org_id"]
    reply = request(
        arguments_stack.edge_url, "GET", f"/rpc/list_members?org_id={org_id}", headers=owner.cookie
    )
    assert reply.status == 200, reply.body


# In a query every value is text: what Postgres's own input functions take, for each kind.
QUERY_SCALARS = CallArguments(
    required=("small", "whole", "big", "fraction", "flag"),
    scalars={"small": "int2", "whole": "int4", "big": "int8", "fraction": "numeric", "flag": "boolean"},
)


@pytest.mark.parametrize(
    ("name", "value", "fits"),
    [
        ("whole", "5", True),
        ("whole", "-2147483648", True),
        ("whole", "+7", True),
        ("whole", "2147483648", False),
        ("whole", "abc", False),
        ("whole", "1.5", False),
        ("whole", "", False),
        ("whole", " 5\n", True),
        ("whole", "\x1f5", False),  # not whitespace to Postgres (nor to int())
        ("whole", "\u00a05", False),
        ("whole", "\u0665", False),
        ("fraction", "\u0665", False),
        ("fraction", "1_000", False),
        ("fraction", " .5e-3 ", True),
        ("fraction", "NaN", True),
        ("flag", "\u00a0yes", False),
        ("flag", " yes ", True),
        ("small", "32767", True),
        ("small", "32768", False),
        ("big", "9223372036854775807", True),
        ("big", "9223372036854775808", False),
        ("big", "1" + "0" * 5000, False),
        ("fraction", "1.5", True),
        ("fraction", "-3e5", True),
        ("fraction", "abc", False),
        ("flag", "true", True),
        ("flag", "OFF", True),
        ("flag", "0", True),
        ("flag", "maybe", False),
    ],
)
def test_a_query_value_fits_its_argument_as_postgres_reads_it(name: str, value: str, fits: bool) -> None:
    given = {key: "1" for key in QUERY_SCALARS.required} | {name: value}
    if fits:
        check_arguments(QUERY_SCALARS, "probe", given, from_query=True)
    else:
        with pytest.raises(Refused):
            check_arguments(QUERY_SCALARS, "probe", given, from_query=True)


# Numbers as a caller may write them: in a query, the text; in a body, a JSON string of the text,
# and a JSON number where the text is one.
NUMBER_TEXTS = (
    "5", "-5", "+7", "-0", " 5\n", "000000000000000000000000005", "1.5", "1e3", "1E+2", "-3e-5",
    "32767", "32768", "-32769", "2147483647", "2147483648", "9223372036854775807",
    "9223372036854775808", "-9223372036854775808", "-9223372036854775809", "1" + "0" * 5000,
    "abc", "", " ", ".", "0.", ".5", "1e", "e5", "1.2.3", "0x10", "1_000", "\u0665", "\u00a05",
    "NaN", "nan", "+NaN", "-nan", "Infinity", "-Infinity", "+inf", "INF", "infinite",
    "1e131071", "9.99e131071", "1e131072", "1e-16383", "1e-16384", "0e-20000", "0e999999999",
    "0.0001e-16379", "1e2147483647", "1e-00000000000000000003", "1e00000000000000000000000003",
    "1e 5", "1E\t-3", "1e+ 5", "1 e5",
    "4294967295", "4294967296", "-2147483648", "-2147483649",
    "3.4028235e38", "3.4028236e38", "1e39", "1.4e-45", "7e-46", "1e-46", "0.0e-999",
    "1e308", "1.8e308", "4.9e-324", "2e-324", "1e-400", "0x10", "0X1.8p1", "0x1p-200", "0x1p-1100",
    "0x1p2000", "0x", "0x.p1", "1p3", "nan(123)", "nan()", "nan(1.2)", "infinity", "-inf", "1.", "5e", "1e+",
    # real's edges, where a double rounded again to a real rounds otherwise than the text itself:
    # FLT_MAX and half its last place, and half the least subnormal, each a hair either side.
    "3.4028235677973366e38", "3.40282356779733661637539395458142568447e38",
    "3.40282356779733661637539395458142568448e38", "3.40282356779733661637539395458142568449e38",
    "7.006492321624086e-46", "7.0064923216240853546186479164495806564013097093825788587853414970e-46",
    "7.0064923216240853546186479164495806564013097093825788587853414971e-46",
    "0x1.fffffefffffffffp127", "0x1.fffffep127", "0x1.ffffffp127", "0x1.ffffff000000001p127",
    "0x1.00000000000000001p-150", "0x1p-150", "0x0.8p-149", "-0x1.00000000000000001p-150",
    # oidin reads with strtoul: a negative text is the unsigned long of its bits.
    "18446744073709551615", "18446744071562067968", "18446744071562067967", "18446744073709551616",
    "-18446744073709551615", "-18446744069414584321", "-18446744069414584320", "-4294967295",
)  # fmt: skip
SQL_TYPES: dict[ScalarKind, str] = {
    "int2": "smallint",
    "int4": "integer",
    "int8": "bigint",
    "oid": "oid",
    "numeric": "numeric",
    "float4": "real",
    "float8": "double precision",
}


def _postgres_takes(conn: psycopg.Connection, body: str, sql_type: str) -> bool:
    """Whether Postgres reads the body's argument as the type, as PostgREST passes it (the JSON
    object's field as a column of json_to_record)."""
    try:
        conn.execute(f"select x from json_to_record(%s::json) as r(x {sql_type})", [body]).fetchall()
    except psycopg.DataError:
        conn.rollback()
        return False
    conn.rollback()
    return True


def _edge_takes(kind: ScalarKind, arguments: dict[str, Any], from_query: bool) -> bool:
    try:
        expected = CallArguments(required=("x",), scalars={"x": kind})
        check_arguments(expected, "probe", arguments, from_query=from_query)
    except Refused:
        return False
    return True


@pytest.mark.parametrize("kind", list(SQL_TYPES))
def test_a_number_fits_its_argument_exactly_when_postgres_reads_it(pg_server: str, kind: ScalarKind) -> None:
    """The edge takes the numbers Postgres takes, as a query's text, a JSON number or a JSON
    string (bigint and numeric come as strings from the generated TypeScript client, which a
    JavaScript number cannot carry exactly), and refuses the others with edge.invalid_arguments,
    where PostgREST answered Postgres's own 22P02 or 22003."""
    disagreements = []
    with psycopg.connect(pg_server) as conn:
        for text in NUMBER_TEXTS:
            bodies = [json.dumps({"x": text})]
            if not text.startswith(("+", " ", ".")) and text.lstrip("-")[:1].isdigit() and _is_json(text):
                bodies.append(f'{{"x": {text}}}')
            for body in bodies:
                arguments = check_body(body.encode())
                edge = _edge_takes(kind, arguments, from_query=False)
                if edge != _postgres_takes(conn, body, SQL_TYPES[kind]):
                    disagreements.append(f"body {body[:60]}: the edge {'takes' if edge else 'refuses'} it")
            as_text = json.dumps({"x": text})
            edge = _edge_takes(kind, {"x": text}, from_query=True)
            if edge != _postgres_takes(conn, as_text, SQL_TYPES[kind]):
                disagreements.append(f"query {text[:60]!r}: the edge {'takes' if edge else 'refuses'} it")
    assert disagreements == []


BOOLEAN_TEXTS = (
    "t", "tr", "tru", "true", "TRUE", "truer", "y", "ye", "yes", "yess", "n", "no", "nope",
    "f", "fa", "fals", "false", "on", "ON", "o", "of", "off", "offf", "1", "0", "01", "2",
    " yes ", "\tno\n", "\u00a0yes", "", " ", "maybe",
)  # fmt: skip


def test_a_boolean_in_a_query_fits_exactly_when_postgres_reads_it(pg_server: str) -> None:
    """boolin's words and their unique prefixes ("tru", "of"), any case, spaces around."""
    disagreements = []
    with psycopg.connect(pg_server) as conn:
        for text in BOOLEAN_TEXTS:
            edge = _edge_takes("boolean", {"x": text}, from_query=True)
            if edge != _postgres_takes(conn, json.dumps({"x": text}), "boolean"):
                disagreements.append(f"query {text!r}: the edge {'takes' if edge else 'refuses'} it")
    assert disagreements == []


# Texts that fail at their very end, after a long run of digits or spaces (a body holds 64 KiB).
LONG_NOT_NUMBERS = (
    "1" * 20_000 + "x",
    "0x" + "a" * 20_000 + "x",
    " " * 20_000 + "x",
    "." + "1" * 20_000 + "x",
)


@pytest.mark.parametrize("kind", ["numeric", "float4", "float8", "int8"])
@pytest.mark.parametrize("text", LONG_NOT_NUMBERS, ids=["digits", "hex", "spaces", "fraction"])
def test_a_long_text_that_is_no_number_is_refused_at_once(kind: ScalarKind, text: str) -> None:
    """A number's text is read in time that grows with its length, not its square: each pattern
    matches a text in one way only. (A run of 65,000 digits and an `x` as a float argument, a
    JSON string of a body the edge takes, held the edge's event loop for minutes.)"""
    started = time.perf_counter()
    assert not _edge_takes(kind, {"x": text}, from_query=False)
    assert not _edge_takes(kind, {"x": text}, from_query=True)
    # Whether it ends at all, not how fast: a few milliseconds now, about 13 s before (the square
    # of 20,000), so no machine's speed decides the outcome. bench/ holds what is measured.
    assert time.perf_counter() - started < 5


def _is_json(text: str) -> bool:
    try:
        json.loads(text)
    except ValueError:
        return False
    return True


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


def test_a_body_that_is_json_but_no_object_holds_no_argument(
    arguments_stack: Stack, account: Account
) -> None:
    """PostgREST calls the function without arguments for these."""
    for body in ("null", "1", '"Acme"', "true", ""):
        reply = rpc_raw(arguments_stack, account, "create_organization", body)
        assert refusal(reply)["missing"] == ["name"], body


def test_what_python_parses_only_with_care_is_still_checked(arguments_stack: Stack, account: Account) -> None:
    """A 5,000-digit integer is JSON (int() refuses it); nesting 1,500 deep is refused."""
    before = organization_names(arguments_stack, account)
    huge = "1" + "0" * 5000
    reply = rpc_raw(arguments_stack, account, "create_organization", f'{{"nme": {huge}}}')
    assert refusal(reply)["unknown"] == ["nme"]
    reply = rpc_raw(arguments_stack, account, "create_organization", f'{{"name": {{"a": {huge}}}}}')
    assert refusal(reply)["not_scalar"] == ["name"]
    deep = '{"name": ' + "[" * 1500 + "]" * 1500 + "}"
    reply = rpc_raw(arguments_stack, account, "create_organization", deep)
    assert (reply.status, reply.json()["code"]) == (400, "edge.bad_request")
    assert organization_names(arguments_stack, account) == before


@pytest.mark.parametrize(
    "body",
    [
        b" \n",  # spaces alone: only an empty body holds no argument
        b'{"name": "Not JSON Ltd"',  # cut short
        b'{"name": "Not JSON Ltd"} x',  # something after the object
        b'{"name": NaN}',
        b'{"name": "Not JSON \xff Ltd"}',  # not UTF-8
        b'\xef\xbb\xbf{"name": "Not JSON Ltd"}',  # a byte order mark, which JSON text has none of
        '{"name": "Not JSON Ltd"}'.encode("utf-16"),
    ],
)
def test_a_body_that_is_not_json_is_the_edges_bad_request_and_changes_nothing(
    arguments_stack: Stack, account: Account, body: bytes
) -> None:
    """PostgREST answered these with its own PGRST102, a code no API document lists and the
    generated client reads as client.unexpected; and the edge had checked the arguments of the
    last two, which Python reads and PostgREST does not."""
    before = organization_names(arguments_stack, account)
    headers = {"Origin": arguments_stack.edge_url, "Content-Type": "application/json"} | account.cookie
    reply = request(arguments_stack.edge_url, "POST", "/rpc/create_organization", body=body, headers=headers)
    assert (reply.status, reply.json()["code"]) == (400, "edge.bad_request"), reply.body
    assert organization_names(arguments_stack, account) == before


@pytest.mark.parametrize(
    "body",
    [
        '{"name": "\\u0000", "name": "Twice Ltd"}',  # Postgres read the NUL: its own 22P05
        '{"name": "a\\ud800b", "name": "Twice Ltd"}',  # PostgREST's PGRST102
        '{"name": "Twice Ltd", "name": "Twice Ltd"}',
    ],
)
def test_an_argument_given_twice_is_a_bad_request_and_changes_nothing(
    arguments_stack: Stack, account: Account, body: str
) -> None:
    """The edge checked the last value only, while Postgres reads every one of them."""
    before = organization_names(arguments_stack, account)
    reply = rpc_raw(arguments_stack, account, "create_organization", body)
    assert (reply.status, reply.json()["code"]) == (400, "edge.bad_request"), reply.body
    assert "name" in reply.json()["message"]
    assert organization_names(arguments_stack, account) == before


@pytest.mark.parametrize(
    "content_type",
    ["APPLICATION/JSON", "Application/Json; charset=utf-8", 'application/json ; charset="UTF-8"'],
)
def test_json_by_any_spelling_the_edge_takes_is_a_call(
    arguments_stack: Stack, account: Account, content_type: str
) -> None:
    """The edge's CSRF check takes a media type in any case, as RFC 9110 has it, with
    parameters; PostgREST refused these with its PGRST102, "Content-Type not acceptable"."""
    headers = {"Origin": arguments_stack.edge_url, "Content-Type": content_type} | account.cookie
    reply = request(arguments_stack.edge_url, "POST", "/rpc/list_organizations", body=b"{}", headers=headers)
    assert reply.status == 200, reply.body


def test_a_name_that_is_not_unicode_text_is_a_bad_request(arguments_stack: Stack, account: Account) -> None:
    reply = rpc_raw(arguments_stack, account, "create_organization", '{"\\ud800": 1}')
    assert (reply.status, reply.json()["code"]) == (400, "edge.bad_request")


def test_options_is_no_call_and_says_which_methods_call(arguments_stack: Stack) -> None:
    """Answered by the edge, whose table knows the function: PostgREST answered 404 PGRST202 for
    one with arguments, as if there were none, and sent its own CORS headers."""
    edge = arguments_stack.edge_url
    for function, allowed in (
        ("create_organization", "POST, OPTIONS"),
        ("list_members", "GET, HEAD, POST, OPTIONS"),
    ):
        reply = request(edge, "OPTIONS", f"/rpc/{function}")
        assert (reply.status, reply.header("allow")) == (204, allowed), reply.body
        assert not [name for name, _ in reply.headers if name.lower().startswith("access-control-")]


def test_a_get_calls_only_a_function_that_only_reads(arguments_stack: Stack, account: Account) -> None:
    """PostgREST runs a GET read-only: a function that writes ran up to its first write and
    answered 405 with Postgres's code 25006, or 403, 404 or 409 on the way there, and 200 when
    that call happened to write nothing. The edge answers 405 at once, with Allow."""
    edge = arguments_stack.edge_url
    before = organization_names(arguments_stack, account)
    for method in ("GET", "HEAD"):
        reply = request(edge, method, "/rpc/create_organization?name=Got", headers=account.cookie)
        assert (reply.status, reply.header("allow")) == (405, "POST, OPTIONS"), reply.body
        if method == "GET":
            assert reply.json()["code"] == "edge.method_not_allowed"
    assert organization_names(arguments_stack, account) == before
    assert request(edge, "GET", "/rpc/list_organizations", headers=account.cookie).status == 200


@pytest.mark.parametrize(
    ("accept", "status"),
    [
        (None, 200),
        ("application/json", 200),
        ("*/*", 200),
        ("application/*", 200),
        ("text/html, application/json;q=0.9", 200),
        ("Application/JSON; charset=utf-8", 200),
        ("text/csv", 406),
        ("application/vnd.pgrst.object+json", 406),
        ("application/octet-stream", 406),
        ("text/plain", 406),
        ("application/json;q=0, text/csv", 406),
    ],
)
def test_an_answer_is_json_or_not_at_all(
    arguments_stack: Stack, account: Account, accept: str | None, status: int
) -> None:
    """PostgREST answered Accept: text/csv with the members as CSV (emails, and names their
    owners typed, a CSV injection away from a spreadsheet), and vnd.pgrst.object+json with
    another shape than the clients read."""
    headers = account.cookie | ({"Accept": accept} if accept is not None else {})
    reply = request(arguments_stack.edge_url, "GET", "/rpc/list_organizations", headers=headers)
    assert reply.status == status, reply.body
    assert (reply.header("content-type") or "").startswith("application/json")
    if status == 406:
        assert reply.json()["code"] == "edge.not_acceptable"
    else:
        assert isinstance(reply.json(), list)


def test_accept_headers_are_read_as_one_list(arguments_stack: Stack, account: Account) -> None:
    """RFC 9110, section 5.3: two Accept lines are one list, which admits JSON if either does."""
    cookie = account.cookie["Cookie"]
    for lines in (
        ["application/json", "text/csv"],
        ["text/csv", "application/json"],
        ["text/csv", "text/html"],
    ):
        head = (
            f"GET /rpc/list_organizations HTTP/1.1\r\nHost: edge\r\nConnection: close\r\nCookie: {cookie}\r\n"
        )
        head += "".join(f"Accept: {line}\r\n" for line in lines)
        answer = raw_exchange(arguments_stack.edge_url, (head + "\r\n").encode())
        status = int(answer.split(b" ", 2)[1])
        assert status == (406 if lines == ["text/csv", "text/html"] else 200), answer[:300]


@pytest.mark.parametrize("method", ["PUT", "PATCH", "DELETE"])
def test_another_method_is_told_the_methods_that_call_the_function(
    arguments_stack: Stack, method: str
) -> None:
    edge = arguments_stack.edge_url
    for function, allowed in (
        ("create_organization", "POST, OPTIONS"),
        ("list_members", "GET, HEAD, POST, OPTIONS"),
    ):
        reply = request(edge, method, f"/rpc/{function}")
        assert (reply.status, reply.header("allow")) == (405, allowed), reply.body
        assert reply.json()["code"] == "edge.method_not_allowed"


def test_a_call_that_asks_for_no_json_changes_nothing(arguments_stack: Stack, account: Account) -> None:
    before = organization_names(arguments_stack, account)
    reply = rpc(arguments_stack, account, "create_organization", {"name": "Csv"}, {"Accept": "text/csv"})
    assert (reply.status, reply.json()["code"]) == (406, "edge.not_acceptable")
    assert organization_names(arguments_stack, account) == before


def test_a_get_checks_its_arguments_and_refuses_filters(arguments_stack: Stack, account: Account) -> None:
    """A call's query holds its arguments, nothing else: a filter on the function's rows was
    PostgREST's, unchecked by the function, answered with Postgres's own errors (22P02 naming
    an internal type), and `match` ran a regular expression of the caller's on every row, which
    a backreference pattern of 180 bytes kept busy for minutes, each on one of PostgREST's ten
    connections: ten calls stopped the API for every tenant."""
    edge, cookie = arguments_stack.edge_url, account.cookie
    org_id = rpc(arguments_stack, account, "create_organization", {"name": "Filtered Ltd"}).json()["id"]
    backtracking = "match.^" + "(.*)" * 12 + "".join(f"\\{group}" for group in range(12, 0, -1)) + "$"
    for query in (
        f"org_id={org_id}&role=eq.admin",
        f"org_id={org_id}&user_id={quote(backtracking)}",
        f"org_id=eq.{org_id}",
        f"org_id={org_id}&role=not.in.(owner)",
        f"org_id={org_id}&a.b=1",
    ):
        refused = request(edge, "GET", f"/rpc/list_members?{query}", headers=cookie, timeout=5)
        assert (refused.status, refused.json()["code"]) == (400, "edge.bad_request"), (query, refused.body)
        assert "filter" in refused.json()["message"]
    posted = request(
        edge, "POST", "/rpc/list_members?role=eq.owner", headers=cookie, json_body={"org_id": org_id}
    )
    assert (posted.status, posted.json()["code"]) == (400, "edge.bad_request")
    unknown = request(edge, "GET", f"/rpc/list_members?org_id={org_id}&role=owner", headers=cookie)
    assert refusal(unknown)["unknown"] == ["role"]
    listed = request(edge, "GET", f"/rpc/list_members?org_id={org_id}", headers=cookie)
    assert (listed.status, len(listed.json())) == (200, 1)


def test_a_query_name_without_a_value_is_refused(arguments_stack: Stack, account: Account) -> None:
    """PostgREST passes over a name without `=` (`?org_id=…&x`), and so did the edge: a name
    the function does not take was answered 200 as if it were not there (one with `=` is a 400
    that names it), and a name it does take was a call without it."""
    edge, cookie = arguments_stack.edge_url, account.cookie
    org_id = rpc(arguments_stack, account, "create_organization", {"name": "Bare Names"}).json()["id"]
    for query in (f"org_id={org_id}&x", f"org_id={org_id}&before;zzz", f"org_id={org_id}&role", "org_id"):
        refused = request(edge, "GET", f"/rpc/list_members?{query}", headers=cookie)
        assert (refused.status, refused.json()["code"]) == (400, "edge.bad_request"), (query, refused.body)
        assert "without a value" in refused.json()["message"], refused.body


# Values under a name that is not the function's argument: PostgREST reads each either as a
# filter on the rows or as one more argument (and then finds no such function).
QUERY_VALUES = (
    "owner", "", "not", "notx", "NOT.eq.x", "EQ.x", "eq", "in", "is", "fts", "isdistinct", "x.eq.y",
    "eq.owner", "eq.", "neq.x", "gt.1", "gte.1", "lt.1", "lte.1", "like.*own*", "ilike.x", "match.x",
    "imatch.x", "in.(owner,admin)", "in.x", "is.null", "is.true", "isdistinct.owner", "cs.{a}",
    "cd.{a}", "ov.{a}", "sl.x", "sr.x", "nxr.x", "nxl.x", "adj.x", "not.", "not.x", "not.eq.owner",
    "not.not.x", "not.in.(a)", "not.is.null", "not.eq(any).{a}", "not.fts(english).x",
    "eq(any)", "eq(any).", "eq(any).{owner}", "gt(any).{1}", "lte(all).{1}", "like(all).{a}",
    "imatch(all).x", "match(any).x", "neq(any).x", "cs(any).{a}", "ov(any).x", "adj(all).x",
    "sl(any).x", "in(any).x", "is(any).x", "isdistinct(any).x", "like(ANY).x", "eq(any ).x",
    "eq(foo).x", "eq(any)x.y", "fts.x", "plfts.owner", "phfts.x", "wfts.x", "fts(x)",
    "fts(english)", "fts(english).", "fts(english).owner", "plfts(english).x", "fts(en_us).x",
    "fts(a b).x", "fts().x", "fts(a.b)", "fts(a.b).c", "fts(a(b).x", "fts(english)(x).y",
    "fts(english)x.y", "fts(\x01).x", "fts(%).x", "fts(a-b).x", "fts(a$b).x", "fts(_).x", "fts(é).x",
    "fts(\u0665).x", "fts(a\tb).x",
)  # fmt: skip


@pytest.fixture(scope="module")
def parity_org(arguments_stack: Stack) -> tuple[Account, str]:
    owner = signup(arguments_stack.edge_url)
    made = rpc(arguments_stack, owner, "create_organization", {"name": "Parity"})
    return owner, made.json()["id"]


@pytest.mark.parametrize("value", QUERY_VALUES)
def test_the_edge_tells_filters_from_arguments_as_postgrest_does(
    arguments_stack: Stack, parity_org: tuple[Account, str], value: str
) -> None:
    owner, org_id = parity_org
    path = "/rpc/list_members?" + urlencode({"org_id": org_id, "role": value})
    direct = request(arguments_stack.endpoints.postgrest_url, "GET", path, headers=owner.cookie)
    through = request(arguments_stack.edge_url, "GET", path, headers=owner.cookie)
    postgrest_saw_an_argument = direct.status == 404 and direct.json()["code"] == "PGRST202"
    edge_saw_an_argument = through.status == 400 and through.json()["code"] == "edge.invalid_arguments"
    assert edge_saw_an_argument == postgrest_saw_an_argument, (direct.body, through.body)
