"""Migrations and rollbacks on a database with data in it, made through the product's own
functions: sign-ups, a login from one browser into a second account, organizations, invitations
sent, accepted and left, a password reset, outbox mail and its jobs, a Slack connection and a
digest, AI usage and the pipeline's daily metrics. tests/test_migrate.py rolls each migration
back on a database of migrations alone: a rollback that changes rows (0009's, 0019's) ran on none
there."""

from __future__ import annotations

import secrets
from typing import Any

import psycopg

from deploy import migrate as migrate_module
from deploy.migrate import MIGRATION_POLICY, every_row_visible_to_migrations, migrate, rollback
from ops.schema_check import normalized_dump
from tests.support.orgs_db import call_and_commit

PASSWORD = "correct horse battery staple"


def _one(conn: psycopg.Connection, query: str, params: Any = None) -> Any:
    row = conn.execute(query, params).fetchone()
    assert row is not None
    return row[0]


def _sign_up(conn: psycopg.Connection, name: str, device: str | None = None) -> tuple[str, str, str, str]:
    email = f"{name}-{secrets.token_hex(3)}@example.com"
    answer = _one(
        conn,
        "select auth.signup(%s, %s, %s, '192.0.2.1', 'test', null, %s)",
        (email, PASSWORD, name, device),
    )
    assert answer.get("ok", True) is not False, answer
    return str(answer["user"]["id"]), str(answer["session"]["token"]), email, str(answer["device_token"])


def populate(url: str) -> None:
    """Every kind of row, through the functions that make them."""
    with psycopg.connect(url, autocommit=True) as conn:
        owner, owner_session, _, browser = _sign_up(conn, "Owner")
        guest, _, guest_email, _ = _sign_up(conn, "Guest")
        # The same browser signs in to a second account: two device rows of one token.
        other, _, other_email, _ = _sign_up(conn, "Other")
        login = _one(
            conn, "select auth.login(%s, %s, '192.0.2.1', 'test', null, %s)", (other_email, PASSWORD, browser)
        )
        assert login.get("ok", True) is not False, login
        conn.execute("select auth.request_password_reset(%s, '192.0.2.2')", (guest_email,))
        org = call_and_commit(conn, owner, "create_organization", "Acme")
        assert org.ok, org
        org_id = org.rows[0][0]
        for email, who in ((guest_email, guest), (other_email, other)):
            sent = call_and_commit(conn, owner, "invite_member", org_id, email, "member")
            assert sent.ok, sent
            token = _one(
                conn,
                "select payload ->> 'token' from app.outbox where payload ->> 'invitation_id' = %s",
                (sent.rows[0][0],),
            )
            accepted = call_and_commit(conn, who, "accept_invitation", token)
            assert accepted.ok, accepted
        assert call_and_commit(conn, other, "leave_organization", org_id).ok
        assert call_and_commit(conn, owner, "invite_member", org_id, "later@example.com", "admin").ok
        conn.execute(
            "select ext.connect_slack(%s, %s, '#general', 'T0001', 'Acme', 'k1', %s)",
            (owner_session, org_id, secrets.token_bytes(40)),
        )
        reservation = _one(
            conn,
            "select reservation_id from ext.ai_reserve(%s, %s, 'org_summary', 'gpt', %s, 1000)",
            (owner_session, org_id, secrets.token_bytes(32)),
        )
        conn.execute("select ext.ai_settle(%s, %s, 600, 700, 'An answer.')", (owner_session, reservation))
        conn.execute("select * from pipeline.refresh_org_daily_metrics(current_date)")
        conn.execute("select * from pipeline.refresh_org_daily_metrics(current_date - 1)")
        monday = "date_trunc('week', current_date)::date - 7"
        conn.execute(f"select * from pipeline.slack_digest_claim({monday}, %s, 'populated')", (org_id,))
        conn.execute(f"select pipeline.slack_digest_posted({monday}, %s)", (org_id,))


_TABLES = """
select format('%I.%I', n.nspname, c.relname)
  from pg_class c join pg_namespace n on n.oid = c.relnamespace
 where c.relkind = 'r' and n.nspname in ('app', 'analytics', 'jobs')
 order by 1
"""


def row_counts(url: str) -> dict[str, int]:
    with psycopg.connect(url) as conn:
        tables = [name for (name,) in conn.execute(_TABLES)]
        return {table: _one(conn, f"select count(*) from {table}") for table in tables}


def _applied(url: str) -> list[str]:
    with psycopg.connect(url) as conn:
        rows = conn.execute("select migration_id from blossom_meta._yoyo_migration order by migration_id")
        return [str(migration_id) for (migration_id,) in rows]


def _ids(url: str, query: str) -> list[tuple[Any, ...]]:
    with psycopg.connect(url) as conn:
        return conn.execute(query).fetchall()


# What 0004's rollback target keeps: accounts, organizations and what they did.
_KEPT_BY_0004 = {
    "users": "select id from app.users order by 1",
    "organizations": "select id, slug from app.organizations order by 1",
    "memberships": "select id, org_id, user_id, role from app.memberships order by 1",
    "invitations": "select id, org_id, email from app.invitations order by 1",
    "sessions": "select id, user_id from app.sessions order by 1",
    "outbox": "select id, topic from app.outbox order by 1",
    "audit_events": "select id, action, org_id from app.audit_events order by 1",
}


def test_rollbacks_and_migrations_run_on_a_populated_database(database_url: str) -> None:
    """Every rollback from the last runs on populated tables, the stateless layer dropped first
    (its views and functions use what the rollbacks drop: ten of them failed so), newest first,
    and the migrations after them on the rows that stayed: the schema is the same again, and the
    rows no rollback meant to drop are all there, with their ids and relations (0005's member
    counts backfilled)."""
    populate(database_url)
    schema, applied = normalized_dump(database_url), _applied(database_url)
    kept = {name: _ids(database_url, query) for name, query in _KEPT_BY_0004.items()}
    rollback(database_url, "0004.orgs")
    migrate(database_url, quiet=True)
    assert _applied(database_url) == applied
    assert normalized_dump(database_url) == schema
    assert {name: _ids(database_url, query) for name, query in _KEPT_BY_0004.items()} == kept
    assert _ids(
        database_url,
        "select o.member_count, (select count(*) from app.memberships m where m.org_id = o.id)::integer"
        "  from app.organizations o",
    ) == [(2, 2)]
    assert rollback(database_url, applied[0]) == list(reversed(applied[1:]))
    assert _applied(database_url) == applied[:1]
    assert row_counts(database_url).keys() <= {
        f"jobs.{t}"
        for t in (
            "procrastinate_events",
            "procrastinate_jobs",
            "procrastinate_periodic_defers",
            "procrastinate_workers",
        )
    }
    migrate(database_url, quiet=True)
    assert _applied(database_url) == applied
    assert normalized_dump(database_url) == schema


def test_a_rollback_forgets_a_browsers_later_accounts_as_it_says(database_url: str) -> None:
    """0009's rollback deletes a browser's device rows but its first account's, then keys devices
    by the token alone. The stateless layer, whose policies let the owner see the rows, is dropped
    before the rollbacks run, and under the forced row security the owner saw none: the delete
    deleted nothing, and the primary key failed on the browser's two rows."""
    populate(database_url)
    first = _ids(
        database_url,
        "select token_hash, user_id from app.devices d"
        " where not exists (select from app.devices e where e.token_hash = d.token_hash"
        "                   and e.created_at < d.created_at) order by 1",
    )
    assert len(first) < row_counts(database_url)["app.devices"], "a browser signed in to two accounts"
    rollback(database_url, "0008.util")
    assert _ids(database_url, "select token_hash, user_id from app.devices order by 1") == first


def test_a_rollback_and_the_migrate_after_it_change_the_rows_they_mean_to(database_url: str) -> None:
    """0019's rollback gives a reset request its account as the actor again, and 0019 applied
    again takes it away. With the stateless layer dropped, both ran on no rows: the rollback left
    the release before it without its actors, and the migrate after a rollback (with no layer
    yet) left the actors that the old release had recorded meanwhile."""
    populate(database_url)
    requested = (
        "select actor_id is not null from app.audit_events where action = 'auth.password_reset_requested'"
    )
    assert _ids(database_url, requested) == [(False,)]
    rollback(database_url, "0018.audit_events_at_index")
    assert _ids(database_url, requested) == [(True,)]
    migrate(database_url, quiet=True)
    assert _ids(database_url, requested) == [(False,)]


def test_a_rollback_of_deletions_by_mark_takes_the_deleted_organizations_with_it(database_url: str) -> None:
    """An organization its owner deleted waits, marked (0036's deleted_at), for the housekeeping to
    purge it. 0036's rollback dropped the mark and left the row: the organization came back, with
    no member and no one who could ever delete it again, among the operators' organizations and
    in every day's metrics and their export. The rollback now deletes such organizations whole,
    their rows with them, as the release before it did; the live ones stay."""
    populate(database_url)
    with psycopg.connect(database_url, autocommit=True) as conn:
        owner, _, _, _ = _sign_up(conn, "Leaver")
        made = call_and_commit(conn, owner, "create_organization", "Gone")
        assert made.ok, made
        gone = made.rows[0][0]
        assert call_and_commit(conn, owner, "invite_member", gone, "late@example.com", "member").ok
        assert call_and_commit(conn, owner, "delete_organization", gone).ok
    live = _ids(database_url, "select id from app.organizations where deleted_at is null order by 1")
    rollback(database_url, "0035.ai_failed_calls_index")
    assert _ids(database_url, "select id from app.organizations order by 1") == live
    assert _ids(database_url, f"select count(*) from app.invitations where org_id = '{gone}'") == [(0,)]
    migrate(database_url, quiet=True)


def _migration_policies(url: str) -> list[tuple[Any, ...]]:
    return _ids(url, f"select polrelid::regclass::text from pg_policy where polname = '{MIGRATION_POLICY}'")


def test_the_policies_that_show_migrations_every_row_never_outlive_them(database_url: str) -> None:
    """The policies that show the rollbacks every row would show the owner's API functions every
    tenant's rows: they are gone after a rollback, and a run killed while they existed leaves
    them to the next migrate, which drops them."""
    rollback(database_url, "0024.ai_reported_tokens")
    assert _migration_policies(database_url) == []
    with every_row_visible_to_migrations(database_url):  # as if killed in there: never left
        assert len(_migration_policies(database_url)) > 20
        migrate(database_url, quiet=True)
    assert _migration_policies(database_url) == []
    with every_row_visible_to_migrations(database_url):
        migrate_module._apply_stateless_once(database_url)
        assert _migration_policies(database_url) == []
