"""The generated TypeScript client end to end, compiled with tsc and run with Node's test
runner against the running edge: a client generated from a stack's own catalog (probe
functions), and the committed client driving the organization flow after signing up and in
through the edge's /auth routes."""

from __future__ import annotations

import json
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest

from codegen.config import ROOT, Config
from codegen.generate import generate
from tests.support.mailbox import mailbox
from tests.support.stack import Stack, make_stack

TSC = ROOT / ".tools" / "typescript-5.6.3" / "package" / "bin" / "tsc"
NODE_TESTS = ROOT / "tests" / "node"

PROBE_SQL = """
create function api.codegen_probe(n bigint, label text default 'x')
returns table (n_out bigint, label text, doubled numeric, small integer)
language sql stable as $$ select n, label, n * 2.5, 7 $$;
create function api.codegen_refuse(why text) returns void
language plpgsql volatile as $$
begin
  raise sqlstate 'PGRST' using
    message = '{"code":"probe.refused","message":"Refused."}',
    detail = '{"status":403,"headers":{}}';
end
$$;
create function api.codegen_doubled(n numeric, out doubled numeric)
language sql immutable as $$ select n * 2 $$;
create function api.codegen_series(n integer) returns table (x bigint)
language sql immutable as $$ select pg_catalog.generate_series(1, n)::bigint * 9007199254740993 $$;
create function api.codegen_marks(n bigint) returns table (raw json, big bigint)
language sql immutable as $$
  select ('{"n": ' || n || ', "s": "\\u0000n' || n || '", "t": "\\u0000s", "\\u0000k": 1}')::json, n $$;
create function api.codegen_slow(seconds double precision) returns void
language sql volatile as $$ select pg_catalog.pg_sleep(seconds) $$;
create function api.codegen_float(x double precision) returns double precision
language sql immutable as $$ select x $$;
create function api.codegen_floats(x double precision) returns table (x double precision, y real)
language sql immutable as $$ select x, x::real $$;
create function api.codegen_matrix(n bigint, x double precision)
returns table (big bigint[], xs double precision[])
language sql immutable as $$ select array[[n, n], [n, null]], array[[x], [x]] $$;
create function api.codegen_big_matrix(n bigint) returns bigint[]
language sql immutable as $$ select array[[n, n], [n, null]] $$;
comment on function api.codegen_big_matrix(bigint) is 'Two rows.
@result bigint[][]';
create function api.codegen_oid(o oid) returns table (o oid, os oid[])
language sql immutable as $$ select o, array[o] $$;
create function api.codegen_proto(n bigint) returns table ("__proto__" bigint, label text)
language sql immutable as $$ select n, 'x' $$;
create function api.codegen_lose_connection() returns void
language plpgsql volatile security definer as $$
begin perform pg_catalog.pg_terminate_backend(pg_catalog.pg_backend_pid()); end $$;
grant execute on function api.codegen_probe(bigint, text), api.codegen_refuse(text),
  api.codegen_doubled(numeric), api.codegen_series(integer), api.codegen_marks(bigint),
  api.codegen_slow(double precision), api.codegen_float(double precision),
  api.codegen_floats(double precision), api.codegen_lose_connection(),
  api.codegen_matrix(bigint, double precision), api.codegen_big_matrix(bigint), api.codegen_oid(oid),
  api.codegen_proto(bigint)
  to web_anon, authenticated;
"""
# Made a superuser's, so that it may end its own backend: PostgREST's connection, lost mid-call.
PROBE_OWNERSHIP = "alter function api.codegen_lose_connection() owner to current_user"


def run_node_tests(client_ts: str, tests: list[Path], work: Path, env: dict[str, str]) -> None:
    """Compile `client_ts` (as src/generated.ts) with the tests under test/, run them with node --test."""
    if not TSC.exists() or shutil.which("node") is None:
        pytest.fail("TypeScript or node is missing: run ./dev (it installs TypeScript into .tools/)")
    (work / "src").mkdir(parents=True)
    (work / "test").mkdir()
    (work / "src" / "generated.ts").write_text(client_ts)
    for path in [*tests, ROOT / "clients" / "typescript" / "test" / "node-test.d.ts"]:
        shutil.copy(path, work / "test" / path.name)
    out = work / "out"
    options = ["--strict", "--target", "ES2022", "--module", "ES2022", "--moduleResolution", "Bundler"]
    options += ["--skipDefaultLibCheck", "--lib", "ES2022,DOM", "--outDir", str(out), "--rootDir", str(work)]
    sources = sorted((work / "src").glob("*.ts")) + sorted((work / "test").glob("*.ts"))
    compiled = subprocess.run(
        ["node", str(TSC), *options, *map(str, sources)], capture_output=True, text=True, check=False
    )
    assert compiled.returncode == 0, compiled.stdout + compiled.stderr
    (out / "package.json").write_text(json.dumps({"type": "module"}))
    ran = subprocess.run(
        ["node", "--test", *(str(p) for p in sorted((out / "test").glob("*.test.js")))],
        capture_output=True, text=True, check=False, env={"PATH": "/usr/bin:/bin", **env}, timeout=120,
    )  # fmt: skip
    assert ran.returncode == 0, ran.stdout + ran.stderr


@pytest.fixture(scope="module")
def probe_stack(
    pg_server: str, template_database: str, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Stack]:
    with make_stack(pg_server, template_database, tmp_path_factory.mktemp("node"), PROBE_SQL) as running:
        with psycopg.connect(running.database_url, autocommit=True) as admin:
            admin.execute(PROBE_OWNERSHIP)
        yield running


@pytest.mark.stack
def test_generated_client_against_the_running_stack(probe_stack: Stack, tmp_path: Path) -> None:
    files = generate(probe_stack.database_url, Config())
    client = files[Config().typescript_path]
    assert "export function codegenProbe(" in client
    run_node_tests(
        client, [NODE_TESTS / "probe.test.ts"], tmp_path, {"BLOSSOM_EDGE_URL": probe_stack.edge_url}
    )


@pytest.mark.stack
def test_the_committed_client_drives_the_organization_flow(stack: Stack, tmp_path: Path) -> None:
    """Sign-up and login through /auth, then create, invite, accept, list and a typed refusal
    (tests/node/org_flow.test.ts); and, with no server, a fetch of the test's own that answers
    what a dropped connection or a wrong server sends (tests/node/runtime.test.ts), compiled with
    it once (each compilation takes seconds).

    The invitation token is only ever mailed: the Node test reads it from a test mailbox that
    serves app.outbox (tests/mailbox.py), as a person would read it from their mail.
    """
    client = Config().typescript_path.read_text()
    with mailbox(stack.database_url) as mailbox_url:
        run_node_tests(
            client,
            [NODE_TESTS / "org_flow.test.ts", NODE_TESTS / "runtime.test.ts"],
            tmp_path,
            {"BLOSSOM_EDGE_URL": stack.edge_url, "BLOSSOM_MAILBOX_URL": mailbox_url},
        )
