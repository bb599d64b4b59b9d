"""The Dagster pipeline (pipeline/), in process: the definitions load; each asset materialized
against a test database of its own, as role pipeline, its output checked row by row; a day run
again replaces its rows; the purge removes exactly what is due; the export reaches the Sheets fake;
the failed-deliveries sensor alerts once per incident. And `just pipeline-run` against a running
stack after sign-ups and an invitation through the edge."""

from __future__ import annotations

import asyncio
import ctypes
import dataclasses
import os
import re
import signal
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any

import psycopg
import pytest
from psycopg import sql

from blossom_db.generated import (
    PipelineFailedDeliveriesRow,
    pipeline_purge_auth,
    pipeline_slack_digest_targets,
)
from blossom_db.settings import CONNECTION_DEFAULTS
from deploy.migrate import one_migrate_at_a_time
from ops.scratch import free_port, throwaway_folder
from ops.settings import ROOT, with_user
from pipeline import settings as pipeline_settings
from services import slack as services_slack
from services.secrets import KeyRing, new_key_entry
from services.slack import SlackClient, SlackSettings, bot_token_context
from tests.support.auth_client import COOKIE_NAME, signup
from tests.support.databases import tcp_keepalives, waiting_for
from tests.support.fake_slack import FakeSlack
from tests.support.http import request
from tests.support.imports import ran_and_loaded
from tests.support.lazy import LazyModule
from tests.support.orgs_db import become, call_and_commit, connect_slack, make_org, make_user
from tests.support.preloaded import PreloadedPython
from tests.support.sheets_fake import FakeSheets
from tests.support.signals import signal_handlers_as_found
from tests.support.stack import Stack
from tests.support.worker import eventually

if TYPE_CHECKING:
    import dagster

    from pipeline import assets, definitions, resources, run_once, sensors
else:
    # Dagster is imported by the first test that runs here, not by every process that collects
    # this module (tests/support/lazy.py).
    dagster = LazyModule("dagster")
    run_once = LazyModule("pipeline.run_once")
    assets = LazyModule("pipeline.assets")
    definitions = LazyModule("pipeline.definitions")
    resources = LazyModule("pipeline.resources")
    sensors = LazyModule("pipeline.sensors")

DAY = date(2026, 1, 10)


@pytest.fixture(autouse=True)
def _signal_handlers_kept() -> Iterator[None]:
    """A test that ran Dagster in this process leaves SIGTERM as it found it, not as Dagster's
    run left it (test_a_run_in_a_process_that_ignores_ctrl_c_leaves_sigterm_to_its_children)."""
    with signal_handlers_as_found():
        yield


@pytest.fixture
def postgres(database_url: str, monkeypatch: pytest.MonkeyPatch) -> resources.PostgresResource:
    """As the role pipeline, a run the database fails in a way that passes tried again at once."""
    monkeypatch.setenv(pipeline_settings.DATABASE_URL_VARIABLE, with_user(database_url, "pipeline"))
    return resources.PostgresResource(retry_seconds=0)


@pytest.fixture
def instance() -> Iterator[dagster.DagsterInstance]:
    with dagster.DagsterInstance.ephemeral() as ephemeral:
        yield ephemeral


@pytest.fixture
def dagster_home() -> Iterator[str]:
    """DAGSTER_HOME for a `pipeline-run`, in memory as the run's clusters are: the instance keeps
    its runs and events in SQLite files, each of its many statements committed with an fsync, and
    on disk those took a third to half of a run's time (measured: 7.5-9 s a run, 4.7-5.5 s)."""
    with tempfile.TemporaryDirectory(prefix="blossom-dagster-", dir=throwaway_folder()) as home:
        yield home


def materialized(
    asset: dagster.AssetsDefinition,
    resource_defs: dict[str, Any],
    instance: dagster.DagsterInstance,
    partition: str | None = None,
) -> dict[str, Any]:
    """Materialize one asset in process; its materialization's metadata, as plain values."""
    result = dagster.materialize([asset], resources=resource_defs, partition_key=partition, instance=instance)
    assert result.success
    (materialization,) = result.asset_materializations_for_node(asset.node_def.name)
    return {key: value.value for key, value in materialization.metadata.items()}


def test_a_run_in_a_process_that_ignores_ctrl_c_leaves_sigterm_to_its_children(
    postgres: resources.PostgresResource, instance: dagster.DagsterInstance
) -> None:
    """Dagster's in-process run ends by giving SIGTERM the handler SIGINT has (for Kubernetes,
    SIGTERM is its SIGINT). In a process that ignores SIGINT, as a script's background job does,
    SIGTERM was ignored from then on, and in every child started after: a later test's `up`,
    told to stop, ran on until its timeout, and its services outlived the run. Each test here
    leaves the handlers as it found them (signal_handlers_as_found)."""
    sigterm = signal.getsignal(signal.SIGTERM)
    with signal_handlers_as_found():
        signal.signal(signal.SIGINT, signal.SIG_IGN)
        materialized(assets.auth_housekeeping, {"postgres": postgres}, instance)
        # Dagster's doing, which the guard undoes (gone from Dagster, the guard may go too).
        assert signal.getsignal(signal.SIGTERM) is signal.SIG_IGN
    assert signal.getsignal(signal.SIGTERM) is sigterm
    child = subprocess.run(
        [sys.executable, "-c", "import signal; print(signal.getsignal(signal.SIGTERM) is signal.SIG_DFL)"],
        capture_output=True, text=True, timeout=30, check=True,
    )  # fmt: skip
    assert child.stdout.strip() == "True", "a child takes SIGTERM's default"


def test_the_definitions_load() -> None:
    repository = definitions.defs.get_repository_def()
    assert {job.name for job in repository.get_all_jobs()} >= {
        "daily_metrics",
        "metrics_export",
        "maintenance",
        "weekly_digest",
        "delivery_incident_alert",
    }
    # What needs only the database runs as the daemon starts; what reaches an outside service
    # waits for an operator to turn it on, once that service is set up (docs/pipeline.md).
    running, stopped = dagster.DefaultScheduleStatus.RUNNING, dagster.DefaultScheduleStatus.STOPPED
    assert {schedule.name: schedule.default_status for schedule in repository.schedule_defs} == {
        "daily_metrics_schedule": running,
        "maintenance_schedule": running,
        "weekly_digest_schedule": stopped,
        "metrics_export_schedule": stopped,
    }
    assert [sensor.name for sensor in repository.sensor_defs] == ["failed_deliveries_sensor"]


def test_the_assets_named_without_dagster_are_the_definitions() -> None:
    """`pipeline-run` tells an asset there is not by pipeline.settings.ASSETS, without loading
    Dagster: they must be the definitions' assets, each once, in their order."""
    assert list(pipeline_settings.ASSETS) == list(run_once.defined_assets())


def test_dagster_shows_the_secret_settings_by_name_only(monkeypatch: pytest.MonkeyPatch) -> None:
    """Dagster's UI shows each resource's configured values; a value read from the environment
    when the definitions load is shown as it is, an EnvVar by its variable's name. The database
    login's password, and the key that opens every organization's Slack bot token, were shown."""
    current, previous = new_key_entry("now"), new_key_entry("before")
    monkeypatch.setenv("BLOSSOM_PIPELINE_DATABASE_URL", "postgresql://pipeline:Shown1pw@127.0.0.1:1/blossom")
    monkeypatch.setenv("BLOSSOM_SECRETS_KEY", current)
    monkeypatch.setenv("BLOSSOM_SECRETS_PREVIOUS_KEYS", previous)
    for resource in (
        resources.PostgresResource.from_environment(),
        resources.SlackResource.from_environment(),
    ):
        shown = resource.get_resource_definition().config_schema.default_value_as_json_str
        for secret in ("Shown1pw", current.split(":")[1], previous.split(":")[1]):
            assert secret not in shown, shown
    # Unset, the settings are what they were: the local database, no key (the digest names it).
    monkeypatch.delenv("BLOSSOM_PIPELINE_DATABASE_URL")
    monkeypatch.delenv("BLOSSOM_SECRETS_KEY")
    monkeypatch.delenv("BLOSSOM_SECRETS_PREVIOUS_KEYS")
    assert resources.PostgresResource.from_environment().url == pipeline_settings.DEFAULT_DATABASE_URL
    with pytest.raises(ValueError, match="BLOSSOM_SECRETS_KEY is not set"):
        resources.SlackResource.from_environment().key_ring()


def seed_day(conn: psycopg.Connection) -> tuple[str, str]:
    """Two organizations and a day of activity in them (2026-01-10, UTC); their ids."""
    ann, bob, cid = make_user(conn, "ann"), make_user(conn, "bob"), make_user(conn, "cid")
    acme, bobco = make_org(conn, "Acme", {}), make_org(conn, "Bobco", {})
    conn.execute(
        "update app.organizations set created_at = '2026-01-01Z' where id in (%s, %s)", (acme, bobco)
    )
    for org, user, role, joined in (
        (acme, ann, "owner", "2026-01-02Z"),
        (acme, bob, "member", "2026-01-10 12:00Z"),
        (bobco, bob, "owner", "2026-01-02Z"),
        (bobco, cid, "member", "2026-01-11 00:00Z"),
    ):
        conn.execute(
            "insert into app.memberships (org_id, user_id, role, joined_at) values (%s, %s, %s, %s)",
            (org, user, role, joined),
        )
    conn.execute(
        "insert into app.invitations (org_id, email, role, token_hash, created_at, expires_at, accepted_at)"
        " values (%s, 'x@example.com', 'member', sha256('x'), '2026-01-10 09:00Z', '2026-01-17Z', null),"
        " (%s, 'y@example.com', 'member', sha256('y'), '2026-01-09 09:00Z', '2026-01-16Z',"
        "  '2026-01-10 12:00Z')",
        (acme, acme),
    )
    for user, action, at in (
        (ann, "auth.login", "2026-01-10 08:00Z"),
        (ann, "auth.login", "2026-01-10 20:00Z"),
        (bob, "auth.login", "2026-01-10 13:00Z"),
        (bob, "org.updated", "2026-01-10 14:00Z"),
        (cid, "auth.login", "2026-01-10 15:00Z"),
    ):
        conn.execute(
            "insert into app.audit_events (actor_id, action, at) values (%s, %s, %s)", (user, action, at)
        )
    return acme, bobco


def metrics_rows(database_url: str) -> list[tuple[Any, ...]]:
    with psycopg.connect(database_url) as conn:
        return conn.execute(
            "select day, o.name, members, invitations_sent, invitations_accepted, logins, active_users"
            " from analytics.org_daily_metrics m join app.organizations o on o.id = m.org_id"
            " order by day, o.name"
        ).fetchall()


def test_daily_metrics_counts_a_day_and_a_rerun_replaces_it(
    database_url: str, postgres: resources.PostgresResource, instance: dagster.DagsterInstance
) -> None:
    with psycopg.connect(database_url) as conn:
        seed_day(conn)
    metadata = materialized(assets.org_daily_metrics, {"postgres": postgres}, instance, DAY.isoformat())
    assert metadata == {"day": "2026-01-10", "rows": 2, "replaced": 0}
    expected = [
        # day, organization, members at its end, invitations sent, accepted, members' logins, active members
        (DAY, "Acme", 2, 1, 1, 3, 2),
        (DAY, "Bobco", 1, 0, 0, 1, 1),
    ]
    assert metrics_rows(database_url) == expected

    metadata = materialized(assets.org_daily_metrics, {"postgres": postgres}, instance, DAY.isoformat())
    assert metadata == {"day": "2026-01-10", "rows": 2, "replaced": 2}
    assert metrics_rows(database_url) == expected, "the day's rows replaced, none added"


def test_two_refreshes_at_once_run_one_after_the_other(database_url: str) -> None:
    """The second waits for the first to commit (it would otherwise insert the day's rows a
    second time, and fail on the key), then replaces them."""
    with psycopg.connect(database_url) as conn:
        seed_day(conn)
    refresh = "select written, replaced from pipeline.refresh_org_daily_metrics(%s)"
    as_pipeline = with_user(database_url, "pipeline")
    with psycopg.connect(as_pipeline) as first, psycopg.connect(as_pipeline) as second:
        assert first.execute(refresh, [DAY]).fetchone() == (2, 0)
        with ThreadPoolExecutor(max_workers=1) as pool:
            waiting = pool.submit(lambda: second.execute(refresh, [DAY]).fetchone())
            time.sleep(0.3)
            assert not waiting.done(), "the second refresh did not wait for the first"
            first.commit()
            assert waiting.result(timeout=10) == (2, 2)
        second.commit()
    assert len(metrics_rows(database_url)) == 2


def waiting_for_a_lock(conn: psycopg.Connection, pid: int) -> bool:
    row = conn.execute("select wait_event_type from pg_stat_activity where pid = %s", [pid]).fetchone()
    return row is not None and row[0] == "Lock"


def test_an_organization_deleted_during_a_refresh_deadlocks_with_nothing(database_url: str) -> None:
    """A refresh under way (here held up on a row of the day) and an organization deleted then:
    the deletion's cascade waited for the refresh's table lock, and the refresh, inserting that
    organization's row, for the deletion: a deadlock, which failed one of them (40P01). Now the
    cascade goes on beside a refresh, and the refresh writes the day without the organization."""
    with psycopg.connect(database_url) as conn:
        acme, bobco = seed_day(conn)
    refresh = "select written, replaced from pipeline.refresh_org_daily_metrics(%s)"
    as_pipeline = with_user(database_url, "pipeline")
    with psycopg.connect(as_pipeline, autocommit=True) as conn:
        conn.execute(refresh, [DAY])
    # The pool first: on a failure the connections close before it waits for its threads.
    with (
        ThreadPoolExecutor(max_workers=2) as pool,
        psycopg.connect(database_url) as holder,
        psycopg.connect(database_url, autocommit=True) as watcher,
        psycopg.connect(as_pipeline) as refreshing,
        psycopg.connect(database_url, autocommit=True) as deleting,
    ):
        holder.execute(
            "select from analytics.org_daily_metrics where day = %s and org_id = %s for update", [DAY, bobco]
        )
        refreshed = pool.submit(lambda: refreshing.execute(refresh, [DAY]).fetchone())
        eventually(lambda: waiting_for_a_lock(watcher, refreshing.info.backend_pid), what="the refresh waits")
        deleted = pool.submit(
            lambda: deleting.execute("delete from app.organizations where id = %s", [acme]).rowcount
        )
        time.sleep(0.3)  # the deletion goes as far as it can
        holder.commit()
        refreshed.result(timeout=10)
        refreshing.commit()
        assert deleted.result(timeout=10) == 1
    assert [row[1] for row in metrics_rows(database_url)] == ["Bobco"], "the day, without the one deleted"


def test_a_refresh_held_open_makes_an_organizations_deletion_busy_at_once_not_a_timeout(
    database_url: str,
) -> None:
    """A refresh locks the organizations whose rows it inserts (the foreign key) until its
    transaction ends: a pipeline stuck in it (idle up to its 5 minutes, or a statement running on).
    An owner's delete_organization, as PostgREST's login runs it, waited for those locks until the
    API's statement timeout (5 s, answered 504 edge.upstream_timeout), holding the organization's
    lock, which every other call of its members waited behind, and one of PostgREST's connections.
    It now waits a second at most and answers 503 org.busy; once the refresh is over it deletes: the
    organization is out of the export at once, and its rows go with the next housekeeping."""
    with psycopg.connect(database_url) as conn:
        acme, bobco = seed_day(conn)
        owner = conn.execute(
            "select user_id from app.memberships where org_id = %s and role = 'owner'", [acme]
        ).fetchone()
        assert owner is not None
    with (
        psycopg.connect(with_user(database_url, "pipeline")) as refreshing,
        psycopg.connect(with_user(database_url, "authenticator")) as api,
    ):
        refreshing.execute("select pipeline.refresh_org_daily_metrics(%s)", [DAY])
        started = time.monotonic()
        refused = call_and_commit(api, owner[0], "delete_organization", acme)
        waited = time.monotonic() - started
        assert (refused.status, refused.code) == (503, "org.busy"), refused
        assert waited < 3, f"the deletion waited {waited:.1f} s for the refresh's locks"
        refreshing.commit()
        deleted = call_and_commit(api, owner[0], "delete_organization", acme)
        assert deleted.ok, deleted
    with psycopg.connect(with_user(database_url, "pipeline"), autocommit=True) as conn:
        exported = conn.execute(
            "select org_id from pipeline.org_daily_metrics(%s, %s)", [DAY, DAY]
        ).fetchall()
        assert [row[0] for row in exported] == [bobco]
        conn.execute("select pipeline.purge_auth()")
    assert [row[1] for row in metrics_rows(database_url)] == ["Bobco"]


def test_a_refresh_outlasts_organizations_deleted_one_after_another_during_it(database_url: str) -> None:
    """Each organization deleted while a refresh writes the day fails the refresh's foreign key,
    and the day is counted again: with three tries, a fourth deletion in a row failed the run (as
    a burst of deletions did). Here each deletion is under way while the refresh checks the
    organization before it, and commits once the refresh waits for it."""
    gone = 4
    with psycopg.connect(database_url) as conn:
        seed_day(conn)
        # In the order of their ids, the order the refresh writes (and checks) their rows in.
        doomed = sorted(make_org(conn, f"Gone{i}", {}) for i in range(gone))
        conn.execute("update app.organizations set created_at = '2026-01-01Z' where id = any(%s)", [doomed])
    refresh = "select written, replaced from pipeline.refresh_org_daily_metrics(%s)"
    delete = "delete from app.organizations where id = %s"
    deleters = [psycopg.connect(database_url) for _ in doomed]
    try:
        with (
            ThreadPoolExecutor(max_workers=1) as pool,
            psycopg.connect(database_url, autocommit=True) as watcher,
            psycopg.connect(with_user(database_url, "pipeline")) as refreshing,
        ):
            deleters[0].execute(delete, [doomed[0]])
            refreshed = pool.submit(lambda: refreshing.execute(refresh, [DAY]).fetchone())
            for index, deleter in enumerate(deleters):

                def waits_for_it(blocker: int = deleter.info.backend_pid) -> bool:
                    query = "select %s = any(pg_blocking_pids(%s))"
                    row = watcher.execute(query, [blocker, refreshing.info.backend_pid]).fetchone()
                    return bool(row and row[0])

                eventually(waits_for_it, what=f"the refresh waits for deletion {index + 1}")
                if index + 1 < gone:
                    deleters[index + 1].execute(delete, [doomed[index + 1]])
                deleter.commit()
            assert refreshed.result(timeout=30) == (2, 0)
            refreshing.commit()
    finally:
        for deleter in deleters:
            deleter.close()
    assert [row[1] for row in metrics_rows(database_url)] == ["Acme", "Bobco"]


def attempts_of(instance: dagster.DagsterInstance, run_id: str) -> int:
    """How often the run's one step ran: once, and once more for each retry Dagster recorded."""
    retried = instance.all_logs(run_id, of_type=dagster.DagsterEventType.STEP_UP_FOR_RETRY)
    return 1 + len(retried)


def unreachable_database(monkeypatch: pytest.MonkeyPatch) -> resources.PostgresResource:
    """The pipeline's database where no server listens, a run it fails not tried again."""
    monkeypatch.setenv(
        pipeline_settings.DATABASE_URL_VARIABLE, f"postgresql://pipeline@127.0.0.1:{free_port()}/blossom"
    )
    return resources.PostgresResource(retry_seconds=0)


def test_an_unreachable_database_fails_the_run(
    instance: dagster.DagsterInstance, monkeypatch: pytest.MonkeyPatch
) -> None:
    nowhere = unreachable_database(monkeypatch)
    result = dagster.materialize(
        [assets.auth_housekeeping], resources={"postgres": nowhere}, instance=instance, raise_on_error=False
    )
    assert not result.success
    assert attempts_of(instance, result.run_id) == 1 + nowhere.retries, (
        "a database not there yet is waited for"
    )


def cut_off_while_it_waits(database_url: str, holding: str, run: Any, *params: object) -> Any:
    """`run()` in a thread while the test holds a lock (`holding`, a statement run in its own
    transaction), its backend terminated once it waits for that lock (as a restart or a failover
    ends it: 57P01), the lock then let go (rolled back); what `run` answered."""
    return while_it_waits(
        database_url,
        holding,
        run,
        lambda watcher, pid: watcher.execute("select pg_terminate_backend(%s)", [pid]).fetchone() == (True,),
        *params,
    )


def while_it_waits(
    database_url: str,
    holding: str,
    run: Any,
    meanwhile: Callable[[psycopg.Connection[Any], int], bool],
    *params: object,
) -> Any:
    """`run()` in a thread while the test holds a lock (`holding`), `meanwhile(watcher, pid)` done
    once the run's backend `pid` waits for that lock (true when it did its part), the lock then
    let go (rolled back); what `run` answered."""
    with (
        ThreadPoolExecutor(max_workers=1) as pool,
        psycopg.connect(database_url) as holder,
        psycopg.connect(database_url, autocommit=True) as watcher,
    ):
        holder.execute(holding, params)
        running = pool.submit(run)

        def waiting_pipeline() -> int | None:
            row = watcher.execute(
                "select pid from pg_stat_activity"
                " where datname = current_database()"
                "   and application_name = 'blossom-pipeline' and wait_event_type = 'Lock'"
            ).fetchone()
            return row[0] if row else None

        pid = eventually(waiting_pipeline, timeout=60, what="the run waits for the lock")
        assert meanwhile(watcher, pid)
        holder.rollback()
        return running.result(timeout=120)


def day_run(
    postgres: resources.PostgresResource, instance: dagster.DagsterInstance
) -> dagster.ExecuteInProcessResult:
    """DAY's org_daily_metrics in process, its failure returned, not raised."""
    return dagster.materialize(
        [assets.org_daily_metrics],
        resources={"postgres": postgres},
        partition_key=DAY.isoformat(),
        instance=instance,
        raise_on_error=False,
    )


def test_a_day_cut_off_by_a_database_restart_is_tried_again(
    database_url: str, postgres: resources.PostgresResource, instance: dagster.DagsterInstance
) -> None:
    """The night's refresh with its connection ended by the server (a restart, a failover) failed,
    and nothing ran it again: the week's digest then answered pipeline.week_not_ready until an
    operator ran the day by hand. The run now tries the day again, and the day is counted once."""
    with psycopg.connect(database_url) as conn:
        seed_day(conn)
    result = cut_off_while_it_waits(
        database_url,
        "lock table analytics.org_daily_metrics",
        lambda: day_run(postgres, instance),
    )
    assert result.success
    assert attempts_of(instance, result.run_id) == 2
    assert metrics_rows(database_url) == [(DAY, "Acme", 2, 1, 1, 3, 2), (DAY, "Bobco", 1, 0, 0, 1, 1)]


def test_a_day_written_on_a_server_gone_read_only_is_tried_again(
    database_url: str, postgres: resources.PostgresResource, instance: dagster.DagsterInstance
) -> None:
    """After a failover, a connection made before the name pointed at the new primary (a DNS
    cache, a pooler) lands on the old one, a standby now: its writes are refused 25006
    read_only_sql_transaction until the name moves on. The night's refresh failed at once on it,
    and the week's digest waited for an operator. Here its session is read-only while it waits for
    a lock the test holds, and new sessions are not: tried again, the day is counted."""
    database = psycopg.conninfo.conninfo_to_dict(database_url)["dbname"]
    in_this_database = sql.SQL("alter role pipeline in database {} {}")

    def writes_allowed_again(watcher: psycopg.Connection[Any], pid: int) -> bool:
        watcher.execute(
            in_this_database.format(
                sql.Identifier(str(database)), sql.SQL("reset default_transaction_read_only")
            )
        )
        return True

    # Another test's migrate, meanwhile, would reset the role's defaults in every database
    # (sql/roles.sql), this one's too: the first session was writable, and tried once (seen).
    with one_migrate_at_a_time(database_url), psycopg.connect(database_url, autocommit=True) as conn:
        seed_day(conn)
        conn.execute(
            in_this_database.format(
                sql.Identifier(str(database)), sql.SQL("set default_transaction_read_only = on")
            )
        )
        result = while_it_waits(
            database_url,
            "lock table analytics.org_daily_metrics",
            lambda: day_run(postgres, instance),
            writes_allowed_again,
        )
    assert result.success, run_once.why_failed(result)
    assert attempts_of(instance, result.run_id) == 2
    assert metrics_rows(database_url) == [(DAY, "Acme", 2, 1, 1, 3, 2), (DAY, "Bobco", 1, 0, 0, 1, 1)]


def test_a_permanent_database_error_fails_the_run_at_once(
    database_url: str, postgres: resources.PostgresResource, instance: dagster.DagsterInstance
) -> None:
    """A missing grant is not waited out: the run fails on its first try, whatever the delays."""
    with psycopg.connect(database_url) as conn:
        conn.execute("revoke execute on function pipeline.purge_auth() from pipeline")
    # A wait the test would time out on.
    slow = resources.PostgresResource(retries=1, retry_seconds=500)
    result = dagster.materialize(
        [assets.auth_housekeeping], resources={"postgres": slow}, instance=instance, raise_on_error=False
    )
    assert not result.success
    assert attempts_of(instance, result.run_id) == 1
    assert "permission denied for function purge_auth" in run_once.why_failed(result)


def refusals_of_run_config(
    asset: dagster.AssetsDefinition,
    resource_defs: dict[str, Any],
    instance: dagster.DagsterInstance,
    configs: dict[str, dict[str, object]],
) -> list[str]:
    """The errors of a run of `asset` whose config gives each resource named in `configs` its
    config, which must fail."""
    result = dagster.materialize(
        [asset],
        resources=resource_defs,
        instance=instance,
        run_config={"resources": {name: {"config": config} for name, config in configs.items()}},
        raise_on_error=False,
    )
    assert not result.success
    return [
        error.to_string()
        for event in result.all_events
        if (error := getattr(event.event_specific_data, "error", None)) is not None
    ]


def test_a_run_is_refused_more_retries_or_a_longer_wait_than_the_settings_allow_in_its_run_config(
    postgres: resources.PostgresResource, instance: dagster.DagsterInstance
) -> None:
    """A run's config (Dagster's launchpad) sets the postgres resource's retries, or their first
    wait, past the bounds that their settings are held to as the definitions load. Such a run
    fails as its resources start, saying why."""
    errors = refusals_of_run_config(
        assets.auth_housekeeping, {"postgres": postgres}, instance, {"postgres": {"retries": 11}}
    )
    assert any("retries must be at most 10, got 11" in error for error in errors), errors
    errors = refusals_of_run_config(
        assets.auth_housekeeping, {"postgres": postgres}, instance, {"postgres": {"retry_seconds": 3600}}
    )
    assert any("retry_seconds must be at most 600, got 3600" in error for error in errors), errors


def test_the_daemons_runs_try_housekeeping_cut_off_by_a_restart_again(
    database_url: str, dagster_home: str, tmp_path: Path
) -> None:
    """Runs the daemon launches execute each step in a process of its own (Dagster's multiprocess
    executor), which tries a step again in a new process: the maintenance job as such a run, its
    connection ended while it waits, succeeds on its retry and purges what was due."""
    with psycopg.connect(database_url) as conn:
        user = make_user(conn, "ann")
        conn.execute(
            "insert into app.sessions (user_id, token_hash, expires_at) values"
            " (%s, sha256('expired'), now() - interval '1 minute')",
            [user],
        )
    environment = os.environ | {
        "DAGSTER_HOME": dagster_home,
        "BLOSSOM_PIPELINE_DATABASE_URL": with_user(database_url, "pipeline"),
        "BLOSSOM_PIPELINE_RETRY_SECONDS": "0",
    }
    # Dagster's command line (`dagster job execute`); its steps' processes are Dagster's own.
    command = PreloadedPython(
        "-m", "dagster", "job", "execute", "-m", "pipeline.definitions", "-j", "maintenance",
        environment=environment, output=tmp_path / "run.log",
    )  # fmt: skip
    try:
        status = cut_off_while_it_waits(
            database_url, "lock table app.sessions", lambda: command.wait(timeout=120)
        )
    finally:
        command.kill()
    assert status == 0, command.said()[-3000:]
    with dagster.DagsterInstance.from_config(dagster_home) as home:
        (run,) = home.get_runs()
        assert run.status == dagster.DagsterRunStatus.SUCCESS
        assert attempts_of(home, run.run_id) == 2
        materialization = home.get_latest_materialization_event(dagster.AssetKey("auth_housekeeping"))
        assert materialization is not None
        assert materialization.asset_materialization is not None
        assert materialization.asset_materialization.metadata["sessions"].value == 1


def test_housekeeping_removes_exactly_what_is_due(
    database_url: str, postgres: resources.PostgresResource, instance: dagster.DagsterInstance
) -> None:
    with psycopg.connect(database_url) as conn:
        user = make_user(conn, "ann")
        conn.execute(
            "insert into app.sessions (user_id, token_hash, expires_at, revoked_at) values"
            " (%(u)s, sha256('live'), now() + interval '1 day', null),"
            " (%(u)s, sha256('expired'), now() - interval '1 minute', null),"
            " (%(u)s, sha256('revoked'), now() + interval '1 day', now())",
            {"u": user},
        )
        conn.execute(
            "insert into app.rate_limit_hits (kind, key, at) values"
            " ('tap.test', 'k', now() - interval '2 days'), ('tap.test', 'k', now() - interval '1 hour')"
        )
        conn.execute(
            "insert into app.outbox (topic, payload, created_at, delivered_at)"
            " select 'mail.tap', jsonb_build_object('to', email), now() - age, now() - age"
            "   from (values ('old@example.com', interval '31 days'), ('new@example.com', interval '1 day'))"
            "        m (email, age)"
        )
    metadata = materialized(assets.auth_housekeeping, {"postgres": postgres}, instance)
    assert metadata["sessions"] == 2
    assert metadata["rate_limit_hits"] == 1
    assert metadata["outbox_delivered"] == 1
    with psycopg.connect(database_url) as conn:
        left = conn.execute("select count(*) from app.sessions where token_hash = sha256('live')").fetchone()
        hits = conn.execute("select count(*) from app.rate_limit_hits where kind = 'tap.test'").fetchone()
        mails = conn.execute("select payload ->> 'to' from app.outbox where topic = 'mail.tap'").fetchall()
    assert (left, hits, mails) == ((1,), (1,), [("new@example.com",)])


# The pages of our tables and indexes this transaction has fetched (sql/tests/helpers/tap.sql's
# tap.pages_fetched, summed): the work of a query, which its data decides and no machine's speed.
PAGES_FETCHED = (
    "select sum(pg_stat_get_xact_blocks_fetched(c.oid))::bigint from pg_class c"
    " where c.relnamespace = 'app'::regnamespace and c.relkind in ('r', 'i')"
)


def test_housekeeping_closes_expired_invitations_so_a_page_reads_the_live_ones(
    database_url: str, postgres: resources.PostgresResource, instance: dagster.DagsterInstance
) -> None:
    """An invitation that expired unanswered stayed open for ever, in the open invitations'
    indexes, and api.list_invitations walked past every one to fill a page (950 pages at
    17,000, an organization's two months of 50 an hour unanswered). The housekeeping closes them;
    their entries leave the index at the next vacuum, autovacuum's in a running database."""
    with psycopg.connect(database_url) as conn:
        owner = make_user(conn, "ann")
        org = make_org(conn, "Acme", {owner: "owner"})
        lapsed = conn.execute(
            "with sent as ("
            "  select n, now() - interval '60 days' + n * interval '3 minutes' as at"
            "    from generate_series(1, 20000) n)"
            " insert into app.invitations"
            "   (id, org_id, email, role, invited_by, token_hash, created_at, expires_at)"
            " select 'inv_' || app.id_body((extract(epoch from s.at) * 1000)::bigint,"
            "                              extensions.gen_random_bytes(16)),"
            "        %(org)s, 'lapsed' || s.n || '@example.com', 'member', %(owner)s,"
            "        sha256(convert_to('x' || s.n, 'UTF8')), s.at, s.at + interval '7 days'"
            "   from sent s where s.at < now() - interval '8 days'",
            {"org": org, "owner": owner},
        ).rowcount
        conn.execute(
            "insert into app.invitations (org_id, email, role, invited_by, token_hash)"
            " select %s, 'fresh' || n || '@example.com', 'member', %s, sha256(convert_to('f' || n, 'UTF8'))"
            "   from generate_series(1, 3) n",
            (org, owner),
        )
    metadata = materialized(assets.auth_housekeeping, {"postgres": postgres}, instance)
    assert metadata["invitations"] == lapsed
    with psycopg.connect(database_url, autocommit=True) as conn:
        conn.execute("vacuum analyze app.invitations")
    with psycopg.connect(database_url) as conn:
        become(conn, owner)
        conn.execute("select count(*) from api.list_invitations(%s)", (org,))  # plans it
        before = conn.execute(PAGES_FETCHED).fetchone()
        page = conn.execute("select count(*) from api.list_invitations(%s)", (org,)).fetchone()
        after = conn.execute(PAGES_FETCHED).fetchone()
    assert page == (3,)
    assert before is not None
    assert after is not None
    assert after[0] - before[0] < 100


def test_housekeeping_purges_an_organization_its_owner_deleted_a_batch_at_a_time(
    database_url: str, postgres: resources.PostgresResource, instance: dagster.DagsterInstance
) -> None:
    """An owner's deletion takes the organization out of sight and leaves its history (here 1,500
    invitations) to the housekeeping, which purges at most the database's
    app.settings.organization_purge_rows a run (1,000 here; 100,000 unless set), and the
    organization once nothing of it is left; another tenant's rows stay. The batch is the
    database's: a caller's session that sets it (to 1) changes nothing."""
    with psycopg.connect(database_url, autocommit=True) as conn:
        owner, neighbour = make_user(conn, "ann"), make_user(conn, "bob")
        org = make_org(conn, "Acme", {owner: "owner"})
        other = make_org(conn, "Bobco", {neighbour: "owner"})
        for target, count in ((org, 1_500), (other, 10)):
            conn.execute(
                "insert into app.invitations (org_id, email, role, invited_by, token_hash, revoked_at)"
                " select %(org)s, 'past' || n || '@example.com', 'member', null,"
                "        sha256(convert_to(%(seed)s || n, 'UTF8')), now()"
                "   from generate_series(1, %(count)s) n",
                {"org": target, "seed": f"{target}-", "count": count},
            )
        conn.execute(
            sql.SQL("alter database {} set app.settings.organization_purge_rows = '1000'").format(
                sql.Identifier(conn.info.dbname)
            )
        )
    with psycopg.connect(with_user(database_url, "authenticator")) as api:
        assert call_and_commit(api, owner, "delete_organization", org).ok
    first = materialized(assets.auth_housekeeping, {"postgres": postgres}, instance)
    assert (first["deleted_organizations"], first["deleted_organization_rows"]) == (0, 1_000)
    with psycopg.connect(with_user(database_url, "pipeline"), autocommit=True) as pipeline_role:
        pipeline_role.execute("set app.settings.organization_purge_rows = '1'")
        second = pipeline_role.execute(
            "select deleted_organizations, deleted_organization_rows from pipeline.purge_auth()"
        ).fetchone()
    assert second == (1, 500)
    with psycopg.connect(database_url) as conn:
        left = conn.execute(
            "select (select count(*) from app.organizations where id = %(org)s),"
            "       (select count(*) from app.invitations where org_id = %(org)s),"
            "       (select count(*) from app.invitations where org_id = %(other)s)",
            {"org": org, "other": other},
        ).fetchone()
    assert left == (0, 0, 10)


def test_two_housekeepings_at_once_count_a_purged_organization_once(database_url: str) -> None:
    """Two runs of the housekeeping at once (the hour's and a `pipeline-run`) both purged the same
    deleted organization: the second waited for the first's locks, then deleted nothing, and
    still counted the organization in its metadata (deleted_organizations 1, rows 0)."""
    with psycopg.connect(database_url, autocommit=True) as conn:
        owner = make_user(conn, "ann")
        org = make_org(conn, "Acme", {owner: "owner"})
        conn.execute(
            "insert into app.invitations (org_id, email, role, invited_by, token_hash, revoked_at)"
            " select %(org)s, 'past' || n || '@example.com', 'member', null,"
            "        sha256(convert_to(%(seed)s || n, 'UTF8')), now()"
            "   from generate_series(1, 3) n",
            {"org": org, "seed": f"{org}-"},
        )
    with psycopg.connect(with_user(database_url, "authenticator")) as api:
        assert call_and_commit(api, owner, "delete_organization", org).ok
    purge = "select deleted_organizations, deleted_organization_rows from pipeline.purge_auth()"
    with (
        psycopg.connect(with_user(database_url, "pipeline")) as first,
        psycopg.connect(with_user(database_url, "pipeline"), autocommit=True) as second,
        psycopg.connect(database_url, autocommit=True) as watcher,
        ThreadPoolExecutor(1) as pool,
    ):
        assert first.execute(purge).fetchone() == (1, 3)
        later = pool.submit(lambda: second.execute(purge).fetchone())
        eventually(lambda: waiting_for(watcher, first.info.backend_pid) == second.info.backend_pid)
        first.commit()
        assert later.result(timeout=30) == (0, 0)


def test_housekeeping_closing_expired_invitations_never_deadlocks_with_an_organizations_deletion(
    database_url: str,
) -> None:
    """The housekeeping closed every expired invitation in the order of their expiry, waiting for
    each one another transaction held; an organization's deletion deletes its invitations in the
    order of their rows. With two expired ones stored in the other order, each held one and waited
    for the other's (40P01): the owner's deletion answered 503, or the hour's housekeeping failed
    whole. One another transaction holds is left for the next hour now."""
    with psycopg.connect(database_url) as conn:
        owner = make_user(conn, "ann")
        org = make_org(conn, "Acme", {owner: "owner"})
        # Stored in this order: the later expiry first, the live one that the deletion meets
        # between them, the earlier expiry last.
        invitation_ids = []
        for name, age in (("later", "10 days"), ("live", "0 days"), ("earlier", "20 days")):
            row = conn.execute(
                "insert into app.invitations"
                "   (org_id, email, role, invited_by, token_hash, created_at, expires_at)"
                " values (%(org)s, %(email)s::text, 'member', %(owner)s,"
                "         sha256(convert_to(%(email)s::text, 'UTF8')),"
                "         now() - %(age)s::interval, now() - %(age)s::interval + interval '7 days')"
                " returning id",
                {"org": org, "owner": owner, "email": f"{name}@example.com", "age": age},
            ).fetchone()
            assert row is not None
            invitation_ids.append(row[0])
        # Answered ones of another organization, so that the open ones are found by their index.
        other = make_org(conn, "Bobco", {owner: "owner"})
        conn.execute(
            "insert into app.invitations (org_id, email, role, invited_by, token_hash, accepted_at)"
            " select %s, 'old' || n || '@example.com', 'member', %s,"
            "        sha256(convert_to('old' || n, 'UTF8')), now()"
            "   from generate_series(1, 5000) n",
            (other, owner),
        )
    with psycopg.connect(database_url, autocommit=True) as conn:
        conn.execute("analyze app.invitations")
    live = invitation_ids[1]
    with (
        ThreadPoolExecutor(max_workers=2) as pool,
        psycopg.connect(database_url) as holder,
        psycopg.connect(database_url, autocommit=True) as watcher,
        psycopg.connect(database_url) as deleting,
        psycopg.connect(with_user(database_url, "pipeline")) as housekeeping,
    ):
        holder.execute("select from app.invitations where id = %s for update", [live])
        deleted = pool.submit(
            lambda: deleting.execute("delete from app.organizations where id = %s", [org]).rowcount
        )
        eventually(lambda: waiting_for_a_lock(watcher, deleting.info.backend_pid), what="the deletion waits")
        closed = pool.submit(
            lambda: housekeeping.execute("select invitations from pipeline.purge_auth()").fetchone()
        )
        time.sleep(0.5)  # the housekeeping goes as far as it can
        holder.rollback()
        assert closed.result(timeout=10) == (1,), "the earlier one; the later, being deleted, is left"
        housekeeping.commit()
        assert deleted.result(timeout=10) == 1
        deleting.commit()
    with psycopg.connect(database_url) as conn:
        left = conn.execute("select count(*) from app.invitations where org_id = %s", [org]).fetchone()
    assert left == (0,)


def test_the_export_writes_the_metrics_to_the_sheet(
    database_url: str,
    postgres: resources.PostgresResource,
    instance: dagster.DagsterInstance,
    sheets_fake: FakeSheets,
) -> None:
    with psycopg.connect(database_url) as conn:
        acme, _ = make_org(conn, "Acme", {}), None
    today = datetime.now(UTC).date()
    materialized(assets.org_daily_metrics, {"postgres": postgres}, instance, today.isoformat())
    sheets_fake.add_spreadsheet("metrics-key", "Sheet1")
    with pytest.MonkeyPatch.context() as env:
        env.setenv("BLOSSOM_GOOGLE_SERVICE_ACCOUNT_FILE", str(sheets_fake.key_file))
        env.setenv("BLOSSOM_METRICS_SPREADSHEET_KEY", "metrics-key")
        env.setenv("BLOSSOM_SHEETS_API_URL", sheets_fake.url)
        sheets = resources.SheetsResource()
        metadata = materialized(assets.org_metrics_sheet, {"postgres": postgres, "sheets": sheets}, instance)
    assert metadata["rows"] == 1
    assert sheets_fake.values("metrics-key", "org_daily_metrics") == [
        list(assets.EXPORT_HEADER),
        [today.isoformat(), acme, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0],
    ]


def test_the_export_without_a_spreadsheet_fails_naming_the_setting(
    postgres: resources.PostgresResource, instance: dagster.DagsterInstance
) -> None:
    with pytest.MonkeyPatch.context() as env:
        env.delenv("BLOSSOM_GOOGLE_SERVICE_ACCOUNT_FILE", raising=False)
        env.delenv("BLOSSOM_METRICS_SPREADSHEET_KEY", raising=False)
        result = dagster.materialize(
            [assets.org_metrics_sheet],
            resources={"postgres": postgres, "sheets": resources.SheetsResource()},
            instance=instance,
            raise_on_error=False,
        )
    assert not result.success
    assert "BLOSSOM_GOOGLE_SERVICE_ACCOUNT_FILE" in str(
        result.get_step_failure_events()[0].step_failure_data.error
    )


@pytest.mark.parametrize(
    ("resource", "config"),
    [
        ("slack", {"secrets_key": {"env": "BLOSSOM_SECRETS_KEY"}, "api_url": "http://127.0.0.1:9/api/"}),
        (
            "sheets",
            {
                "service_account_file": "/etc/passwd",
                "spreadsheet_key": "theirs",
                "api_url": "http://127.0.0.1:9",
            },
        ),
        ("postgres", {"url": {"env": "BLOSSOM_SECRETS_KEY"}}),
    ],
    ids=["slack-api-url", "sheets-spreadsheet-and-url", "database-url"],
)
def test_a_runs_config_cannot_send_a_credential_or_the_metrics_elsewhere(
    resource: str, config: dict[str, object], monkeypatch: pytest.MonkeyPatch
) -> None:
    """Dagster's webserver launches a run with the config it is given (its launchpad), the
    resources' config among it: a run naming another Slack API URL, the key ring still the
    deployment's ({"env": "BLOSSOM_SECRETS_KEY"}), opened every organization's bot token and posted
    with it there; another spreadsheet or Sheets URL took every organization's metrics, and the
    service account's token; a database URL read from any variable ({"env": "BLOSSOM_SECRETS_KEY"})
    was quoted whole in the run's log by psycopg's refusal of it, and one of another host was
    given libpq's PGPASSWORD. Where the database and each service are, and what the export writes
    to, are the deployment's settings, read from the environment: no run's config has them."""
    monkeypatch.setenv("BLOSSOM_SECRETS_KEY", new_key_entry("deployed"))
    job_name = {"slack": "weekly_digest", "sheets": "metrics_export", "postgres": "maintenance"}[resource]
    job = definitions.defs.resolve_job_def(job_name)
    with pytest.raises(dagster.DagsterInvalidConfigError) as refused:
        dagster.validate_run_config(job, {"resources": {resource: {"config": config}}})
    refusal = str(refused.value)
    assert "Received unexpected config entr" in refusal
    assert all(name in refusal for name in config.keys() - {"secrets_key"}), refusal


@pytest.mark.parametrize("timeout", [0, -1, float("inf")])
def test_a_runs_config_gives_the_export_no_timeout_its_setting_would_refuse(
    postgres: resources.PostgresResource, instance: dagster.DagsterInstance, timeout: float
) -> None:
    """BLOSSOM_SHEETS_TIMEOUT is a positive number of seconds; a run's config (Dagster's
    launchpad) gave the export's calls a timeout of 0, a negative one or an endless one, which
    no check saw."""
    errors = refusals_of_run_config(
        assets.org_metrics_sheet,
        {"postgres": postgres, "sheets": resources.SheetsResource()},
        instance,
        {"sheets": {"timeout": timeout}},
    )
    assert any("timeout must be a positive number of seconds" in error for error in errors), errors


def refreshed_week(conn: psycopg.Connection, *org_ids: str, but: tuple[date, ...] = ()) -> None:
    """The organizations made before the week of 2026-01-05, and each day of it refreshed (but
    those given), as its digest waits for: rows of zeros where a test has put none."""
    conn.execute(
        "update app.organizations set created_at = '2026-01-01Z' where id = any(%s)", (list(org_ids),)
    )
    conn.execute(
        "insert into analytics.org_daily_metrics"
        " (day, org_id, members, invitations_sent, invitations_accepted, logins, active_users)"
        " select d.day, o.id, 0, 0, 0, 0, 0"
        "   from generate_series('2026-01-05'::date, '2026-01-11'::date, interval '1 day') d (day),"
        "        unnest(%s::text[]) o (id)"
        "  where d.day::date <> all (%s::date[])"
        " on conflict do nothing",
        (list(org_ids), list(but)),
    )


def test_the_weekly_digest_posts_each_connected_organization_its_week_once(
    database_url: str, postgres: resources.PostgresResource, instance: dagster.DagsterInstance
) -> None:
    key = new_key_entry("k1")
    ring = KeyRing.from_entries(key)
    with FakeSlack() as fake, psycopg.connect(database_url) as conn:
        acme, quiet, broken = (
            make_org(conn, "Acme", {}),
            make_org(conn, "Quiet", {}),
            make_org(conn, "Gone", {}),
        )
        make_org(conn, "Unconnected", {})
        for day, members, sent, logins, active in ((5, 3, 2, 4, 2), (11, 4, 1, 5, 3), (12, 9, 9, 9, 9)):
            conn.execute(
                "insert into analytics.org_daily_metrics"
                " (day, org_id, members, invitations_sent, invitations_accepted, logins, active_users)"
                " values (%s, %s, %s, %s, 1, %s, %s)",
                (date(2026, 1, day), acme, members, sent, logins, active),
            )
        for org_id, token, channel in ((acme, "xoxb-acme", "#acme"), (quiet, "xoxb-quiet", "#quiet")):
            fake.add_workspace(token, team_id="T1", team="Team", channels={channel})
            connect_slack(conn, ring, org_id, token, channel)
        connect_slack(conn, ring, broken, "xoxb-gone", "#gone")
        conn.execute("update app.slack_connections set broken_at = now() where org_id = %s", (broken,))
        refreshed_week(conn, acme, quiet, broken)
        conn.commit()

        slack = resources.SlackResource(secrets_key=key)
        with pytest.MonkeyPatch.context() as env:
            env.setenv("BLOSSOM_SLACK_API_URL", fake.api_url)
            metadata = materialized(
                assets.weekly_slack_digest, {"postgres": postgres, "slack": slack}, instance, "2026-01-05"
            )

        assert metadata == {"week": "2026-01-05", "posted": 2, "posted_elsewhere": 0}
        assert [post.shown for post in fake.posts_to("#acme")] == [
            "*Acme*, the week of 05 Jan to 11 Jan 2026:\n• 4 members\n• 3 invitations sent, 2 accepted\n"
            "• 9 logins; at most 3 members active in a day"
        ], "the week's days only, once"
        (quiet_post,) = fake.posts_to("#quiet")
        assert "• 0 members" in quiet_post.shown
        assert quiet_post.text.startswith("Quiet, the week of 05 Jan"), "the fallback: the same, plain"
        assert fake.posts_to("#gone") == [], "a broken connection gets nothing"
        assert {post.token for post in fake.posts} == {"xoxb-acme", "xoxb-quiet"}


def test_the_digest_shows_a_typed_name_as_text_never_a_link_or_a_mention() -> None:
    with FakeSlack() as fake:
        fake.add_workspace("xoxb-acme", team_id="T1", team="Team", channels={"#acme"})
        digest = assets.digest_message("Acme <!channel> www.evil.example\u202e", date(2026, 1, 5), [])
        asyncio.run(
            SlackClient(SlackSettings(api_url=fake.api_url)).post_message("xoxb-acme", "#acme", digest)
        )
    (post,) = fake.posts
    name, bold = post.runs[0]
    assert bold
    assert name.startswith("Acme <!channel> www."), "shown as typed: a rich text element makes no mention"
    assert "evil.example" not in name, "a host name Slack would make a link of"
    assert "\u202e" not in name
    assert "&lt;!channel&gt;" in post.text, "the plain fallback, escaped"


def test_the_digest_shows_a_typed_name_as_typed_never_as_formatting() -> None:
    """`*` in an organization's name closed the bold around it: the rest read as our own words."""
    name = "Acme* had 1000 members *and* _a_ ~b~ `c` *x"
    with FakeSlack() as fake:
        fake.add_workspace("xoxb-acme", team_id="T1", team="Team", channels={"#acme"})
        digest = assets.digest_message(name, date(2026, 1, 5), [])
        asyncio.run(
            SlackClient(SlackSettings(api_url=fake.api_url)).post_message("xoxb-acme", "#acme", digest)
        )
    (post,) = fake.posts
    assert post.runs[0] == (name, True)
    assert [bold for _text, bold in post.runs] == [True, False], "nothing after it is bold"
    assert post.runs[1][0].startswith(", the week of 05 Jan to 11 Jan 2026:\n• 0 members\n")
    assert post.mrkdwn is False


def digest_of_the_week(
    postgres: resources.PostgresResource,
    key: str,
    fake: FakeSlack,
    instance: dagster.DagsterInstance,
    slack_timeout: float = 10.0,
) -> dagster.ExecuteInProcessResult:
    """The weekly digest of 2026-01-05, in process, posted to the fake Slack; a failure is its result's."""
    with pytest.MonkeyPatch.context() as env:
        env.setenv("BLOSSOM_SLACK_API_URL", fake.api_url)
        return dagster.materialize(
            [assets.weekly_slack_digest],
            resources={
                "postgres": postgres,
                "slack": resources.SlackResource(secrets_key=key, timeout_seconds=slack_timeout),
            },
            partition_key="2026-01-05",
            instance=instance,
            raise_on_error=False,
        )


def test_a_refused_digest_fails_the_run_after_the_others_are_posted(
    database_url: str, postgres: resources.PostgresResource, instance: dagster.DagsterInstance
) -> None:
    key = new_key_entry("k1")
    with FakeSlack() as fake, psycopg.connect(database_url) as conn:
        for name, token in (("Acme", "xoxb-acme"), ("Revoked", "xoxb-revoked")):
            org_id = make_org(conn, name, {})
            fake.add_workspace(token, team_id="T1", team="Team", channels={f"#{name.lower()}"})
            connect_slack(conn, KeyRing.from_entries(key), org_id, token, f"#{name.lower()}")
            refreshed_week(conn, org_id)
        conn.commit()
        fake.revoke("xoxb-revoked")

        def run_the_week() -> dagster.ExecuteInProcessResult:
            return digest_of_the_week(postgres, key, fake, instance)

        result = run_the_week()
        assert not result.success
        assert "1 of 2 weekly digests were not posted" in str(
            result.get_step_failure_events()[0].step_failure_data.error
        )
        assert len(fake.posts_to("#acme")) == 1
        broken = conn.execute(
            "select o.name, c.broken_reason from app.slack_connections c"
            " join app.organizations o on o.id = c.org_id where c.broken_at is not null"
        ).fetchall()
        assert broken == [("Revoked", "invalid_auth")], (
            "refused for good: marked broken, as the worker marks it"
        )
        again = run_the_week()
        assert again.success, "the week run again fails on nothing: one is broken, the other had it"
        assert len(fake.posts_to("#acme")) == 1, "a week run again does not post twice"


def test_a_digest_cut_off_by_a_database_restart_is_tried_again_and_posted_once(
    database_url: str, postgres: resources.PostgresResource, instance: dagster.DagsterInstance
) -> None:
    """The first organization's digest posted and recorded, the run's connection ended while it
    claims the second's (held by the test): tried again, the run posts the second, and the first
    not again (it is recorded sent; a digest whose record was lost with the connection is its
    run's own claim, which the run never takes over: docs/pipeline.md)."""
    key = new_key_entry("k1")
    with FakeSlack() as fake, psycopg.connect(database_url) as conn:
        orgs = []
        for name in ("Acme", "Bobco"):
            orgs.append(make_org(conn, name, {}))
            fake.add_workspace(
                f"xoxb-{name.lower()}", team_id="T1", team="Team", channels={f"#{name.lower()}"}
            )
            connect_slack(
                conn, KeyRing.from_entries(key), orgs[-1], f"xoxb-{name.lower()}", f"#{name.lower()}"
            )
            refreshed_week(conn, orgs[-1])
        conn.commit()
        result = cut_off_while_it_waits(
            database_url,
            "insert into analytics.slack_digest_claims (week, org_id, state, claim, claimed_at)"
            " values ('2026-01-05', %s, 'claimed', gen_random_uuid(), now())",
            lambda: digest_of_the_week(postgres, key, fake, instance),
            max(orgs),
        )
        assert result.success, result.get_step_failure_events()
        assert attempts_of(instance, result.run_id) == 2
        assert (len(fake.posts_to("#acme")), len(fake.posts_to("#bobco"))) == (1, 1)


def test_a_retry_that_comes_after_its_own_claim_lapsed_does_not_post_that_digest_again(
    database_url: str, postgres: resources.PostgresResource, instance: dagster.DagsterInstance
) -> None:
    """The first organization's digest posted, the run's connection ended while it records it
    (held by the test): that digest's claim is the run's own, its post made or not. A retry that
    came after the claim's ten minutes (its waits are bounded, not the posts of the others in
    between: a thousand organizations at half a second each) took it over as a stopped run's,
    posted it again, and the run succeeded. The retry posts the others and fails that one,
    saying why; the week run again (another run) posts it, at least once."""
    key = new_key_entry("k1")
    with FakeSlack() as fake, psycopg.connect(database_url) as conn:
        orgs = []
        for name in ("Acme", "Bobco"):
            orgs.append(make_org(conn, name, {}))
            fake.add_workspace(f"xoxb-{orgs[-1]}", team_id="T1", team="Team", channels={f"#{orgs[-1]}"})
            connect_slack(conn, KeyRing.from_entries(key), orgs[-1], f"xoxb-{orgs[-1]}", f"#{orgs[-1]}")
            refreshed_week(conn, orgs[-1])
        conn.commit()
        first, second = sorted(orgs)

        def lapsed_then_cut_off(watcher: psycopg.Connection[Any], pid: int) -> bool:
            watcher.execute(
                "update analytics.slack_digest_claims set claimed_at = claimed_at - interval '10 minutes'"
                " where org_id = %s",
                [first],
            )
            return watcher.execute("select pg_terminate_backend(%s)", [pid]).fetchone() == (True,)

        result = while_it_waits(
            database_url,
            "insert into analytics.slack_digests (week, org_id) values ('2026-01-05', %s)",
            lambda: digest_of_the_week(postgres, key, fake, instance),
            lapsed_then_cut_off,
            first,
        )
        assert not result.success
        assert attempts_of(instance, result.run_id) == 2
        assert (len(fake.posts_to(f"#{first}")), len(fake.posts_to(f"#{second}"))) == (1, 1)
        assert "claimed by an earlier attempt of this run" in str(
            result.get_step_failure_events()[0].step_failure_data.error
        )


def test_a_digest_with_no_organization_on_slack_needs_no_key(
    database_url: str, postgres: resources.PostgresResource, instance: dagster.DagsterInstance
) -> None:
    """The key ring was asked for before the run knew of any organization to post to: a
    deployment that keeps no key, none of its organizations on Slack, failed its digest every
    week. It is asked for once there is a token to open, and without it that run still fails
    naming the setting."""
    with FakeSlack() as fake, psycopg.connect(database_url) as conn:
        refreshed_week(conn, make_org(conn, "Unconnected", {}))
        conn.commit()
        result = digest_of_the_week(postgres, "", fake, instance)
        assert result.success, result.get_step_failure_events()
        (materialization,) = result.asset_materializations_for_node("weekly_slack_digest")
        assert materialization.metadata["posted"].value == 0
        assert fake.posts == []

        connected = make_org(conn, "Acme", {})
        fake.add_workspace("xoxb-acme", team_id="T1", team="Team", channels={"#acme"})
        connect_slack(conn, KeyRing.from_entries(new_key_entry("k1")), connected, "xoxb-acme", "#acme")
        refreshed_week(conn, connected)
        conn.commit()
        result = digest_of_the_week(postgres, "", fake, instance)
        assert not result.success
        assert "BLOSSOM_SECRETS_KEY is not set" in str(
            result.get_step_failure_events()[0].step_failure_data.error
        )
        assert fake.posts == []


def test_a_week_is_posted_only_once_every_day_of_it_is_refreshed(
    database_url: str, postgres: resources.PostgresResource, instance: dagster.DagsterInstance
) -> None:
    """Its Sunday not refreshed (the daily run failed), a week told of 0 members, and run again
    after the refresh it posted nothing, recorded as sent. An organization made since the week
    gets none of it."""
    key = new_key_entry("k1")
    with FakeSlack() as fake, psycopg.connect(database_url) as conn:
        acme, late = make_org(conn, "Acme", {}), make_org(conn, "Late", {})
        for org_id in (acme, late):
            fake.add_workspace(f"xoxb-{org_id}", team_id="T1", team="Team", channels={f"#{org_id}"})
            connect_slack(conn, KeyRing.from_entries(key), org_id, f"xoxb-{org_id}", f"#{org_id}")
        sunday = date(2026, 1, 11)
        refreshed_week(conn, acme, but=(sunday,))
        conn.commit()

        result = digest_of_the_week(postgres, key, fake, instance)
        assert not result.success
        assert "pipeline.week_not_ready" in str(result.get_step_failure_events()[0].step_failure_data.error)
        assert fake.posts == [], "nothing posted of a week not counted"

        conn.execute(
            "insert into analytics.org_daily_metrics"
            " (day, org_id, members, invitations_sent, invitations_accepted, logins, active_users)"
            " values (%s, %s, 2, 0, 0, 0, 0)",
            (sunday, acme),
        )
        conn.commit()
        assert digest_of_the_week(postgres, key, fake, instance).success
        (post,) = fake.posts
        assert post.channel == f"#{acme}", "once, and not to the organization made since"
        assert "• 2 members" in post.shown, "the Sunday's members"


def test_each_digest_is_recorded_as_it_is_posted(
    database_url: str,
    postgres: resources.PostgresResource,
    instance: dagster.DagsterInstance,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A run that fails half-way has recorded the digests it posted, and an organization deleted
    while the run goes on fails nothing: the week run again posts to no one twice. (All were
    recorded at the end, in one transaction: the deletion failed it on the foreign key, and an
    error it did not expect, or a stop, lost it.)"""
    key = new_key_entry("k1")
    with FakeSlack() as fake, psycopg.connect(database_url, autocommit=True) as conn:
        made = [make_org(conn, name, {}) for name in ("Acme", "Bobco", "Cyan")]
        # In the order the run posts them (by id; ids made in one millisecond are in any order).
        first, second, last = sorted(made)
        for org_id in made:
            fake.add_workspace(f"xoxb-{org_id}", team_id="T1", team="Team", channels={f"#{org_id}"})
            connect_slack(conn, KeyRing.from_entries(key), org_id, f"xoxb-{org_id}", f"#{org_id}")
        refreshed_week(conn, *made)

        post_message = services_slack.SlackClient.post_message

        async def first_deleted_then_last_unreachable(
            client: services_slack.SlackClient, token: str, channel: str, message: services_slack.SlackMessage
        ) -> None:
            if channel == f"#{last}":
                raise ConnectionAbortedError("the run stops here")
            await post_message(client, token, channel, message)
            if channel == f"#{first}":
                conn.execute("delete from app.organizations where id = %s", (first,))

        def posts() -> list[int]:
            return [len(fake.posts_to(f"#{org_id}")) for org_id in (first, second, last)]

        with monkeypatch.context() as patched:
            patched.setattr(services_slack.SlackClient, "post_message", first_deleted_then_last_unreachable)
            assert not digest_of_the_week(postgres, key, fake, instance).success
        assert posts() == [1, 1, 0]

        assert digest_of_the_week(postgres, key, fake, instance).success
        assert posts() == [1, 1, 1], "each once"


def test_a_digest_goes_where_its_organization_is_connected_when_it_is_posted(
    database_url: str,
    postgres: resources.PostgresResource,
    instance: dagster.DagsterInstance,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The run read every recipient's channel and token as it began, and posted with them however
    long it ran (a post may take Slack's timeout, 10 s, each): an organization that disconnected
    Slack meanwhile, or whose connection broke (Slack refused it to the worker, or its maker lost
    the right to make it), still had its week posted to that channel, and one connected again to
    another channel had it in the old one, with the old token. Each digest is posted with the
    organization's working connection as it is when the run claims it."""
    key = new_key_entry("k1")
    ring = KeyRing.from_entries(key)
    with FakeSlack() as fake, psycopg.connect(database_url, autocommit=True) as conn:
        made = [make_org(conn, name, {}) for name in ("Acme", "Bobco", "Cyan", "Dune")]
        first, disconnected, broken, moved = sorted(made)
        for org_id in made:
            fake.add_workspace(f"xoxb-{org_id}", team_id="T1", team="Team", channels={f"#{org_id}"})
            connect_slack(conn, ring, org_id, f"xoxb-{org_id}", f"#{org_id}")
        fake.add_workspace("xoxb-moved-anew", team_id="T2", team="Other", channels={"#moved-anew"})
        refreshed_week(conn, *made)

        post_message = services_slack.SlackClient.post_message

        async def the_others_change_once_the_first_is_posted(
            client: services_slack.SlackClient, token: str, channel: str, message: services_slack.SlackMessage
        ) -> None:
            await post_message(client, token, channel, message)
            if channel == f"#{first}":
                conn.execute("delete from app.slack_connections where org_id = %s", (disconnected,))
                conn.execute(
                    "update app.slack_connections set broken_at = now(), broken_reason = 'invalid_auth'"
                    " where org_id = %s",
                    (broken,),
                )
                anew = ring.seal("xoxb-moved-anew", bot_token_context(moved))
                conn.execute(
                    "update app.slack_connections set channel = '#moved-anew', bot_token_key_id = %s,"
                    " bot_token_sealed = %s, connected_at = clock_timestamp() where org_id = %s",
                    (anew.key_id, anew.ciphertext, moved),
                )

        with monkeypatch.context() as patched:
            patched.setattr(
                services_slack.SlackClient, "post_message", the_others_change_once_the_first_is_posted
            )
            result = digest_of_the_week(postgres, key, fake, instance)
        assert result.success, "an organization no longer connected is owed no digest"
        posted = {channel: len(fake.posts_to(channel)) for channel in (f"#{org_id}" for org_id in made)}
        assert posted == {f"#{first}": 1, f"#{disconnected}": 0, f"#{broken}": 0, f"#{moved}": 0}
        assert [post.token for post in fake.posts_to("#moved-anew")] == ["xoxb-moved-anew"]
        claims = conn.execute(
            "select count(*) from analytics.slack_digest_claims where week = '2026-01-05'"
        ).fetchone()
        assert claims == (0,), "no claim left to hold the digest from a connection made later in the week"


def test_two_runs_of_a_week_at_once_post_to_each_organization_once(
    database_url: str, postgres: resources.PostgresResource, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Two runs of one week under way together (two Dagster runs, a retry while the first still
    runs, the schedule's run and a `pipeline-run`): both read that nothing was posted yet, and
    both posted to every organization. Here each waits, once it has the week's recipients, until
    the other has them too."""
    key = new_key_entry("k1")
    with FakeSlack() as fake, psycopg.connect(database_url, autocommit=True) as conn:
        made = [make_org(conn, name, {}) for name in ("Acme", "Bobco", "Cyan", "Dune")]
        for org_id in made:
            fake.add_workspace(f"xoxb-{org_id}", team_id="T1", team="Team", channels={f"#{org_id}"})
            connect_slack(conn, KeyRing.from_entries(key), org_id, f"xoxb-{org_id}", f"#{org_id}")
        refreshed_week(conn, *made)

        both_listed = threading.Barrier(2, timeout=30)

        def listed_together(conn: psycopg.Connection, *, p_week: date) -> list[Any]:
            listed = pipeline_slack_digest_targets(conn, p_week=p_week)
            both_listed.wait()
            return listed

        monkeypatch.setattr("pipeline.assets.pipeline_slack_digest_targets", listed_together)

        def one_run() -> dagster.ExecuteInProcessResult:
            with dagster.DagsterInstance.ephemeral() as own:
                return digest_of_the_week(postgres, key, fake, own)

        with ThreadPoolExecutor(max_workers=2) as pool:
            runs = [pool.submit(one_run) for _ in range(2)]
            results = [run.result(timeout=120) for run in runs]

        assert {org_id: len(fake.posts_to(f"#{org_id}")) for org_id in made} == dict.fromkeys(made, 1), (
            "one post per organization, whichever run made it"
        )
        assert all(result.success for result in results), "neither run failed: each digest was posted"
        recorded = conn.execute(
            "select count(*) from analytics.slack_digests where week = '2026-01-05' and org_id = any(%s)",
            [made],
        ).fetchone()
        assert recorded == (len(made),)
        metadata: list[dict[str, Any]] = [
            {key: value.value for key, value in materialization.metadata.items()}
            for result in results
            for materialization in result.asset_materializations_for_node("weekly_slack_digest")
        ]
        assert sum(each["posted"] for each in metadata) == len(made), "each posted by one run"
        assert sum(each["posted_elsewhere"] for each in metadata) == len(made), "and left by the other"


def test_a_digest_claimed_by_a_run_that_stopped_is_posted_once_its_claim_lapses(
    database_url: str, postgres: resources.PostgresResource, instance: dagster.DagsterInstance
) -> None:
    """A run killed while it posted a digest leaves its claim, its post made or not. The week run
    again posts the others, waits for that one as long as a post may take (the Slack timeout, and
    a margin), and fails naming it; once the claim lapses (ten minutes), a run takes it over,
    posts it, and says that the channel may get it twice."""
    key = new_key_entry("k1")
    with FakeSlack() as fake, psycopg.connect(database_url, autocommit=True) as conn:
        stopped, other = sorted(make_org(conn, name, {}) for name in ("Acme", "Bobco"))
        for org_id in (stopped, other):
            fake.add_workspace(f"xoxb-{org_id}", team_id="T1", team="Team", channels={f"#{org_id}"})
            connect_slack(conn, KeyRing.from_entries(key), org_id, f"xoxb-{org_id}", f"#{org_id}")
        refreshed_week(conn, stopped, other)
        with psycopg.connect(with_user(database_url, "pipeline"), autocommit=True) as killed:
            claimed = killed.execute(
                "select outcome from pipeline.slack_digest_claim('2026-01-05', %s, 'killed')", [stopped]
            ).fetchone()
        assert claimed == ("claimed",)

        def posts() -> list[int]:
            return [len(fake.posts_to(f"#{org_id}")) for org_id in (stopped, other)]

        # Short, as the run waits that long (and a margin) for the held one; long enough that the
        # other's post, on a busy machine, is not cut short (1 s was, once, as slack.unavailable).
        slack_timeout = 2.0
        began = time.monotonic()
        result = digest_of_the_week(postgres, key, fake, instance, slack_timeout=slack_timeout)
        assert not result.success
        assert time.monotonic() - began >= slack_timeout + assets.HELD_MARGIN_SECONDS, (
            "it waited a post's time"
        )
        assert "1 of 2 weekly digests were not posted: ['claimed by another run']" in str(
            result.get_step_failure_events()[0].step_failure_data.error
        )
        assert posts() == [0, 1]

        conn.execute(
            "update analytics.slack_digest_claims set claimed_at = claimed_at - interval '10 minutes'"
            " where org_id = %s",
            [stopped],
        )
        again = digest_of_the_week(postgres, key, fake, instance)
        assert again.success
        assert posts() == [1, 1], "the claim taken over, and posted"
        said = [entry.user_message for entry in instance.all_logs(again.run_id)]
        assert any(f"weekly digest of {stopped}: taken over" in message for message in said)
        assert digest_of_the_week(postgres, key, fake, instance).success
        assert posts() == [1, 1], "and never again"


def failure(failure_id: int, at: float | None = None) -> PipelineFailedDeliveriesRow:
    """A failure, recorded `at` (seconds since the epoch; none: when the sensor sees it)."""
    failed_at = None if at is None else datetime.fromtimestamp(at, UTC)
    return PipelineFailedDeliveriesRow(
        failure_id, failure_id, f"evt_{failure_id}", "mail.test", 8, "550 no", failed_at, None
    )


def test_an_incident_opens_once_and_closes_after_a_quiet_hour() -> None:
    state = sensors.Incidents()
    state = state.seen([failure(3), failure(4)], now=1000.0, quiet_seconds=3600)[0]
    assert state == sensors.Incidents(last_failure_id=4, open_incident=3, last_failure_at=1000.0)
    assert state.seen([failure(5)], now=2000.0, quiet_seconds=3600)[0].open_incident == 3, "the same incident"
    assert state.seen([], now=2000.0, quiet_seconds=3600)[0] == state, "still open while not quiet"
    quiet = state.seen([], now=5000.0, quiet_seconds=3600)[0]
    assert quiet.seen([failure(9)], now=5001.0, quiet_seconds=3600)[0].open_incident == 9, "a new incident"
    assert sensors.Incidents.from_cursor(state.to_cursor()) == state


def test_an_incident_is_told_by_when_its_failures_happened_not_when_the_sensor_saw_them() -> None:
    """The sensor's daemon stopped for two hours while failures went on coming, one every half
    hour: one incident, though the sensor saw none of it for longer than the quiet hour. It took
    the failures seen after its restart for a new incident, and alerted again. And the other way:
    a failure after a quiet hour and a half, seen by a sensor that had seen the one before it
    late, is a new incident."""
    hour = 3600.0
    state = sensors.Incidents().seen([failure(3, at=1000.0)], now=1000.0, quiet_seconds=hour)[0]
    assert state.open_incident == 3
    every_half_hour = [failure(4 + n, at=1000.0 + (n + 1) * hour / 2) for n in range(3)]
    restarted = state.seen(every_half_hour, now=1000.0 + 2 * hour, quiet_seconds=hour)[0]
    assert restarted.open_incident == 3, "the same incident: no quiet hour between its failures"
    late = sensors.Incidents().seen([failure(3, at=1000.0)], now=1000.0 + 0.9 * hour, quiet_seconds=hour)[0]
    again = late.seen([failure(4, at=1000.0 + 1.5 * hour)], now=1000.0 + 1.5 * hour, quiet_seconds=hour)[0]
    assert again.open_incident == 4, "a failure after a quiet hour and a half opens a new incident"
    _, after_quiet = state.seen([failure(4, at=1000.0 + 2 * hour)], now=1000.0 + 3 * hour, quiet_seconds=hour)
    assert list(after_quiet) == [4]
    two = [failure(3, at=1000.0), failure(4, at=1000.0 + 2 * hour)]
    _, both = sensors.Incidents().seen(two, now=9000.0, quiet_seconds=hour)
    assert list(both) == [3, 4], "two incidents seen at once are two alerts"


def test_an_incident_is_not_closed_by_the_sensors_clock() -> None:
    """The sensor's clock ten minutes ahead of the database's: a look that finds nothing 3,100 s
    after a failure (3,700 s by the sensor's clock) closed the incident, and the next failure,
    3,200 s after the first by when they failed, was alerted as a new incident."""
    hour = 3600.0
    skew = 600.0
    state = sensors.Incidents().seen([failure(3, at=1000.0)], now=1000.0 + skew, quiet_seconds=hour)[0]
    looked = state.seen([], now=1000.0 + 3100.0 + skew, quiet_seconds=hour)[0]
    after, incidents = looked.seen(
        [failure(4, at=1000.0 + 3200.0)], now=1000.0 + 3200.0 + skew, quiet_seconds=hour
    )
    assert after.open_incident == 3, "the same incident: 3,200 s between its failures"
    assert [i for i in incidents if i != looked.open_incident] == [], "no second alert"


def queue_mails(database_url: str, count: int) -> list[str]:
    """Mails in the outbox, each with its job in the queue; their event ids."""
    with psycopg.connect(database_url) as conn:
        return [
            str(conn.execute(
                "insert into app.outbox (topic, payload, attempts, last_error)"
                " values ('mail.test', '{}', 8, '550 no such mailbox') returning id"
            ).fetchone()[0])  # type: ignore[index]
            for _ in range(count)
        ]  # fmt: skip


def fail(database_url: str, events: list[str]) -> None:
    """The mails' jobs ended failed, as the worker ends them."""
    with psycopg.connect(database_url) as conn:
        conn.execute("set search_path = jobs, public")  # procrastinate's trigger names its tables bare
        for event in events:
            conn.execute("update app.outbox set given_up_at = now() where id = %s", (event,))
            for status in ("doing", "failed"):
                conn.execute(
                    "update jobs.procrastinate_jobs set status = %s where args ->> 'event_id' = %s",
                    (status, event),
                )


def fail_deliveries(database_url: str, count: int) -> None:
    """Mails whose jobs ended failed."""
    fail(database_url, queue_mails(database_url, count))


def sensor_tick_and_cursor(
    postgres: resources.PostgresResource, instance: dagster.DagsterInstance, cursor: str | None
) -> tuple[dagster.SensorResult | dagster.SkipReason, str | None]:
    """One evaluation of the failed-deliveries sensor from the cursor, and the cursor it left
    (a skip's is the context's)."""
    context = dagster.build_sensor_context(instance=instance, cursor=cursor, resources={"postgres": postgres})
    result = sensors.failed_deliveries_sensor(context)
    assert isinstance(result, dagster.SensorResult | dagster.SkipReason)
    return result, result.cursor if isinstance(result, dagster.SensorResult) else context.cursor


def sensor_tick(
    postgres: resources.PostgresResource, instance: dagster.DagsterInstance, cursor: str | None
) -> dagster.SensorResult | dagster.SkipReason:
    """One evaluation of the failed-deliveries sensor from the cursor."""
    return sensor_tick_and_cursor(postgres, instance, cursor)[0]


def test_the_sensor_alerts_once_per_incident(
    database_url: str, postgres: resources.PostgresResource, instance: dagster.DagsterInstance
) -> None:
    def tick(cursor: str | None) -> dagster.SensorResult | dagster.SkipReason:
        return sensor_tick(postgres, instance, cursor)

    quiet = tick(None)
    assert isinstance(quiet, dagster.SkipReason)

    fail_deliveries(database_url, 2)
    first = tick(None)
    assert isinstance(first, dagster.SensorResult)
    (alert,) = first.run_requests or []
    assert isinstance(alert, dagster.RunRequest)
    assert alert.run_config["ops"]["alert_delivery_incident"]["config"]["failures"] == 2
    assert alert.run_config["ops"]["alert_delivery_incident"]["config"]["last_error"] == "550 no such mailbox"

    fail_deliveries(database_url, 1)
    again = tick(first.cursor)
    assert isinstance(again, dagster.SkipReason), "more failures in the same incident alert no more"

    result = definitions.defs.get_job_def("delivery_incident_alert").execute_in_process(
        run_config=alert.run_config, instance=instance
    )
    assert result.success


def test_a_job_older_than_the_failures_seen_that_fails_now_is_seen(
    database_url: str, postgres: resources.PostgresResource, instance: dagster.DagsterInstance
) -> None:
    """A mail retried for hours fails after mails queued later have failed: its failure is new,
    though its job is older than theirs (the sensor read failures after the last job id seen)."""

    def tick(cursor: str | None) -> dagster.SensorResult | dagster.SkipReason:
        return sensor_tick(postgres, instance, cursor)

    retried, failed_first = queue_mails(database_url, 2)
    fail(database_url, [failed_first])
    first = tick(None)
    assert isinstance(first, dagster.SensorResult)
    seen = sensors.Incidents.from_cursor(first.cursor)
    an_hour_later = dataclasses.replace(seen, last_failure_at=time.time() - 2 * sensors.QUIET_SECONDS)

    fail(database_url, [retried])
    second = tick(an_hour_later.to_cursor())
    assert isinstance(second, dagster.SensorResult), second
    (alert,) = second.run_requests or []
    assert isinstance(alert, dagster.RunRequest)
    assert alert.run_config["ops"]["alert_delivery_incident"]["config"]["failures"] == 1


def test_failures_after_a_restore_of_the_database_are_seen_and_alerted(
    database_url: str, postgres: resources.PostgresResource, instance: dagster.DagsterInstance
) -> None:
    """The database restored from a backup made before failures the sensor saw (or made again by
    `./dev reset-db`, the Dagster instance kept): its failures' ids start again below the cursor,
    and the sensor read only those after it, silent until the ids passed it; and an incident whose
    first failure took an id alerted already had that alert's run key, which Dagster skips."""

    def tick(cursor: str | None) -> dagster.SensorResult | dagster.SkipReason:
        return sensor_tick(postgres, instance, cursor)

    fail_deliveries(database_url, 2)
    before = tick(None)
    assert isinstance(before, dagster.SensorResult)
    (first_alert,) = before.run_requests or []
    with psycopg.connect(database_url) as conn:
        # The restore: the failures since the backup gone, and the events' ids where they were then.
        first_failed = conn.execute("select min(id) from jobs.procrastinate_events where type = 'failed'")
        (since,) = first_failed.fetchone() or (None,)
        conn.execute("delete from jobs.procrastinate_events where id >= %s", (since,))
        conn.execute("select setval('jobs.procrastinate_events_id_seq', %s, false)", (since,))
    fail_deliveries(database_url, 1)

    after = tick(before.cursor)
    assert isinstance(after, dagster.SensorResult), after
    (alert,) = after.run_requests or []
    assert isinstance(alert, dagster.RunRequest)
    assert alert.run_config["ops"]["alert_delivery_incident"]["config"]["failures"] == 1
    assert isinstance(first_alert, dagster.RunRequest)
    assert alert.run_key != first_alert.run_key, "a key of its own, which Dagster does not skip"
    assert isinstance(tick(after.cursor), dagster.SkipReason), "and it is seen once"


def tried_again_and_succeeded(database_url: str, event: str) -> None:
    """The mail's failed job run again, as procrastinate's retry runs one, and succeeding: the
    worker deletes a succeeded job, and its events, its failure with them, go with it."""
    with psycopg.connect(database_url) as conn:
        conn.execute("set search_path = jobs, public")
        (job,) = conn.execute(
            "select id from jobs.procrastinate_jobs where args ->> 'event_id' = %s", (event,)
        ).fetchone() or (None,)
        conn.execute("select jobs.procrastinate_retry_job_v2(%s, now(), null, null, null)", (job,))
        conn.execute("update jobs.procrastinate_jobs set status = 'doing' where id = %s", (job,))
        conn.execute("select jobs.procrastinate_finish_job_v1(%s, 'succeeded', true)", (job,))


def test_a_failure_tried_again_that_succeeds_is_not_taken_for_a_restore(
    database_url: str, postgres: resources.PostgresResource, instance: dagster.DagsterInstance
) -> None:
    """The last failure the sensor saw, its job run again and succeeding, is gone from the queue
    with its job. The sensor took that for a database restored from a backup: it forgot the
    incident under way, and the next failure, minutes later, was alerted as a second one."""

    def tick(cursor: str | None) -> tuple[dagster.SensorResult | dagster.SkipReason, str | None]:
        return sensor_tick_and_cursor(postgres, instance, cursor)

    (event,) = queue_mails(database_url, 1)
    fail(database_url, [event])
    first, cursor = tick(None)
    assert isinstance(first, dagster.SensorResult)
    assert len(first.run_requests or []) == 1
    seen = sensors.Incidents.from_cursor(cursor)

    tried_again_and_succeeded(database_url, event)
    quiet, cursor = tick(cursor)
    assert isinstance(quiet, dagster.SkipReason), quiet
    assert sensors.Incidents.from_cursor(cursor).open_incident == seen.open_incident, (
        "the incident is still open"
    )

    fail_deliveries(database_url, 1)
    again, cursor = tick(cursor)
    assert isinstance(again, dagster.SkipReason), (
        "a failure minutes later is the same incident: no second alert"
    )
    assert sensors.Incidents.from_cursor(cursor).last_failure_id > seen.last_failure_id


def test_a_failure_mended_and_delivered_before_the_sensor_saw_it_is_no_incident(
    database_url: str, postgres: resources.PostgresResource, instance: dagster.DagsterInstance
) -> None:
    """A DBA mends the cause and tries a given-up mail again (delivery.try_again): a new job
    delivers it, and the failed job stays, with its failure. A sensor that read that failure only
    after the mail went (its daemon stopped meanwhile, or a backlog read 1,000 a minute) alerted an
    incident that was over, of a mail that had gone, its last error empty (the try again cleared
    it). A failure whose mail was delivered since opens no incident and counts in none; the next
    failure not mended does."""

    def tick(cursor: str | None) -> tuple[dagster.SensorResult | dagster.SkipReason, str | None]:
        return sensor_tick_and_cursor(postgres, instance, cursor)

    mended, not_mended = queue_mails(database_url, 2)
    fail(database_url, [mended])
    with psycopg.connect(database_url) as conn:
        (tried,) = conn.execute("select delivery.try_again(%s)", (mended,)).fetchone() or (None,)
        assert tried is True
        conn.execute("update app.outbox set delivered_at = now(), attempts = 1 where id = %s", (mended,))
    over, cursor = tick(None)
    assert isinstance(over, dagster.SkipReason), over
    assert sensors.Incidents.from_cursor(cursor).open_incident is None
    assert sensors.Incidents.from_cursor(cursor).last_failure_id > 0, "read, and not read again"

    fail(database_url, [not_mended])
    opened, _ = tick(cursor)
    assert isinstance(opened, dagster.SensorResult), opened
    (alert,) = opened.run_requests or []
    assert isinstance(alert, dagster.RunRequest)
    config = alert.run_config["ops"]["alert_delivery_incident"]["config"]
    assert (config["failures"], config["last_error"]) == (1, "550 no such mailbox")


def test_a_failure_mended_long_ago_whose_mail_the_housekeeping_purged_is_no_incident(
    database_url: str, postgres: resources.PostgresResource, instance: dagster.DagsterInstance
) -> None:
    """A mail given up, tried again by a DBA and delivered, is deleted by the housekeeping 30 days
    after it went, its failed job and failure kept. A sensor that reads the failures from the first
    one again (its cursor cleared or not its own, the database restored, a new Dagster instance)
    found no message for that failure and took it for one not delivered: an incident that never
    was, alerted of a mail delivered a month before, its topic unknown and its last error empty.
    A message is deleted only once delivered, so a failure whose message is gone is over too."""
    (mended,) = queue_mails(database_url, 1)
    fail(database_url, [mended])
    with psycopg.connect(database_url) as conn:
        (tried,) = conn.execute("select delivery.try_again(%s)", (mended,)).fetchone() or (None,)
        assert tried is True
        conn.execute(
            "update app.outbox set delivered_at = now() - interval '31 days', attempts = 1 where id = %s",
            (mended,),
        )
    with postgres.transaction() as conn:
        assert pipeline_purge_auth(conn).outbox_delivered == 1
    over, cursor = sensor_tick_and_cursor(postgres, instance, None)
    assert isinstance(over, dagster.SkipReason), over
    assert sensors.Incidents.from_cursor(cursor).open_incident is None


# Cursors the sensor never writes: set by hand (the UI, `dagster sensor cursor --set`), cut
# short, or of a newer release's form.
UNREADABLE_CURSORS = (
    "not json",
    "null",
    "42",
    "[]",
    '{"last_failure_id": 4',
    '{"last_failure_id": "4"}',
    '{"last_failure_id": true}',
    '{"last_failure_id": -4}',
    '{"last_failure_id": 4, "open_incident": "3"}',
    '{"last_failure_id": 4, "last_failure_at": NaN}',
    '{"last_failure_id": 4, "a_later_field": 1}',
    # An integer past what a float holds: float() raised OverflowError.
    '{"last_failure_id": 4, "last_failure_at": 1' + "0" * 400 + "}",
)


def test_a_cursor_the_sensor_did_not_write_is_read_as_on_a_first_run(
    database_url: str,
    postgres: resources.PostgresResource,
    instance: dagster.DagsterInstance,
    capfd: pytest.CaptureFixture[str],
) -> None:
    """A cursor the sensor cannot read failed every tick (a TypeError or a JSONDecodeError) until
    someone cleared it: no failure alerted meanwhile. It is read from the first failure again, as
    on a first run, with a warning: each incident's alert has the key it had, which Dagster does
    not start again, and one that began since is alerted."""
    fail_deliveries(database_url, 2)
    first, cursor = sensor_tick_and_cursor(postgres, instance, None)
    assert isinstance(first, dagster.SensorResult)
    (alert,) = first.run_requests or []
    assert isinstance(alert, dagster.RunRequest)
    for unreadable in UNREADABLE_CURSORS:
        capfd.readouterr()
        again, cursor_after = sensor_tick_and_cursor(postgres, instance, unreadable)
        assert isinstance(again, dagster.SensorResult), (unreadable, again)
        assert [request.run_key for request in again.run_requests or []] == [alert.run_key], unreadable
        assert cursor_after == cursor, unreadable
        # Dagster's own logger, which writes to stderr and passes nothing on to Python's root one.
        said = capfd.readouterr().err
        assert "is not a cursor of this sensor" in said, (unreadable, said)
        assert "read from the first failure again" in said, said


def test_pipeline_run_fills_analytics_after_sign_ups_and_an_invitation(
    stack: Stack, dagster_home: str
) -> None:
    edge = stack.edge_url
    owner = signup(edge, name="Owner")
    rpc = {"Origin": edge, "Cookie": f"{COOKIE_NAME}={owner.token}"}
    org = request(edge, "POST", "/rpc/create_organization", json_body={"name": "Pipelined"}, headers=rpc)
    assert org.status == 200, org.body
    org_id = org.json()["id"]
    guest = signup(edge, name="Guest")
    for email in (guest.email, "later@example.com"):
        invited = request(
            edge, "POST", "/rpc/invite_member", headers=rpc,
            json_body={"org_id": org_id, "email": email, "role": "member"},
        )  # fmt: skip
        assert invited.status == 200, invited.body
    with psycopg.connect(stack.database_url) as conn:
        row = conn.execute(
            "select payload ->> 'token' from app.outbox"
            " where topic = 'mail.org_invitation' and payload ->> 'to' = %s",
            (guest.email,),
        ).fetchone()
    assert row is not None
    accepted = request(
        edge,
        "POST",
        "/rpc/accept_invitation",
        json_body={"token": row[0]},
        headers={"Origin": edge} | guest.cookie,
    )
    assert accepted.status == 200, accepted.body

    ran = subprocess.run(
        [sys.executable, "-m", "ops.stack", "pipeline-run", "org_daily_metrics"],
        cwd=ROOT,
        env=os.environ | {"DATABASE_URL": stack.database_url, "DAGSTER_HOME": dagster_home},
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert ran.returncode == 0, ran.stderr[-2000:]
    with psycopg.connect(stack.database_url) as conn:
        rows = conn.execute(
            "select members, invitations_sent, invitations_accepted, logins, active_users"
            " from analytics.org_daily_metrics where org_id = %s and day = (now() at time zone 'UTC')::date",
            (org_id,),
        ).fetchall()
    # Sign-ups log in without an auth.login event; creating, inviting and accepting are audited.
    assert rows == [(2, 2, 1, 0, 2)]


def test_pipeline_run_opens_the_tokens_with_the_development_key(
    database_url: str, tmp_path: Path, dagster_home: str
) -> None:
    """`just pipeline-run` on the local stack: the weekly digest opens the tokens the edge of
    `just up` sealed, with the key of the data folder (ops/stack.py), none in the environment."""
    key = new_key_entry("dev-1")
    (tmp_path / "secrets.key").write_text(key + "\n")
    with FakeSlack() as fake, psycopg.connect(database_url) as conn:
        acme = make_org(conn, "Acme", {})
        fake.add_workspace("xoxb-acme", team_id="T1", team="Team", channels={"#acme"})
        connect_slack(conn, KeyRing.from_entries(key), acme, "xoxb-acme", "#acme")
        refreshed_week(conn, acme)
        conn.commit()
        environment = {name: value for name, value in os.environ.items() if not name.startswith("BLOSSOM_")}
        ran = subprocess.run(
            [sys.executable, "-m", "ops.stack", "pipeline-run", "--day", "2026-01-05", "weekly_slack_digest"],
            cwd=ROOT,
            env=environment
            | {
                "DATABASE_URL": database_url,
                "BLOSSOM_DATA_DIR": str(tmp_path),
                "DAGSTER_HOME": dagster_home,
                "BLOSSOM_SLACK_API_URL": fake.api_url,
            },
            capture_output=True,
            text=True,
            timeout=120,
        )
        assert ran.returncode == 0, ran.stderr[-2000:]
        assert len(fake.posts_to("#acme")) == 1


def recipe_housekeeping(
    database_url: str, data_dir: Path, dagster_home: str
) -> subprocess.CompletedProcess[str]:
    """`./dev pipeline-run auth_housekeeping` on the database, its data folder and Dagster
    instance those given; succeeded."""
    ran = subprocess.run(
        [sys.executable, "-m", "ops.stack", "pipeline-run", "auth_housekeeping"],
        cwd=ROOT,
        env=os.environ
        | {"DATABASE_URL": database_url, "BLOSSOM_DATA_DIR": str(data_dir), "DAGSTER_HOME": dagster_home},
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert ran.returncode == 0, ran.stderr[-2000:]
    return ran


def test_pipeline_run_keeps_its_runs_in_a_dagster_home_named_relative(
    database_url: str, tmp_path: Path, dagster_home: str
) -> None:
    """DAGSTER_HOME given relative, as BLOSSOM_DATA_DIR may be: the recipe made the folder and
    Dagster refused it with a traceback ("must be an absolute path"), nothing run. It is read as
    BLOSSOM_DATA_DIR is, from the repository's folder, where the recipes run."""
    relative = os.path.relpath(dagster_home, ROOT)
    assert not Path(relative).is_absolute()
    ran = recipe_housekeeping(database_url, tmp_path, relative)
    assert "pipeline-run: auth_housekeeping: sessions 0" in ran.stdout
    assert (Path(dagster_home) / "history" / "runs.db").is_file(), "the run is kept there"


def test_the_recipes_dagster_instance_collects_and_sends_no_usage_statistics(
    database_url: str, tmp_path: Path, dagster_home: str
) -> None:
    """An instance whose dagster.yaml does not say otherwise collects Dagster's usage statistics
    (telemetry), which its webserver and daemon send to Dagster Labs every hour, and its UI loads
    a script of theirs: `./dev pipeline` did, on a developer's machine, unasked. The instance the
    recipes make says otherwise; a dagster.yaml already there is the operator's, left as it is."""
    recipe_housekeeping(database_url, tmp_path, dagster_home)
    with dagster.DagsterInstance.from_config(dagster_home) as instance:
        assert not instance.telemetry_enabled
    assert not (Path(dagster_home) / "logs").exists(), "no usage event was written to be sent"
    own = "telemetry:\n  enabled: true\n"
    (Path(dagster_home) / "dagster.yaml").write_text(own)
    recipe_housekeeping(database_url, tmp_path, dagster_home)
    assert (Path(dagster_home) / "dagster.yaml").read_text() == own
    assert (Path(dagster_home) / "logs").is_dir(), "an instance that collects them writes them there"


def test_pipeline_run_help_is_pipeline_runs(database_url: str) -> None:
    """`./dev pipeline-run --help` showed the recipe runner's usage (`stack.py pipeline-run [-h]
    ...`, one argument `args`), which names neither the assets nor --day."""
    ran = subprocess.run(
        [sys.executable, "-m", "ops.stack", "pipeline-run", "--help"],
        cwd=ROOT,
        env=os.environ | {"DATABASE_URL": database_url},
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert ran.returncode == 0, ran.stderr[-2000:]
    assert "--day DAY" in ran.stdout, ran.stdout
    assert "assets to materialize" in ran.stdout


def test_pipeline_run_help_says_a_weekly_asset_without_a_day_is_the_last_whole_weeks() -> None:
    """`pipeline-run --help` said --day was today by default, for the weekly assets too: but
    `pipeline-run weekly_slack_digest` runs the last whole week, not the week that holds today."""
    from pipeline.__main__ import arguments_parser

    usage = " ".join(arguments_parser().format_help().split())
    assert "default: today for the daily assets, the last whole week for the weekly ones" in usage, usage


@pytest.mark.parametrize("day", ["2026-13-01", "yesterday", "20261201", "2026-W49-1", "2026-12-0\u0661"])
def test_pipeline_run_refuses_a_day_that_is_no_date_saying_how_to_write_one(day: str) -> None:
    """`./dev pipeline-run --day 2026-13-01` answered "invalid fromisoformat value", Python's
    name for the function that read it. And the other forms Python reads as ISO dates (20261201,
    an ISO week's day 2026-W49-1) ran, though the help and the docs say YYYY-MM-DD; not 2026-335,
    which Python does not read."""
    ran = subprocess.run(
        [sys.executable, "-m", "pipeline", "--day", day],
        cwd=ROOT, capture_output=True, text=True, timeout=60, check=False,
    )  # fmt: skip
    assert ran.returncode == 2, ran.stderr
    assert f"argument --day: {day!r} is no day: YYYY-MM-DD" in ran.stderr, ran.stderr


# The settings `pipeline-run` refuses, each by the tests' name for it: the wrong setting, and how
# its one line of refusal begins.
WRONG_SETTINGS: dict[str, tuple[dict[str, str], str]] = {
    "sheets-timeout": (
        {"BLOSSOM_SHEETS_TIMEOUT": "soon"},
        "BLOSSOM_SHEETS_TIMEOUT must be a number, got 'soon'",
    ),
    # Read as it was, it failed only when the export ran, in gspread's words.
    "sheets-url": (
        {"BLOSSOM_SHEETS_API_URL": "sheets.googleapis.com"},
        "BLOSSOM_SHEETS_API_URL must be an http(s) URL with a host, got 'sheets.googleapis.com'",
    ),
    "slack-timeout": (
        {"BLOSSOM_SLACK_TIMEOUT_SECONDS": "-1"},
        "BLOSSOM_SLACK_TIMEOUT_SECONDS must be a positive number",
    ),
    "slack-url": (
        {"BLOSSOM_SLACK_API_URL": "slack.com/api"},
        "BLOSSOM_SLACK_API_URL must be an http(s) URL with a host, got 'slack.com/api'",
    ),
    "database-url": (
        {"BLOSSOM_PIPELINE_DATABASE_URL": "postgresql://pipeline@[::1/blossom"},
        "BLOSSOM_PIPELINE_DATABASE_URL is not",
    ),
    "retries": ({"BLOSSOM_PIPELINE_RETRIES": "1.5"}, "BLOSSOM_PIPELINE_RETRIES must be a whole number"),
    "retry-seconds": (
        {"BLOSSOM_PIPELINE_RETRY_SECONDS": "-1"},
        "BLOSSOM_PIPELINE_RETRY_SECONDS must be 0 or a positive",
    ),
    "retries-too-many": (
        {"BLOSSOM_PIPELINE_RETRIES": "1000"},
        "BLOSSOM_PIPELINE_RETRIES must be at most 10, got 1000",
    ),
    # A first wait past ten minutes (doubled up to ten times, weeks of waiting) is no retry of a
    # restart or a failover.
    "retry-seconds-too-long": (
        {"BLOSSOM_PIPELINE_RETRY_SECONDS": "601"},
        "BLOSSOM_PIPELINE_RETRY_SECONDS must be at most 600, got 601",
    ),
    # Where the runs are kept: Dagster's traceback, once the definitions had loaded.
    "dagster-home-missing": (
        {"DAGSTER_HOME": "/nonexistent/dagster"},
        "DAGSTER_HOME must name a folder that exists",
    ),
    "dagster-home-relative": (
        {"DAGSTER_HOME": "dagster"},
        "DAGSTER_HOME must name a folder that exists, by its absolute path",
    ),
}


@pytest.mark.parametrize(("setting", "says"), list(WRONG_SETTINGS.values()), ids=list(WRONG_SETTINGS))
def test_pipeline_run_refuses_a_wrong_setting_in_one_line_before_loading_dagster(
    setting: dict[str, str], says: str
) -> None:
    """A setting the definitions read when they load, wrong: some twenty lines of traceback,
    where `./dev worker` says `blossom-worker: …` on the one line cron mails show. And it was
    refused once Dagster and the definitions had loaded (their resources read it), some 1.6 s of
    CPU: a cron job's run took seconds to fail. It is read first, with DAGSTER_HOME, as the
    arguments are."""
    ran, loaded = ran_and_loaded("pipeline", ["dagster"], "auth_housekeeping", env=os.environ | setting)
    assert ran.returncode == 1, ran.stderr
    assert ran.stderr.startswith(f"pipeline-run: {says}"), ran.stderr
    assert len(ran.stderr.splitlines()) == 1, ran.stderr
    assert loaded == []


@pytest.mark.parametrize(
    ("unset", "missing"),
    [
        (
            ("BLOSSOM_GOOGLE_SERVICE_ACCOUNT_FILE", "BLOSSOM_METRICS_SPREADSHEET_KEY"),
            "BLOSSOM_GOOGLE_SERVICE_ACCOUNT_FILE",
        ),
        (("BLOSSOM_METRICS_SPREADSHEET_KEY",), "BLOSSOM_METRICS_SPREADSHEET_KEY"),
    ],
    ids=["no-google-settings", "no-spreadsheet"],
)
def test_pipeline_run_of_the_export_without_its_google_settings_is_refused_in_one_line(
    tmp_path: Path, unset: tuple[str, ...], missing: str
) -> None:
    """The definitions load without Google's settings (the daemon runs everything else without
    them), and `pipeline-run org_metrics_sheet` without them loaded Dagster, began the run and
    failed it in some 60 lines of Dagster's traceback, the missing setting named on the last.
    It is refused as a wrong setting is, before Dagster loads."""
    key_file = tmp_path / "service-account.json"
    key_file.write_text("{}")
    env = os.environ | {
        "BLOSSOM_GOOGLE_SERVICE_ACCOUNT_FILE": str(key_file),
        "BLOSSOM_METRICS_SPREADSHEET_KEY": "metrics-key",
    }
    env = {name: value for name, value in env.items() if name not in unset}
    ran, loaded = ran_and_loaded("pipeline", ["dagster"], "org_metrics_sheet", env=env)
    assert ran.returncode == 1, ran.stderr
    assert ran.stderr.splitlines() == [f"pipeline-run: {missing} is not set: the metrics export needs it"]
    assert loaded == []


class RefusedAsTheDefinitionsLoad:
    """An import finder: pipeline.run_once, asked for, raises as a resource's from_environment
    does on a setting it refuses; any other module is left to the finders after it."""

    @staticmethod
    def find_spec(name: str, *_: object) -> None:
        if name == "pipeline.run_once":
            raise ValueError("BLOSSOM_PIPELINE_NEW_SETTING must be a number, got 'soon'")


def test_pipeline_run_refuses_in_one_line_a_setting_only_the_definitions_check(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A setting a resource refuses as the definitions load, one pipeline.settings'
    check_definitions was not taught (a resource's new setting): refused in one line still, as
    before the settings were checked without Dagster, not in a traceback."""
    from pipeline.__main__ import main

    monkeypatch.setattr(sys, "argv", ["pipeline", "auth_housekeeping"])
    monkeypatch.delenv("DAGSTER_HOME", raising=False)
    monkeypatch.delitem(sys.modules, "pipeline.run_once", raising=False)
    monkeypatch.setattr(sys, "meta_path", [RefusedAsTheDefinitionsLoad(), *sys.meta_path])
    with pytest.raises(SystemExit) as refused:
        main()
    assert refused.value.code == "pipeline-run: BLOSSOM_PIPELINE_NEW_SETTING must be a number, got 'soon'"


# prctl's option, and the capabilities dropped (linux/prctl.h, linux/capability.h).
PR_CAPBSET_DROP, CAP_DAC_OVERRIDE, CAP_DAC_READ_SEARCH = 24, 1, 2


def without_overriding_permissions() -> None:
    """In a child about to exec: root's power to write where a folder's mode says no (its
    CAP_DAC_OVERRIDE and CAP_DAC_READ_SEARCH) dropped from what the program it runs will have."""
    libc = ctypes.CDLL(None, use_errno=True)
    for capability in (CAP_DAC_OVERRIDE, CAP_DAC_READ_SEARCH):
        if libc.prctl(PR_CAPBSET_DROP, capability, 0, 0, 0) != 0:
            raise OSError(ctypes.get_errno(), "prctl(PR_CAPBSET_DROP)")


def test_pipeline_run_refuses_a_dagster_home_it_cannot_write_in_one_line(dagster_home: str) -> None:
    """A DAGSTER_HOME that is there but not the run's to write (another user's folder, a
    read-only one) ended in a PermissionError's traceback from the lock its runs take. (Root
    writes in any folder: the run is root without that power.)"""
    Path(dagster_home).chmod(0o555)
    ran = subprocess.run(
        [sys.executable, "-m", "pipeline", "auth_housekeeping"],
        cwd=ROOT, env=os.environ | {"DAGSTER_HOME": dagster_home},
        preexec_fn=without_overriding_permissions if os.geteuid() == 0 else None,
        capture_output=True, text=True, timeout=60, check=False,
    )  # fmt: skip
    assert ran.returncode == 1, ran.stderr
    assert ran.stderr.splitlines() == [
        f"pipeline-run: DAGSTER_HOME cannot be written ({dagster_home}): Permission denied"
    ]


def test_pipeline_run_refuses_an_asset_the_definitions_do_not_have_with_its_usage() -> None:
    """An unknown asset is a wrong argument, answered as the others are (status 2 and the usage),
    with the names there are; `./dev pipeline-run` reads it so before it starts the cluster."""
    ran = subprocess.run(
        [sys.executable, "-m", "pipeline", "auth_housekeeping", "no_such_asset"],
        cwd=ROOT, capture_output=True, text=True, timeout=60, check=False,
    )  # fmt: skip
    assert ran.returncode == 2, ran.stderr
    assert ran.stderr.startswith("usage: just pipeline-run"), ran.stderr
    names = ", ".join(sorted(run_once.defined_assets()))
    assert ran.stderr.endswith(f"error: no asset no_such_asset (there are: {names})\n"), ran.stderr


def test_pipeline_run_reads_assets_named_on_both_sides_of_the_day(tmp_path: Path) -> None:
    """`pipeline-run org_daily_metrics --day D weekly_slack_digest` (the day given between the
    assets) was refused as "unrecognized arguments: weekly_slack_digest", an asset there is: the
    assets after --day were not read as assets. Here the day is refused for both, as it is when
    they are named together."""
    run = PreloadedPython(
        "-m", "pipeline", "org_daily_metrics", "--day", "0001-01-01", "weekly_slack_digest",
        environment=dict(os.environ), output=tmp_path / "run.log",
    )  # fmt: skip
    status = run.wait(timeout=60)
    assert status == 1, run.said()
    assert run.said().startswith("pipeline-run: org_daily_metrics has no day of 0001-01-01"), run.said()


@pytest.mark.parametrize(
    "arguments",
    [["--help"], ["--day", "yesterday"], ["--bogus"], ["auth_housekeeping", "no_such_asset"]],
    ids=["help", "malformed-day", "unknown-option", "unknown-asset"],
)
def test_pipeline_run_reads_its_arguments_before_loading_dagster(arguments: list[str]) -> None:
    """Its usage and its refusal of an argument took seconds (20 under load) to come: Dagster and
    the definitions were loaded before the arguments were read, and then to tell an asset there
    is not from the definitions' (pipeline.settings.ASSETS has their names)."""
    _, loaded = ran_and_loaded("pipeline", ["dagster"], *arguments)
    assert loaded == []


# `pipeline-run auth_housekeeping` (run_once.run), Dagster and the definitions loaded first, once
# the file argv[2] is there: runs begun together reach the instance together, as cron's do.
RUN_HOUSEKEEPING_WHEN_TOLD = """
import sys, time
from pathlib import Path
from pipeline import run_once
Path(sys.argv[1]).touch()
while not Path(sys.argv[2]).exists():
    time.sleep(0.001)
raise SystemExit(0 if run_once.run(["auth_housekeeping"], None) else 1)
"""


def test_pipeline_runs_begun_together_on_a_new_dagster_instance_all_run(
    database_url: str, dagster_home: str, tmp_path: Path
) -> None:
    """Runs begun at once (cron's of one minute, on a new machine's or data folder's DAGSTER_HOME)
    each made the instance's SQLite storage, and all but one failed in a traceback: "table runs
    already exists", or a UNIQUE constraint of alembic_version."""
    go = tmp_path / "go"
    environment = os.environ | {
        "DAGSTER_HOME": dagster_home,
        "BLOSSOM_PIPELINE_DATABASE_URL": with_user(database_url, "pipeline"),
    }
    runs: list[PreloadedPython] = []
    try:
        for n in range(4):
            ready = str(tmp_path / f"ready-{n}")
            output = tmp_path / f"run-{n}.log"
            runs.append(
                PreloadedPython(
                    "-c", RUN_HOUSEKEEPING_WHEN_TOLD, ready, str(go), environment=environment, output=output
                )
            )
        eventually(lambda: all((tmp_path / f"ready-{n}").exists() for n in range(len(runs))), timeout=120)
        go.touch()
        statuses = [run.wait(timeout=120) for run in runs]
    finally:
        for run in runs:
            run.kill()
    assert statuses == [0] * len(runs), [run.said()[-1500:] for run in runs]


def as_cron_runs_it() -> dict[str, str]:
    """This environment without PYTHONUNBUFFERED (which `./dev` sets): its stdout written in
    blocks, and its stderr by line, into one file, as cron mails them."""
    return {name: value for name, value in os.environ.items() if name != "PYTHONUNBUFFERED"}


def assert_stopped_before_housekeeping(run: PreloadedPython, status: int) -> None:
    """`pipeline-run` with no asset named, stopped in its first run (the day's metrics): it says
    so last, after what it printed before, and the second run (auth_housekeeping) never began."""
    told = run.said()
    assert 'step "auth_housekeeping"' not in told, told[-3000:]
    assert told.rstrip().splitlines()[-1] == (
        "pipeline-run: stopped by SIGTERM or Ctrl-C in org_daily_metrics; not run: auth_housekeeping"
    ), told[-3000:]
    assert status == 1


@pytest.mark.parametrize("stopping", [signal.SIGTERM, signal.SIGHUP], ids=["SIGTERM", "SIGHUP"])
def test_pipeline_run_sent_sigterm_stops_and_runs_no_asset_after(
    tmp_path: Path, stopping: signal.Signals
) -> None:
    """SIGTERM (or Ctrl-C) ended only the run under way: the next of pipeline-run's runs began
    after it (auth_housekeeping after the day's metrics), as if no one had asked it to stop. And
    it ended that run only once the wait for its retry was over (Dagster sleeps it out): here a
    minute, past the 30 s the test waits. SIGHUP (the terminal closed) is taken as SIGTERM: its
    default ended the process at once, the run under way left STARTED in Dagster's instance."""
    environment = as_cron_runs_it() | {
        "BLOSSOM_PIPELINE_DATABASE_URL": f"postgresql://pipeline@127.0.0.1:{free_port()}/blossom",
        "BLOSSOM_PIPELINE_RETRIES": "1",
        "BLOSSOM_PIPELINE_RETRY_SECONDS": "60",
        "DAGSTER_HOME": "",
    }
    run = PreloadedPython("-m", "pipeline", environment=environment, output=tmp_path / "run.log")
    try:
        run.wait_for_output("tried again in 60 s", timeout=120)  # the day's metrics, waiting for their retry
        run.send_signal(stopping)
        status = run.wait(timeout=30)
    finally:
        run.kill()
    assert_stopped_before_housekeeping(run, status)


# `pipeline-run` (its main, as `python -m pipeline` runs it), sent SIGTERM by itself as Dagster
# records its first run's success: after the last step, where Dagster notes a signal only to
# forget it as the run ends.
SIGTERM_AS_THE_FIRST_RUN_ENDS = """
import os, signal
from dagster import DagsterEventType, DagsterInstance
from pipeline.__main__ import main
record = DagsterInstance.handle_new_event
def recorded(self, event, **kwargs):
    record(self, event, **kwargs)
    if event.dagster_event is not None and event.dagster_event.event_type == DagsterEventType.RUN_SUCCESS:
        os.kill(os.getpid(), signal.SIGTERM)
DagsterInstance.handle_new_event = recorded
main()
"""


def test_pipeline_run_sent_sigterm_as_a_run_ends_runs_no_asset_after(
    database_url: str, tmp_path: Path
) -> None:
    """A stop that came as a run ended, after its last step, was lost: Dagster's handler noted
    it, and forgot it with the run; the next run began (auth_housekeeping purged), and the exit
    status was 0."""
    environment = as_cron_runs_it() | {
        "BLOSSOM_PIPELINE_DATABASE_URL": with_user(database_url, "pipeline"),
        "DAGSTER_HOME": "",
    }
    run = PreloadedPython(
        "-c", SIGTERM_AS_THE_FIRST_RUN_ENDS, environment=environment, output=tmp_path / "run.log"
    )
    assert_stopped_before_housekeeping(run, run.wait(timeout=120))  # killed if it runs on


def test_pipeline_run_answers_failure(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    nowhere = unreachable_database(monkeypatch)
    assert run_once.run(["auth_housekeeping"], None, {"postgres": nowhere}) is False
    said = capsys.readouterr().err.splitlines()
    # Its last line, what cron mails and a terminal shows last, says why: it said only "Execution
    # of step "auth_housekeeping" failed.", the cause pages of Dagster's log above it.
    assert said[-1].startswith("pipeline-run: auth_housekeeping failed: psycopg.OperationalError:"), said[-1]
    assert "connection" in said[-1]


def test_pipeline_run_stopped_as_a_run_begins_names_it_and_those_left(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """Ctrl-C or SIGTERM as Dagster began or ended a run, outside its own handling of them, came
    as a KeyboardInterrupt, told only as "stopped by SIGTERM or Ctrl-C": not in which run, nor
    that the assets after it were not run, as a stop during a run is told."""
    begun: list[str] = []

    def stopped_as_it_begins(group: list[dagster.AssetsDefinition], *_rest: object) -> None:
        begun.append(run_once.names_of(group))
        raise KeyboardInterrupt

    monkeypatch.setattr("pipeline.run_once.materialized", stopped_as_it_begins)  # the module, not LazyModule
    assert run_once.run(["org_daily_metrics", "auth_housekeeping"], None) is False
    assert begun == ["org_daily_metrics"]
    assert capsys.readouterr().err.splitlines()[-1] == (
        "pipeline-run: stopped by SIGTERM or Ctrl-C in org_daily_metrics; not run: auth_housekeeping"
    )


def test_pipeline_run_runs_an_asset_named_twice_once(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """`pipeline-run auth_housekeeping auth_housekeeping` ran it once and told of it twice: its
    materialization printed twice, or its failure as `auth_housekeeping, auth_housekeeping`."""
    nowhere = unreachable_database(monkeypatch)
    assert run_once.run(["auth_housekeeping", "auth_housekeeping"], None, {"postgres": nowhere}) is False
    assert capsys.readouterr().err.splitlines()[-1].startswith("pipeline-run: auth_housekeeping failed: ")


def test_pipeline_run_names_the_asset_that_failed_not_its_whole_run(
    capsys: pytest.CaptureFixture[str], instance: dagster.DagsterInstance
) -> None:
    """Assets given together run in one run; its last line named every one of them as failed,
    the one that was materialized among them."""

    @dagster.asset
    def counted() -> None:
        return None

    @dagster.asset
    def broken() -> None:
        raise RuntimeError("the reason it broke")

    assert not run_once.materialized([counted, broken], None, {}, instance).success
    said = capsys.readouterr()
    assert "pipeline-run: counted:" in said.out
    assert said.err.splitlines()[-1].startswith(
        "pipeline-run: broken failed: RuntimeError: the reason it broke"
    )


@pytest.mark.parametrize(
    ("assets", "day", "says"),
    [
        (
            ["org_daily_metrics"],
            date(2999, 1, 1),
            "org_daily_metrics has no day of 2999-01-01: from 2026-01-01 to ",
        ),
        (
            ["weekly_slack_digest"],
            date(2999, 1, 1),
            "weekly_slack_digest has no week of 2999-01-01: from 2026-01-05 to ",
        ),
        # The first and last days Python has: the week's raised Dagster's OverflowError, a
        # traceback, and the day was written "1-01-01".
        (
            ["weekly_slack_digest"],
            date.min,
            "weekly_slack_digest has no week of 0001-01-01: from 2026-01-05 to ",
        ),
        (
            ["weekly_slack_digest"],
            date.max,
            "weekly_slack_digest has no week of 9999-12-31: from 2026-01-05 to ",
        ),
        (["org_daily_metrics"], date.min, "org_daily_metrics has no day of 0001-01-01: from 2026-01-01 to "),
        (["auth_housekeeping"], DAY, "--day is for the daily and weekly assets; auth_housekeeping: none"),
        # Named twice, told of once, as its run is.
        (
            ["auth_housekeeping", "auth_housekeeping"],
            DAY,
            "--day is for the daily and weekly assets; auth_housekeeping: none",
        ),
    ],
)
def test_pipeline_run_refuses_what_is_not_there(assets: list[str], day: date, says: str) -> None:
    with pytest.raises(SystemExit, match=re.escape(says)):
        run_once.run(assets, day)


def test_pipeline_run_runs_each_way_of_partitioning_with_the_days_partition() -> None:
    """Assets of a day, of a week and of neither given at once: one run each (one run was made of
    the daily and weekly ones, which Dagster refused with a traceback), the week the one that
    holds the day; the day first, the unpartitioned last."""
    chosen = [assets.auth_housekeeping, assets.weekly_slack_digest, assets.org_daily_metrics]
    runs = [
        ([asset.key.to_user_string() for asset in group], key)
        for group, key in run_once.partitioned_runs(chosen, DAY)
    ]
    assert runs == [
        (["org_daily_metrics"], "2026-01-10"),
        (["weekly_slack_digest"], "2026-01-05"),
        (["auth_housekeeping"], None),
    ]
    today = datetime.now(UTC).date()
    last_monday = today - timedelta(days=today.weekday() + 7)
    by_default = [key for _group, key in run_once.partitioned_runs(chosen, None)]
    assert by_default == [today.isoformat(), last_monday.isoformat(), None], "today, the last whole week"


def test_the_pipelines_connections_find_a_silent_cut_within_a_minute(
    postgres: resources.PostgresResource,
) -> None:
    """The pipeline's connection has keepalives and a bound on unacknowledged data, as every
    connection of ours (tests/test_edge_database.py): a step's query on one cut without a word
    waited for the OS's TCP timeout, many minutes."""
    with postgres.transaction() as conn:
        assert tcp_keepalives(conn) == {name: int(value) for name, value in CONNECTION_DEFAULTS.items()}
