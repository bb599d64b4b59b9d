"""Mail delivery with the real worker process, a real SMTP server and a real Postgres: the
happy path and the faults (the SMTP server down, refusing for now or for good; the worker
killed, stopped, doubled; Postgres restarted under it)."""

from __future__ import annotations

import asyncio
import json
import logging
import os
import re
import signal
import subprocess
import sys
import time
from collections.abc import Awaitable, Callable, Iterator
from contextlib import contextmanager, suppress
from dataclasses import replace
from datetime import UTC, datetime, timedelta, tzinfo
from email.message import EmailMessage
from pathlib import Path
from typing import Any, cast

import procrastinate.utils
import psycopg
import pytest
from procrastinate import PsycopgConnector, exceptions
from procrastinate.jobs import Job
from psycopg.types.json import Jsonb

import worker.delivery
import worker.messages
import worker.process
from blossom_db.database import Database
from blossom_db.settings import CONNECTION_DEFAULTS
from deploy.migrate import migrate
from ops import services
from ops.cluster import LocalCluster
from ops.scratch import free_port, temporary_cluster
from ops.services import start_worker, stop, worker_env
from ops.settings import with_user
from services.secrets import KeyRing, Sealed, new_key_entry
from services.slack import SlackClient, SlackSettings
from services.smtp import Mailer, SmtpSettings
from tests.support.databases import tcp_keepalives
from tests.support.fake_slack import FakeSlack
from tests.support.orgs_db import Outcome, call_and_commit, connect_slack, make_org, make_user
from tests.support.silent_server import SilentServer
from tests.support.smtp_server import Received, SmtpServer
from tests.support.worker import (
    APP_URL,
    QUICK,
    delivered_row,
    eventually,
    jobs_of,
    kill,
    outbox_row,
    outbox_row_once,
    queue_mail,
    running_worker,
)
from worker.config import WorkerConfig
from worker.delivery import Deliverer, GaveUp, RetryLater
from worker.metrics import WorkerMetrics
from worker.process import MAIL_QUEUE, DeliveryRetry, QueueConnector, WorkerProcess, build_app
from worker.slack import SlackPoster


def test_a_mail_is_delivered_once_and_its_token_leaves_the_outbox(database_url: str, tmp_path: Path) -> None:
    with SmtpServer() as smtp, running_worker(database_url, smtp.url, tmp_path):
        token = "Abc-_" + "x" * 38
        event = queue_mail(database_url, "ann@example.com", token=token)
        (received,) = smtp.wait_for(1)
        assert received.to == ("ann@example.com",)
        assert str(received.message["Subject"]) == "Reset your Blossom password"
        assert received.message_id == f"<{event}@blossom.localhost>"
        link = f"{APP_URL}/reset-password?token={token}"
        assert link in received.part("plain")
        assert f'href="{link}"' in received.part("html")
        row = delivered_row(database_url, event)
        assert row["attempts"] == 1
        assert "token" not in row["payload"]
        assert row["payload"]["to"] == "ann@example.com"
        assert eventually(lambda: jobs_of(database_url, event) == [], what="the job is done") is True
        time.sleep(0.5)
        assert len(smtp.received) == 1


def test_what_a_user_typed_is_escaped_and_makes_no_link(database_url: str, tmp_path: Path) -> None:
    typed = '<a href="https://evil.example/x">Acme</a> www.evil.example'
    with SmtpServer() as smtp, running_worker(database_url, smtp.url, tmp_path):
        with psycopg.connect(database_url, autocommit=True) as conn:  # an open invitation to mail
            org_id = make_org(conn, "Acme", {})
            row = conn.execute(
                "insert into app.invitations (org_id, email, role, token_hash) values (%s, %s, 'admin', %s)"
                " returning id",
                (org_id, "bo@example.com", b"h" * 32),
            ).fetchone()
            assert row is not None
        queue_mail(
            database_url,
            "bo@example.com",
            "mail.org_invitation",
            org_name=typed,
            role="admin",
            invitation_id=row[0],
        )
        (received,) = smtp.wait_for(1)
        html, text = received.part("html"), received.part("plain")
        assert "<a href" not in html.replace(f'<a href="{APP_URL}/invitations/accept?token=', "")
        assert "&lt;a href=" in html
        for part in (html, text, str(received.message["Subject"])):
            assert "evil.example" not in part, "a host name a mail program would make a link of"
            assert "https://evil" not in part
        assert f"{APP_URL}/invitations/accept?token=" in text


def test_smtp_down_is_retried_and_delivered_once_it_is_back(database_url: str, tmp_path: Path) -> None:
    smtp = SmtpServer()  # not started: nothing listens on its port
    with running_worker(database_url, smtp.url, tmp_path):
        event = queue_mail(database_url, "cy@example.com")
        failed = eventually(
            lambda: (r := outbox_row(database_url, event))["attempts"] >= 2 and r, what="two tries"
        )
        assert failed["delivered_at"] is None
        assert failed["given_up_at"] is None
        assert "Connect" in failed["last_error"]
        with smtp:
            smtp.wait_for(1)
            delivered_row(database_url, event)
            time.sleep(0.6)
            assert len(smtp.received) == 1


def test_a_temporary_refusal_is_retried(database_url: str, tmp_path: Path) -> None:
    with SmtpServer() as smtp, running_worker(database_url, smtp.url, tmp_path):
        smtp.refuse_next("451 4.3.0 Mailbox busy, try again later")
        event = queue_mail(database_url, "di@example.com")
        smtp.wait_for(1)
        row = delivered_row(database_url, event)
        assert row["attempts"] == 2
        assert row["last_error"] is None
        time.sleep(0.6)
        assert len(smtp.received) == 1


def test_a_try_that_failed_for_now_is_logged_with_its_reason_and_its_wait(
    database_url: str, tmp_path: Path
) -> None:
    """A try that failed in a way that may pass (a 4xx, the relay down, a login refused) is tried
    again, which procrastinate logs at info level, among its lines per job that the worker leaves
    out: a relay that refused every mail for now left the worker's log silent for the hour of
    tries before the first mail was given up."""
    with SmtpServer() as smtp, running_worker(database_url, smtp.url, tmp_path):
        smtp.refuse_next("451 4.3.0 Mailbox busy, try again later")
        event = queue_mail(database_url, "dee@example.com")
        smtp.wait_for(1)
        delivered_row(database_url, event)
    lines = [
        json.loads(line) for log in tmp_path.glob("worker-*.log") for line in log.read_text().splitlines()
    ]
    [retried] = [line for line in lines if line["level"] == "warning" and event in line["event"]]
    assert retried["logger"] == "blossom.worker"
    assert retried["event"].startswith(f"event {event}: try 1 failed: "), retried
    assert "451 4.3.0 Mailbox busy" in retried["event"]
    assert re.search(r"; tried again in \d+\.\d s$", retried["event"]), retried


def test_a_permanent_refusal_is_given_up_visibly_and_not_retried(database_url: str, tmp_path: Path) -> None:
    with SmtpServer() as smtp, running_worker(database_url, smtp.url, tmp_path):
        smtp.refuse_next("550 5.1.1 No such user here")
        event = queue_mail(database_url, "nobody@example.com")
        row = outbox_row_once(database_url, event, "given_up_at")
        assert row["attempts"] == 1
        assert "550 5.1.1 No such user here" in row["last_error"]
        assert row["delivered_at"] is None
        # The outbox row is given up before procrastinate records the job's end: wait for that.
        assert (
            eventually(lambda: jobs_of(database_url, event) == [("failed", 1)], what="the job's end") is True
        )
        time.sleep(1.0)  # several retry periods
        assert outbox_row(database_url, event)["attempts"] == 1
        assert smtp.received == []


def test_an_address_the_email_package_cannot_read_is_given_up_visibly(
    database_url: str, tmp_path: Path
) -> None:
    """An address the database takes (an encoded word's characters are atext) on which the email
    package raises an error that is no ValueError: the job failed unrecorded, and the mail stayed
    neither delivered nor given up, never tried again."""
    with SmtpServer() as smtp, running_worker(database_url, smtp.url, tmp_path):
        event = queue_mail(database_url, "=?x?q?a?=@example.com")
        row = outbox_row_once(database_url, event, "given_up_at")
        assert row["attempts"] == 1
        assert "not an address" in row["last_error"]
        assert smtp.received == []


def test_a_mail_whose_link_expired_before_it_could_go_is_given_up_not_sent(
    database_url: str, tmp_path: Path
) -> None:
    """A reset link is valid an hour, about as long as a mail's tries last, and a DBA may try a
    mail again days later: the mail went out all the same, its link dead, saying it "expires" at
    a time past."""
    with SmtpServer() as smtp, running_worker(database_url, smtp.url, tmp_path):
        event = queue_mail(database_url, "fay@example.com", expires_at="2020-01-01T00:00:00+00:00")
        row = outbox_row_once(database_url, event, "given_up_at")
        assert row["attempts"] == 1
        assert "expired" in row["last_error"]
        assert smtp.received == []


def test_a_mail_whose_expired_token_the_housekeeping_took_out_is_given_up_as_expired(
    database_url: str, tmp_path: Path
) -> None:
    """The housekeeping (pipeline.purge_auth, hourly) takes the token out of a mail not delivered
    once its link expired, while its tries may still go on (the relay down past a reset's hour).
    Its next try gave it up as "the payload has no token", a payload missing a field, which reads
    as a fault of ours in admin.failed_deliveries and in the failed-deliveries alert, where the
    mail whose link lapsed in an outage is to say so."""
    event = queue_mail(database_url, "hal@example.com", expires_at="2020-01-01T00:00:00+00:00")
    with psycopg.connect(database_url) as conn:
        conn.execute("select pipeline.purge_auth()")
    assert "token" not in outbox_row(database_url, event)["payload"]
    with SmtpServer() as smtp, running_worker(database_url, smtp.url, tmp_path):
        row = outbox_row_once(database_url, event, "given_up_at")
        assert smtp.received == []
    assert row["last_error"] == "its link expired at 2020-01-01T00:00:00+00:00 before it could be sent"


def test_a_mail_given_up_is_logged_by_its_reason_without_a_traceback(
    database_url: str, tmp_path: Path
) -> None:
    """A give-up is an outcome the worker decided and recorded, not a fault of its code: its log
    line carried a 20-line traceback of the worker's own frames, which buries the reason and
    reads as a crash to whoever is on call."""
    with SmtpServer() as smtp, running_worker(database_url, smtp.url, tmp_path):
        event = queue_mail(database_url, "gil@example.com", expires_at="2020-01-01T00:00:00+00:00")
        outbox_row_once(database_url, event, "given_up_at")
        time.sleep(0.2)  # the job's end is logged after the outcome is committed
    lines = [
        json.loads(line) for log in tmp_path.glob("worker-*.log") for line in log.read_text().splitlines()
    ]
    [ended] = [
        line for line in lines if line["logger"] == "procrastinate.worker" and line["level"] == "error"
    ]
    expired = "its link expired at 2020-01-01T00:00:00+00:00 before it could be sent"
    assert ended["error"] == f"event {event}: given up at try 1: {expired}"


def test_an_invitation_withdrawn_before_its_mail_went_is_not_mailed(
    database_url: str, tmp_path: Path
) -> None:
    """An invitation revoked, replaced, or gone with its deleted organization while its mail
    still waited in the outbox (the worker down, SMTP retrying) was mailed all the same: an
    invitation to an organization that no longer wants them, or no longer exists, whose link only
    answers invitation.invalid. Its mail is withdrawn with it; a pending one still goes."""
    with psycopg.connect(database_url, autocommit=True) as conn:
        owner = make_user(conn, "Olga")
        acme = make_org(conn, "Acme", {owner: "owner"})
        doomed = make_org(conn, "Doomed", {owner: "owner"})

        def invite(org_id: str, email: str) -> str:
            outcome = call_and_commit(conn, owner, "invite_member", org_id, email, "member")
            assert outcome.ok, outcome
            return str(outcome.rows[0][0])

        invite(acme, "kept@example.com")
        revoked = invite(acme, "revoked@example.com")
        assert call_and_commit(conn, owner, "revoke_invitation", revoked).ok
        invite(acme, "twice@example.com")
        invite(acme, "twice@example.com")
        invite(doomed, "doomed@example.com")
        assert call_and_commit(conn, owner, "delete_organization", doomed).ok
        events: dict[str, str] = dict(
            conn.execute(
                "select id, payload ->> 'to' from app.outbox where topic = 'mail.org_invitation' order by id"
            ).fetchall()
        )
    withdrawn = [event for event, to in events.items() if to in ("revoked@example.com", "doomed@example.com")]
    withdrawn.append(min(event for event, to in events.items() if to == "twice@example.com"))
    with SmtpServer() as smtp, running_worker(database_url, smtp.url, tmp_path):
        received = smtp.wait_for(2)
        for event in withdrawn:
            row = outbox_row_once(database_url, event, "given_up_at")
            assert "withdrawn" in row["last_error"]
            assert "token" not in row["payload"]
            assert row["delivered_at"] is None
        time.sleep(0.3)
    assert sorted(message.to for message in smtp.received) == [("kept@example.com",), ("twice@example.com",)]
    assert {message.message_id for message in received}.isdisjoint(
        f"<{event}@blossom.localhost>" for event in withdrawn
    )


@pytest.mark.parametrize(
    ("refusal", "recorded"),
    [("451 4.3.0 Try\x00again\r\n later", None), ("550 5.1.1 No\x00such user", "550 5.1.1 Nosuch user")],
)
def test_a_reply_postgres_cannot_keep_is_recorded_all_the_same(
    database_url: str, tmp_path: Path, refusal: str, recorded: str | None
) -> None:
    """A NUL in the server's refusal (or a byte that is no UTF-8) failed the record of the try,
    and with it the job: the mail stayed neither delivered nor given up, never tried again."""
    with SmtpServer() as smtp, running_worker(database_url, smtp.url, tmp_path):
        smtp.refuse_next(refusal)
        event = queue_mail(database_url, "ed@example.com")
        if recorded is None:
            smtp.wait_for(1)
            row = delivered_row(database_url, event)
            assert row["attempts"] == 2, "tried again"
        else:
            row = outbox_row_once(database_url, event, "given_up_at")
            assert recorded in row["last_error"]


def test_tries_are_bounded_then_given_up(database_url: str, tmp_path: Path) -> None:
    with (
        SmtpServer() as smtp,
        running_worker(database_url, smtp.url, tmp_path, BLOSSOM_MAIL_MAX_ATTEMPTS="3"),
    ):
        smtp.refuse_next(*["421 4.7.0 Too busy"] * 10)
        event = queue_mail(database_url, "ed@example.com")
        row = outbox_row_once(database_url, event, "given_up_at")
        assert row["attempts"] == 3
        assert "421" in row["last_error"]
        time.sleep(1.0)
        assert outbox_row(database_url, event)["attempts"] == 3
        assert smtp.received == []


def test_a_worker_killed_mid_delivery_delivers_exactly_once_after_restart(
    database_url: str, tmp_path: Path
) -> None:
    with SmtpServer() as smtp:
        with running_worker(database_url, smtp.url, tmp_path) as first:
            smtp.hold()
            event = queue_mail(database_url, "flo@example.com")
            assert smtp.held.wait(10), "the delivery never reached the server"
            kill(first)
        smtp.release()
        assert jobs_of(database_url, event) == [("doing", 0)]
        with running_worker(database_url, smtp.url, tmp_path):
            smtp.wait_for(1)
            row = delivered_row(database_url, event)
            assert row["attempts"] == 1
            time.sleep(1.0)
            assert len(smtp.received) == 1


def test_two_workers_deliver_each_mail_once(database_url: str, tmp_path: Path) -> None:
    with (
        SmtpServer() as smtp,
        running_worker(database_url, smtp.url, tmp_path),
        running_worker(database_url, smtp.url, tmp_path),
    ):
        addresses = [f"many-{n}@example.com" for n in range(40)]
        for address in addresses:
            queue_mail(database_url, address)
        smtp.wait_for(len(addresses))
        time.sleep(0.6)
        assert sorted(to for message in smtp.received for to in message.to) == sorted(addresses)


def test_a_second_job_for_the_same_event_sends_nothing_more(database_url: str, tmp_path: Path) -> None:
    """Idempotency by event id: a job run again (by a second worker, after a stall) waits for the
    first one's row lock, then finds the event delivered."""
    with SmtpServer() as smtp, running_worker(database_url, smtp.url, tmp_path):
        smtp.hold()
        event = queue_mail(database_url, "gus@example.com")
        assert smtp.held.wait(10)
        with running_worker(database_url, smtp.url, tmp_path), psycopg.connect(database_url) as conn:
            conn.execute("set local role blossom_owner")
            conn.execute("set local search_path = jobs")
            conn.execute(
                "select jobs.procrastinate_defer_jobs_v1(array[row('mail', 'deliver_mail', 0, null, null,"
                " jsonb_build_object('event_id', %s::text), null)::jobs.procrastinate_job_to_defer_v1])",
                (event,),
            )
            conn.commit()
            eventually(
                lambda: jobs_of(database_url, event) == [("doing", 0), ("doing", 0)], what="both running"
            )
            smtp.release()
            eventually(lambda: jobs_of(database_url, event) == [], what="both jobs done")
        assert len(smtp.to("gus@example.com")) == 1
        assert outbox_row(database_url, event)["attempts"] == 1


def test_sigterm_lets_the_delivery_under_way_finish(database_url: str, tmp_path: Path) -> None:
    with SmtpServer() as smtp:
        with running_worker(database_url, smtp.url, tmp_path) as worker:
            smtp.hold()
            event = queue_mail(database_url, "hal@example.com")
            assert smtp.held.wait(10)
            worker.terminate()
            time.sleep(0.3)
            assert worker.poll() is None, "the worker waits for its job"
            smtp.release()
            assert worker.wait(10) == 0
        assert len(smtp.received) == 1
        assert outbox_row(database_url, event)["delivered_at"] is not None


def test_sigterm_puts_back_a_delivery_that_does_not_finish_in_time(database_url: str, tmp_path: Path) -> None:
    with SmtpServer() as smtp:
        with running_worker(
            database_url, smtp.url, tmp_path, BLOSSOM_WORKER_SHUTDOWN_SECONDS="0.5"
        ) as worker:
            smtp.hold()
            event = queue_mail(database_url, "ida@example.com")
            assert smtp.held.wait(10)
            worker.terminate()
            assert worker.wait(10) == 0
        smtp.release()
        assert jobs_of(database_url, event) == [("todo", 1)]  # stopped once, to run again
        assert outbox_row(database_url, event)["attempts"] == 0
        with running_worker(database_url, smtp.url, tmp_path):
            smtp.wait_for(1)
            delivered_row(database_url, event)
            time.sleep(0.6)
            assert len(smtp.received) == 1


def _stop_once_accepted_and_count(
    database_url: str, smtp: SmtpServer, tmp_path: Path, to: str, accepted: Callable[[], object]
) -> None:
    """Queues a mail to `to` and stops its worker (a grace of 0.5 s) once `accepted()` says that
    the server took it; the mail is recorded delivered, and the next worker sends it no more."""
    with running_worker(database_url, smtp.url, tmp_path, BLOSSOM_WORKER_SHUTDOWN_SECONDS="0.5") as worker:
        event = queue_mail(database_url, to)
        assert accepted()
        worker.terminate()
        assert worker.wait(10) == 0
    smtp.release()
    assert outbox_row(database_url, event)["delivered_at"] is not None
    with running_worker(database_url, smtp.url, tmp_path):
        eventually(lambda: jobs_of(database_url, event) == [], what="its job done")
    assert len(smtp.received) == 1


def test_a_stop_that_comes_once_the_server_accepted_the_mail_leaves_it_recorded(
    database_url: str, tmp_path: Path
) -> None:
    """A mail the server accepted is the server's: a stop whose grace ran out then, while the
    worker waited (up to 2 s) for the answer to its QUIT, rolled the delivery back unrecorded,
    and the next worker sent the mail again."""
    with SmtpServer() as smtp:
        smtp.hold_goodbye()
        _stop_once_accepted_and_count(
            database_url, smtp, tmp_path, "ivo@example.com", lambda: smtp.goodbye_held.wait(10)
        )


def _make_recording_delivered_slow(database_url: str) -> None:
    """A test trigger: the record of a delivery (delivery.delivered) takes 2 s, in pg_sleep."""
    with psycopg.connect(database_url, autocommit=True) as conn:
        conn.execute(
            "create function public.slow_to_record_delivered() returns trigger language plpgsql as $$"
            " begin if new.delivered_at is not null then perform pg_catalog.pg_sleep(2); end if;"
            " return new; end $$"
        )
        conn.execute(
            "create trigger slow_to_record_delivered before update on app.outbox"
            " for each row execute function public.slow_to_record_delivered()"
        )


def test_a_stop_that_comes_while_an_accepted_mail_is_recorded_waits_for_the_record(
    database_url: str, tmp_path: Path
) -> None:
    """The record of a mail the server accepted (delivery.delivered and the commit) is finished
    whatever stop comes meanwhile: cancelled there, it rolled back, and the next worker sent the
    mail again. The database is made slow to record it (a test trigger), so that the stop's grace
    ends while it does."""
    _make_recording_delivered_slow(database_url)
    with SmtpServer() as smtp:
        _stop_once_accepted_and_count(
            database_url, smtp, tmp_path, "jo@example.com", lambda: smtp.wait_for(1)
        )


def test_a_worker_finishing_its_deliveries_after_sigterm_is_not_taken_for_dead(
    database_url: str, tmp_path: Path
) -> None:
    """procrastinate stops a worker's heartbeats as its graceful stop begins, so a peer took a
    worker still finishing a delivery for dead once BLOSSOM_WORKER_STALLED_SECONDS passed: it ran
    the job again beside it, which waited on the row lock, then failed to record its end (an
    error with a traceback in the peer's log). A stopping worker keeps its heartbeat."""
    with SmtpServer() as smtp:
        with running_worker(database_url, smtp.url, tmp_path) as stopping:
            smtp.hold()
            event = queue_mail(database_url, "ivy@example.com")
            assert smtp.held.wait(10)
            with running_worker(database_url, smtp.url, tmp_path):
                stopping.terminate()
                # QUICK: silent 1.5 s is dead, looked for every 0.25 s; the grace is 5 s.
                time.sleep(2.5)
                assert jobs_of(database_url, event) == [("doing", 0)], "run again by the peer"
                smtp.release()
                assert stopping.wait(10) == 0
                delivered_row(database_url, event)
                assert eventually(lambda: jobs_of(database_url, event) == [], what="the job is done") is True
        assert len(smtp.received) == 1
    for log in tmp_path.glob("worker-*.log"):
        assert "stopped answering" not in log.read_text(), log.read_text()


def test_a_notification_asking_to_abort_a_job_does_not_cut_a_delivery_short(
    database_url: str, tmp_path: Path
) -> None:
    """Any login may NOTIFY any channel, panopticon, which may only read, too. procrastinate's
    worker cancelled the job that an `abort_job_requested` notification on its queue's channel
    named: the delivery under way was dropped and run again at once (a mail the server had taken
    before its answer, sent twice). An abort is asked for in the job queue's table, which only
    the roles that may write it can do (worker/process.py, QueueConnector)."""
    with SmtpServer() as smtp, running_worker(database_url, smtp.url, tmp_path):
        smtp.hold()
        event = queue_mail(database_url, "ivy@example.com")
        assert smtp.held.wait(10)
        with psycopg.connect(database_url) as conn:
            row = conn.execute(
                "select id from jobs.procrastinate_jobs where args ->> 'event_id' = %s", (event,)
            ).fetchone()
        assert row is not None
        abort = json.dumps({"type": "abort_job_requested", "job_id": row[0]})
        with psycopg.connect(with_user(database_url, "panopticon"), autocommit=True) as conn:
            for channel in ("procrastinate_queue_v1#mail", "procrastinate_any_queue_v1"):
                conn.execute("select pg_notify(%s, %s)", (channel, abort))
        time.sleep(1.0)  # the worker polls every 0.1 s; its abort poll runs every 5 s
        assert outbox_row(database_url, event)["delivered_at"] is None, "the held delivery was dropped"
        assert jobs_of(database_url, event) == [("doing", 0)]
        smtp.release()
        smtp.wait_for(1)
        row_after = delivered_row(database_url, event)
        assert row_after["attempts"] == 1
        time.sleep(0.6)
        assert len(smtp.received) == 1


def test_a_notification_that_is_no_job_leaves_the_worker_listening(database_url: str, tmp_path: Path) -> None:
    """A payload that was not a JSON object (anyone's NOTIFY on the queue's channel) ended
    procrastinate's listener without a word: every mail after it waited for the next poll."""
    with (
        SmtpServer() as smtp,
        running_worker(database_url, smtp.url, tmp_path, BLOSSOM_WORKER_POLL_SECONDS="60"),
    ):
        time.sleep(0.5)  # listening
        with psycopg.connect(with_user(database_url, "panopticon"), autocommit=True) as conn:
            for payload in ("not json", "[]", "{}", '{"type": "abort_job_requested"}'):
                conn.execute("select pg_notify('procrastinate_queue_v1#mail', %s)", (payload,))
        time.sleep(0.5)
        queue_mail(database_url, "jo@example.com")
        smtp.wait_for(1, timeout=5)


@pytest.fixture
def own_cluster_database() -> Iterator[tuple[LocalCluster, str]]:
    """A migrated database on a cluster of its own, which the test may stop and start."""
    with temporary_cluster(prefix="blossom-worker-") as cluster:
        cluster.create_database("blossom")
        url = cluster.url("blossom")
        migrate(url, quiet=True)
        yield cluster, url


# Postgres's notification queue holds 8 GB; a hundredth of it, in notifications of one page each.
BACKED_UP_QUEUE_PAGES = 10_600


def test_a_mail_queued_while_the_notification_queue_is_backed_up_commits_and_is_delivered(
    own_cluster_database: tuple[LocalCluster, str], tmp_path: Path
) -> None:
    """A session that listens and keeps a transaction open holds every notification sent since
    in Postgres's queue, and any login may send them (panopticon, in a read-only session too).
    Once the queue was full, every commit that queued a job failed on the job queue's NOTIFY
    ("too many notifications in the NOTIFY queue"): sign-ups, resets and invitations refused
    until that session ended. The wake-up is sent only while the queue is nearly empty; a mail
    queued otherwise waits for the worker's next poll. On a cluster of its own: the queue is the
    server's, and the tests beside it would go without their wake-ups."""
    _, database_url = own_cluster_database
    with (
        psycopg.connect(with_user(database_url, "panopticon"), autocommit=True) as holder,
        psycopg.connect(with_user(database_url, "panopticon"), autocommit=True) as sender,
        psycopg.connect(database_url, autocommit=True) as listener,
    ):
        listener.execute("listen procrastinate_any_queue_v1")
        queue_mail(database_url, "before@example.com")
        assert [n.channel for n in listener.notifies(timeout=2, stop_after=1)] == [
            "procrastinate_any_queue_v1"
        ]

        holder.execute("set idle_in_transaction_session_timeout = 0")
        holder.execute("listen held")
        holder.execute("begin")
        holder.execute("select 1")
        sender.execute(
            "select count(pg_notify('held', n::text || repeat('x', 7000))) from generate_series(1, %s) n",
            (BACKED_UP_QUEUE_PAGES,),
        )
        usage = sender.execute("select pg_notification_queue_usage()").fetchone()
        assert usage is not None
        assert usage[0] >= 0.01

        event = queue_mail(database_url, "during@example.com")
        assert list(listener.notifies(timeout=1, stop_after=1)) == [], (
            "a wake-up added to the backed-up queue"
        )
        assert jobs_of(database_url, event) == [("todo", 0)]
        with SmtpServer() as smtp, running_worker(database_url, smtp.url, tmp_path):
            delivered_row(database_url, event)
        holder.execute("rollback")


def test_a_database_that_takes_connections_but_never_answers_is_given_up_on(tmp_path: Path) -> None:
    """Postgres shutting down leaves new connections unanswered. An attempt of the job queue's
    pool waited on it for ever, with its socket open, and Postgres's fast shutdown waited 60 s
    (authentication_timeout) for the backend that was waiting on it; nor did the worker heed a
    stop while its pool was opening."""
    with SilentServer() as silent:
        database = f"postgresql://worker@127.0.0.1:{silent.port}/blossom"
        settings = worker_env(database, "smtp://127.0.0.1:9", APP_URL)
        with open(tmp_path / "worker.log", "wb") as log:
            process = subprocess.Popen(
                [sys.executable, "-m", "worker"], env=os.environ | settings | QUICK, stdout=log, stderr=log
            )
            try:
                eventually(lambda: len(silent.connections) >= 2, timeout=20, what="a second attempt")
                assert process.poll() is None, "the worker keeps trying"
                longest = silent.longest_held()
                asked = time.monotonic()
                process.terminate()
                with suppress(subprocess.TimeoutExpired):
                    process.wait(timeout=10)
                took = time.monotonic() - asked
            finally:
                stop(process)
    log_lines = (tmp_path / "worker.log").read_text()
    # The connect timeout is 2 s; the bounds leave room for a loaded machine and still tell it
    # from what they guard against: an attempt held for ever, a stop heeded only when killed (10 s).
    assert longest < 8, f"a connection attempt waited {longest:.1f} s:\n{log_lines}"
    # An attempt under way may run to its end.
    assert took < 8, f"stopped after {took:.1f} s:\n{log_lines}"
    assert process.returncode == 0, log_lines


def assert_the_restart_logged_in_lines_not_tracebacks(tmp_path: Path) -> None:
    """A Postgres restart is an expected event: the worker's log says it as `database unreachable
    (…)` (docs/mail.md), and holds no traceback (procrastinate's `listener error`, asyncio's `Task
    exception was never retrieved` for a job whose end could not be recorded)."""
    (log,) = tmp_path.glob("worker-*.log")
    text = log.read_text()
    events = [str(json.loads(line).get("event")) for line in text.splitlines()]
    assert any(event.startswith("database unreachable (") for event in events), "\n".join(events)
    assert "Traceback" not in text, text
    assert "never retrieved" not in text, text


def test_the_worker_reconnects_after_postgres_restarts(
    own_cluster_database: tuple[LocalCluster, str], tmp_path: Path
) -> None:
    """Wakes up at commit after the restart too: its listener, whose reconnection the restarting
    Postgres refused, died, and procrastinate's worker ran on without it (its watch of its side
    tasks ended with its periodic deferrer, which has nothing to do here), every mail waiting for
    the next poll; hence a poll far longer than the wait for the mail."""
    cluster, url = own_cluster_database
    with (
        SmtpServer() as smtp,
        running_worker(url, smtp.url, tmp_path, BLOSSOM_WORKER_POLL_SECONDS="60") as worker,
    ):
        before = queue_mail(url, "before@example.com")
        smtp.wait_for(1)
        # Delivered means recorded too: a restart between the two would send it again (the
        # window every SMTP client has, docs/mail.md), which is not what this test is about.
        eventually(lambda: outbox_row(url, before)["delivered_at"], what="delivered before the restart")
        cluster.stop(mode="fast")
        time.sleep(1.0)
        cluster.start()
        after = queue_mail(url, "after@example.com")
        smtp.wait_for(2, timeout=15)
        eventually(lambda: outbox_row(url, after)["delivered_at"], what="delivered after the restart")
        assert worker.poll() is None, "the worker kept running"
        assert [m.to for m in smtp.received] == [("before@example.com",), ("after@example.com",)]
    assert_the_restart_logged_in_lines_not_tracebacks(tmp_path)


def test_a_delivery_cut_short_by_postgres_going_away_runs_again_once_it_is_back(
    own_cluster_database: tuple[LocalCluster, str], tmp_path: Path
) -> None:
    """A job whose end could not be recorded while Postgres was away stayed `doing` under the
    worker the process had before it started over, which sends no heartbeat any more: it ran
    again only once that worker was taken for dead, BLOSSOM_WORKER_STALLED_SECONDS (30 s) after
    its last heartbeat. The process knows that worker is gone: its jobs run again at once."""
    cluster, url = own_cluster_database
    slow_to_take_for_dead = {
        "BLOSSOM_WORKER_HEARTBEAT_SECONDS": "20",
        "BLOSSOM_WORKER_STALLED_SECONDS": "60",
        "BLOSSOM_WORKER_SHUTDOWN_SECONDS": "0.5",
    }
    starting_over = float(slow_to_take_for_dead["BLOSSOM_WORKER_STALLED_SECONDS"]) + 20
    with SmtpServer() as smtp, running_worker(url, smtp.url, tmp_path, **slow_to_take_for_dead) as process:
        smtp.hold()
        event = queue_mail(url, "jo@example.com")
        assert smtp.held.wait(10)
        cluster.stop(mode="fast")
        # Its claim went with the database: the check before DATA finds it lost, and the message
        # is not handed over (it was, and its record failed: the mail went twice).
        smtp.release()
        (log,) = tmp_path.glob("worker-*.log")
        # Its record waits for the job queue's pool (5 s), then the worker ends and starts over:
        # about 6 s, as the listener's lost connection has begun its stop. Without that, the record
        # is tried for BLOSSOM_WORKER_STALLED_SECONDS first (a full run on two cores once did not
        # see it within 20 s): bounded by both, and the log shown if neither holds.
        try:
            eventually(lambda: "database unreachable" in log.read_text(), timeout=starting_over)
        except AssertionError:
            raise AssertionError(
                f"the worker did not start over within {starting_over:g} s; its log:\n{log.read_text()}"
            ) from None
        cluster.start()
        # Not BLOSSOM_WORKER_STALLED_SECONDS (60 s here) after the last heartbeat.
        eventually(lambda: outbox_row(url, event)["delivered_at"], timeout=8, what="delivered at once")
        assert process.poll() is None, "the worker kept running"
        assert len(smtp.received) == 1
    assert_the_restart_logged_in_lines_not_tracebacks(tmp_path)


# Every retry procrastinate records (not the sweep's UPDATE, which runs the job again): the worker
# starts over once BLOSSOM_WORKER_STALLED_SECONDS (QUICK's 1.5 s) have passed, well within 15 s.
EVERY_RETRY = "pg_catalog.current_query() like '%procrastinate_retry_job%'"


@pytest.mark.parametrize(
    ("lost", "state", "starts_over"),
    [
        pytest.param("pg_catalog.nextval('public.job_ends_lost') = 1", "57P01", False, id="once"),
        pytest.param(EVERY_RETRY, "57P01", True, id="for-good"),
        # A state that passes while the database answers (a lock timeout): no connection lost.
        pytest.param(EVERY_RETRY, "55P03", True, id="lock-timeout-for-good"),
    ],
)
def test_a_job_whose_end_the_database_lost_while_the_worker_ran_on_runs_again(
    database_url: str, tmp_path: Path, lost: str, state: str, starts_over: bool
) -> None:
    """A job's end (its retry after a failed try, here) that the database lost, while the worker
    went on (one of the job queue's connections ended, its pool's wait for one run out, the rest
    of the database answering), stayed `doing` under that worker, whose heartbeat went on too:
    no sweep took it for stalled, and the mail was never tried again. A test trigger ends the
    retry's statement as a backend ended (57P01), or as a lock timeout (55P03): the end is
    recorded once it is taken, and when it never is, the worker starts over and the job runs
    again, said in log lines (the lock timeout's was asyncio's `Task exception was never
    retrieved`, its traceback at error level)."""
    with psycopg.connect(database_url, autocommit=True) as conn:
        conn.execute("create sequence public.job_ends_lost")
        conn.execute(
            "create function public.lose_job_ends() returns trigger language plpgsql"
            " security definer set search_path = '' as $$ begin"
            f" if old.status = 'doing' and new.status = 'todo' and {lost} then"
            f" raise exception 'the job''s end lost' using errcode = '{state}';"
            " end if; return new; end $$"
        )
        conn.execute(
            "create trigger lose_job_ends before update on jobs.procrastinate_jobs"
            " for each row execute function public.lose_job_ends()"
        )
    with SmtpServer() as smtp, running_worker(database_url, smtp.url, tmp_path) as process:
        smtp.refuse_next("451 4.3.0 Mailbox busy, try again later")
        event = queue_mail(database_url, "kai@example.com")
        row = outbox_row_once(database_url, event, "delivered_at", timeout=15)
        assert row["attempts"] == 2, row
        assert len(smtp.to("kai@example.com")) == 1
        assert process.poll() is None, "the worker kept running"
    (log,) = tmp_path.glob("worker-*.log")
    text = log.read_text()
    assert "Traceback" not in text, text
    assert "never retrieved" not in text, text
    # The database answered all along: a restart said to be for its loss sent on-call to look
    # for an outage that was not there.
    assert "database connection was lost" not in text, text
    if starts_over:
        assert "the worker starts over: a job's end could not be recorded" in text, text
    else:
        # Recorded by a try of the worker that ran it: starting over would have delivered it too.
        assert "its end could not be recorded" in text, text
        assert "the worker starts over" not in text, text


def _wrapped(error: psycopg.Error) -> exceptions.ConnectorException:
    """`error` as procrastinate raises it: wrapped in a ConnectorException."""
    wrapped = exceptions.ConnectorException()
    wrapped.__cause__ = error
    return wrapped


@pytest.mark.parametrize(
    ("error", "kept"),
    [
        pytest.param(
            _wrapped(psycopg.OperationalError("the database system is shutting down")), False, id="lost"
        ),
        pytest.param(_wrapped(psycopg.errors.UniqueViolation("duplicate key")), True, id="data-fault"),
        pytest.param(ValueError("a bug"), True, id="bug"),
    ],
)
def test_only_the_database_lost_loses_procrastinates_traceback(error: Exception, kept: bool) -> None:
    """The filter that keeps a restart's tracebacks out of the log (ExpectedDatabaseLoss) leaves
    every other error's record, traceback and all: a bug must still show."""
    record = logging.LogRecord(
        "procrastinate.utils", logging.ERROR, "", 0, "listener error", (), (type(error), error, None)
    )
    assert worker.process.ExpectedDatabaseLoss().filter(record) is kept
    assert record.exc_info is not None


class _Stopped(Exception):
    """What `up`'s signal handler raises (ops.stack.Shutdown), here from a timer."""


def _stop(_signum: int, _frame: object) -> None:
    raise _Stopped


def test_a_worker_still_starting_when_up_is_stopped_is_stopped_too(
    database_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Ctrl-C while `up` waited for the worker to register: the worker, in a session of its own,
    ran on with no one to stop it, trying its database for ever (here one that never answers)."""
    spawned: list[subprocess.Popen[bytes]] = []
    spawn = services._spawn

    def spawn_kept(*args: Any, **kwargs: Any) -> subprocess.Popen[bytes]:
        spawned.append(spawn(*args, **kwargs))
        return spawned[-1]

    monkeypatch.setattr(services, "_spawn", spawn_kept)
    with SilentServer() as silent:
        settings = worker_env(
            f"postgresql://worker@127.0.0.1:{silent.port}/blossom", "smtp://127.0.0.1:9", APP_URL
        )
        previous = signal.signal(signal.SIGALRM, _stop)
        signal.setitimer(signal.ITIMER_REAL, 1.0)
        try:
            with pytest.raises(_Stopped):
                start_worker(settings | QUICK, database_url, tmp_path / "worker.log")
        finally:
            signal.setitimer(signal.ITIMER_REAL, 0)
            signal.signal(signal.SIGALRM, previous)
    assert len(spawned) == 1
    assert spawned[0].poll() is not None, "the worker was left running"


def test_a_worker_started_while_the_database_is_down_is_tried_again_later(tmp_path: Path) -> None:
    """`up` restarts a worker that exited, and tries again when it cannot (RuntimeError); the
    database down at that moment raised psycopg's error instead, which ended the whole stack."""
    nowhere = f"postgresql://postgres@127.0.0.1:{free_port()}/blossom"
    with pytest.raises(RuntimeError, match="the worker's start could not be watched"):
        start_worker(worker_env(nowhere, "smtp://127.0.0.1:9", APP_URL), nowhere, tmp_path / "worker.log")
    assert not (tmp_path / "worker.log").exists(), "no worker was started"


def test_a_worker_that_refuses_its_settings_says_why_through_up(database_url: str) -> None:
    """`up` reads the worker's output once it is ready: one that refused a setting at start
    exited with its reason unread in the pipe, and `up` said only `the worker exited with 1
    before it was ready`, whatever the setting."""
    settings = worker_env(with_user(database_url, "worker"), "smtp://127.0.0.1:9", APP_URL)
    with pytest.raises(RuntimeError, match=r"exited with 1 before it was ready: .*BLOSSOM_MAIL_FROM"):
        start_worker(settings | {"BLOSSOM_MAIL_FROM": "nonsense"}, database_url, subprocess.PIPE)


@pytest.mark.parametrize("payload", ["not json", "[]", "[" * 7000, '{"a": ' * 3000 + "1" + "}" * 3000])
def test_a_notification_nested_too_deep_for_the_parser_is_only_a_wake_up_too(
    monkeypatch: pytest.MonkeyPatch, payload: str
) -> None:
    """json.loads raises RecursionError, no ValueError, on a payload nested past Python's
    recursion limit (a NOTIFY's 8000 bytes hold 7000 brackets): it ended procrastinate's listener,
    a failed side task, which stops the whole worker (deliveries under way cut short and run
    again). Whatever the payload, the listener goes on."""
    passed_on: list[str] = []

    async def listen(_self: object, on_notification: Any, channels: object) -> None:
        await on_notification(channel="procrastinate_queue_v1#mail", payload=payload)
        await on_notification(channel="procrastinate_queue_v1#mail", payload='{"type": "job_inserted"}')

    async def woken(*, channel: str, payload: str) -> None:
        passed_on.append(payload)

    monkeypatch.setattr(PsycopgConnector, "listen_notify", listen)
    connector = QueueConnector(conninfo="postgresql://nobody@127.0.0.1:1/none")
    asyncio.run(connector.listen_notify(woken, ["procrastinate_queue_v1#mail"]))
    assert passed_on == ['{"type": "job_inserted"}']


def test_a_server_slower_than_the_transactions_idle_limit_gets_the_mail_once(
    database_url: str, tmp_path: Path
) -> None:
    """The delivery's transaction is idle while the server is talked to, and Postgres ends a
    session idle in a transaction past the worker role's idle_in_transaction_session_timeout
    (5 min; here 1 s, set by the worker's own connections, which no migrate beside this test
    resets). A server slow enough (a tarpit answering each command just within the SMTP timeout:
    ten commands with STARTTLS and a login, 30 s each) took the mail after the session was gone:
    its record failed, the job ran again, and the mail was sent a second time."""
    idle_limit = {"PGOPTIONS": "-c idle_in_transaction_session_timeout=1s"}
    with SmtpServer() as smtp, running_worker(database_url, smtp.url, tmp_path, **idle_limit):
        smtp.hold()
        event = queue_mail(database_url, "tara@example.com")
        assert smtp.held.wait(10), "the delivery never reached the server"
        time.sleep(1.5)
        smtp.release()
        outbox_row_once(database_url, event, "delivered_at", timeout=15)
        time.sleep(1.5)
        assert len(smtp.to("tara@example.com")) == 1, "the mail was sent more than once"
        row = outbox_row(database_url, event)
        assert "token" not in row["payload"]


def test_a_server_slow_to_answer_the_end_of_a_message_gets_it_once(database_url: str, tmp_path: Path) -> None:
    """A relay has the message once its end of data came, and answers that end when it has
    queued it (a content filter, a busy disk: tens of seconds), delivering it even when the
    client hung up meanwhile. Waited for as long as any other answer (BLOSSOM_SMTP_TIMEOUT), the
    answer was given up on, the try counted as failed, and the next try sent the mail again:
    the reader got it twice, or once per try. It is waited for as long as the send may take."""
    with SmtpServer() as smtp, running_worker(database_url, smtp.url, tmp_path, BLOSSOM_SMTP_TIMEOUT="1"):
        smtp.hold_data_end()
        event = queue_mail(database_url, "uma@example.com")
        assert smtp.data_end_held.wait(10), "the message never reached the server"
        time.sleep(2)
        smtp.release()
        row = delivered_row(database_url, event)
        time.sleep(1)
        assert len(smtp.to("uma@example.com")) == 1, "the mail was sent more than once"
        assert row["attempts"] == 1, row


def test_a_data_fault_of_the_job_queue_is_logged_as_one_not_as_the_database_unreachable(
    database_url: str, tmp_path: Path
) -> None:
    """A worker taken for dead by a peer (its heartbeat late) has its row pruned; its next fetch
    of a job then violates procrastinate's foreign key, and the worker starts over. It logged
    that as "database unreachable", sending whoever read it after a network fault that was none."""
    with SmtpServer() as smtp, running_worker(database_url, smtp.url, tmp_path):
        with psycopg.connect(database_url) as conn:
            conn.execute("delete from jobs.procrastinate_workers")
        event = queue_mail(database_url, "after-prune@example.com")
        delivered_row(database_url, event)
    lines = [
        json.loads(line) for path in tmp_path.glob("worker-*.log") for line in path.read_text().splitlines()
    ]
    events = [str(line.get("event")) for line in lines]
    faults = [event for event in events if "23503" in event]
    assert faults, "\n".join(events)
    assert all("foreign key" in fault for fault in faults), faults
    assert not [event for event in events if "unreachable" in event], "\n".join(events)


# The worker's clock off the database's: several workers on several machines, a container's
# drifting clock, a VM resumed from suspend. Simulated by shifting what the worker's modules and
# procrastinate read as now, never the machine's clock.
CLOCK_SKEWS = [
    pytest.param(timedelta(minutes=-10), id="worker-behind"),
    pytest.param(timedelta(minutes=10), id="worker-ahead"),
]


def skew_worker_clock(monkeypatch: pytest.MonkeyPatch, offset: timedelta) -> None:
    class SkewedDatetime(datetime):
        @classmethod
        def now(cls, tz: tzinfo | None = None) -> SkewedDatetime:
            moment = datetime.now(tz) + offset
            return cls.fromtimestamp(moment.timestamp(), moment.tzinfo)

    for module in (worker.process, worker.messages, worker.delivery):
        monkeypatch.setattr(module, "datetime", SkewedDatetime, raising=False)
    monkeypatch.setattr(procrastinate.utils, "utcnow", lambda: datetime.now(UTC) + offset)


def _worker_config(database_url: str) -> WorkerConfig:
    # BLOSSOM_APP_URL has no default (worker/config.py).
    with pytest.MonkeyPatch.context() as environment:
        environment.setenv("BLOSSOM_APP_URL", APP_URL)
        config = WorkerConfig.from_env()
    return replace(config, database_url=with_user(database_url, "worker"))


@pytest.mark.parametrize("offset", CLOCK_SKEWS)
@pytest.mark.parametrize(
    ("failure", "wait"),
    [
        pytest.param(RetryLater("421 4.7.0 Too busy", 60.0), 60.0, id="failed-try"),
        pytest.param(asyncio.CancelledError(), 0.0, id="stopped"),
    ],
)
def test_a_retry_waits_by_the_databases_clock_whatever_the_workers(
    database_url: str, monkeypatch: pytest.MonkeyPatch, offset: timedelta, failure: BaseException, wait: float
) -> None:
    """procrastinate runs a job once its scheduled_at is past the database's now(), and the worker
    wrote it as its own clock's time plus the wait: a worker 10 minutes behind retried at once
    (a mail's 8 tries spent in seconds, then given up), one ahead waited 10 minutes more (a
    delivery cut short by a stop, meant to run again at once, too)."""
    config = _worker_config(database_url)
    event = queue_mail(database_url, "skew@example.com")

    async def retried() -> tuple[float, bool]:
        app = build_app(config, cast(Deliverer, None), cast(SlackPoster, None))
        await app.open_async()
        try:
            manager = app.job_manager
            worker_id = await manager.register_worker()
            job = await manager.fetch_job([MAIL_QUEUE], worker_id)
            assert job is not None
            assert job.id is not None
            skew_worker_clock(monkeypatch, offset)
            decision = DeliveryRetry(config).get_retry_decision(exception=failure, job=job)
            assert decision is not None
            await manager.retry_job(job, retry_at=decision.retry_at)
            due_again = await manager.fetch_job([MAIL_QUEUE], worker_id) is not None
        finally:
            await app.close_async()
        with psycopg.connect(database_url) as conn:
            row = conn.execute(
                "select extract(epoch from scheduled_at - pg_catalog.now())::float8"
                " from jobs.procrastinate_jobs where id = %s",
                (job.id,),
            ).fetchone()
        assert row is not None
        return float(row[0]), due_again

    waits_for, due_again = asyncio.run(retried())
    # One retried at once may have been written as due a while ago: it runs at once all the same.
    assert waits_for <= wait + 1, f"the job waits {waits_for:.0f} s by the database's clock"
    if wait > 0:
        assert waits_for >= wait - 5, f"the job waits {waits_for:.0f} s by the database's clock"
    assert due_again is (wait == 0), event


# What another worker makes of a job listed as stalled before the sweep that listed it puts it
# back: run again and ended, or running again.
async def _end_it(other: psycopg.AsyncConnection[Any], job_id: int, ending: str) -> None:
    await other.execute("select procrastinate_retry_job_v2(%s, now(), null, null, null)", (job_id,))
    cursor = await other.execute("select procrastinate_register_worker_v1()")
    registered = await cursor.fetchone()
    assert registered is not None
    cursor = await other.execute("select id from procrastinate_fetch_job_v2(array['mail'], %s)", registered)
    assert await cursor.fetchone() == (job_id,)
    if ending == "failed":
        await other.execute("select procrastinate_finish_job_v1(%s, 'failed', false)", (job_id,))
    elif ending == "succeeded":  # and deleted, as the worker's delete_jobs="successful" does
        await other.execute("select procrastinate_finish_job_v1(%s, 'succeeded', true)", (job_id,))


async def _state_of(conn: psycopg.AsyncConnection[Any], job_id: int) -> tuple[Any, ...]:
    """The job's status, worker and attempts (None when it is deleted), and its events' types."""
    cursor = await conn.execute(
        "select j.status::text, j.worker_id, j.attempts,"
        " array(select type::text from procrastinate_events where job_id = %s order by id)"
        " from (select) one left join procrastinate_jobs j on j.id = %s",
        (job_id, job_id),
    )
    row = await cursor.fetchone()
    assert row is not None
    return tuple(row)


async def _until_waiting_on_a_lock(database_url: str, application_name: str) -> None:
    """Until a backend of `application_name` waits on a lock (10 s at most)."""
    async with await psycopg.AsyncConnection.connect(database_url, autocommit=True) as watcher:
        for _ in range(1000):
            cursor = await watcher.execute(
                "select exists (select from pg_stat_activity"
                " where application_name = %s and wait_event_type = 'Lock')",
                (application_name,),
            )
            if (await cursor.fetchone() or (False,))[0]:
                return
            await asyncio.sleep(0.01)
    raise AssertionError(f"{application_name} never waited on a lock")


async def _a_stalled_job(database_url: str, process: WorkerProcess) -> int:
    """The id of a mail's job `doing` under a worker whose last heartbeat is an hour old."""
    manager = process.app.job_manager
    dead = await manager.register_worker()
    job = await manager.fetch_job([MAIL_QUEUE], dead)
    assert job is not None
    assert job.id is not None
    async with await psycopg.AsyncConnection.connect(database_url, autocommit=True) as conn:
        await conn.execute(
            "update jobs.procrastinate_workers set last_heartbeat = now() - interval '1 hour' where id = %s",
            (dead,),
        )
    return job.id


@pytest.mark.parametrize("ending", ["failed", "succeeded", "running again"])
def test_a_stalled_job_that_another_worker_ran_meanwhile_is_left_as_it_is(
    database_url: str, monkeypatch: pytest.MonkeyPatch, ending: str
) -> None:
    """Each worker's sweep lists the jobs `doing` under workers taken for dead, then puts each
    back. Another's sweep may put it back first, and a worker run it and end it before the
    first's comes to it: procrastinate's retry takes a `failed` job too, which ran again (the
    claim found nothing, `skipped`) and was deleted with its events, its failure with them,
    which the pipeline's sensor never saw; one running again was set back to `todo` under the
    worker running it. Here the other worker's transaction is held open until the sweep's retry
    waits on the job's row, then committed."""
    queue_mail(database_url, f"stalled-{ending.replace(' ', '-')}@example.com")
    config = _worker_config(database_url)

    async def swept() -> tuple[tuple[Any, ...], tuple[Any, ...]]:
        process = WorkerProcess(config)
        await process.app.open_async()
        try:
            job_id = await _a_stalled_job(database_url, process)
            async with await psycopg.AsyncConnection.connect(
                database_url, options="-c search_path=jobs"
            ) as other:
                manager = process.app.job_manager
                listed = manager.get_stalled_jobs

                async def listed_then_run_again(**kwargs: Any) -> Any:
                    stalled = await listed(**kwargs)
                    await _end_it(other, job_id, ending)
                    return stalled

                monkeypatch.setattr(manager, "get_stalled_jobs", listed_then_run_again)
                sweep = asyncio.create_task(process._sweep_stalled_jobs_once())
                await _until_waiting_on_a_lock(database_url, f"{worker.process.APPLICATION_NAME}-queue")
                left = await _state_of(other, job_id)
                await other.commit()
                await sweep
                return left, await _state_of(other, job_id)
        finally:
            await process.app.close_async()

    left, after = asyncio.run(swept())
    assert after == left
    if ending == "failed":
        assert left[0] == "failed"
        assert left[3][-1] == "failed"


def _around_a_sweep(
    database_url: str,
    prepare: Callable[[WorkerProcess, psycopg.AsyncConnection[Any], int], None] = lambda *_: None,
) -> tuple[tuple[Any, ...], tuple[Any, ...]]:
    """A job left `doing` under a worker taken for dead, and its state before and after one
    sweep; `prepare` runs first, with the worker process, a connection and the job's id."""
    config = _worker_config(database_url)

    async def swept() -> tuple[tuple[Any, ...], tuple[Any, ...]]:
        process = WorkerProcess(config)
        await process.app.open_async()
        try:
            job_id = await _a_stalled_job(database_url, process)
            async with await psycopg.AsyncConnection.connect(
                database_url, options="-c search_path=jobs", autocommit=True
            ) as conn:
                prepare(process, conn, job_id)
                before = await _state_of(conn, job_id)
                await process._sweep_stalled_jobs_once()
                return before, await _state_of(conn, job_id)
        finally:
            await process.app.close_async()

    return asyncio.run(swept())


def test_a_stalled_job_is_run_again(database_url: str) -> None:
    """The sweep's condition lets a job still `doing` under the worker taken for dead through."""
    queue_mail(database_url, "truly-stalled@example.com")
    before, after = _around_a_sweep(database_url)
    status, _, attempts, events = before
    assert status == "doing"
    # Put back to run again at once, one try more; the dead worker pruned, which unlinks its jobs.
    assert after[:3] == ("todo", None, attempts + 1)
    assert after[3][: len(events)] == events
    assert "deferred_for_retry" in after[3][len(events) :]


def test_a_job_whose_worker_is_heard_from_again_after_the_listing_is_left_to_it(
    database_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A worker silent past BLOSSOM_WORKER_STALLED_SECONDS (a pause, a slow network) that sends
    its heartbeat again between the sweep's listing and its retry still runs the job: put back,
    it would be run a second time beside it."""
    queue_mail(database_url, "heard-again@example.com")

    def heard_from_after_the_listing(
        process: WorkerProcess, conn: psycopg.AsyncConnection[Any], job_id: int
    ) -> None:
        manager = process.app.job_manager
        listed = manager.get_stalled_jobs

        async def listed_then_heard_from(**kwargs: Any) -> Any:
            stalled = await listed(**kwargs)
            await conn.execute(
                "select procrastinate_update_heartbeat_v1(worker_id) from procrastinate_jobs where id = %s",
                (job_id,),
            )
            return stalled

        monkeypatch.setattr(manager, "get_stalled_jobs", listed_then_heard_from)

    before, after = _around_a_sweep(database_url, heard_from_after_the_listing)
    assert before[0] == "doing"
    assert after == before


class _KeptMail:
    """An SMTP server that takes every message."""

    def __init__(self) -> None:
        self.sent: list[EmailMessage] = []

    async def send(
        self, message: EmailMessage, *, before_data: Callable[[], Awaitable[None]] | None = None
    ) -> None:
        if before_data is not None:
            await before_data()
        self.sent.append(message)


def _deliver(
    database_url: str, event_id: str, monkeypatch: pytest.MonkeyPatch, offset: timedelta
) -> tuple[_KeptMail, WorkerMetrics, Exception | None]:
    """One try at `event_id` by a Deliverer of this process whose clock is `offset` off."""
    config = _worker_config(database_url)
    mailer, metrics = _KeptMail(), WorkerMetrics()
    skew_worker_clock(monkeypatch, offset)

    async def deliver() -> Exception | None:
        database = Database(config.database_url, max_connections=1, wait_seconds=5.0, application_name="test")
        try:
            await Deliverer(config, database, cast(Mailer, mailer), metrics).deliver(event_id)
        except (GaveUp, RetryLater) as outcome:
            return outcome
        finally:
            await database.close()
        return None

    return mailer, metrics, asyncio.run(deliver())


@pytest.mark.parametrize(
    ("offset", "expires_in", "sent"),
    [
        pytest.param(timedelta(hours=2), timedelta(hours=1), True, id="worker-ahead-link-valid"),
        pytest.param(timedelta(hours=-2), timedelta(hours=-1), False, id="worker-behind-link-dead"),
    ],
)
def test_whether_a_link_expired_is_decided_by_the_databases_clock(
    database_url: str, monkeypatch: pytest.MonkeyPatch, offset: timedelta, expires_in: timedelta, sent: bool
) -> None:
    """A worker 2 hours ahead gave up a reset mail whose link had an hour left; one 2 hours behind
    mailed a link dead an hour before."""
    with psycopg.connect(database_url) as conn:
        row = conn.execute("select pg_catalog.now() + %s", (expires_in,)).fetchone()
    assert row is not None
    event = queue_mail(database_url, "expiry@example.com", expires_at=row[0].isoformat())
    mailer, _, outcome = _deliver(database_url, event, monkeypatch, offset)
    assert len(mailer.sent) == (1 if sent else 0)
    if sent:
        assert outcome is None
    else:
        assert isinstance(outcome, GaveUp)
        assert "expired" in str(outcome)


@pytest.mark.parametrize("offset", CLOCK_SKEWS)
def test_the_delivery_latency_is_measured_by_the_databases_clock(
    database_url: str, monkeypatch: pytest.MonkeyPatch, offset: timedelta
) -> None:
    """The latency metric subtracted the outbox row's created_at (the database's time) from the
    worker's now: 10 minutes off, a mail delivered at once counted 10 minutes late or early."""
    event = queue_mail(database_url, "latency@example.com")
    mailer, metrics, outcome = _deliver(database_url, event, monkeypatch, offset)
    assert outcome is None
    assert len(mailer.sent) == 1
    latency = metrics.registry.get_sample_value("blossom_worker_delivery_latency_seconds_sum")
    assert latency is not None
    assert 0 <= latency < 30, f"a mail delivered at once counted {latency:.0f} s late"


def _end_sessions_named(database_url: str, application_name: str) -> list[tuple[object, ...]]:
    """Ends the sessions of that application name, as Postgres restarting would, each waited
    for until its backend has exited; one row per session found."""
    with psycopg.connect(database_url, autocommit=True) as admin:
        return admin.execute(
            "select pg_catalog.pg_terminate_backend(pid, 5000) from pg_catalog.pg_stat_activity"
            " where application_name = %s",
            (application_name,),
        ).fetchall()


def test_a_claim_lost_during_the_smtp_conversation_sends_nothing_and_its_retry_sends_once(
    database_url: str,
) -> None:
    """The claim (the delivery transaction's row lock) lives on its database connection, and that
    connection may be lost at any moment of the SMTP conversation (Postgres restarted, the session
    ended by an admin): the message was handed over all the same, its record failed, and the next
    try sent it a second time. The claim is checked just before the message is handed over (DATA):
    lost, the server is left without it, and the next try sends it once."""
    application_name = "claim-lost-test"
    ended: list[object] = []

    def end_the_claims_session() -> None:
        # As Postgres restarting would, at RCPT.
        ended.extend(_end_sessions_named(database_url, application_name))

    event = queue_mail(database_url, "lou@example.com")
    with SmtpServer() as smtp:
        config = replace(
            _worker_config(database_url), smtp=SmtpSettings.from_url(smtp.url, timeout_seconds=5)
        )

        async def one_try() -> psycopg.Error | None:
            database = Database(
                config.database_url, max_connections=1, wait_seconds=5.0, application_name=application_name
            )
            try:
                await Deliverer(config, database, Mailer(config.smtp), WorkerMetrics()).deliver(event)
            except psycopg.Error as error:
                return error
            finally:
                await database.close()
            return None

        smtp.on_next_rcpt(end_the_claims_session)
        lost = asyncio.run(one_try())
        assert ended == [(True,)], "the claim's session was not found and ended"
        assert lost is not None, "the try went on as if its claim held"
        assert worker.process.database_lost(lost), repr(lost)
        assert smtp.received == [], "handed over although its claim was lost"
        assert outbox_row(database_url, event)["delivered_at"] is None
        assert asyncio.run(one_try()) is None
        assert [message.to for message in smtp.received] == [("lou@example.com",)]
    row = outbox_row(database_url, event)
    assert row["delivered_at"] is not None
    assert row["attempts"] == 1, "the lost try counted against the mail"


def _invitation_mailed(database_url: str, email: str) -> tuple[str, str, str, str]:
    """An organization (Acme, its owner Olga) that invited `email`: the owner's, the organization's
    and the invitation's ids, and the event id of the invitation's mail."""
    with psycopg.connect(database_url, autocommit=True) as conn:
        owner = make_user(conn, "Olga")
        org_id = make_org(conn, "Acme", {owner: "owner"})
        invited = call_and_commit(conn, owner, "invite_member", org_id, email, "member")
        assert invited.ok, invited
        invitation = str(invited.rows[0][0])
        row = conn.execute(
            "select id from app.outbox"
            " where topic = 'mail.org_invitation' and payload ->> 'invitation_id' = %s",
            (invitation,),
        ).fetchone()
    assert row is not None
    return owner, org_id, invitation, str(row[0])


async def _one_mail_try(
    config: WorkerConfig, metrics: WorkerMetrics, event_id: str, application_name: str
) -> None:
    """One try at `event_id` by a Deliverer of this process, on a database connection of its own
    named `application_name`."""
    database = Database(
        config.database_url, max_connections=1, wait_seconds=5.0, application_name=application_name
    )
    try:
        await Deliverer(config, database, Mailer(config.smtp), metrics).deliver(event_id)
    finally:
        await database.close()


def _one_mail_try_meanwhile_at_rcpt(
    database_url: str, metrics: WorkerMetrics, event_id: str, meanwhile: Callable[[], None]
) -> list[Received]:
    """What an SMTP server received of one try at `event_id`, which ran `meanwhile` to its end
    before it answered the try's RCPT: the mail claimed, its server talked to."""
    with SmtpServer() as smtp:
        config = replace(
            _worker_config(database_url), smtp=SmtpSettings.from_url(smtp.url, timeout_seconds=5)
        )
        smtp.on_next_rcpt(meanwhile)
        asyncio.run(_one_mail_try(config, metrics, event_id, "meanwhile-at-rcpt-test"))
        return smtp.received


@contextmanager
def _recording_delivered_held(database_url: str) -> Iterator[Callable[[], object]]:
    """A test trigger: the record of a delivery (delivery.delivered) waits for an advisory lock
    that this block holds until the release it gives is called, or the block ends."""
    with psycopg.connect(database_url, autocommit=True) as holder:
        holder.execute(
            "create function public.held_to_record_delivered() returns trigger language plpgsql as $$"
            " begin if new.delivered_at is not null then perform pg_catalog.pg_advisory_xact_lock(93);"
            " end if; return new; end $$"
        )
        holder.execute(
            "create trigger held_to_record_delivered before update on app.outbox"
            " for each row execute function public.held_to_record_delivered()"
        )
        holder.execute("select pg_catalog.pg_advisory_lock(93)")
        yield lambda: holder.execute("select pg_catalog.pg_advisory_unlock_all()")


@pytest.mark.parametrize("withdrawal", ["revoke_invitation", "delete_organization"])
def test_an_invitation_withdrawn_while_its_mail_is_being_sent_is_not_handed_over(
    database_url: str, withdrawal: str
) -> None:
    """Whether an invitation's mail was still wanted was asked at its claim, and never after: an
    invitation revoked, or its organization deleted, while the worker talked to the SMTP server
    (connecting, TLS, the login, MAIL, RCPT: hundreds of milliseconds against a real relay, up to
    minutes against a slow one) was mailed all the same, its link dead on arrival. It is asked
    again just before the message is handed over (DATA): the server is left without it, and the
    mail is withdrawn as one found withdrawn at its claim is."""
    owner, org_id, invitation, event = _invitation_mailed(database_url, "late@example.com")
    withdrawn: list[Outcome] = []

    def withdraw_it() -> None:
        target = invitation if withdrawal == "revoke_invitation" else org_id
        with psycopg.connect(database_url, autocommit=True) as conn:
            withdrawn.append(call_and_commit(conn, owner, withdrawal, target))

    metrics = WorkerMetrics()
    received = _one_mail_try_meanwhile_at_rcpt(database_url, metrics, event, withdraw_it)
    assert [outcome.ok for outcome in withdrawn] == [True], withdrawn
    assert received == [], "an invitation withdrawn before DATA was mailed"
    row = outbox_row(database_url, event)
    assert row["delivered_at"] is None
    assert row["given_up_at"] is not None
    assert row["last_error"].startswith("withdrawn: "), row["last_error"]
    assert "token" not in row["payload"]
    assert row["attempts"] == 0, "a withdrawal counted as a failed try"
    skipped = {"channel": "mail", "outcome": "skipped"}
    assert metrics.registry.get_sample_value("blossom_worker_deliveries_total", skipped) == 1


def test_a_reset_mail_whose_link_a_password_change_spent_while_it_was_being_sent_is_not_handed_over(
    database_url: str,
) -> None:
    """A password change spends the account's reset links, and a reset mail then waiting (the
    SMTP server retrying, or talked to) was mailed all the same: "someone asked to reset your
    password", after its owner had changed it, by a link refused as invalid. Its link is asked
    about just before the message is handed over, as an invitation's is."""
    email = "changed-meanwhile@example.com"
    with psycopg.connect(database_url, autocommit=True) as conn:
        row = conn.execute(
            "select auth.signup(%s, 'correct horse battery', 'Mo', null, 'test') -> 'session' ->> 'token'",
            [email],
        ).fetchone()
        assert row is not None
        session = str(row[0])
        conn.execute("select auth.request_password_reset(%s, null)", [email])
        row = conn.execute("select id from app.outbox where topic = 'mail.password_reset'").fetchone()
        assert row is not None
        event = str(row[0])
    changed: list[bool] = []

    def change_the_password() -> None:
        with psycopg.connect(database_url, autocommit=True) as conn:
            answer = conn.execute(
                "select auth.change_password(%s, 'correct horse battery', 'battery staple horse') ->> 'ok'",
                [session],
            ).fetchone()
            changed.append(answer == ("true",))

    received = _one_mail_try_meanwhile_at_rcpt(database_url, WorkerMetrics(), event, change_the_password)
    assert changed == [True]
    assert received == [], "a reset mail whose link was spent before DATA was mailed"
    mail = outbox_row(database_url, event)
    assert mail["delivered_at"] is None
    assert mail["last_error"].startswith("withdrawn: its link was spent"), mail["last_error"]
    assert "token" not in mail["payload"]
    assert mail["attempts"] == 0, "a withdrawal counted as a failed try"


@contextmanager
def _withdrawals_not_committed(database_url: str) -> Iterator[Callable[[], object]]:
    """A test trigger: a transaction that withdraws a message (last_error `withdrawn: …`) fails at
    its commit, until the call this block gives drops it."""
    with psycopg.connect(database_url, autocommit=True) as admin:
        admin.execute(
            "create function public.withdrawal_not_committed() returns trigger language plpgsql as $$"
            " begin raise exception 'the withdrawal''s commit failed'; end $$"
        )
        admin.execute(
            "create constraint trigger withdrawal_not_committed after update on app.outbox"
            " deferrable initially deferred for each row when (new.last_error like 'withdrawn: %')"
            " execute function public.withdrawal_not_committed()"
        )
        yield lambda: admin.execute("drop trigger withdrawal_not_committed on app.outbox")


def test_a_withdrawal_at_the_hand_over_is_logged_and_counted_once_it_is_committed(
    database_url: str, caplog: pytest.LogCaptureFixture
) -> None:
    """The mail withdrawn just before DATA was logged and counted skipped before its transaction
    committed: a commit that failed (the database lost, a stop) left the mail as it was, said
    withdrawn, and the job run again withdrew it at its claim and counted it skipped a second
    time; so did one withdrawn at its claim. Its commit fails here (a test trigger, deferred to the
    commit), at the hand-over, then at the claim."""
    owner, _, invitation, event = _invitation_mailed(database_url, "undone@example.com")

    def revoke_it() -> None:
        with psycopg.connect(database_url, autocommit=True) as conn:
            assert call_and_commit(conn, owner, "revoke_invitation", invitation).ok

    with _withdrawals_not_committed(database_url) as let_them_commit:
        metrics = WorkerMetrics()
        with SmtpServer() as smtp, caplog.at_level(logging.INFO, logger="blossom.worker"):
            config = replace(
                _worker_config(database_url), smtp=SmtpSettings.from_url(smtp.url, timeout_seconds=5)
            )
            smtp.on_next_rcpt(revoke_it)
            with pytest.raises(psycopg.errors.RaiseException):
                asyncio.run(_one_mail_try(config, metrics, event, "withdrawal-undone-test"))
            skipped = {"channel": "mail", "outcome": "skipped"}
            assert metrics.registry.get_sample_value("blossom_worker_deliveries_total", skipped) == 0
            assert not [line for line in caplog.messages if "withdrawn just before" in line]
            assert outbox_row(database_url, event)["given_up_at"] is None
            # Withdrawn at its claim now, whose commit fails as well.
            with pytest.raises(psycopg.errors.RaiseException):
                asyncio.run(_one_mail_try(config, metrics, event, "withdrawal-undone-test"))
            assert metrics.registry.get_sample_value("blossom_worker_deliveries_total", skipped) == 0
            assert outbox_row(database_url, event)["given_up_at"] is None
            let_them_commit()
            asyncio.run(_one_mail_try(config, metrics, event, "withdrawal-undone-test"))
            assert smtp.received == []
    assert metrics.registry.get_sample_value("blossom_worker_deliveries_total", skipped) == 1
    assert outbox_row(database_url, event)["last_error"].startswith("withdrawn: ")


def test_a_revocation_once_the_invitations_mail_is_handed_over_does_not_wait_for_it(
    database_url: str,
) -> None:
    """After that last question the invitation is not held open until the delivery's commit: a
    revocation, which holds its organization's lock, would wait for the mail server's answer to
    the message's end (up to the send's bound), and that organization's other calls behind
    it. The record is held back here (a test trigger) while the revocation is made, on a short
    lock_timeout: it takes the row at once; the mail, handed over before it, is recorded
    delivered."""
    owner, _, invitation, event = _invitation_mailed(database_url, "handed@example.com")
    application_name = "handed-over-test"
    with SmtpServer() as smtp, _recording_delivered_held(database_url) as release:
        config = replace(
            _worker_config(database_url), smtp=SmtpSettings.from_url(smtp.url, timeout_seconds=5)
        )

        async def revoked_while_recorded() -> Outcome:
            delivering = asyncio.ensure_future(
                _one_mail_try(config, WorkerMetrics(), event, application_name)
            )
            await _until_waiting_on_a_lock(database_url, application_name)
            assert len(smtp.received) == 1, "the record waited before the server had the mail"
            with psycopg.connect(database_url, autocommit=True) as conn:
                conn.execute("set lock_timeout = '100ms'")
                revoked = call_and_commit(conn, owner, "revoke_invitation", invitation)
            release()
            await delivering
            return revoked

        revoked = asyncio.run(revoked_while_recorded())
        assert revoked.ok, revoked
        assert [message.to for message in smtp.received] == [("handed@example.com",)]
    assert outbox_row(database_url, event)["delivered_at"] is not None


@pytest.mark.parametrize("cancels", [1, 2], ids=["stop", "abort-then-stop"])
def test_a_stop_that_comes_while_a_mail_is_recorded_still_logs_and_counts_its_delivery(
    database_url: str, cancels: int, caplog: pytest.LogCaptureFixture
) -> None:
    """The record of a mail the server accepted is finished whatever stop comes meanwhile, but the
    line saying it was delivered and its count came after it: a stop during the record (procrastinate
    cancels a job once for an abort, once more for a stop whose grace ran out) left both undone,
    the mail sent and recorded and neither logged nor counted (the job, run again, counted it
    skipped). The record is held back (a test trigger) until the stop has come."""
    event = queue_mail(database_url, "kit@example.com")
    application_name = "mail-stopped-test"
    metrics = WorkerMetrics()
    with SmtpServer() as smtp, _recording_delivered_held(database_url) as release:
        config = replace(
            _worker_config(database_url), smtp=SmtpSettings.from_url(smtp.url, timeout_seconds=5)
        )

        async def stopped_while_recorded() -> None:
            delivering = asyncio.ensure_future(_one_mail_try(config, metrics, event, application_name))
            await _until_waiting_on_a_lock(database_url, application_name)
            for _ in range(cancels):
                delivering.cancel()  # as a stop whose grace ran out (an abort before it)
                # The delivery's task takes the cancellation before the next comes.
                for _ in range(3):
                    await asyncio.sleep(0)
            release()
            with pytest.raises(asyncio.CancelledError):
                await delivering

        with caplog.at_level(logging.INFO, logger="blossom.worker"):
            asyncio.run(stopped_while_recorded())
        assert len(smtp.received) == 1
    assert outbox_row(database_url, event)["delivered_at"] is not None
    assert f"event {event}: delivered (mail.password_reset) at try 1" in caplog.messages
    delivered = {"channel": "mail", "outcome": "delivered"}
    assert metrics.registry.get_sample_value("blossom_worker_deliveries_total", delivered) == 1
    assert metrics.registry.get_sample_value("blossom_worker_delivery_latency_seconds_count") == 1


class _KeyRingThatEndsTheClaimsSession:
    """The worker's key ring, whose opening of the bot token (the last step before the post) first
    ends the claim's database session, as a Postgres restart would at that moment; once."""

    def __init__(self, ring: KeyRing, end_the_claims_session: Callable[[], None]) -> None:
        self._ring = ring
        self._end_the_claims_session: Callable[[], None] | None = end_the_claims_session

    def open(self, sealed: Sealed, context: str) -> str:
        if self._end_the_claims_session is not None:
            self._end_the_claims_session()
            self._end_the_claims_session = None  # the next try goes as usual
        return self._ring.open(sealed, context)


def _slack_post_queued(database_url: str, keyring: KeyRing, bot_token: str, channel: str) -> str:
    """An organization (Acme, its owner Olive) connected to Slack workspace T0ACME's `channel`
    with `bot_token`, and its renaming's post queued; the post's event id."""
    with psycopg.connect(database_url) as conn:
        owner = make_user(conn, "Olive")
        org_id = make_org(conn, "Acme", {owner: "owner"})
        connect_slack(conn, keyring, org_id, bot_token, channel, team=("T0ACME", "Acme Corp"))
        conn.execute("set local role blossom_owner")
        row = conn.execute(
            "insert into app.outbox (topic, payload) values ('notify.org_renamed', %s) returning id",
            (Jsonb({"org_id": org_id, "org_name": "Acme", "by": owner, "new_name": "Acme Two"}),),
        ).fetchone()
    assert row is not None
    return str(row[0])


def test_a_slack_post_withdrawn_at_its_claim_is_logged_and_counted_once_it_is_committed(
    database_url: str,
) -> None:
    """As a mail's: a post withdrawn at its claim (its organization's connection gone) was logged
    and counted skipped before the withdrawal committed, and counted again by the try after a
    commit that failed. Its commit fails here once (a test trigger, deferred to the commit)."""
    keyring = KeyRing.from_entries(new_key_entry("test-1"))
    event = _slack_post_queued(database_url, keyring, "xoxb-gone", "C0GONE")
    with psycopg.connect(database_url, autocommit=True) as admin:
        admin.execute("delete from app.slack_connections")
    metrics = WorkerMetrics()
    config = _worker_config(database_url)

    async def one_try() -> None:
        database = Database(
            config.database_url, max_connections=1, wait_seconds=5.0, application_name="slack-withdrawn-test"
        )
        try:
            await SlackPoster(config, database, SlackClient(config.slack), keyring, metrics).post(event)
        finally:
            await database.close()

    skipped = {"channel": "slack", "outcome": "skipped"}
    with _withdrawals_not_committed(database_url) as let_them_commit:
        with pytest.raises(psycopg.errors.RaiseException):
            asyncio.run(one_try())
        assert metrics.registry.get_sample_value("blossom_worker_deliveries_total", skipped) == 0
        assert outbox_row(database_url, event)["given_up_at"] is None
        let_them_commit()
        asyncio.run(one_try())
    assert metrics.registry.get_sample_value("blossom_worker_deliveries_total", skipped) == 1
    assert outbox_row(database_url, event)["last_error"].startswith("withdrawn: ")


def test_a_claim_lost_before_the_slack_post_posts_nothing_and_its_retry_posts_once(database_url: str) -> None:
    """A Slack post is claimed as a mail is (the try's transaction holds the outbox row's lock on
    its connection), and that connection may be lost while the post is prepared and sent: it was
    posted all the same, its record failed, and the next try posted it a second time. The claim
    is checked just before the request goes: lost, Slack hears nothing, and the next try posts
    once."""
    application_name = "slack-claim-lost-test"
    bot_token, channel = "xoxb-claim-lost", "C0CLAIM"
    ended: list[object] = []

    def end_the_claims_session() -> None:
        ended.extend(_end_sessions_named(database_url, application_name))

    keyring = KeyRing.from_entries(new_key_entry("test-1"))
    event = _slack_post_queued(database_url, keyring, bot_token, channel)

    with FakeSlack() as slack:
        slack.add_workspace(bot_token, team_id="T0ACME", team="Acme Corp", channels={channel})
        config = replace(
            _worker_config(database_url), slack=SlackSettings(api_url=slack.api_url, timeout_seconds=5)
        )
        poster_keyring = _KeyRingThatEndsTheClaimsSession(keyring, end_the_claims_session)

        async def one_try() -> psycopg.Error | None:
            database = Database(
                config.database_url, max_connections=1, wait_seconds=5.0, application_name=application_name
            )
            poster = SlackPoster(
                config, database, SlackClient(config.slack), cast(KeyRing, poster_keyring), WorkerMetrics()
            )
            try:
                await poster.post(event)
            except psycopg.Error as error:
                return error
            finally:
                await database.close()
            return None

        lost = asyncio.run(one_try())
        assert ended == [(True,)], "the claim's session was not found and ended"
        assert slack.posts == [], "posted although its claim was lost"
        assert lost is not None, "the try went on as if its claim held"
        assert worker.process.database_lost(lost), repr(lost)
        assert outbox_row(database_url, event)["delivered_at"] is None
        assert asyncio.run(one_try()) is None
        assert [post.shown for post in slack.posts] == ["*Olive* renamed the organization to *Acme Two*."]
    row_after = outbox_row(database_url, event)
    assert row_after["delivered_at"] is not None
    assert row_after["attempts"] == 1, "the lost try counted against the post"


@pytest.mark.parametrize("cancels", [1, 2], ids=["stop", "abort-then-stop"])
def test_a_stop_that_comes_while_a_slack_post_is_recorded_waits_for_the_record(
    database_url: str, cancels: int, caplog: pytest.LogCaptureFixture
) -> None:
    """As a mail's: the record of a post Slack took is finished whatever stop comes meanwhile.
    Cancelled there, it rolled back, and the next try posted it again. procrastinate cancels a
    job once for an operator's abort and once more for a stop whose grace runs out: the second
    cancellation went through to the record. The post is logged and counted as well (both came
    after the record, and a stop during it left them undone)."""
    _make_recording_delivered_slow(database_url)
    application_name = "slack-stopped-test"
    bot_token, channel = "xoxb-stopped", "C0STOP"
    keyring = KeyRing.from_entries(new_key_entry("test-1"))
    event = _slack_post_queued(database_url, keyring, bot_token, channel)
    metrics = WorkerMetrics()

    def recording() -> bool:
        with psycopg.connect(database_url, autocommit=True) as admin:
            row = admin.execute(
                "select exists (select from pg_catalog.pg_stat_activity"
                " where application_name = %s and wait_event = 'PgSleep')",
                (application_name,),
            ).fetchone()
        return bool(row and row[0])

    with FakeSlack() as slack:
        slack.add_workspace(bot_token, team_id="T0ACME", team="Acme Corp", channels={channel})
        config = replace(
            _worker_config(database_url), slack=SlackSettings(api_url=slack.api_url, timeout_seconds=5)
        )

        async def stopped_while_recorded() -> None:
            database = Database(
                config.database_url, max_connections=1, wait_seconds=5.0, application_name=application_name
            )
            poster = SlackPoster(config, database, SlackClient(config.slack), keyring, metrics)
            posting = asyncio.ensure_future(poster.post(event))
            try:
                await asyncio.to_thread(eventually, recording, what="the post's record under way")
                for _ in range(cancels):
                    posting.cancel()  # as a stop whose grace ran out (an abort before it)
                    # The post's task takes the cancellation before the next comes.
                    for _ in range(3):
                        await asyncio.sleep(0)
                with suppress(asyncio.CancelledError):
                    await posting
            finally:
                await database.close()

        with caplog.at_level(logging.INFO, logger="blossom.worker"):
            asyncio.run(stopped_while_recorded())
        assert len(slack.posts) == 1
    assert outbox_row(database_url, event)["delivered_at"] is not None
    assert f"event {event}: posted to Slack (notify.org_renamed) at try 1" in caplog.messages
    delivered = {"channel": "slack", "outcome": "delivered"}
    assert metrics.registry.get_sample_value("blossom_worker_deliveries_total", delivered) == 1


def test_the_job_queues_connections_find_a_silent_cut_within_a_minute(database_url: str) -> None:
    """The job queue's pool (procrastinate's listener, fetches and heartbeats) connects as the
    worker's own connections do: with keepalives and a bound on unacknowledged data
    (tests/test_edge_database.py), where a connection cut without a word waited for the OS's
    TCP timeout, many minutes."""
    app = build_app(_worker_config(database_url), cast(Deliverer, None), cast(SlackPoster, None))

    async def settings() -> dict[str, int]:
        await app.open_async()
        try:
            connector = app.connector
            assert isinstance(connector, PsycopgConnector)
            async with connector.pool.connection() as conn:
                return tcp_keepalives(conn)
        finally:
            await app.close_async()

    assert asyncio.run(settings()) == {name: int(value) for name, value in CONNECTION_DEFAULTS.items()}


def test_the_server_finds_a_silent_cut_of_a_workers_session_within_a_minute(database_url: str) -> None:
    """The server's side of a worker's session: it holds its claim on a message (the outbox row,
    which an account's deletion waits for) while the mail is sent, and a worker gone without a
    word left it held for the idle transaction's 5 min, the server probing a silent client only
    at the system's timings (two hours on Linux). Read off the backend's own socket (SHOW, over TCP)."""
    with psycopg.connect(_worker_config(database_url).database_url) as conn:
        shown = {
            name: conn.execute(f"show {name}").fetchone()
            for name in (
                "tcp_keepalives_idle",
                "tcp_keepalives_interval",
                "tcp_keepalives_count",
                "tcp_user_timeout",
            )
        }
    assert shown == {
        "tcp_keepalives_idle": ("30",),
        "tcp_keepalives_interval": ("10",),
        "tcp_keepalives_count": ("3",),
        "tcp_user_timeout": ("60000",),
    }


def _job_run_before(times: int) -> Job:
    return Job(
        id=1, queue=MAIL_QUEUE, lock=None, queueing_lock=None, task_name="deliver_mail", attempts=times
    )


def test_a_run_that_failed_on_a_passing_database_state_is_logged_as_it_is_run_again(
    caplog: pytest.LogCaptureFixture,
) -> None:
    """A run that a statement or lock timeout or a deadlock failed is run again, which procrastinate
    logs at info level, among its lines per job that the worker leaves out: a job that hit a
    statement timeout run after run said nothing until it ended failed, 16 runs later. The
    database lost has its own lines (`database unreachable`), not one per job."""
    retry = DeliveryRetry(_worker_config("postgresql://worker@127.0.0.1:1/blossom"))
    timeout = psycopg.errors.QueryCanceled("canceling statement due to statement timeout")
    lost = psycopg.OperationalError("connection failed: the database system is shutting down")
    with caplog.at_level(logging.WARNING, logger="blossom.worker"):
        assert retry.get_retry_decision(exception=timeout, job=_job_run_before(2)) is not None
        assert retry.get_retry_decision(exception=lost, job=_job_run_before(2)) is not None
    [line] = caplog.messages
    assert line.startswith("job 1 (deliver_mail"), line
    assert (
        "run 3 failed on the database (SQLSTATE 57014: canceling statement due to statement timeout)" in line
    )
    assert re.search(r"; it runs again in \d+\.\d s$", line), line


@pytest.mark.parametrize(
    "error",
    [
        pytest.param(
            psycopg.errors.QueryCanceled("canceling statement due to statement timeout"), id="timeout"
        ),
        pytest.param(psycopg.errors.ProgramLimitExceeded("index row size exceeds maximum"), id="limit"),
    ],
)
def test_a_job_whose_runs_always_fail_on_a_passing_database_state_ends_failed(error: Exception) -> None:
    """A try that the database answered with a state that passes (a statement or lock timeout, a
    deadlock: psycopg's OperationalErrors, 54000 among them) counts against no mail's tries. One
    that failed so at every run was run again every hour for ever: never given up, its job never
    `failed`, which the pipeline's failed-deliveries sensor alerts on. Bounded now, as any queue
    bounds its retries: past RUNS_PER_TRY runs per try allowed, its job ends failed."""
    config = _worker_config("postgresql://worker@127.0.0.1:1/blossom")
    retry = DeliveryRetry(config)
    last_run_allowed = config.max_attempts * worker.process.RUNS_PER_TRY
    assert retry.get_retry_decision(exception=error, job=_job_run_before(last_run_allowed - 2)) is not None
    assert retry.get_retry_decision(exception=error, job=_job_run_before(last_run_allowed - 1)) is None
    # The database lost is no fault of the message's: an outage is waited out however long.
    lost = psycopg.OperationalError("connection failed: the database system is shutting down")
    assert retry.get_retry_decision(exception=lost, job=_job_run_before(10 * last_run_allowed)) is not None


async def _last_heartbeat_after(database_url: str, worker_id: int, moment: datetime) -> None:
    """Until the worker's heartbeat is later than `moment` (10 s at most)."""
    async with await psycopg.AsyncConnection.connect(database_url, autocommit=True) as conn:
        for _ in range(200):
            cursor = await conn.execute(
                "select last_heartbeat > %s from jobs.procrastinate_workers where id = %s",
                (moment, worker_id),
            )
            if (await cursor.fetchone() or (False,))[0]:
                return
            await asyncio.sleep(0.05)
    raise AssertionError("the stopping worker sent no heartbeat")


def test_a_worker_that_stops_itself_keeps_its_running_job_through_its_grace(database_url: str) -> None:
    """A worker stops itself (a job's end it could not record, a side task that failed), the
    process not stopping: procrastinate stopped its heartbeat while its other jobs ran on through
    the grace, and the process's own sweep of stalled jobs, still running, put such a job back
    once the heartbeat was stalled_seconds old, as a peer's did: a try run again beside the one
    under way. The stopping worker keeps its heartbeat, and a sweep never takes the jobs of the
    worker its process runs (here its heartbeat is set an hour back, as if it had failed)."""
    event = queue_mail(database_url, "self-stop@example.com")
    with SmtpServer() as smtp:
        config = replace(
            _worker_config(database_url),
            smtp=SmtpSettings.from_url(smtp.url, timeout_seconds=5),
            # Long: the one heartbeat here is the one a stop begins with, and no sweep but ours.
            heartbeat_seconds=60.0,
            stalled_seconds=120.0,
        )
        smtp.hold()

        async def stopped_by_itself() -> list[tuple[str, int]]:
            process = WorkerProcess(config)
            running = asyncio.ensure_future(process._run_once())
            try:
                assert await asyncio.to_thread(smtp.held.wait, 10), "the delivery did not start"
                queue_worker = process._worker
                assert queue_worker is not None
                assert queue_worker.worker_id is not None
                worker_id = queue_worker.worker_id
                async with await psycopg.AsyncConnection.connect(database_url, autocommit=True) as conn:
                    cursor = await conn.execute("select clock_timestamp()")
                    stopping_at = (await cursor.fetchone() or (None,))[0]
                    queue_worker.stop()  # type: ignore[no-untyped-call]  # as _persist_job_status does
                    await _last_heartbeat_after(database_url, worker_id, stopping_at)
                    await conn.execute(
                        "update jobs.procrastinate_workers set last_heartbeat = now() - interval '1 hour'"
                        " where id = %s",
                        (worker_id,),
                    )
                await process._sweep_stalled_jobs_once()
                return await asyncio.to_thread(jobs_of, database_url, event)
            finally:
                smtp.release()
                with pytest.raises(exceptions.ConnectorException, match="ended by itself"):
                    await running
                await process.database.close()  # as WorkerProcess.run does, which is not run here

        assert asyncio.run(stopped_by_itself()) == [("doing", 0)]
        assert len(smtp.received) == 1
    assert outbox_row(database_url, event)["attempts"] == 1


@pytest.mark.parametrize(
    ("ending", "recording"), [("succeeded", "finish_job"), ("retried", "retry_job")], ids=["success", "retry"]
)
def test_a_job_end_recorded_as_its_connection_broke_is_not_recorded_again(
    database_url: str,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
    ending: str,
    recording: str,
) -> None:
    """A job's end (its success, its retry) whose statement committed as the connection broke,
    before its answer came: the worker saw a connection lost and recorded it again, which
    procrastinate refused (`Job was not found or …`), asyncio's never-retrieved error and its
    traceback for an end that was there; a retry already run again by another worker was set back
    to `todo` beside it. The end is found recorded (the job no longer `doing` at its tries) and
    left as it is. The break is made after procrastinate's own call, as the network makes it."""
    event = queue_mail(database_url, f"{ending}-twice@example.com")
    with SmtpServer() as smtp:
        if ending == "retried":
            smtp.refuse_next("451 4.3.0 Mailbox busy, try again later")
        config = replace(
            _worker_config(database_url), smtp=SmtpSettings.from_url(smtp.url, timeout_seconds=5)
        )

        async def recorded_as_the_connection_broke() -> int:
            process = WorkerProcess(config)
            manager = process.app.job_manager
            recorded = getattr(manager, recording)
            calls: list[object] = []

            async def then_broken(**kwargs: Any) -> None:
                calls.append(kwargs)
                await recorded(**kwargs)
                if len(calls) == 1:
                    raise _wrapped(psycopg.OperationalError("server closed the connection unexpectedly"))

            monkeypatch.setattr(manager, recording, then_broken)
            running = asyncio.ensure_future(process._run_once())
            for _ in range(400):
                queue_worker = process._worker
                if calls and queue_worker is not None and not queue_worker._running_jobs:
                    break
                await asyncio.sleep(0.05)
            else:
                raise AssertionError("the job's end was never recorded")
            process.stop()
            await running
            await process.database.close()  # as WorkerProcess.run does, which is not run here
            return len(calls)

        with caplog.at_level(logging.INFO):
            assert asyncio.run(recorded_as_the_connection_broke()) == 1
    assert [record.getMessage() for record in caplog.records if record.levelno >= logging.ERROR] == []
    assert jobs_of(database_url, event) == ([] if ending == "succeeded" else [("todo", 1)])
    assert any("its end was recorded already" in message for message in caplog.messages), caplog.messages
