"""Codegen over the fixture schema: golden files of both emitters, refusals, the Python wrappers
at work, and the committed clients against the full schema. UPDATE_GOLDENS=1 rewrites the
goldens. (How long codegen takes is a benchmark: bench/codegen_speed.py.)"""

from __future__ import annotations

import copy
import datetime
import importlib.util
import json
import os
import pickle
import re
import subprocess
import sys
import typing
from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path
from types import ModuleType
from typing import Any

import psycopg
import pytest
from psycopg.rows import dict_row

from codegen.catalog import CodegenError, read_catalog
from codegen.config import ROOT, Config
from codegen.edge import EdgeSurface
from codegen.generate import generate
from codegen.raises import RaiseConfig, error_codes
from codegen.regex import js_conditions
from edge.routes import RouteSpec
from ops.scratch import scratch_database

FIXTURE = ROOT / "tests" / "fixtures" / "codegen"
EXPECTED = FIXTURE / "expected"
UPDATE = os.environ.get("UPDATE_GOLDENS") == "1"
# Edge routes as edge/routes.py describes them, over the fixture's types.
FIXTURE_EDGE = EdgeSurface(
    routes=(
        RouteSpec(
            "auth.login",
            "POST",
            "/auth/login",
            "Signs in.",
            200,
            body={"email": "app.email", "password": "text"},
            result="FixtureSignedIn",
            errors={"auth.invalid_credentials": 401},
            function="auth.login",
        ),
        RouteSpec("auth.session", "GET", "/auth/session", "Who is signed in.", 200, result="FixtureUser"),
        RouteSpec("auth.logout", "POST", "/auth/logout", "Signs out.", 204),
    ),
    shapes={
        "FixtureUser": {"id": "app.user_id", "email": "app.email?", "role": "app.org_role"},
        "FixtureSignedIn": {"user": "FixtureUser", "first": "boolean"},
    },
    edge_errors={"edge.internal_error": 500, "edge.body_too_large": 413},
    rpc_errors={"edge.upstream_busy": 503},
)
FIXTURE_CONFIG = Config(
    api_roles=("codegen_fixture_anon", "codegen_fixture_user"),
    python_grants=(("auth", "codegen_fixture_worker"), ("pipeline", "codegen_fixture_worker")),
    raises=RaiseConfig(helpers={"auth.raise_error": 1}, pre_request="auth.pre_request"),
    edge=FIXTURE_EDGE,
    typescript_path=EXPECTED / "generated.ts",
    python_path=EXPECTED / "generated.py",
    command="UPDATE_GOLDENS=1 pytest tests/test_codegen.py",
)


def _fixture_database(server: str, extra_sql: str = "") -> Iterator[str]:
    with scratch_database(server, "codegen") as url:
        with psycopg.connect(url, autocommit=True) as conn:
            conn.execute((FIXTURE / "schema.sql").read_text().encode())
            if extra_sql:
                conn.execute(extra_sql.encode())
        yield url


@pytest.fixture(scope="module")
def fixture_url(pg_server: str) -> Iterator[str]:
    yield from _fixture_database(pg_server)


@pytest.fixture
def fixture_with(pg_server: str) -> Iterator[Any]:
    """Builds a fixture database with extra SQL; each is dropped after the test."""
    stack: list[Iterator[str]] = []

    def make(extra_sql: str) -> str:
        databases = _fixture_database(pg_server, extra_sql)
        stack.append(databases)
        return next(databases)

    yield make
    for databases in stack:
        next(databases, None)


def test_generated_files_match_the_goldens(fixture_url: str) -> None:
    files = generate(fixture_url, FIXTURE_CONFIG)
    for path, text in files.items():
        if UPDATE:
            path.write_text(text)
        assert path.exists(), f"{path.name} is missing: run UPDATE_GOLDENS=1 pytest {__file__}"
        assert path.read_text() == text, (
            f"{path.name} differs: run UPDATE_GOLDENS=1 pytest tests/test_codegen.py"
        )


def test_output_is_deterministic(fixture_url: str) -> None:
    assert generate(fixture_url, FIXTURE_CONFIG) == generate(fixture_url, FIXTURE_CONFIG)


@pytest.mark.parametrize(
    "setting",
    [
        # Types, signatures and definitions without the schemas on the path: the wrappers cast to
        # `org_role`, which the edge's sessions cannot find; codegen-check called them stale.
        "search_path=app,api,auth,pipeline",
        # A CHECK's regex written as E'…\\s…': isEmail refused every address with an "s".
        "standard_conforming_strings=off",
        # Every name quoted in a body: pglast could not read one, and codegen stopped.
        "quote_all_identifiers=on",
    ],
)
def test_output_does_not_depend_on_the_sessions_settings(fixture_url: str, setting: str) -> None:
    """What Postgres writes of the catalog (a role's or PGOPTIONS' settings) changes nothing."""
    changed = psycopg.conninfo.make_conninfo(fixture_url, options=f"-c {setting}")
    assert generate(changed, FIXTURE_CONFIG) == generate(fixture_url, FIXTURE_CONFIG)


@pytest.mark.parametrize(
    "hidden",
    [
        "",
        # PostgREST sees it all the same: the client's call of api.ping() answered 300 PGRST203.
        "revoke execute on function api.ping(boolean) from public;"
        "comment on function api.ping(boolean) is 'For the worker.\n@internal';",
    ],
    ids=["granted", "internal"],
)
def test_overloaded_api_functions_are_refused_by_name(fixture_with: Any, hidden: str) -> None:
    url = fixture_with(
        "create function api.ping(loud boolean) returns void language sql as $$ select $$;" + hidden
    )
    with pytest.raises(CodegenError, match=r"overloaded .*api\.ping\(\), api\.ping\(loud boolean\)"):
        generate(url, FIXTURE_CONFIG)


def test_a_function_left_to_typescript_alone_is_still_checked_by_the_edge(fixture_with: Any) -> None:
    """`@skip python` leaves out its wrapper, not the edge's check of its calls (nor its metrics'
    label): the edge's tables are made in the Python module."""
    url = fixture_with(
        "create function api.ts_only(n integer) returns integer language sql volatile return n;"
        "comment on function api.ts_only(integer) is 'For the browser.\n@skip python';"
        "grant execute on function api.ts_only(integer) to codegen_fixture_anon, codegen_fixture_user;"
    )
    python = generate(url, FIXTURE_CONFIG)[FIXTURE_CONFIG.python_path]
    assert "def api_ts_only" not in python
    assert '"ts_only": CallArguments(required=("n",), scalars={"n": "int4"}),' in python
    assert '"ts_only"' in python.split("API_FUNCTIONS", 1)[1].split(")", 1)[0]


@pytest.mark.parametrize("type_name", ["point", "tsvector"])
def test_an_unmappable_type_stops_generation_naming_it(fixture_with: Any, type_name: str) -> None:
    url = fixture_with(
        f"create function api.where_am_i() returns {type_name} language sql return null::{type_name};"
    )
    with pytest.raises(CodegenError, match=rf"cannot map type {type_name} .*api\.where_am_i"):
        generate(url, FIXTURE_CONFIG)


def test_a_coded_raise_without_a_literal_code_is_refused(fixture_with: Any) -> None:
    url = fixture_with(
        "create function api.vague(code text) returns void language plpgsql as $$ begin"
        " perform auth.raise_error(400, code, 'Something.'); end $$;"
    )
    with pytest.raises(CodegenError, match=r"api\.vague.*not a literal"):
        generate(url, FIXTURE_CONFIG)


def test_an_api_function_no_api_role_may_execute_is_refused_by_name(fixture_with: Any) -> None:
    """A forgotten grant: the client would offer a call that answers 401 42501."""
    url = fixture_with(
        "create function api.forgotten() returns int language sql return 1;"
        "revoke execute on function api.forgotten() from public;"
        "grant execute on function api.forgotten() to codegen_fixture_user;"
    )
    with pytest.raises(CodegenError, match=r"api\.forgotten\(\) \(not by codegen_fixture_anon\).*@internal"):
        generate(url, FIXTURE_CONFIG)


def test_an_internal_api_function_gets_no_client(fixture_with: Any) -> None:
    url = fixture_with(
        "create function api.backstage() returns int language sql return 1;"
        "revoke execute on function api.backstage() from public;"
        "comment on function api.backstage() is 'For the pipeline only. @internal';"
    )
    files = generate(url, FIXTURE_CONFIG)
    assert all("backstage" not in text for text in files.values())


def test_domain_checks_become_regex_guards_only_when_exact() -> None:
    assert js_conditions(["CHECK ((VALUE ~ '^usr_[0-9a-hjkmnp-tv-z]{26}$'::text))"]) == [
        "/^usr_[0-9a-hjkmnp-tv-z]{26}$/su.test(value)"
    ]
    assert js_conditions(["CHECK (((VALUE)::text ~* '^a\\d+$'::text))"]) == ["/^a\\d+$/isu.test(value)"]
    assert js_conditions(["CHECK ((VALUE ~ '^[[:alpha:]]+$'::text))"]) is None
    assert js_conditions(["CHECK (((octet_length((VALUE)::text) = 30) AND (VALUE ~ '^u'::text)))"]) == [
        "new TextEncoder().encode(value).length === 30",
        "/^u/su.test(value)",
    ]
    assert js_conditions(["CHECK ((VALUE > 0))"]) is None


def _load_golden_module() -> ModuleType:
    spec = importlib.util.spec_from_file_location("codegen_fixture_generated", EXPECTED / "generated.py")
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up while it loads
    spec.loader.exec_module(module)
    return module


def test_python_wrappers_call_the_functions(fixture_url: str) -> None:
    db = _load_golden_module()
    org = "org_" + "0" * 26
    with psycopg.connect(fixture_url, autocommit=True) as conn:
        with pytest.raises(db.RpcError) as not_signed_in:
            db.api_get_org(conn, org_id=db.OrgId(org))
        assert not_signed_in.value.code == "auth.not_signed_in"
        assert not_signed_in.value.status == 401
        conn.execute("select set_config('app.user_id', 'usr_' || repeat('0', 26), false)")
        with pytest.raises(db.RpcError) as missing:
            db.api_get_org(conn, org_id=db.OrgId(org))
        assert missing.value.code == "org.not_found"
        assert missing.value.status == 404

        [stats] = db.api_org_stats(conn, org_id=db.OrgId(org))
        assert stats.signups == 1
        assert stats.revenue == Decimal("2.5")
        assert stats.ids == []
        [member] = db.api_list_members(conn, org_id=db.OrgId(org))
        assert member.emails == ["a@b.c"]
        assert member.role is None
        assert db.api_roles(conn) == ["owner", "admin", "member"]
        assert db.api_count_things(conn, kinds=["a", "b"]) == 2
        assert db.api_echo_json(conn, payload={"a": [1, None]}) == {"a": [1, None]}
        assert db.api_ping(conn) is None
        split = db.api_split_name(conn, full_name="Ada Lovelace")
        assert (split.first_name, split.last_name) == ("Ada", "Lovelace")
        assert db.auth_login(conn, p_email=db.Email("a@b.c"), p_password="x") == {
            "addr": None,
            "email": "a@b.c",
        }
        with pytest.raises(db.RpcError, match=r"auth\.weak_password"):
            db.auth_login(conn, p_email=db.Email("a@b.c"), p_password="")
        with pytest.raises(psycopg.errors.CheckViolation):
            db.api_get_org(conn, org_id=db.OrgId("usr_" + "0" * 26))


async def test_async_python_wrappers(fixture_url: str) -> None:
    db = _load_golden_module()
    async with await psycopg.AsyncConnection.connect(fixture_url, autocommit=True) as conn:
        rows = await db.pipeline_purge_async(conn)
        assert [(row.kind, row.removed) for row in rows] == [("sessions", 0)]
        with pytest.raises(db.RpcError) as refused:
            await db.api_add_member_async(conn, org_id=None, user_id=None)
        assert refused.value.code == "auth.not_signed_in"


def test_wrappers_read_their_answer_whatever_the_connections_row_factory(fixture_url: str) -> None:
    """A caller's connection may make rows its own way (dict_row, a common choice): a wrapper
    reads its answer the one way it was written for, not by the connection's factory."""
    db = _load_golden_module()
    with psycopg.connect(fixture_url, autocommit=True, row_factory=dict_row) as conn:
        assert db.api_count_things(conn, kinds=["a", "b"]) == 2
        assert db.api_counts(conn, n=2) == [1, 2]
        assert db.api_roles(conn) == ["owner", "admin", "member"]
        assert db.api_ping(conn) is None
        [row] = db.pipeline_purge(conn)
        assert (row.kind, row.removed) == ("sessions", 0)
        assert conn.execute("select 1 as one").fetchone() == {"one": 1}


async def test_async_wrappers_read_their_answer_whatever_the_connections_row_factory(
    fixture_url: str,
) -> None:
    db = _load_golden_module()
    async with await psycopg.AsyncConnection.connect(
        fixture_url, autocommit=True, row_factory=dict_row
    ) as conn:
        assert await db.api_count_things_async(conn, kinds=["a", "b"]) == 2
        assert await db.api_counts_async(conn, n=2) == [1, 2]


def test_a_coded_error_survives_pickling_and_copying(fixture_url: str) -> None:
    """A process pool sends a task's exception back pickled (one that does not load back broke
    the pool for every task), and copy.copy rebuilds it the same way."""
    db = _load_golden_module()
    with psycopg.connect(fixture_url, autocommit=True) as conn, pytest.raises(db.RpcError) as raised:
        db.api_get_org(conn, org_id=db.OrgId("org_" + "0" * 26))
    error = raised.value
    error.headers["Retry-After"] = "7"
    for rebuilt in (pickle.loads(pickle.dumps(error)), copy.copy(error)):
        assert type(rebuilt) is type(error)
        assert isinstance(rebuilt, db.ApiGetOrgError)
        assert (rebuilt.code, rebuilt.message, rebuilt.status, rebuilt.details, rebuilt.hint) == (
            error.code,
            error.message,
            error.status,
            error.details,
            error.hint,
        )
        assert rebuilt.headers == {"Retry-After": "7"}
        assert str(rebuilt) == str(error)


def test_committed_files_are_what_the_schema_makes(database_url: str) -> None:
    config = Config()
    stale = [path for path, text in generate(database_url, config).items() if path.read_text() != text]
    assert not stale, (
        f"stale generated files: {[str(Path(p).relative_to(ROOT)) for p in stale]}; run just codegen"
    )


def test_the_notnull_tag_is_a_whole_word_and_leaves_the_comment() -> None:
    from codegen.catalog import not_null_tag

    assert not_null_tag("Who. @notnull") == (True, "Who.")
    assert not_null_tag("@notnull") == (True, None)
    assert not_null_tag("@notnullish is not the tag") == (False, "@notnullish is not the tag")
    assert not_null_tag("an email@notnull.example") == (False, "an email@notnull.example")
    assert not_null_tag(None) == (False, None)


def test_unnamed_out_arguments_take_the_names_postgres_gives_them(fixture_with: Any) -> None:
    url = fixture_with(
        "create function api.pair(out int, out label text) language sql as $$ select 1, 'a' $$;"
    )
    with psycopg.connect(url) as conn:
        row = conn.execute("select row_to_json(p) from api.pair() p").fetchone()
        [pair] = [f for f in read_catalog(conn, ["api"]).functions if f.name == "pair"]
    assert row is not None
    assert pair.columns is not None
    assert [column.name for column in pair.columns] == list(row[0]) == ["column1", "label"]


# -- Issue 14: each function shape the fixture's second half adds ---------------------------------


def _golden_ts() -> str:
    return (EXPECTED / "generated.ts").read_text()


def test_one_output_column_is_typed_as_the_row_postgrest_answers() -> None:
    """A single OUT argument answers {"doubled": …}, RETURNS TABLE (x) answers [{"x": …}]: rows,
    with decoders that keep bigint and numeric exact (tests/node/probe.test.ts runs them)."""
    golden = _golden_ts()
    assert "): Promise<Result<DoubleItRow, DoubleItErrorCode>> {" in golden
    assert "): Promise<Result<CountsRow[], CountsErrorCode>> {" in golden
    exact = '[..._RPC_COMMON], "exact", '
    assert f'"/rpc/double_it", {{ n: args.n }}, {exact}_d.obj({{ doubled: _d.orNull(_d.exact) }})' in golden
    assert f'"/rpc/counts", {{ n: args.n }}, {exact}_d.rows(_d.obj({{ x: _d.orNull(_d.exact) }}))' in golden


def test_error_unions_hold_triggers_search_path_declared_and_edge_codes() -> None:
    golden = _golden_ts()
    assert 'export type AddNoteErrorCode = "note.empty" | RpcCommonErrorCode;' in golden
    assert 'export type RefuseUnqualifiedErrorCode = "probe.unqualified" | RpcCommonErrorCode;' in golden
    assert 'export type RefuseDynamicallyErrorCode = "probe.dynamic" | RpcCommonErrorCode;' in golden
    assert (
        'export type RpcCommonErrorCode = "auth.csrf" | "edge.body_too_large" | "edge.internal_error"'
        ' | "edge.upstream_busy";'
    ) in golden
    assert (
        'export type AuthLoginErrorCode = "auth.invalid_credentials" | "auth.weak_password" | EdgeErrorCode;'
        in (golden)
    )


def _codes_of(url: str, function: str) -> frozenset[str]:
    """The error codes codegen finds that the function may raise, in the fixture database."""
    with psycopg.connect(url) as conn:
        return error_codes(conn, FIXTURE_CONFIG.raises).of_name(function)


@pytest.mark.parametrize(
    "stray_quote",
    [
        "-- the item's owner decides",
        "/* the caller's note */",
        "v_note := $q$it's$q$;",
        "v_note := E'don\\'t';",
    ],
)
def test_an_apostrophe_that_opens_no_string_leaves_the_codes_as_they_are(
    fixture_with: Any, stray_quote: str
) -> None:
    """The body is read as Postgres reads it: an apostrophe in a comment, a dollar-quoted string
    or an escape opens no string, so the code literal after it is still read as that code."""
    url = fixture_with(
        f"""create function app.quoted() returns void language plpgsql as $body$
        declare
          v_note text;
          v_owner app.org_id;
        begin
          {stray_quote}
          perform auth.raise_error(403, 'auth.forbidden', 'No.');
        end
        $body$;"""
    )
    assert _codes_of(url, "app.quoted") == {"auth.forbidden"}


def test_a_type_whose_name_is_a_keyword_is_read(fixture_with: Any) -> None:
    url = fixture_with(
        """create domain app.level as integer;
        create function app.leveled(p app.level) returns app.level language plpgsql as $$
        declare
          v app.level := p;
        begin
          perform auth.raise_error(400, 'auth.too_high', 'Too high.');
          return v;
        end $$;"""
    )
    assert _codes_of(url, "app.leveled") == {"auth.too_high"}


@pytest.mark.parametrize(
    "write",
    [
        "update app.things set n = 1",
        "delete from app.things",
        "insert into app.things values (1)",
        "insert into app.things (n) values (1)",
    ],
)
def test_a_write_to_a_qualified_table_adds_its_triggers_codes(fixture_with: Any, write: str) -> None:
    url = fixture_with(
        f"""create table app.things (n integer);
        create function app.tg_things() returns trigger language plpgsql as $$
        begin
          perform auth.raise_error(409, 'auth.thing_conflict', 'Taken.');
          return null;
        end $$;
        create trigger refuse after insert or update or delete on app.things
          for each statement execute function app.tg_things();
        create function app.write_things() returns void language plpgsql as $$
        declare
          v_owner app.org_id;
        begin
          {write};
        end $$;"""
    )
    assert _codes_of(url, "app.write_things") == {"auth.thing_conflict"}


@pytest.mark.parametrize(
    ("action", "write", "fires"),
    [
        ("on delete cascade", "delete from app.parents", "delete"),
        ("on delete set null", "delete from app.parents", "update"),
        ("on delete set default", "delete from app.parents", "update"),
        ("on update cascade", "update app.parents set id = 2", "update"),
        ("on delete cascade", "delete from app.grandparents", "delete"),
    ],
)
def test_a_write_that_cascades_adds_the_codes_of_the_triggers_it_reaches(
    fixture_with: Any, action: str, write: str, fires: str
) -> None:
    """A foreign key's action writes the referencing table, and fires its triggers: their codes
    are the writer's too (else the client typed them as unexpected)."""
    url = fixture_with(
        f"""create table app.grandparents (id integer primary key);
        create table app.parents (id integer primary key default 0,
          grandparent integer references app.grandparents on delete cascade);
        create table app.children (parent integer default 0 references app.parents {action});
        create function app.tg_children() returns trigger language plpgsql as $$
        begin
          perform auth.raise_error(409, 'auth.child_locked', 'Locked.');
          return null;
        end $$;
        create trigger guard after {fires} on app.children
          for each statement execute function app.tg_children();
        create function app.write_parents() returns void language plpgsql as $$
        begin
          {write};
        end $$;"""
    )
    assert _codes_of(url, "app.write_parents") == {"auth.child_locked"}


def _codes_of_caller(fixture_with: Any, setup: str, statement: str) -> frozenset[str]:
    """What codegen finds app.zz_caller() may raise, which runs `statement` after `setup` (and
    RAISER, whose app.zz_raise() raises zz.raised), its names looked up in app."""
    url = fixture_with(
        RAISER + setup + "create function app.zz_caller() returns void language plpgsql"
        f" set search_path = app as $$ declare v integer; begin {statement}; end $$;"
    )
    return _codes_of(url, "app.zz_caller")


RAISER = """create function app.zz_raise() returns text language plpgsql volatile as $$
begin
  perform auth.raise_error(400, 'zz.raised', 'Raised.');
  return 'x';
end $$;
"""


@pytest.mark.parametrize(
    ("setup", "statement"),
    [
        pytest.param(
            "create table app.zz (n integer);create view app.zz_v as select app.zz_raise() as x from app.zz;",
            "perform x from app.zz_v",
            id="a view that calls it",
        ),
        pytest.param(
            "create table app.zz (x text default app.zz_raise());",
            "insert into app.zz default values",
            id="a column default",
        ),
        pytest.param(
            "create function app.zz_ok(t text) returns boolean language sql return app.zz_raise() = t;"
            "create domain app.zz_d as text check (app.zz_ok(value));"
            "create table app.zz (x app.zz_d);",
            "insert into app.zz values ('x')",
            id="a CHECK of its column's domain",
        ),
        pytest.param(
            "create function app.zz_ok(t text) returns boolean language sql return app.zz_raise() = t;"
            "create domain app.zz_d as text check (app.zz_ok(value));"
            "create table app.zz (x app.zz_d[]);",
            "insert into app.zz values (array['x'])",
            id="a CHECK of the domain of its column's array",
        ),
        pytest.param(
            "create table app.zz (x text check (x <> app.zz_raise()));",
            "update app.zz set x = 'y'",
            id="a CHECK constraint",
        ),
        pytest.param(
            "create table app.zz (x text); alter table app.zz enable row level security;"
            "create policy zz_all on app.zz using (app.zz_raise() = x);",
            "perform x from app.zz",
            id="a policy",
        ),
        pytest.param(
            "create table app.zz_base (x text); create table app.zz (x text);"
            "alter table app.zz enable row level security;"
            "create policy zz_all on app.zz using (exists (select from app.zz_base b where b.x = zz.x));"
            "create view app.zz_base_v as select app.zz_raise() as x;"
            "alter table app.zz_base enable row level security;"
            "create policy zz_base_all on app.zz_base using (x in (select v.x from app.zz_base_v v));",
            "perform x from app.zz",
            id="a policy's subquery, in turn",
        ),
        pytest.param(
            "create table app.zz (x text); create view app.zz_v as select x from app.zz;"
            "create function app.zz_tg() returns trigger language plpgsql as $$"
            " begin perform app.zz_raise(); return new; end $$;"
            "create trigger zz_tg before insert on app.zz for each row execute function app.zz_tg();",
            "insert into app.zz_v values ('x')",
            id="a trigger on the table under an updatable view",
        ),
    ],
)
def test_codes_raised_by_what_a_statement_reaches_through_a_relation_are_found(
    fixture_with: Any, setup: str, statement: str
) -> None:
    """Each of these raised at run time, and codegen found nothing: it followed only the calls
    in the body and the triggers of the table written, and the client typed the code as
    unexpected."""
    assert _codes_of_caller(fixture_with, setup, statement) == {"zz.raised"}


@pytest.mark.parametrize(
    ("setup", "statement"),
    [
        pytest.param(
            "create table app.zz (x text check (x <> app.zz_raise()));",
            "perform x from app.zz",
            id="a read, a CHECK",
        ),
        pytest.param(
            "create table app.zz (x text check (x <> app.zz_raise()));",
            "delete from app.zz",
            id="a delete, a CHECK",
        ),
        pytest.param(
            "create table app.zz (x text default app.zz_raise());",
            "perform x from app.zz",
            id="a read, a default",
        ),
        pytest.param(
            "create table app.zz (x text); alter table app.zz enable row level security;"
            "create policy zz_add on app.zz for insert with check (app.zz_raise() = x);",
            "perform x from app.zz",
            id="a read, an insert policy",
        ),
        pytest.param(
            "create table app.zz (x text); alter table app.zz enable row level security;"
            "create policy zz_all on app.zz using (app.zz_raise() = x);",
            "with zz as (select 1 as x) select x into strict v from zz",
            id="a CTE of a table's name",
        ),
    ],
)
def test_what_a_relation_runs_only_for_other_statements_adds_no_code(
    fixture_with: Any, setup: str, statement: str
) -> None:
    assert _codes_of_caller(fixture_with, setup, statement) == set()


def test_a_raise_with_the_sqlstate_cast_is_a_coded_raise(fixture_with: Any) -> None:
    url = fixture_with(
        "create function app.zz_cast() returns void language plpgsql as $$ begin"
        " raise exception using errcode = 'PGRST'::text,"
        """ message = '{"code": "zz.cast", "message": "Cast."}'; end $$;"""
    )
    assert _codes_of(url, "app.zz_cast") == {"zz.cast"}


def test_dynamic_sql_without_declared_codes_is_refused_naming_the_function(fixture_with: Any) -> None:
    url = fixture_with(
        "create function app.run(statement text) returns void language plpgsql as $$"
        " begin execute statement; end $$;"
        "create function api.indirect() returns void language sql as $$ select app.run('select 1') $$;"
    )
    with pytest.raises(CodegenError) as refused:
        generate(url, FIXTURE_CONFIG)
    message = str(refused.value)
    assert "api.indirect(): the codes it can raise cannot be known (app.run line" in message
    assert "@raises" in message


def test_declared_codes_are_what_the_function_raises_at_run_time(fixture_url: str) -> None:
    """@raises is a promise codegen cannot check: the test calls the function. A declared code
    comes as the function's own error class, any other as a plain RpcError."""
    db = _load_golden_module()
    with psycopg.connect(fixture_url, autocommit=True) as conn:
        with pytest.raises(db.ApiRefuseDynamicallyError) as declared:
            db.api_refuse_dynamically(conn, code="probe.dynamic")
        assert declared.value.code == "probe.dynamic"
        assert declared.value.status == 400
        with pytest.raises(db.RpcError) as other:
            db.api_refuse_dynamically(conn, code="probe.other")
        assert type(other.value) is db.RpcError
        assert other.value.code == "probe.other"
        with pytest.raises(db.ApiAddNoteError) as empty:
            db.api_add_note(conn, body="")
        assert empty.value.code == "note.empty"
        with pytest.raises(db.ApiRefuseUnqualifiedError):
            db.api_refuse_unqualified(conn)


def test_a_function_granted_to_no_api_role_gets_no_client() -> None:
    golden = _golden_ts() + (EXPECTED / "generated.py").read_text()
    assert "granted_to_nobody" not in golden
    assert "grantedToNobody" not in golden


def test_reserved_words_and_runtime_names_get_their_schema(fixture_url: str) -> None:
    golden = _golden_ts()
    assert "export function apiDelete(" in golden
    assert "export interface ApiResult {" in golden
    assert "export interface ApiClient {" in golden
    assert "export function call(" in golden
    db = _load_golden_module()
    with psycopg.connect(fixture_url, autocommit=True) as conn:
        assert db.api_shift(conn, from_=1, to=5) == 4
        assert db.api_shift(conn, from_=1, to=5, conn_="kept apart") == 4
        deleted = db.api_delete(conn, org_id=db.OrgId("org_" + "0" * 26))
        assert (deleted.ok, deleted.from_) == (True, 1)
        assert db.api_call(conn, n=2).name == "called 2"


def test_a_variadic_argument_is_passed_as_variadic(fixture_url: str) -> None:
    db = _load_golden_module()
    with psycopg.connect(fixture_url, autocommit=True) as conn:
        assert db.api_total(conn, vals=[1, 2, 3]) == 6
        assert db.api_total(conn, vals=[]) is None


def test_argument_tags_type_the_arguments(fixture_with: Any) -> None:
    golden = _golden_ts()
    assert (
        "export interface RenameOrgArgs {\n  org_id: OrgId;\n  name: string;\n  role?: OrgRole;\n" in golden
    )
    assert "  note?: string | null;\n}" in golden
    url = fixture_with(
        "create function api.miscast(n integer) returns integer language sql return n;"
        "comment on function api.miscast(integer) is 'Wrong. \n@arg n app.org_id';"
        "create function api.misnamed(n integer) returns integer language sql return n;"
    )
    with pytest.raises(CodegenError, match=r"api\.miscast\(n integer\) argument n: @arg app\.org_id"):
        generate(url, FIXTURE_CONFIG)
    url = fixture_with(
        "create function api.misnamed(n integer) returns integer language sql return n;"
        "comment on function api.misnamed(integer) is '@arg m integer';"
    )
    with pytest.raises(CodegenError, match=r"api\.misnamed\(n integer\): @arg names no argument: m"):
        generate(url, FIXTURE_CONFIG)


def test_an_argument_tag_over_an_array_sends_its_elements_as_the_argument_does(fixture_with: Any) -> None:
    """`@arg ns text[]` over an integer[] was taken (both arrays): the client sent ["a"], which
    PostgREST answered 400 22P02; the elements' JSON kinds must agree too."""
    url = fixture_with(
        "create function api.miscast_all(ns integer[]) returns integer language sql return 1;"
        "comment on function api.miscast_all(integer[]) is '@arg ns text[]';"
    )
    with pytest.raises(CodegenError, match=r"api\.miscast_all\(ns integer\[\]\) argument ns: @arg text\[\]"):
        generate(url, FIXTURE_CONFIG)


def test_escape_hatches_and_refusals_one_object_at_a_time(fixture_with: Any) -> None:
    golden = _golden_ts()
    python = (EXPECTED / "generated.py").read_text()
    assert "): Promise<Result<string, LocationErrorCode>> {" in golden  # @result text
    # @skip: no client function, in either language; the edge still checks its calls.
    assert "search_vector" not in golden
    assert "searchVector" not in golden
    assert "def api_search_vector" not in python
    assert '"search_vector": CallArguments(' in python
    assert "export function greet(" in golden  # a Python limit leaves TypeScript alone
    assert "# No wrapper for api.greet(who api.client): Python: composite argument who" in python
    url = fixture_with(
        "create function api.first_bad() returns point language sql return null::point;"
        "create function api.second_bad() returns tsvector language sql return null::tsvector;"
    )
    with pytest.raises(CodegenError) as refused:
        generate(url, FIXTURE_CONFIG)
    message = str(refused.value)
    assert "cannot map type point to TypeScript (used by api.first_bad() result)" in message
    assert "cannot map type tsvector to TypeScript (used by api.second_bad() result)" in message
    fixed = fixture_with(
        "create function api.first_bad() returns point language sql return null::point;"
        "comment on function api.first_bad() is '@result text?';"
        "create function pipeline.nested(who api.client) returns void language sql as $$ select $$;"
        "comment on function pipeline.nested(api.client) is '@skip python';"
        "grant execute on function pipeline.nested(api.client) to codegen_fixture_worker;"
    )
    files = generate(fixed, FIXTURE_CONFIG)
    assert "export function firstBad(" in files[EXPECTED / "generated.ts"]
    assert "pipeline_nested" not in files[EXPECTED / "generated.py"]


def test_a_python_limit_on_a_function_only_python_gets_is_refused_by_name(fixture_with: Any) -> None:
    url = fixture_with(
        "create function pipeline.nested(who api.client) returns void language sql as $$ select $$;"
        "grant execute on function pipeline.nested(api.client) to codegen_fixture_worker;"
    )
    with pytest.raises(CodegenError, match=r"Python: .*composite argument who of pipeline\.nested"):
        generate(url, FIXTURE_CONFIG)


def _status(conn: psycopg.Connection[Any]) -> psycopg.pq.TransactionStatus:
    return conn.info.transaction_status


def test_a_wrappers_error_does_not_poison_the_callers_transaction(fixture_url: str) -> None:
    db = _load_golden_module()
    with psycopg.connect(fixture_url) as conn:
        with conn.transaction():
            assert db.api_total(conn, vals=[1]) == 1
            with pytest.raises(db.ApiAddNoteError):
                db.api_add_note(conn, body="")
            assert db.api_total(conn, vals=[2, 3]) == 5  # the transaction goes on
            kept = db.api_add_note(conn, body="kept")
            conn.execute("select 1")
        # the savepoint rolled back the failed insert only; the good one was committed
        row = conn.execute("select count(*) from app.notes where id = %s", [kept]).fetchone()
        assert row == (1,)
        conn.commit()
        # an idle connection: the failed call leaves it idle, not in a failed transaction
        with pytest.raises(db.ApiAddNoteError):
            db.api_add_note(conn, body="")
        assert _status(conn) == psycopg.pq.TransactionStatus.IDLE
        assert db.api_total(conn, vals=[4]) == 4
        # a transaction begun implicitly (not autocommit, a statement run) is kept too
        assert _status(conn) == psycopg.pq.TransactionStatus.INTRANS
        with pytest.raises(db.ApiAddNoteError):
            db.api_add_note(conn, body="")
        assert _status(conn) == psycopg.pq.TransactionStatus.INTRANS
        assert db.api_total(conn, vals=[5]) == 5


async def test_an_async_wrappers_error_does_not_poison_the_callers_transaction(fixture_url: str) -> None:
    db = _load_golden_module()
    async with await psycopg.AsyncConnection.connect(fixture_url) as conn, conn.transaction():
        with pytest.raises(db.ApiAddNoteError):
            await db.api_add_note_async(conn, body="")
        assert await db.api_total_async(conn, vals=[2, 3]) == 5


# A function that writes, then answers a date psycopg cannot load (its loader refuses infinity).
UNLOADABLE_ANSWER = """
create function pipeline.note_forever(body text) returns date language sql volatile
  as $$ insert into app.notes (body) values ($1) returning 'infinity'::date $$;
grant execute on function pipeline.note_forever(text) to codegen_fixture_worker;
"""


def _notes(conn: psycopg.Connection[Any]) -> list[str]:
    return [body for (body,) in conn.execute("select body from app.notes order by id").fetchall()]


def test_an_answer_psycopg_cannot_load_leaves_the_connection_as_the_call_found_it(
    fixture_with: Any, tmp_path: Path
) -> None:
    """The function ran, and psycopg refused its answer while the wrapper fetched it: on an idle
    connection, the transaction the call had opened stayed open, holding what the function
    wrote, which the caller's next commit kept though the call had failed. It is rolled back now,
    as for any failed call; in the caller's transaction, only the call's savepoint is."""
    url = fixture_with(UNLOADABLE_ANSWER)
    module = _wrappers_of(url, tmp_path / "unloadable.py")
    with psycopg.connect(url) as conn:
        with pytest.raises(psycopg.DataError, match="infinity"):
            module.pipeline_note_forever(conn, body="failed")
        assert _status(conn) == psycopg.pq.TransactionStatus.IDLE
        conn.commit()
        with conn.transaction():
            conn.execute("insert into app.notes (body) values ('before')")
            with pytest.raises(psycopg.DataError):
                module.pipeline_note_forever(conn, body="failed in a transaction")
            assert _status(conn) == psycopg.pq.TransactionStatus.INTRANS
            conn.execute("insert into app.notes (body) values ('after')")
        assert _notes(conn) == ["before", "after"]


async def test_an_answer_psycopg_cannot_load_leaves_an_async_connection_as_the_call_found_it(
    fixture_with: Any, tmp_path: Path
) -> None:
    url = fixture_with(UNLOADABLE_ANSWER)
    module = _wrappers_of(url, tmp_path / "unloadable_async.py")
    async with await psycopg.AsyncConnection.connect(url) as conn:
        with pytest.raises(psycopg.DataError, match="infinity"):
            await module.pipeline_note_forever_async(conn, body="failed")
        assert conn.info.transaction_status == psycopg.pq.TransactionStatus.IDLE
        await conn.commit()
    with psycopg.connect(url) as check:
        assert _notes(check) == []


def _wrappers_of(url: str, path: Path) -> ModuleType:
    """The Python wrappers generated from the database at `url`, written to `path` and imported."""
    return _load_module(generate(url, FIXTURE_CONFIG)[EXPECTED / "generated.py"], path)


def _load_module(text: str, path: Path) -> ModuleType:
    path.write_text(text)
    spec = importlib.util.spec_from_file_location(f"codegen_probe_{path.stem}", path)
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


def test_an_argument_named_as_what_the_wrapper_uses_hides_nothing(fixture_with: Any, tmp_path: Path) -> None:
    """`one`, `cast`, `query` … are the wrapper's own names: an argument so named gets an
    underscore after it, as a keyword does, and the wrapper still works."""
    url = fixture_with(
        'create function pipeline.shadows(one integer, "cast" integer, query integer, conn integer)'
        ' returns integer language sql return one + "cast" + query + conn;'
        "grant execute on function pipeline.shadows(integer, integer, integer, integer)"
        " to codegen_fixture_worker;"
    )
    module = _wrappers_of(url, tmp_path / "shadows.py")
    with psycopg.connect(url) as conn:
        assert module.pipeline_shadows(conn, one_=1, cast_=2, query_=3, conn_=4) == 10


def test_a_wrapper_keeps_every_character_of_a_bpchar(fixture_with: Any, tmp_path: Path) -> None:
    """A function's char(n) argument or result has no length: its type is bpchar, which Postgres
    writes `character` when asked for no typmod, and `::character` is char(1). The wrappers cast
    to it, and sent "a" for "abc", and answered each element of a domain's array so cut."""
    url = fixture_with(
        "create domain app.iso_code as char(3);"
        "create function pipeline.echo_code(code char(3)) returns text language sql return code;"
        "create function pipeline.iso_codes() returns app.iso_code[] language sql"
        " return array['abc', 'def']::app.iso_code[];"
        "grant execute on function pipeline.echo_code(char), pipeline.iso_codes()"
        " to codegen_fixture_worker;"
    )
    module = _wrappers_of(url, tmp_path / "bpchar.py")
    with psycopg.connect(url) as conn:
        assert module.pipeline_echo_code(conn, code="abc") == "abc"
        assert module.pipeline_iso_codes(conn) == ["abc", "def"]


@pytest.mark.parametrize(
    ("sql", "message"),
    [
        (
            'create function pipeline.clash("from" integer, from_ integer) returns integer'
            " language sql return 1;"
            "grant execute on function pipeline.clash(integer, integer) to codegen_fixture_worker;",
            r"Python: arguments from and from_ of pipeline\.clash\(.*\) are both named from_",
        ),
        (
            'create function pipeline.clash() returns table ("from" integer, from_ integer)'
            " language sql as $$ select 1, 2 $$;"
            "grant execute on function pipeline.clash() to codegen_fixture_worker;",
            r"Python: columns from and from_ of pipeline\.clash\(\) are both named from_",
        ),
    ],
)
def test_two_names_python_would_write_alike_are_refused(fixture_with: Any, sql: str, message: str) -> None:
    """Else the module did not compile (two arguments of one name) or a row lost a column."""
    with pytest.raises(CodegenError, match=message):
        generate(fixture_with(sql), FIXTURE_CONFIG)


def test_a_function_named_as_anothers_async_wrapper_is_refused(fixture_with: Any) -> None:
    """api.fetch's async wrapper is api_fetch_async: api.fetch_async's was written over it."""
    url = fixture_with(
        "create function api.fetch(n integer) returns integer language sql return n;"
        "create function api.fetch_async(n integer) returns text language sql return n::text;"
        "grant execute on function api.fetch(integer), api.fetch_async(integer)"
        " to codegen_fixture_anon, codegen_fixture_user;"
    )
    with pytest.raises(CodegenError, match=r"api\.fetch\(n integer\) and api\.fetch_async\(n integer\)"):
        generate(url, FIXTURE_CONFIG)


@pytest.mark.parametrize("name", ['"2fa_status"', "_2fa_status"])
def test_a_name_that_would_start_with_a_digit_is_refused(fixture_with: Any, name: str) -> None:
    """`export function 2faStatus(` does not compile."""
    url = fixture_with(
        f"create function api.{name}() returns integer language sql return 1;"
        f"grant execute on function api.{name}() to codegen_fixture_anon, codegen_fixture_user;"
    )
    with pytest.raises(CodegenError, match="2fa_status: a name in TypeScript and Python starts with"):
        generate(url, FIXTURE_CONFIG)


def test_a_name_whose_types_the_runtime_has_gets_its_schema(fixture_with: Any) -> None:
    """api.client would have made ClientErrorCode, the runtime's own: codegen stopped."""
    url = fixture_with(
        "create function api.client() returns integer language sql return 1;"
        "grant execute on function api.client() to codegen_fixture_anon, codegen_fixture_user;"
    )
    typescript = generate(url, FIXTURE_CONFIG)[FIXTURE_CONFIG.typescript_path]
    assert "export function apiClient(" in typescript
    assert "export type ApiClientErrorCode = " in typescript


def test_a_name_neither_language_can_write_is_refused(fixture_with: Any) -> None:
    """Its letters were dropped: `export function (` did not compile (nor would the edge route
    /rpc/ to it)."""
    url = fixture_with(
        'create function api."数据"() returns integer language sql return 1;'
        'grant execute on function api."数据"() to codegen_fixture_anon, codegen_fixture_user;'
    )
    with pytest.raises(CodegenError, match="数据"):
        generate(url, FIXTURE_CONFIG)


# Domain patterns and values on which Postgres and a JavaScript guard could disagree: `.` and
# newlines, characters beyond UTF-16's first plane, escapes, `/`.
GUARDED_PATTERNS = [
    ("~", r"^a\/b$", ["a/b", "ab", "a\\/b"]),
    ("~", r"^.{1,3}$", ["😀😀", "😀😀😀😀", "abc", "abcd", "a\nb"]),
    ("~", r"^a.b$", ["a\nb", "axb", "a😀b", "ab"]),
    ("~", r"^[^x]{2}$", ["😀😀", "😀", "ab", "xa"]),
    ("~", r"^a\_b\-c$", ["a_b-c", "ab-c"]),
    ("~", r"^[a-z]+\.[a-z]+$", ["ab.cd", "abxcd"]),
    ("~", r"^[\d]+$", ["123", "12a", "١٢"]),
    ("~*", r"^abc$", ["ABC", "abd"]),
    # JavaScript's `i` folds the Kelvin sign (and the long s) to k (s), so its [^a-z] refuses it;
    # Postgres adds only each pattern letter's other case, and takes it.
    ("~*", r"^[^a-z]$", ["\u212a", "\u017f", "k", "1"]),
    ("~", r"^\w+$", ["abc", "é", "日"]),
    ("~", r"^\s$", [" ", "\u00a0", "\u2003"]),
    ("~", r"^a{2}$", ["aa", "a"]),
    ("~", r"^a{2,}b{1,3}$", ["aab", "ab", "aabbbb"]),
    ("~", r"^a]$", ["a]", "a"]),
    ("~", r"^x{a}$", ["x{a}", "xa"]),
    ("~", r"^[a-z]+}$", ["ab}", "ab"]),
]


def test_a_domains_guard_agrees_with_postgres_or_is_not_made(pg_server: str, tmp_path: Path) -> None:
    """The TypeScript client's guard of a domain's pattern says what Postgres says of each value,
    or the pattern gets no guard; it never refuses a value the database takes."""
    cases = []
    with psycopg.connect(pg_server) as conn:
        for operator, pattern, values in GUARDED_PATTERNS:
            quoted = pattern.replace("'", "''")
            conditions = js_conditions([f"CHECK ((VALUE {operator} '{quoted}'::text))"])
            if conditions is None:
                continue
            for value in values:
                row = conn.execute(f"select %s::text {operator} %s::text", [value, pattern]).fetchone()
                assert row is not None
                cases.append(
                    {"pattern": pattern, "guard": " && ".join(conditions), "value": value, "postgres": row[0]}
                )
    assert cases, "no pattern got a guard"
    script = tmp_path / "guards.mjs"
    script.write_text(
        "const cases = " + json.dumps(cases) + ";\n"
        "const out = cases.map((c) => { const value = c.value; return {...c, js: eval(c.guard)}; });\n"
        "console.log(JSON.stringify(out.filter((c) => c.js !== c.postgres)));\n"
    )
    ran = subprocess.run(["node", str(script)], capture_output=True, text=True, check=False)
    assert ran.returncode == 0, ran.stderr
    assert json.loads(ran.stdout) == []


def _for_both_clients(name: str, argument: str, returns: str, body: str) -> str:
    """A function `name(wanted argument) returns returns` as each generated client calls it: in
    schema pipeline for the Python wrappers, in api for the TypeScript client, with their grants."""
    return "".join(
        f"create function {schema}.{name}(wanted {argument}) returns {returns}"
        f" language sql stable as $$ {body} $$;"
        f"grant execute on function {schema}.{name}({argument}) to {callers};"
        for schema, callers in (
            ("pipeline", "codegen_fixture_worker"),
            ("api", "codegen_fixture_anon, codegen_fixture_user"),
        )
    )


def test_a_not_null_domain_answered_by_a_function_may_be_null(fixture_with: Any, tmp_path: Path) -> None:
    """Postgres checks a NOT NULL domain where a value is made or cast, not where a function
    answers: an SQL function whose query finds no row answers null. The clients' types say so;
    an argument of the domain stays not null (Postgres refuses a null for it)."""
    url = fixture_with(
        _for_both_clients("no_seats", "app.seat_count", "app.seat_count", "select wanted where false")
    )
    files = generate(url, FIXTURE_CONFIG)
    typescript = files[EXPECTED / "generated.ts"]
    assert "): Promise<Result<SeatCount | null, NoSeatsErrorCode>> {" in typescript
    assert "export interface NoSeatsArgs {\n  wanted: SeatCount;\n}" in typescript
    module = _load_module(files[EXPECTED / "generated.py"], tmp_path / "no_seats.py")
    assert module.pipeline_no_seats.__annotations__ == {
        "conn": "psycopg.Connection[Any]",
        "wanted": "SeatCount",
        "return": "SeatCount | None",
    }
    with psycopg.connect(url) as conn:
        assert module.pipeline_no_seats(conn, wanted=module.SeatCount(3)) is None


def test_an_answered_arrays_elements_of_a_not_null_domain_may_be_null(
    fixture_with: Any, tmp_path: Path
) -> None:
    """An array a function answers is not checked against its elements' NOT NULL domain either
    (an array_agg over an outer join holds nulls): its elements are `| null`, as a scalar result
    of the domain is; an argument's array of it stays not null (Postgres refuses the null)."""
    body = "select array_agg(t.s) from (values (1)) v(n) left join app.seats_t t on false"
    url = fixture_with(
        "create table app.seats_t (s app.seat_count);"
        + _for_both_clients("all_seats", "app.seat_count[]", "app.seat_count[]", body)
    )
    files = generate(url, FIXTURE_CONFIG)
    typescript = files[EXPECTED / "generated.ts"]
    assert "): Promise<Result<(SeatCount | null)[] | null, AllSeatsErrorCode>> {" in typescript
    assert "export interface AllSeatsArgs {\n  wanted: (SeatCount)[] | null;\n}" in typescript
    module = _load_module(files[EXPECTED / "generated.py"], tmp_path / "all_seats.py")
    assert module.pipeline_all_seats.__annotations__ == {
        "conn": "psycopg.Connection[Any]",
        "wanted": "list[SeatCount] | None",
        "return": "list[SeatCount | None] | None",
    }
    with psycopg.connect(url) as conn:
        assert module.pipeline_all_seats(conn, wanted=[module.SeatCount(3)]) == [None]


def test_a_domain_over_an_array_of_a_not_null_domain_answered_may_hold_nulls(
    fixture_with: Any, tmp_path: Path
) -> None:
    """A domain over such an array checks its own CHECKs, not its elements' NOT NULL, when a
    function answers it: the answered array holds nulls as a bare array of the domain does
    (its type said `(SeatCount)[]`, the elements never null). Sent, Postgres refuses a null
    element (23502), so an argument's stays not null."""
    body = "select array_agg(t.s)::app.seat_list from (values (1)) v(n) left join app.seats_t t on false"
    url = fixture_with(
        "create table app.seats_t (s app.seat_count);"
        "create domain app.seat_list as app.seat_count[] check (cardinality(value) < 100);"
        + _for_both_clients("seat_list", "app.seat_list", "app.seat_list", body)
    )
    files = generate(url, FIXTURE_CONFIG)
    typescript = files[EXPECTED / "generated.ts"]
    assert "): Promise<Result<(SeatCount | null)[] | null, SeatListErrorCode>> {" in typescript
    assert "export interface SeatListArgs {\n  wanted: SeatList | null;\n}" in typescript
    assert "export type SeatList = (SeatCount)[];" in typescript
    module = _load_module(files[EXPECTED / "generated.py"], tmp_path / "seat_list.py")
    assert module.pipeline_seat_list.__annotations__ == {
        "conn": "psycopg.Connection[Any]",
        "wanted": "SeatList | None",
        "return": "list[SeatCount | None] | None",
    }
    with psycopg.connect(url) as conn:
        assert module.pipeline_seat_list(conn, wanted=[module.SeatCount(3)]) == [None]
        with pytest.raises(psycopg.errors.NotNullViolation):
            conn.execute("select %s::app.seat_list", ["{1,NULL}"])


@pytest.mark.parametrize(
    "caller",
    [
        "language plpgsql as $$ begin call app.zz_proc(); end $$",
        "language sql as $$ call app.zz_proc() $$",
    ],
    ids=["plpgsql", "sql"],
)
def test_the_codes_of_a_procedure_called_with_call_are_found(fixture_with: Any, caller: str) -> None:
    """A CALL names its procedure outside of any FuncCall node: its codes were lost, and the
    client typed the code it raised as unexpected."""
    url = fixture_with(
        RAISER + "create procedure app.zz_proc() language plpgsql as $$ begin perform app.zz_raise(); end $$;"
        f"create function app.zz_caller() returns void {caller};"
    )
    assert _codes_of(url, "app.zz_caller") == {"zz.raised"}


def test_a_comment_that_ends_with_a_quote_makes_a_docstring(fixture_with: Any, tmp_path: Path) -> None:
    """A one-line docstring was written `\"\"\"Shown as "label"\"\"\"\"`, which does not parse:
    codegen stopped, ruff unable to format generated.py."""
    url = fixture_with(
        "create type api.labelled as (label text);"
        "comment on type api.labelled is 'A \"label\"';"
        "comment on column api.labelled.label is 'Shown as \"label\"';"
        "create function api.labelled() returns api.labelled language sql return row('x')::api.labelled;"
    )
    module = _wrappers_of(url, tmp_path / "labelled.py")
    assert module.Labelled.__doc__.strip() == 'A "label"'


def test_a_generated_file_with_other_line_endings_is_stale(tmp_path: Path) -> None:
    """The check read the committed file with newlines translated: one committed with CRLF
    (an editor's, a checkout's) passed `codegen-check`, and `codegen` left it as it was."""
    from codegen.generate import stale

    made = "// @generated\nexport type A = string;\n"
    crlf, same = tmp_path / "crlf.ts", tmp_path / "same.ts"
    crlf.write_bytes(made.replace("\n", "\r\n").encode())
    same.write_bytes(made.encode())
    assert stale({crlf: made, same: made}) == [crlf]


def test_a_composite_python_cannot_map_leaves_out_every_function_that_answers_it(
    fixture_with: Any, tmp_path: Path
) -> None:
    """The first function that answers such a composite is left out; the second was emitted,
    with a wrapper naming a class never declared (mypy: name-defined; a call: NameError)."""
    url = fixture_with(
        "create type api.nest as (inner_member api.member);"
        "create function api.nest_one() returns api.nest language sql as $$ select null::api.nest $$;"
        "create function api.nest_all() returns setof api.nest language sql as $$ select null::api.nest $$;"
    )
    python = generate(url, FIXTURE_CONFIG)[EXPECTED / "generated.py"]
    for name in ("nest_one", "nest_all"):
        assert f"# No wrapper for api.{name}(): Python: composite api.member inside another type" in python
        assert f"def api_{name}(" not in python
    assert "Nest" not in python.replace("nest_", "")
    _load_module(python, tmp_path / "nest.py")


def test_a_column_named_as_a_type_hides_it_from_no_other_column(fixture_with: Any, tmp_path: Path) -> None:
    """`returns table (date date, until date)`: in the row's class body `date` is the field, and
    `until: date | None` named it, not the type (mypy: "Variable ... is not valid as a type";
    typing.get_type_hints: TypeError)."""
    url = fixture_with(
        "create function pipeline.dates() returns table (date date, until date, list text[], tags text[])"
        " language sql as $$ select current_date, current_date, array['a'], array[null] $$;"
        "grant execute on function pipeline.dates() to codegen_fixture_worker;"
    )
    module = _wrappers_of(url, tmp_path / "dates.py")
    hints = typing.get_type_hints(module.PipelineDatesRow)
    assert hints["date"] == hints["until"] == datetime.date | None
    assert hints["list"] == hints["tags"] == list[str | None] | None
    with psycopg.connect(url) as conn:
        [row] = module.pipeline_dates(conn)
    assert row.until == row.date == datetime.date.today()


def test_one_output_column_of_a_composite_is_the_composite_postgrest_answers(fixture_with: Any) -> None:
    """PostgREST (measured) answers a single OUT argument or RETURNS TABLE column of a composite
    type, or of a domain over one, as the composite itself ({"ok": true, "from": 1}), not as a
    row around it ({"m": {...}}), as Postgres does (`select * from f()` gives its columns)."""
    url = fixture_with(
        "create domain api.result_d as api.result;"
        "create function api.one_result(out m api.result) language sql"
        " as $$ select row(true, 1)::api.result $$;"
        "create function api.results() returns table (m api.result) language sql"
        " as $$ select row(true, 1)::api.result $$;"
        "create function api.one_result_d(out m api.result_d) language sql"
        " as $$ select row(true, 1)::api.result $$;"
    )
    typescript = generate(url, FIXTURE_CONFIG)[EXPECTED / "generated.ts"]
    assert "): Promise<Result<ApiResult, OneResultErrorCode>> {" in typescript
    assert "): Promise<Result<ApiResult[], ResultsErrorCode>> {" in typescript
    assert "): Promise<Result<ResultD, OneResultDErrorCode>> {" in typescript
    # Checked as the composite, not as a row around it ({"m": {...}}).
    composite = "_d.obj({ ok: _d.orNull(_d.boolean), from: _d.orNull(_d.number) })"
    assert f'"/rpc/one_result", {{}}, [..._RPC_COMMON], "json", {composite}' in typescript
    assert f'"/rpc/results", {{}}, [..._RPC_COMMON], "json", _d.rows({composite})' in typescript
    assert not {"OneResultRow", "ResultsRow", "OneResultDRow"} & set(re.findall(r"\w+", typescript))


@pytest.mark.parametrize(
    ("schema", "name", "callers"),
    [
        ("api", '"Get-Thing"', "codegen_fixture_anon, codegen_fixture_user"),
        ("api", '"get thing"', "codegen_fixture_anon, codegen_fixture_user"),
        ("api", '"get.thing"', "codegen_fixture_anon, codegen_fixture_user"),
        ("pipeline", '"Get-Thing"', "codegen_fixture_worker"),
    ],
)
def test_a_function_name_outside_the_rpc_paths_rule_is_refused_naming_it(
    fixture_with: Any, schema: str, name: str, callers: str
) -> None:
    """`def api_Get-Thing(` stopped codegen at ruff's parse error, naming neither the function nor
    the rule; the TypeScript client's `getThing` called /rpc/Get-Thing, a path the edge forwards to
    no function (edge/proxy.py's RPC_PATH: letters, digits and _)."""
    url = fixture_with(
        f"create function {schema}.{name}() returns integer language sql return 1;"
        f"grant execute on function {schema}.{name}() to {callers};"
    )
    shown = re.escape(f"{schema}.{name.strip(chr(34))}()")
    with pytest.raises(CodegenError, match=rf"{shown}: .*ASCII letters, digits and _"):
        generate(url, FIXTURE_CONFIG)


def test_a_function_name_with_capitals_keeps_its_case_in_the_rpc_path(fixture_with: Any) -> None:
    """The edge forwards /rpc/GetThing as sent, and PostgREST calls api."GetThing"."""
    url = fixture_with(
        'create function api."GetThing"() returns integer language sql return 1;'
        'grant execute on function api."GetThing"() to codegen_fixture_anon, codegen_fixture_user;'
    )
    files = generate(url, FIXTURE_CONFIG)
    assert '"POST", "/rpc/GetThing", {}' in files[FIXTURE_CONFIG.typescript_path]
    assert "export function getThing(" in files[FIXTURE_CONFIG.typescript_path]
    assert "def api_GetThing(conn" in files[FIXTURE_CONFIG.python_path]


def test_an_arrays_depth_declared_by_a_tag_types_the_nested_arrays_answered(
    fixture_with: Any, tmp_path: Path
) -> None:
    """Postgres keeps no dimensions in an array's type (integer[][] is integer[], in pg_proc as in
    pg_dump's output), while PostgREST and psycopg answer the nested arrays a value holds: both
    clients typed [[1, null], [3, 4]] as one dimension, and a tag could not say two."""
    sql = _for_both_clients("matrix", "integer[]", "integer[]", "select wanted")
    for schema in ("api", "pipeline"):
        sql += (
            f"comment on function {schema}.matrix(integer[]) is"
            " 'Rows of numbers.\n@arg wanted integer[][]\n@result integer[][]?';"
        )
    url = fixture_with(sql)
    files = generate(url, FIXTURE_CONFIG)
    typescript = files[EXPECTED / "generated.ts"]
    assert "export interface MatrixArgs {\n  wanted: (number | null)[][];\n}" in typescript
    assert "): Promise<Result<(number | null)[][] | null, MatrixErrorCode>> {" in typescript
    module = _load_module(files[EXPECTED / "generated.py"], tmp_path / "matrix.py")
    assert module.pipeline_matrix.__annotations__ == {
        "conn": "psycopg.Connection[Any]",
        "wanted": "list[list[int | None]]",
        "return": "list[list[int | None]] | None",
    }
    with psycopg.connect(url) as conn:
        assert module.pipeline_matrix(conn, wanted=[[1, None], [3, 4]]) == [[1, None], [3, 4]]


def test_enum_labels_beyond_the_first_plane_are_the_labels_in_python(
    fixture_with: Any, tmp_path: Path
) -> None:
    """JSON writes 😀 as the escapes of its UTF-16 halves, which JavaScript reads back as 😀 and
    Python as two lone surrogates: the Literal named a value Postgres never answers."""
    url = fixture_with(
        "create type app.reaction as enum ('😀', 'a \"quoted\" one', 'new\nline', '');"
        + _for_both_clients("react", "app.reaction", "app.reaction", "select wanted")
    )
    files = generate(url, FIXTURE_CONFIG)
    assert 'export type Reaction = "\\ud83d\\ude00" | ' in files[EXPECTED / "generated.ts"]
    module = _load_module(files[EXPECTED / "generated.py"], tmp_path / "react.py")
    labels = ("😀", 'a "quoted" one', "new\nline", "")
    assert typing.get_args(module.Reaction) == labels
    with psycopg.connect(url) as conn:
        assert [module.pipeline_react(conn, wanted=label) for label in labels] == list(labels)


def test_an_enum_without_labels_is_a_type_of_no_value(fixture_with: Any, tmp_path: Path) -> None:
    """Postgres takes `create type … as enum ()` (labels added later); `Literal[]` stopped codegen
    at ruff's parse error. TypeScript already says `never`."""
    url = fixture_with(
        "create type app.nothing_yet as enum ();"
        + _for_both_clients("nothing", "app.nothing_yet[]", "integer", "select cardinality(wanted)")
    )
    files = generate(url, FIXTURE_CONFIG)
    assert "export type NothingYet = never;" in files[EXPECTED / "generated.ts"]
    module = _load_module(files[EXPECTED / "generated.py"], tmp_path / "nothing.py")
    assert module.NothingYet is typing.Never
    with psycopg.connect(url) as conn:
        assert module.pipeline_nothing(conn, wanted=[]) == 0


def test_a_json_argument_gets_the_json_the_caller_wrote(fixture_with: Any, tmp_path: Path) -> None:
    """The wrappers sent every json value as jsonb, which a json argument then received with its
    keys sorted (jsonb's order): through PostgREST, the TypeScript client's keeps the caller's."""
    url = fixture_with(
        _for_both_clients("json_text", "json", "text", "select wanted::text")
        + _for_both_clients("jsons_text", "json[]", "text", "select wanted::text")
        + _for_both_clients("jsonb_text", "jsonb", "text", "select wanted::text")
    )
    module = _wrappers_of(url, tmp_path / "jt.py")
    written = {"bb": 1, "a": [2]}
    with psycopg.connect(url) as conn:
        assert module.pipeline_json_text(conn, wanted=written) == '{"bb": 1, "a": [2]}'
        assert module.pipeline_jsons_text(conn, wanted=[written]) == '{"{\\"bb\\": 1, \\"a\\": [2]}"}'
        assert module.pipeline_jsonb_text(conn, wanted=written) == '{"a": [2], "bb": 1}'


def test_an_array_of_a_domain_over_json_is_sent_as_json(fixture_with: Any, tmp_path: Path) -> None:
    """The elements' type was looked at without their domain: a list of dicts went to psycopg as
    it was, which cannot adapt a dict."""
    url = fixture_with(
        "create domain app.document as jsonb check (jsonb_typeof(value) = 'object');"
        + _for_both_clients(
            "keys", "app.document[]", "text", "select string_agg(d::text, ';') from unnest(wanted) d"
        )
    )
    module = _wrappers_of(url, tmp_path / "docs.py")
    with psycopg.connect(url) as conn:
        assert module.pipeline_keys(conn, wanted=[{"b": 1}, {"a": [2]}]) == '{"b": 1};{"a": [2]}'
