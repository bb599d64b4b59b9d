"""A project-local PostgreSQL 15 cluster: created on first use, started and stopped on demand.

Postgres refuses to run as root. When we are root (CI, these machines) the server runs as the
unprivileged `postgres` account that Debian's packages create, and the data folder is handed
to it; as an ordinary user it simply runs as that user.
"""

from __future__ import annotations

import os
import pwd
import shutil
import subprocess
from pathlib import Path
from subprocess import PIPE

PG_BIN = Path(os.environ.get("BLOSSOM_PG_BIN", "/usr/lib/postgresql/15/bin"))
SUPERUSER = "postgres"
SERVER_ACCOUNT = "postgres"
PROC = Path("/proc")


# Given on the command line at every start, so that a cluster made before they were added gets
# them too: pg_stat_statements loaded (`just top-queries`); each log line with the application
# name, which is the request id while a request runs (blossom_db.logs); statements slower than
# half a second logged, without their parameters (a password is one).
SERVER_OPTIONS = (
    "-c shared_preload_libraries=pg_stat_statements"
    " -c log_line_prefix='%m [%p] %q[%a] '"
    " -c log_min_duration_statement=500ms"
    " -c log_parameter_max_length=0"
    " -c log_parameter_max_length_on_error=0"
)


class ClusterError(RuntimeError):
    pass


def _server_account() -> pwd.struct_passwd | None:
    """The OS account the server runs as, or None to run as ourselves."""
    if os.geteuid() != 0:
        return None
    try:
        return pwd.getpwnam(SERVER_ACCOUNT)
    except KeyError as missing:
        raise ClusterError(
            f"running as root, but there is no {SERVER_ACCOUNT!r} account to run Postgres as "
            "(it comes with Debian's postgresql-common package)"
        ) from missing


class LocalCluster:
    def __init__(
        self, data_dir: Path, port: int, *, throwaway: bool = False, autovacuum: bool = True
    ) -> None:
        self.data_dir = data_dir
        self.port = port
        self.throwaway = throwaway
        self.autovacuum = autovacuum
        self.account = _server_account()

    @property
    def pgdata(self) -> Path:
        return self.data_dir / "pgdata"

    @property
    def logfile(self) -> Path:
        return self.data_dir / "postgres.log"

    def url(self, database: str) -> str:
        return f"postgresql://{SUPERUSER}@127.0.0.1:{self.port}/{database}"

    def _run(
        self, *argv: str | Path, check: bool = True, cwd: Path = Path("/"), uninterrupted: bool = False
    ) -> subprocess.CompletedProcess[str]:
        """`argv` as the server account. `uninterrupted`: in a session of its own, which a signal
        to our process group does not reach, and waited for to its end even when we are
        interrupted (then raising what interrupted us)."""
        command = [str(a) for a in argv]
        if self.account is not None:
            command = ["runuser", "-u", self.account.pw_name, "--", *command]
        # cwd: runuser keeps ours, which the server account may not be allowed to enter.
        with subprocess.Popen(
            command, stdout=PIPE, stderr=PIPE, text=True, cwd=cwd, start_new_session=uninterrupted
        ) as process:
            try:
                stdout, stderr = process.communicate()
            except BaseException:
                if not uninterrupted:
                    process.kill()
                process.wait()
                raise
        result = subprocess.CompletedProcess(command, process.returncode, stdout, stderr)
        if check and result.returncode != 0:
            raise ClusterError(f"{' '.join(command)} failed:\n{result.stdout}{result.stderr}")
        return result

    def _hand_over(self) -> None:
        """Give the data folder to the server account and check it can reach it."""
        self.data_dir.mkdir(parents=True, exist_ok=True)
        if self.account is None:
            return
        os.chown(self.data_dir, self.account.pw_uid, self.account.pw_gid)
        reachable = self._run("test", "-w", self.data_dir, check=False)
        if reachable.returncode != 0:
            raise ClusterError(
                f"Postgres runs as {self.account.pw_name!r} (we are root) and cannot reach "
                f"{self.data_dir}: a parent folder is closed to it. Set BLOSSOM_DATA_DIR to a "
                "folder it can reach, e.g. under /var/tmp."
            )

    def initialized(self) -> bool:
        return (self.pgdata / "PG_VERSION").exists()

    def init(self) -> None:
        if self.initialized():
            return
        self._hand_over()
        self._run(
            PG_BIN / "initdb",
            "--pgdata",
            self.pgdata,
            "--username",
            SUPERUSER,
            # Trust is for this loopback-only developer cluster; DATABASE_URL is for real servers.
            "--auth",
            "trust",
            "--encoding",
            "UTF8",
            "--locale",
            "C.UTF-8",
            # A cluster deleted after the run has no use for initdb's fsync of every file.
            *(["--no-sync"] if self.throwaway else []),
        )
        settings = {
            "listen_addresses": "'127.0.0.1'",
            "unix_socket_directories": "''",
            "max_connections": "200",
            "log_min_messages": "warning",
            "log_min_error_statement": "panic",
        }
        if self.throwaway:
            # Durability buys nothing for a cluster that is deleted after the run.
            settings |= {"fsync": "off", "synchronous_commit": "off", "full_page_writes": "off"}
        if not self.autovacuum:
            settings["autovacuum"] = "off"
        conf = "".join(f"{key} = {value}\n" for key, value in settings.items())
        with open(self.pgdata / "postgresql.conf", "a") as handle:
            handle.write("\n# Blossom local cluster\n" + conf)

    @property
    def pid_file(self) -> Path:
        return self.pgdata / "postmaster.pid"

    def _pid_file_number(self, line: int) -> int | None:
        """The number on postmaster.pid's line `line` (0: the server's PID; 3: its port); None
        when there is no such file or it does not say."""
        try:
            return int(self.pid_file.read_text().split("\n")[line])
        except (OSError, ValueError, IndexError):
            return None

    def _pid_in_file(self) -> int | None:
        return self._pid_file_number(0)

    def running_port(self) -> int | None:
        """The port the server of this folder was started on, which may be another than `port`."""
        return self._pid_file_number(3)

    def _serves_this_folder(self, pid: int) -> bool:
        """Whether the live process `pid` is a server of this data folder: a postmaster works in
        its data folder, which it enters before it writes its PID. Where that cannot be read (no
        /proc, another user's process), it is taken to be one, as pg_ctl takes it."""
        if not PROC.joinpath("self").exists():
            return True
        try:
            return Path(os.readlink(PROC / str(pid) / "cwd")) == self.pgdata.resolve()
        except FileNotFoundError:
            return False
        except OSError:
            return True

    def running(self) -> bool:
        # pg_ctl asks only whether postmaster.pid's PID is alive: after a restart of the machine
        # (or of a container, which hands PIDs out again in the same order) that a cluster was
        # not shut down before, it is often another process of the server account.
        if self._run(PG_BIN / "pg_ctl", "status", "--pgdata", self.pgdata, check=False).returncode != 0:
            return False
        pid = self._pid_in_file()
        return pid is None or self._serves_this_folder(pid)

    def _forget_stale_pid_file(self) -> None:
        """Removes a postmaster.pid whose PID another process has now. Postgres removes one whose
        PID is gone itself, but refuses to start while that PID is alive and the server
        account's, taking it for a server of this folder still."""
        pid = self._pid_in_file()
        if pid is not None and (PROC / str(pid)).exists() and not self._serves_this_folder(pid):
            self.pid_file.unlink(missing_ok=True)

    def start(self) -> None:
        self.init()
        if self.running():
            return
        self._forget_stale_pid_file()
        logged_before = self.logfile.stat().st_size if self.logfile.exists() else 0
        # pg_ctl starts the server through a shell, these two paths in double quotes, where a
        # `$`, a backquote, a double quote or a backslash of the checkout's path would be read:
        # they are given from the cluster's folder, which the server account may enter.
        started = self._run(
            PG_BIN / "pg_ctl",
            "start",
            "--pgdata",
            self.pgdata.relative_to(self.data_dir),
            "--wait",
            "--timeout",
            "60",
            "--log",
            self.logfile.relative_to(self.data_dir),
            "-o",
            f"-p {self.port} {SERVER_OPTIONS}",
            check=False,
            cwd=self.data_dir,
            # Interrupted, pg_ctl's wait ended, not the server it starts in a session of its own,
            # which ran on, whoever had meant to stop it: a start under way is seen to its end.
            uninterrupted=True,
        )
        if started.returncode != 0:
            # pg_ctl says only "Examine the log output": why (the port taken, a data folder of
            # another major version) is in the server's log.
            said = ""
            if self.logfile.exists():
                with open(self.logfile, "rb") as log:
                    log.seek(logged_before)
                    said = log.read().decode("utf-8", "replace").strip()
            raise ClusterError(
                f"Postgres ({self.pgdata}, port {self.port}) would not start; its log"
                f" ({self.logfile}) says:\n{said or started.stdout + started.stderr}"
            )

    def _pg_ctl_stop(self, mode: str, *options: str) -> subprocess.CompletedProcess[str]:
        """`pg_ctl stop` in `mode`, waited for; its outcome, whatever it was."""
        arguments = ("stop", "--pgdata", str(self.pgdata), "--wait", "--mode", mode, *options)
        return self._run(PG_BIN / "pg_ctl", *arguments, check=False)

    def stop(self, mode: str = "fast") -> None:
        if not (self.initialized() and self.running()):
            return
        stopped = self._pg_ctl_stop(mode)
        # A server that ended between the check and the stop (its last session gone just as a
        # smart stop's wait ran out) left pg_ctl no PID file: a failure only if it runs on.
        if stopped.returncode != 0 and self.running():
            raise ClusterError(f"pg_ctl stop ({self.pgdata}) failed:\n{stopped.stdout}{stopped.stderr}")

    def stop_after_sessions_end(self, grace_seconds: int = 2) -> None:
        """Stops the server once its sessions have ended, cutting those left after `grace_seconds`
        (a fast stop). A fast stop alone, right after a recipe closed its connections, cut a
        backend that had not yet read its client's goodbye, on a busy machine: `FATAL:
        terminating connection due to administrator command` in the log, for nothing."""
        if not (self.initialized() and self.running()):
            return
        try:
            waited = self._pg_ctl_stop("smart", "--timeout", str(grace_seconds))
        except BaseException:
            # Interrupted (Ctrl-C) while it waited: the server, told to stop once its sessions
            # end, waited for a developer's psql for good, refusing every new connection.
            self.stop("fast")
            raise
        if waited.returncode != 0:
            self.stop("fast")

    def destroy(self) -> None:
        self.stop("immediate")
        shutil.rmtree(self.data_dir, ignore_errors=True)

    def create_database(self, name: str, template: str = "template1") -> None:
        import psycopg

        with psycopg.connect(self.url("postgres"), autocommit=True) as conn:
            exists = conn.execute("select 1 from pg_database where datname = %s", [name]).fetchone()
            if not exists:
                conn.execute(f'create database "{name}" template "{template}"')
