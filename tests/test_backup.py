"""The restore drill: data made through the edge, dumped (ops/backup.py, as `just backup`),
restored into a new database on the same cluster, and served from there by a new PostgREST and
edge: the same rows, the same password signs in, the same session cookie still works."""

from __future__ import annotations

import secrets
from pathlib import Path

import psycopg

from deploy.migrate import migrate
from ops.backup import dump, restore
from ops.services import Endpoints, running_services
from tests.support.auth_client import PASSWORD, post, signup
from tests.support.databases import create_database, drop_database
from tests.support.stack import make_stack

COUNTED = ("app.users", "app.sessions", "app.organizations", "app.memberships", "app.invitations",
           "app.audit_events", "app.outbox", "jobs.procrastinate_jobs")  # fmt: skip


def counts(url: str) -> dict[str, int]:
    with psycopg.connect(url) as conn:
        rows = {table: conn.execute(f"select count(*) from {table}").fetchone() for table in COUNTED}
    return {table: int(row[0]) for table, row in rows.items() if row is not None}


def test_a_backup_restores_into_a_database_that_serves_the_same_accounts(
    pg_server: str, template_database: str, tmp_path: Path
) -> None:
    (tmp_path / "before").mkdir()
    with make_stack(pg_server, template_database, tmp_path / "before") as stack:
        owner = signup(stack.edge_url)
        rpc = {"Origin": stack.edge_url} | owner.cookie
        org = post(stack.edge_url, "/rpc/create_organization", {"name": "Kept"}, rpc).json()
        invite = {"org_id": org["id"], "email": "kept-guest@example.com", "role": "member"}
        assert post(stack.edge_url, "/rpc/invite_member", invite, rpc).status == 200
        before = counts(stack.database_url)
        backup = tmp_path / "blossom.dump"
        dump(stack.database_url, backup)

    name = f"restored_{secrets.token_hex(4)}"
    (tmp_path / "after").mkdir()
    url = create_database(pg_server, name, "template0")
    try:
        restore(backup, url)
        assert counts(url) == before
        assert before["app.users"] == 1
        migrate(url, quiet=True)  # nothing pending: the restored database is at the same migration
        endpoints = Endpoints.on_free_ports(url)
        with running_services(endpoints, tmp_path / "after", "/readyz"):
            edge = endpoints.edge_url
            assert post(edge, "/rpc/me", {}, owner.cookie).json()["id"] == owner.user["id"]
            listed = post(edge, "/rpc/list_organizations", {}, owner.cookie).json()
            assert [o["name"] for o in listed] == ["Kept"]
            login = post(edge, "/auth/login", {"email": owner.email, "password": PASSWORD})
            assert login.status == 200
    finally:
        drop_database(pg_server, name)
