"""Codegen over the fixture schema: golden files of both emitters, refusals, the Python wrappers
at work, and the committed clients against the full schema. UPDATE_GOLDENS=1 rewrites the
goldens. (How long codegen takes is a benchmark: bench/codegen_speed.py.)"""

from __future__ import annotations

import importlib.util
import os
import sys
from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path
from types import ModuleType
from typing import Any

import psycopg
import pytest

from codegen.catalog import CodegenError, read_catalog
from codegen.config import ROOT, Config
from codegen.generate import generate
from codegen.raises import RaiseConfig
from codegen.regex import js_conditions
from ops.scratch import scratch_database

FIXTURE = ROOT / "tests" / "fixtures" / "codegen"
EXPECTED = FIXTURE / "expected"
UPDATE = os.environ.get("UPDATE_GOLDENS") == "1"
FIXTURE_CONFIG = Config(
    api_roles=("codegen_fixture_anon", "codegen_fixture_user"),
    python_grants=(("auth", "codegen_fixture_worker"), ("pipeline", "codegen_fixture_worker")),
    raises=RaiseConfig(helpers={"auth.raise_error": 1}, pre_request="auth.pre_request"),
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


def test_overloaded_api_functions_are_refused_by_name(fixture_with: Any) -> None:
    url = fixture_with("create function api.ping(loud boolean) returns void language sql as $$ select $$;")
    with pytest.raises(CodegenError, match=r"overloaded .*api\.ping\(\), api\.ping\(loud boolean\)"):
        generate(url, FIXTURE_CONFIG)


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
        "/^usr_[0-9a-hjkmnp-tv-z]{26}$/.test(value)"
    ]
    assert js_conditions(["CHECK (((VALUE)::text ~* '^a\\d+$'::text))"]) == ["/^a\\d+$/i.test(value)"]
    assert js_conditions(["CHECK ((VALUE ~ '^[[:alpha:]]+$'::text))"]) is None
    assert js_conditions(["CHECK (((octet_length((VALUE)::text) = 30) AND (VALUE ~ '^u'::text)))"]) == [
        "new TextEncoder().encode(value).length === 30",
        "/^u/.test(value)",
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
