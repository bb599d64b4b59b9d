"""Configuration of the stack, read once from the environment.

Every variable is documented in README.md ("Configuration"); names here and there agree.
"""

from __future__ import annotations

import argparse
import os
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import quote, unquote, urlsplit, urlunsplit

import psycopg
from psycopg.conninfo import conninfo_to_dict, make_conninfo

from blossom_db.settings import check_database_url, tcp_port, url_parts, without_parameters

ROOT = Path(__file__).resolve().parent.parent
DEFAULT_PG_PORT = 54329
DB_NAME = "blossom"


def _port(name: str, default: int) -> int:
    raw = os.environ.get(name, "").strip()
    if not raw:
        return default
    try:
        return tcp_port(raw)
    except ValueError:
        raise SystemExit(f"{name} must be a TCP port number, got {raw!r}") from None


def existing_part(path: Path) -> Path:
    """`path` itself, or the nearest of its parents that exists (`/` at the last): what a folder
    to be made there is made in. os.path's lexists: no for a path behind a folder closed to us,
    where Path's raised PermissionError."""
    return next(part for part in (path, *path.parents) if os.path.lexists(part))


def _data_dir() -> Path:
    """BLOSSOM_DATA_DIR (`.blossom` in the checkout by default), absolute; refused before anything
    is made in it when it cannot be the local cluster's folder: its path, which initdb and pg_ctl
    print back and we read as UTF-8, must be UTF-8 text, and it must be a folder, or none yet."""
    given = os.environ.get("BLOSSOM_DATA_DIR") or str(ROOT / ".blossom")
    try:
        data_dir = Path(given).expanduser().resolve()
    except (RuntimeError, OSError) as error:  # a link to itself; `~someone` for no such user
        raise SystemExit(f"BLOSSOM_DATA_DIR cannot be read as a folder's path: {given} ({error})") from None
    try:
        str(data_dir).encode()
    except UnicodeEncodeError:
        shown = os.fsencode(data_dir).decode("utf-8", "backslashreplace")
        raise SystemExit(
            f"BLOSSOM_DATA_DIR must be a path of UTF-8 text, and has a byte that is not: {shown}"
        ) from None
    nearest = existing_part(data_dir)
    if not os.path.isdir(nearest):
        if nearest == data_dir:
            raise SystemExit(f"BLOSSOM_DATA_DIR is a file, not a folder: {data_dir}")
        raise SystemExit(f"BLOSSOM_DATA_DIR ({data_dir}) is under a file, not a folder: {nearest}")
    return data_dir


# The parameters of a URL's query that say who logs in: libpq reads them after the URL's user
# and password, and they win.
LOGIN_PARAMETERS = frozenset({"user", "password"})


def recipe_parser(prog: str, doc: str | None) -> argparse.ArgumentParser:
    """The command line of a recipe's program, its usage named `prog` (`just top-queries`, as it is
    run), described by the first paragraph of `doc`, the program's docstring, whole: its first
    line alone ended wherever the paragraph was wrapped."""
    return argparse.ArgumentParser(prog=prog, description=doc.split("\n\n", 1)[0] if doc else None)


def count_argument(what: str, *, at_most: int | None = None) -> Callable[[str], int]:
    """An option's type for a count of `what`, 1 or more (and at most `at_most`, when given),
    refused as the command line is read: `mail --limit -1` sliced all but the oldest message, and
    `top-queries --limit -1` started the local cluster for Postgres to refuse the LIMIT."""

    def count(raw: str) -> int:
        try:
            value = int(raw)
        except ValueError:
            value = 0
        if value < 1 or (at_most is not None and value > at_most):
            allowed = "1 or more" if at_most is None else f"1 to {at_most}"
            raise argparse.ArgumentTypeError(f"{raw!r} is no count of {what} ({allowed})")
        return value

    return count


def with_user(url: str, user: str, password: str | None = None) -> str:
    """The same server and database as `url`, logged in as another role (with `password`, or
    none: never a user or password the query of `url` names). The URL is cut as libpq cuts it
    (blossom_db.settings.url_parts): urlsplit read a password with a # or a ? of DATABASE_URL as a
    fragment or a query, and the roles' URLs named its start as their host and port."""
    parts = url_parts(url)
    if parts is None:
        params = {k: v for k, v in conninfo_to_dict(url).items() if k not in LOGIN_PARAMETERS}
        return make_conninfo("", **params, user=user, **({"password": password} if password else {}))
    scheme, _login, hosts, path, query = parts
    credentials = quote(user, safe="")
    if password:
        credentials += ":" + quote(password, safe="")
    return f"{scheme}://{credentials}@{hosts}{path}{without_parameters(query, LOGIN_PARAMETERS)}"


# libpq's parameters that hold a secret: the password, and the passphrase of the client's key.
SECRET_PARAMETERS = frozenset({"password", "sslpassword"})
# A parameter of a URL's query (libpq takes any of its own there, percent-encoded or not).
_QUERY_PARAMETER = re.compile(r"([?&])([^?&=]*)=([^&]*)")


def _parameters_redacted(text: str) -> str:
    """`text` with the value of each secret parameter of a URL's query replaced by ***."""

    def hidden(found: re.Match[str]) -> str:
        if unquote(found[2]) in SECRET_PARAMETERS:
            return f"{found[1]}{found[2]}=***"
        return found[0]

    return _QUERY_PARAMETER.sub(hidden, text)


def redacted(url: str) -> str:
    """The URL fit to print: any password replaced by ***. A password with an unencoded / # ? or
    @ is read by Python with a part of it in the path, the query or the fragment, or as the
    port, or not at all (`smtp://me:pa/ss@host` has none), and such a URL was printed whole:
    unless its one @ ends what Python reads as its user and password, everything up to its last
    @ is replaced. A secret parameter (SECRET_PARAMETERS) of the query or of libpq's key=value
    form has its value replaced."""
    scheme, separator, rest = url.partition("://")
    if not separator:
        # libpq's key=value form (DATABASE_URL may be one), or no connection string at all.
        try:
            params = conninfo_to_dict(url)
        except psycopg.ProgrammingError:
            return "(a value that is no URL or connection string, not shown)"
        secrets = params.keys() & SECRET_PARAMETERS
        return make_conninfo("", **(params | dict.fromkeys(secrets, "***"))) if secrets else url
    # libpq's parameters in the query: a password there is hidden too, wherever the URL's @ are.
    rest = _parameters_redacted(rest)
    url = f"{scheme}://{rest}"
    if "@" not in rest:
        return url
    if rest.count("@") == 1:
        try:
            parts = urlsplit(url)
            parts.port  # noqa: B018 - read for the ValueError of a port that is no number
        except ValueError:
            pass
        else:
            if "@" in parts.netloc:
                if not parts.password:
                    return url
                netloc = parts.netloc.replace(f":{parts.password}@", ":***@", 1)
                return urlunsplit(parts._replace(netloc=netloc))
    return f"{scheme}://***@{rest.rpartition('@')[2]}"


def password_apart(url: str) -> tuple[str, dict[str, str]]:
    """The URL as a connection string without its password, and the environment that gives a
    libpq tool (psql, pg_dump) the password instead: a command line is any local user's to read."""
    params = conninfo_to_dict(url)
    password = params.pop("password", None)
    return make_conninfo("", **params), ({"PGPASSWORD": str(password)} if password is not None else {})


# libpq's environment variable for each connection parameter that has one (libpq's
# "Environment Variables"); the keepalive settings, among a few, have none.
LIBPQ_VARIABLES = {
    "host": "PGHOST",
    "hostaddr": "PGHOSTADDR",
    "port": "PGPORT",
    "dbname": "PGDATABASE",
    "user": "PGUSER",
    "password": "PGPASSWORD",
    "passfile": "PGPASSFILE",
    "channel_binding": "PGCHANNELBINDING",
    "service": "PGSERVICE",
    "options": "PGOPTIONS",
    "application_name": "PGAPPNAME",
    "sslmode": "PGSSLMODE",
    "requiressl": "PGREQUIRESSL",
    "sslcompression": "PGSSLCOMPRESSION",
    "sslcert": "PGSSLCERT",
    "sslkey": "PGSSLKEY",
    "sslrootcert": "PGSSLROOTCERT",
    "sslcrl": "PGSSLCRL",
    "sslcrldir": "PGSSLCRLDIR",
    "sslsni": "PGSSLSNI",
    "requirepeer": "PGREQUIREPEER",
    "ssl_min_protocol_version": "PGSSLMINPROTOCOLVERSION",
    "ssl_max_protocol_version": "PGSSLMAXPROTOCOLVERSION",
    "gssencmode": "PGGSSENCMODE",
    "krbsrvname": "PGKRBSRVNAME",
    "gsslib": "PGGSSLIB",
    "connect_timeout": "PGCONNECT_TIMEOUT",
    "client_encoding": "PGCLIENTENCODING",
    "target_session_attrs": "PGTARGETSESSIONATTRS",
}


def is_libpq_variable(name: str) -> bool:
    """Whether libpq (psql, pg_dump, psycopg) reads the environment variable `name`: its
    variables all begin with PG (LIBPQ_VARIABLES, and PGSERVICEFILE, PGTZ, PGDATESTYLE,
    PGSYSCONFDIR …; each release adds some). PostgREST's PGRST_* settings are not libpq's."""
    return name.startswith("PG") and not name.startswith("PGRST_")


def forget_libpq_environment() -> None:
    """Drops every libpq variable (is_libpq_variable) from this process's environment, and so
    from its children's: for the recipes on the local cluster, whose URLs name its host, port,
    user and database alone, and libpq filled every other parameter from a developer's own
    environment (PGHOSTADDR sent them to another address, PGSSLMODE=require asked the cluster
    for TLS, PGOPTIONS made their sessions read-only). A recipe given DATABASE_URL keeps them:
    there a PGPASSWORD or a PGSSLROOTCERT may be what reaching that server takes."""
    for name in [name for name in os.environ if is_libpq_variable(name)]:
        del os.environ[name]


def starting_read_only(url: str, environ: Mapping[str, str]) -> str:
    """URL with its sessions started read-only, whatever the role's own default: panopticon may
    lift its default (`ALTER ROLE panopticon SET default_transaction_read_only = off`, which
    Postgres lets any role do for itself), and every later session of it started writable until
    the next migrate set it again. The URL's options (else the caller's PGOPTIONS, from ENVIRON)
    are kept, this one after them, so that it wins. A session may still lift it for itself: a
    guard rail against a mistake, not the fence (its privileges are)."""
    options = conninfo_to_dict(url).get("options") or environ.get("PGOPTIONS") or ""
    return make_conninfo(url, options=f"{options} -c default_transaction_read_only=on".strip())


def psql_connection(url: str, environ: Mapping[str, str]) -> tuple[list[str], dict[str, str]]:
    """psql's arguments and whole environment for URL, from the caller's ENVIRON. As libpq's
    environment when every parameter has a variable: a connection string on the command line is
    replaced whole by the caller's own `-d other` (or a database named after the options), which
    then went to libpq's default server, where the environment leaves psql's options to override
    just what they name. The caller's own PGSERVICE goes: libpq fills the parameters a
    connection string leaves out from the service's before the environment's, so a service of
    theirs (production's, say) took the place of the server URL names."""
    params = conninfo_to_dict(url)
    if params.keys() <= LIBPQ_VARIABLES.keys():
        env = {name: value for name, value in environ.items() if name != "PGSERVICE"}
        return [], env | {LIBPQ_VARIABLES[key]: str(value) for key, value in params.items()}
    conninfo, password = password_apart(url)
    return [conninfo], dict(environ) | password


@dataclass(frozen=True)
class Settings:
    edge_port: int
    postgrest_port: int
    postgrest_admin_port: int
    pg_port: int
    data_dir: Path
    external_database_url: str | None
    authenticator_password: str | None
    edge_password: str | None
    worker_password: str | None
    panopticon_password: str | None
    pipeline_password: str | None
    # MailDev, the development mail server `just up` starts: its SMTP port and its web mailbox.
    smtp_port: int
    mailbox_port: int
    # Dagster's webserver under `just pipeline`.
    dagster_port: int
    worker_metrics_port: int

    @classmethod
    def from_env(cls) -> Settings:
        external_database_url = os.environ.get("DATABASE_URL") or None
        if external_database_url is not None:
            # As the edge, the worker and migrate do: libpq's messages on a URL it reads otherwise
            # than meant quoted a part of its password (`failed to resolve host 'ss@db…'`).
            try:
                check_database_url("DATABASE_URL", external_database_url)
            except ValueError as error:
                raise SystemExit(str(error)) from None
        return cls(
            edge_port=_port("BLOSSOM_EDGE_PORT", 8000),
            postgrest_port=_port("BLOSSOM_POSTGREST_PORT", 3000),
            postgrest_admin_port=_port("BLOSSOM_POSTGREST_ADMIN_PORT", 3001),
            pg_port=_port("BLOSSOM_PG_PORT", DEFAULT_PG_PORT),
            data_dir=_data_dir(),
            external_database_url=external_database_url,
            authenticator_password=os.environ.get("BLOSSOM_AUTHENTICATOR_PASSWORD") or None,
            edge_password=os.environ.get("BLOSSOM_EDGE_PASSWORD") or None,
            worker_password=os.environ.get("BLOSSOM_WORKER_PASSWORD") or None,
            panopticon_password=os.environ.get("BLOSSOM_PANOPTICON_PASSWORD") or None,
            pipeline_password=os.environ.get("BLOSSOM_PIPELINE_PASSWORD") or None,
            smtp_port=_port("BLOSSOM_SMTP_PORT", 1025),
            mailbox_port=_port("BLOSSOM_MAILBOX_PORT", 1080),
            dagster_port=_port("BLOSSOM_DAGSTER_PORT", 3070),
            worker_metrics_port=_port("BLOSSOM_WORKER_METRICS_PORT", 9101),
        )

    @property
    def admin_url(self) -> str:
        """The URL migrations and checks use: a superuser (or a role with CREATEROLE)."""
        if self.external_database_url:
            return self.external_database_url
        return f"postgresql://postgres@127.0.0.1:{self.pg_port}/{DB_NAME}"

    @property
    def authenticator_url(self) -> str:
        return with_user(self.admin_url, "authenticator", self.authenticator_password)

    @property
    def edge_database_url(self) -> str:
        return with_user(self.admin_url, "edge", self.edge_password)

    @property
    def worker_database_url(self) -> str:
        return with_user(self.admin_url, "worker", self.worker_password)

    @property
    def panopticon_url(self) -> str:
        """The operators' read-only login (`just psql-admin`)."""
        return with_user(self.admin_url, "panopticon", self.panopticon_password)

    @property
    def pipeline_database_url(self) -> str:
        return with_user(self.admin_url, "pipeline", self.pipeline_password)

    @property
    def mailbox_url(self) -> str:
        return f"http://127.0.0.1:{self.mailbox_port}"
