"""URL helpers of ops.settings: the same server under another role or database, and printing; and
the database URLs the edge and the worker take (blossom_db.settings)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import psycopg
import pytest

from blossom_db.settings import check_database_url, connection_failure, database_shown, env_http_url
from deploy.migrate import with_database
from ops.scratch import free_port
from ops.settings import ROOT, redacted, with_user
from services.secrets import new_key_entry


def test_with_user_keeps_server_database_and_options() -> None:
    url = "postgresql://admin:secret@db.internal:6543/blossom?sslmode=require"
    assert with_user(url, "edge") == "postgresql://edge@db.internal:6543/blossom?sslmode=require"
    assert (
        with_user(url, "edge", "p@ss/word")
        == "postgresql://edge:p%40ss%2Fword@db.internal:6543/blossom?sslmode=require"
    )


@pytest.mark.parametrize(
    "url",
    [
        "postgresql://db.internal/blossom?user=postgres&password=antezulu&sslmode=require",
        "postgresql://admin@db.internal/blossom?sslmode=require&password=antezulu",
        "postgresql://db.internal/blossom?sslmode=require&%75ser=postgres&pass%77ord=antezulu",
    ],
)
def test_with_user_logs_in_as_that_role_with_its_own_password_only(url: str) -> None:
    """libpq reads a URL's query after its user and password, and a `user` or `password` there
    wins: the edge, the worker, the pipeline and PostgREST logged in as the admin's role, or
    were handed the admin's password, in their environment."""
    params = psycopg.conninfo.conninfo_to_dict(with_user(url, "edge", "edgepw"))
    assert params["user"] == "edge"
    assert params["password"] == "edgepw"
    assert params["sslmode"] == "require"
    assert "password" not in psycopg.conninfo.conninfo_to_dict(with_user(url, "edge"))


@pytest.mark.parametrize(
    "url",
    [
        "postgresql://admin:12#ss@h:1/blossom?sslmode=require",
        "postgresql://admin:p?ss@h1:1,h2:2/blossom?sslmode=require",
        "host=h port=1 user=admin password='p?s#s' dbname=blossom sslmode=require",
    ],
)
def test_with_user_reads_the_url_as_libpq_does(url: str) -> None:
    """urlsplit read a DATABASE_URL whose password holds a # or a ? (libpq reads it as meant) with
    the password's start as the port: the roles' URLs went to host `admin`, port 12, or `./dev up`
    stopped on a traceback quoting it (`Port could not be cast to integer value as 'p'`)."""
    params = psycopg.conninfo.conninfo_to_dict(url)
    wanted = {key: value for key, value in params.items() if key not in ("user", "password")}
    assert psycopg.conninfo.conninfo_to_dict(with_user(url, "edge", "pw")) == wanted | {
        "user": "edge",
        "password": "pw",
    }
    assert psycopg.conninfo.conninfo_to_dict(with_user(url, "edge")) == wanted | {"user": "edge"}


def test_with_user_keeps_an_ipv6_host_bracketed() -> None:
    assert (
        with_user("postgresql://admin@[::1]:5433/blossom", "edge") == "postgresql://edge@[::1]:5433/blossom"
    )


def test_with_database_changes_only_the_database() -> None:
    assert (
        with_database("postgresql://a:b@h:1/blossom?x=y", "postgres") == "postgresql://a:b@h:1/postgres?x=y"
    )


@pytest.mark.parametrize(
    "name", ["postgre%73", "target%5fx", "newdb?dbname=target_y", "x?host=elsewhere", "a b#c/d"]
)
def test_with_database_names_exactly_the_database_given(name: str) -> None:
    """The name went into the URL as it was, and libpq read it as a URL: `./dev restore FILE
    postgre%73` created a database of that name and restored into `postgres`; `?host=` would
    have sent the dump, and the password, to another server."""
    url = with_database("postgresql://a:b@h:1/blossom?sslmode=require", name)
    assert psycopg.conninfo.conninfo_to_dict(url) == {
        "user": "a", "password": "b", "host": "h", "port": "1", "dbname": name, "sslmode": "require",
    }  # fmt: skip


@pytest.mark.parametrize(
    "url",
    [
        "postgresql://a:p?s#s@h:1/blossom?sslmode=require",
        "postgresql://a:p#s@h:1/blossom?dbname=blossom&sslmode=require",
        "host=h port=1 user=a password='p?s#s' dbname=blossom sslmode=require",
    ],
)
def test_with_database_reads_the_url_as_libpq_does(url: str) -> None:
    """A password with a ? or # (libpq reads it as meant) was a query or a fragment to urlsplit:
    migrate's connection to the server's `postgres` database read a part of the password as the
    port or a parameter, and said so in its message; a key=value DATABASE_URL became `/postgres`."""
    params = psycopg.conninfo.conninfo_to_dict(url)
    assert psycopg.conninfo.conninfo_to_dict(with_database(url, "postgres")) == params | {
        "dbname": "postgres"
    }


def test_redacted_hides_only_the_password() -> None:
    assert redacted("postgresql://admin:secret@h:1/db") == "postgresql://admin:***@h:1/db"
    assert (
        redacted("postgresql://postgres@127.0.0.1:54329/blossom")
        == "postgresql://postgres@127.0.0.1:54329/blossom"
    )


@pytest.mark.parametrize(
    "url",
    [
        "smtp://me:ante/zulu@mail.example.com:25",
        "smtp://me:ante#zulu@mail.example.com",
        "smtp://me:ante?zulu@mail.example.com",
        "smtp://me:ante@zulu@mail.example.com",
        "smtp://me:ante\u2100zulu@mail.example.com",
        "postgresql://worker:ante/zulu@h:1/db",
        "host=h user=worker password=antezulu",
        "host=h password='ante zulu",
    ],
)
def test_redacted_hides_a_password_that_python_reads_as_something_else(url: str) -> None:
    """`smtp://me:ante/zulu@host` has no password for urlsplit (its host is `me`, its port
    `ante`), and `./dev up` printed it whole."""
    shown = redacted(url)
    assert "ante" not in shown
    assert "zulu" not in shown


@pytest.mark.parametrize(
    "url",
    [
        "postgresql://admin@db.internal/blossom?password=antezulu",
        "postgresql://db.internal/blossom?sslmode=require&password=antezulu",
        "postgresql://db.internal/blossom?user=ops@corp&password=antezulu",
        "postgresql://admin:pw@db.internal/blossom?sslpassword=antezulu",
        "postgresql://admin@db.internal/blossom?pass%77ord=antezulu",
        "host=db.internal sslpassword=antezulu",
    ],
)
def test_redacted_hides_a_password_given_as_a_parameter(url: str) -> None:
    """libpq takes any of its parameters in a URL's query, the password (and the client key's,
    sslpassword) among them: `./dev up` printed such a DATABASE_URL whole, or, with an @ in the
    query, all that came after it."""
    assert psycopg.conninfo.conninfo_to_dict(url).keys() & {"password", "sslpassword"}
    assert "antezulu" not in redacted(url)


@pytest.mark.parametrize(
    ("url", "shown"),
    [
        ("postgresql://worker@127.0.0.1:54329/blossom", "worker@127.0.0.1:54329/blossom"),
        ("postgresql://worker:pa?ss@db.internal:6543/blossom", "worker@db.internal:6543/blossom"),
        ("postgresql://worker:pa#ss@db.internal/blossom", "worker@db.internal:5432/blossom"),
        (
            "postgresql://worker:p%40ss%2Fword@db.internal/blossom?sslmode=require",
            "worker@db.internal:5432/blossom",
        ),
        ("postgresql://worker:pw@h1:1,h2:2/blossom?application_name=a%40b", "worker@h1,h2:1,2/blossom"),
        ("postgresql:///blossom?host=/run/postgresql", "?@/run/postgresql:5432/blossom"),
        ("host=db.internal user=worker password='a b' dbname=blossom", "worker@db.internal:5432/blossom"),
    ],
)
def test_a_database_url_libpq_reads_as_meant_is_taken_and_shown_without_its_password(
    url: str, shown: str
) -> None:
    check_database_url("BLOSSOM_WORKER_DATABASE_URL", url)
    assert database_shown(url) == shown


@pytest.mark.parametrize(
    "url",
    [
        "postgresql://worker:ante/zulu@h/blossom",
        "postgresql://worker:ante@zulu@h/blossom",
        "postgresql://worker:ante%zulu@h/blossom",
        "postgresql://worker:ante@zulu?application_name=x@h/blossom",
        "postgresql://worker:1/ante?application_name=zulu@h/blossom",
        "postgresql://worker:ante@zulu?host=x@h:5432/blossom",
        "postgresql://worker:pw@h/blossom?application_name=a@b",
    ],
)
def test_a_database_url_libpq_would_read_otherwise_than_meant_is_refused_without_its_value(url: str) -> None:
    """A ? in a password, followed by a parameter of libpq's, made the rest of the URL its query,
    the @ that ends the password a part of a value: libpq read a part of the password as the host
    or the database (shown at start, and in every failed connection's message), where the check
    looked for an @ only before the first ?. Any @ after the user and password is refused: where
    one is a part of the query's value and where a password's, the URL reads the same."""
    with pytest.raises(ValueError, match="BLOSSOM_WORKER_DATABASE_URL") as refused:
        check_database_url("BLOSSOM_WORKER_DATABASE_URL", url)
    assert "ante" not in str(refused.value)
    assert "zulu" not in str(refused.value)


@pytest.mark.parametrize(
    "url", ["postgresql://admin:ante/zulu@127.0.0.1:1/db", "postgresql://admin:ante@zulu@127.0.0.1:1/db"]
)
@pytest.mark.parametrize("recipe", [["ops.stack", "migrate"], ["ops.secrets", "reseal"], ["ops.top_queries"]])
def test_a_recipe_shows_no_part_of_a_password_of_database_url(url: str, recipe: list[str]) -> None:
    """The operators' recipes took DATABASE_URL unchecked, and printed libpq's message on it:
    `blossom: failed to resolve host 'zulu@127.0.0.1'`."""
    ran = subprocess.run(
        [sys.executable, "-m", *recipe],
        cwd=ROOT, env=os.environ | {"DATABASE_URL": url, "BLOSSOM_SECRETS_KEY": new_key_entry("k1")},
        capture_output=True, text=True, timeout=60, check=False,
    )  # fmt: skip
    assert ran.returncode == 1, ran.stderr
    assert "DATABASE_URL cannot be read as meant" in ran.stderr
    assert "Traceback" not in ran.stderr
    for part in ("ante", "zulu"):
        assert part not in ran.stdout + ran.stderr, ran.stderr


def _failure_of(url: str) -> str | None:
    """What connection_failure says of a real attempt to connect to `url` (a server that is down)."""
    with pytest.raises(psycopg.OperationalError) as failed:
        psycopg.connect(url, connect_timeout=5).close()
    return connection_failure(url, failed.value)


def test_a_server_out_of_reach_is_named_by_pghost_and_pgport_when_the_url_leaves_them_out(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    """libpq takes the host and port the URL leaves out from PGHOST and PGPORT; the line named
    the default socket (/var/run/postgresql, port 5432) whatever libpq had tried."""
    port = free_port()
    monkeypatch.setenv("PGHOST", "127.0.0.1")
    monkeypatch.setenv("PGPORT", str(port))
    said = _failure_of("postgresql://postgres@/blossom")
    assert said is not None
    assert said.startswith(f"cannot reach the database server at 127.0.0.1:{port}: Connection refused"), said
    monkeypatch.setenv("PGHOST", str(tmp_path))
    said = _failure_of("postgresql://postgres@/blossom")
    assert said is not None
    assert said.startswith(f"cannot reach the database server at socket {tmp_path}/.s.PGSQL.{port}: "), said
    monkeypatch.delenv("PGHOST")
    said = _failure_of("postgresql://postgres@127.0.0.1/blossom")
    assert said is not None
    assert said.startswith(f"cannot reach the database server at 127.0.0.1:{port}: "), said


def test_a_multi_host_url_out_of_reach_names_every_host_and_port(monkeypatch: pytest.MonkeyPatch) -> None:
    """`postgresql://a:1,b:2/db`: libpq tries each in turn; the line named the first only (with
    the last one's cause). A port given once is every host's; an entry left empty in a list is
    libpq's default, 5432, not PGPORT's (a multi-host URL without ports reads as the port list
    ",", so PGPORT is not read either), as libpq really tries."""
    first, second = free_port(), free_port()
    said = _failure_of(f"postgresql://postgres@127.0.0.1:{first},localhost:{second}/blossom")
    assert said is not None
    assert said.startswith(
        f"cannot reach the database server at any of 127.0.0.1:{first}, localhost:{second}: "
        "Connection refused"
    ), said
    said = _failure_of(f"postgresql://postgres@127.0.0.1,localhost/blossom?port={first}")
    assert said is not None
    assert said.startswith(
        f"cannot reach the database server at any of 127.0.0.1:{first}, localhost:{first}: "
    ), said
    monkeypatch.setenv("PGPORT", str(second))
    said = _failure_of("postgresql://postgres@127.0.0.1,localhost/blossom")
    assert said is not None
    assert said.startswith("cannot reach the database server at any of 127.0.0.1:5432, localhost:5432: "), (
        said
    )
    said = _failure_of(f"postgresql://postgres@127.0.0.1:{first},localhost/blossom")
    assert said is not None
    assert said.startswith(
        f"cannot reach the database server at any of 127.0.0.1:{first}, localhost:5432: "
    ), said


@pytest.mark.parametrize(
    "url", ["https://api.example.com/v1", "HTTPS://api.example.com/v1", "http://127.0.0.1:8080"]
)
def test_an_outside_services_url_is_http_or_https_in_any_case(
    monkeypatch: pytest.MonkeyPatch, url: str
) -> None:
    """A scheme is read in any case (RFC 3986): `HTTPS://…` was refused as no http(s) URL."""
    monkeypatch.setenv("BLOSSOM_SLACK_API_URL", url)
    assert env_http_url("BLOSSOM_SLACK_API_URL", "https://slack.com/api/") == url


@pytest.mark.parametrize(
    "url", ["https://", "https:///v1", "http://:8080", "api.example.com/v1", "ftp://h", "http://h:0/v1"]
)
def test_an_outside_services_url_without_a_host_is_refused(monkeypatch: pytest.MonkeyPatch, url: str) -> None:
    """`https://` was taken, and port 0: every call to the service then failed."""
    monkeypatch.setenv("BLOSSOM_SLACK_API_URL", url)
    with pytest.raises(ValueError, match="BLOSSOM_SLACK_API_URL must be an http"):
        env_http_url("BLOSSOM_SLACK_API_URL", "https://slack.com/api/")


def test_an_option_libpq_refuses_is_not_told_as_a_server_out_of_reach() -> None:
    """`?sslmode=bogus` was told as `cannot reach the database server … (is it running, and
    listening there?)`: libpq refused the URL before it tried any server."""
    url = f"postgresql://postgres@127.0.0.1:{free_port()}/blossom?sslmode=bogus"
    with pytest.raises(psycopg.OperationalError) as refused:
        psycopg.connect(url)
    assert connection_failure(url, refused.value) == (
        "the database URL has an option libpq refuses, for 127.0.0.1:"
        f'{psycopg.conninfo.conninfo_to_dict(url)["port"]}: invalid sslmode value: "bogus"'
    )


def test_a_server_reached_without_the_ssl_asked_for_is_not_told_as_out_of_reach(pg_server: str) -> None:
    """A server that answered, but not over SSL as `sslmode=require` asked, was told as one out of
    reach, and asked whether it was running."""
    url = f"{pg_server}?sslmode=require"
    with pytest.raises(psycopg.OperationalError) as refused:
        psycopg.connect(url)
    said = connection_failure(url, refused.value)
    assert said is not None
    assert said.startswith("cannot connect to the database server at 127.0.0.1:"), said
    assert said.endswith("over SSL as asked: server does not support SSL, but SSL was required"), said
    assert "is it running" not in said
