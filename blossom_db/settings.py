"""Settings read from the environment, the same way in every process (the edge, the worker): a
malformed value stops the process at start with the variable's name, never a silent default (and
never the value, when it may hold a password: env_database_url)."""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from urllib.parse import SplitResult, unquote, urlsplit

import psycopg
from psycopg.conninfo import conninfo_to_dict

# What a refusal of a URL says instead of the URL: it may hold a password, and a URL read wrong
# put a part of it where a host or a port goes, in an error's message or a log line.
ENCODE_HINT = (
    "percent-encode any / # ? @ % : or space in its user name or password, and any @ after them"
    " (%2F %23 %3F %40 %25 %3A %20); its value is not shown, as it may hold a password"
)


def split_list(value: str) -> tuple[str, ...]:
    """A list setting: entries separated by commas and/or white space."""
    return tuple(item for item in re.split(r"[\s,]+", value.strip()) if item)


def env_number(name: str, default: float, *, zero: bool = False, at_most: float | None = None) -> float:
    """A positive number (or 0, with `zero`: a setting that 0 turns off), at most `at_most`
    when given; `default` when the variable is unset or empty."""
    raw = os.environ.get(name, "").strip()
    if not raw:
        return default
    try:
        value = float(raw)
    except ValueError:
        raise ValueError(f"{name} must be a number, got {raw!r}") from None
    if not (value > 0 or (zero and value == 0)) or value == float("inf"):
        kind = "0 or a positive number" if zero else "a positive number"
        raise ValueError(f"{name} must be {kind}, got {raw!r}")
    if at_most is not None and value > at_most:
        raise ValueError(f"{name} must be at most {at_most:g}, got {raw!r}")
    return value


def tcp_port(text: str) -> int:
    """A TCP port number, 1 to 65535, from its text; ValueError for any other."""
    if not text.isdigit() or not 0 < int(text) < 65536:
        raise ValueError(f"a TCP port number from 1 to 65535, got {text!r}")
    return int(text)


def listen_host(text: str) -> str:
    """A host to listen on (a name or an address) that a name lookup can take; ValueError for one
    it cannot spell in ASCII, as it does every name (IDNA: a label over 63 letters, a byte that
    is no letter), which ended the process in a traceback where a name not found is one line."""
    try:
        text.encode("idna")
    except UnicodeError:
        raise ValueError(f"a host name or address, got {text!r}") from None
    return text


def env_listen_host(name: str, default: str) -> str:
    """The host to listen on that the variable names (`default` when it is unset or empty);
    ValueError, naming it, for one a name lookup cannot take (listen_host)."""
    try:
        return listen_host(os.environ.get(name) or default)
    except ValueError as error:
        raise ValueError(f"{name} must be {error}") from None


def url_port(parts: SplitResult) -> int | None:
    """The port a URL names, None when it names none; ValueError for one that is no number,
    past 65535, or 0 (no port to reach: `port or default` read it as none)."""
    port = parts.port  # its own ValueError: no number, or past 65535
    if port == 0:
        raise ValueError("port 0")
    return port


def env_http_url(name: str, default: str) -> str:
    """An http(s) URL (an outside service's API, which the tests point at a local fake);
    `default` when the variable is unset or empty."""
    value = os.environ.get(name, "").strip()
    if not value:
        return default
    try:
        parts = urlsplit(value)
        url_port(parts)
    except ValueError:
        parts = urlsplit("")
    # A scheme in any case (RFC 3986), and a host: `https://` was taken, and every call failed.
    if parts.scheme.lower() not in ("http", "https") or not parts.hostname:
        raise ValueError(f"{name} must be an http(s) URL with a host, got {value!r}")
    return value


def env_count(name: str, default: int, *, zero: bool = False, at_most: int | None = None) -> int:
    """A positive whole number (or 0, with `zero`), at most `at_most` when given; `default` when
    the variable is unset or empty."""
    value = env_number(name, default, zero=zero, at_most=at_most)
    if value != int(value):
        raise ValueError(f"{name} must be a whole number, got {value!r}")
    return int(value)


# TCP keepalives, and a bound on data left unacknowledged, for every connection of ours to
# Postgres: the edge's and the worker's (blossom_db/connections.py), the pipeline's, migrate's. A
# connection that dies without a word (a failover's old primary gone, a NAT or firewall that
# dropped its state: no RST ever comes) left whatever waited on it waiting for the OS: a query
# sent, some 15 minutes of retransmissions (net.ipv4.tcp_retries2); one awaiting its answer, or an
# idle one, 2 hours and 11 minutes of Linux's keepalives (on by libpq's default, at the kernel's
# timings). With these, either is found dead and ends in an error in about a minute: a silent
# connection is probed after 30 s, then every 10 s, and dropped once 60 s passed since the server
# was last heard (tcp_user_timeout, which on Linux also bounds the probes: the count of 3 is for
# systems without it); data sent and not acknowledged for 60 s ends it too. A long query is not
# cut: the server's kernel answers the probes while it runs. libpq ignores them on a Unix socket.
CONNECTION_DEFAULTS = {
    "keepalives": "1",
    "keepalives_idle": "30",
    "keepalives_interval": "10",
    "keepalives_count": "3",
    "tcp_user_timeout": "60000",
}


def connection_defaults(url: str) -> dict[str, str]:
    """CONNECTION_DEFAULTS that the connection string `url` does not set itself, as keyword
    arguments of psycopg's connect: a URL's own (`?keepalives_idle=5`, `tcp_user_timeout=0` to
    have none) are its to keep. All of them for one libpq cannot read: the connect says why."""
    try:
        given = conninfo_to_dict(url)
    except psycopg.ProgrammingError:
        return dict(CONNECTION_DEFAULTS)
    return {name: value for name, value in CONNECTION_DEFAULTS.items() if name not in given}


def with_connection_defaults(url: str) -> str:
    """`url` with the CONNECTION_DEFAULTS it does not set itself written into it, for a program
    that connects with the string alone (PostgREST's db-uri, yoyo's URL): as query parameters of
    a postgresql:// URL, or as key=value pairs of libpq's other form."""
    missing = connection_defaults(url)
    if not missing:
        return url
    if "://" not in url:
        return " ".join([url, *(f"{name}={value}" for name, value in missing.items())])
    separator = "&" if "?" in url else "?"
    return url + separator + "&".join(f"{name}={value}" for name, value in missing.items())


def env_database_url(name: str, default: str) -> str:
    """A Postgres connection string (a postgresql:// URL, or libpq's key=value form); `default`
    when the variable is unset. See check_database_url."""
    url = os.environ.get(name, default)
    check_database_url(name, url)
    return url


def check_database_url(name: str, url: str) -> None:
    """ValueError, naming the variable but never quoting the value, for a connection string libpq
    would read otherwise than meant: a URL whose password holds an unencoded / or @ (libpq
    ends the user name and password at the first @ before any /, so `worker:pa/ss@host` is host
    `worker`, port `pa`, and `worker:p@ss@host` host `ss@host`: the password's parts went into
    the start-up line and every failed connection's message), one libpq cannot read at all (its
    message quotes the value: `invalid percent-encoded token: "…"`), or a port that is no number.

    Any @ after the user name and password libpq reads is refused, the query's too: a password
    with a ? and one of libpq's parameters after it (`worker:p@ss?application_name=x@host/db`)
    made the rest of the URL a query and its @ a part of a value, and libpq read a part of the
    password as the host (`ss`) or the database; such a URL reads exactly as one whose query holds
    an @ (`…@ss?application_name=x@host/db`), so neither can be told from the other, and a query's
    @ is written %40, which libpq reads as @."""
    parts = url_parts(url)
    if parts is not None and parts[0] in ("postgresql", "postgres"):
        _scheme, _login, hosts, path, query = parts
        if "@" in hosts + path + (query or ""):
            raise ValueError(f"{name} cannot be read as meant: {ENCODE_HINT}")
    try:
        params = conninfo_to_dict(url)
    except psycopg.ProgrammingError:
        raise ValueError(f"{name} is not a connection string libpq can read: {ENCODE_HINT}") from None
    for port in str(params.get("port") or "").split(","):
        if port and not (port.isdigit() and 0 < int(port) < 65536):
            raise ValueError(f"{name} names a port that is no port number: {ENCODE_HINT}")


def url_parts(url: str) -> tuple[str, str, str, str, str | None] | None:
    """A postgresql:// URL cut where libpq cuts it, not where urlsplit does: scheme, user and
    password (with their @, or ""), hosts and ports, database (with its /, or ""), query (None
    without a ?); None for libpq's key=value form. libpq ends the user and password at the first
    @ before any /, the hosts at the first / or ?, the database at the first ?, and reads no
    fragment: a password with a # or a ? (which libpq reads as meant, check_database_url) was a
    fragment or a query to urlsplit, and a URL made
    of its parts read a part of the password as the port or a parameter, quoted in messages."""
    scheme, separator, rest = url.partition("://")
    if not separator:
        return None
    login_end = min((i for i in (rest.find("@"), rest.find("/")) if i >= 0), default=-1)
    login = rest[: login_end + 1] if login_end >= 0 and rest[login_end] == "@" else ""
    rest = rest[len(login) :]
    hosts_end = min((i for i in (rest.find("/"), rest.find("?")) if i >= 0), default=len(rest))
    path, question, query = rest[hosts_end:].partition("?")
    return scheme, login, rest[:hosts_end], path, query if question else None


def without_parameters(query: str | None, names: frozenset[str]) -> str:
    """A URL's query without the parameters `names` (which libpq reads after, and over, the
    URL's own parts), "?" in front when anything is left."""
    kept = "&".join(
        pair for pair in (query or "").split("&") if pair and unquote(pair.partition("=")[0]) not in names
    )
    return f"?{kept}" if kept else ""


def database_shown(url: str) -> str:
    """Where a connection string (checked by check_database_url) connects, fit to print: user,
    host, port and database, never the password or any other parameter."""
    info = conninfo_to_dict(url)
    return (
        f"{info.get('user', '?')}@{info.get('host', '?')}:{info.get('port', 5432)}/{info.get('dbname', '?')}"
    )


# How psycopg begins the message of a connection that failed before any query (libpq's, or its
# own host lookup); an error of a connection that was made begins otherwise.
_CONNECTING_PREFIXES = ("connection failed: ", "connection is bad: ", "failed to resolve host ")


# How libpq names the server of an attempt that failed: `connection to server at "HOST" (ADDR),
# port PORT failed: ` or `connection to server on socket "DIR/.s.PGSQL.PORT" failed: `.
_LIBPQ_ENDPOINT = re.compile(
    r'connection to server (?:at "(?P<host>[^"]*)"(?: \([^)]*\))?, port (?P<port>\d+)'
    r'|on socket "(?P<socket>[^"]*)")'
)


def _endpoint(host: str, port: str) -> str:
    return f"socket {host}/.s.PGSQL.{port}" if host.startswith("/") else f"{host}:{port}"


def _endpoints(info: Mapping[str, object]) -> list[str]:
    """The servers libpq tries for a connection string's parts, in its order, as libpq finds them:
    the host (or hostaddr) and port lists, PGHOST, PGHOSTADDR and PGPORT for a list the string
    leaves out, one port for every host, and for an entry left empty the default socket directory
    (Debian's, libpq's build decides) and 5432."""

    def listed(key: str, variable: str) -> list[str]:
        return str(info.get(key) or os.environ.get(variable) or "").split(",")

    hosts, addresses, ports = (
        listed("host", "PGHOST"),
        listed("hostaddr", "PGHOSTADDR"),
        listed("port", "PGPORT"),
    )
    count = max(len(hosts), len(addresses))
    if len(ports) == 1:
        ports *= count
    found: list[str] = []
    for index in range(count):
        host = hosts[index] if index < len(hosts) else ""
        address = addresses[index] if index < len(addresses) else ""
        port = ports[index] if index < len(ports) else ""
        found.append(
            _endpoint(host.strip() or address.strip() or "/var/run/postgresql", port.strip() or "5432")
        )
    return list(dict.fromkeys(found))


def connection_failure(url: str, error: Exception) -> str | None:
    """One line for an error of connecting to `url`'s server, naming its host and port (never the
    password; every one of a multi-host URL, and PGHOST's and PGPORT's where the URL leaves them
    out, as libpq reads them), or None for any other error. libpq says it in two lines
    (`connection to server at "127.0.0.1", port 5432 failed: Connection refused`, then a
    tab-indented hint), or in one line per address tried: printed as they were, a recipe's message
    spanned lines that read as two errors. A multi-host URL's line named its first host only, and
    a URL without a host the default socket, whatever PGHOST and PGPORT had libpq try."""
    message = str(error).strip()
    if not message.startswith(_CONNECTING_PREFIXES):
        return None
    try:
        info = conninfo_to_dict(url)
    except Exception:  # noqa: BLE001 - a URL libpq refuses is described without its parts
        info = {}
    tried = _endpoints(info)
    where = tried[0] if len(tried) == 1 else f"any of {', '.join(tried)}"
    # The cause is what follows the last "failed: " (the last address tried), or the whole line
    # of a host that does not resolve; the server's own refusal (FATAL: password authentication
    # failed …) is a server that was reached.
    lines = [line.strip() for line in message.splitlines() if line.strip()]
    causes = [line.rsplit("failed: ", 1)[1] for line in lines if "failed: " in line]
    cause = causes[-1].strip() if causes else lines[0]
    if cause.startswith("FATAL:"):
        # A server that refused is one of the hosts: the one libpq names on the cause's line.
        named = _LIBPQ_ENDPOINT.search(next(line for line in reversed(lines) if "failed: " in line))
        if named:
            where = f"socket {named['socket']}" if named["socket"] else f"{named['host']}:{named['port']}"
        return (
            f"the database server at {where} refused the connection: {cause.removeprefix('FATAL:').strip()}"
        )
    if message.startswith("connection is bad: ") and "failed: " not in message:
        # libpq refused the URL's options before it tried any server.
        return f"the database URL has an option libpq refuses, for {where}: {message.split(': ', 1)[1]}"
    if "SSL" in cause:
        # The server answered, and not over SSL as asked (the URL's sslmode, or PGSSLMODE), or
        # its certificate failed.
        return f"cannot connect to the database server at {where} over SSL as asked: {cause}"
    if message.startswith("failed to resolve host "):
        lookup = cause.rsplit(": ", 1)[-1]
        return f"cannot reach the database server at {where}: its host name does not resolve ({lookup})"
    return f"cannot reach the database server at {where}: {cause} (is it running, and listening there?)"
