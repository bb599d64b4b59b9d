"""Data folders (BLOSSOM_DATA_DIR) for the tests of the recipes on the local cluster: a folder of
a test's own as `./dev` finds it (local_stack), and one made and migrated once a process, which
the tests of what comes after copy. Making and migrating a cluster of their own cost each some
1.5 s of CPU that was not what they test."""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from ops.cluster import LocalCluster
from ops.scratch import free_port, throwaway_folder
from ops.settings import ROOT


@dataclass(frozen=True)
class LocalStack:
    """A local cluster of its own (not running) and the environment a recipe finds it by."""

    folder: Path
    env: dict[str, str]
    cluster: LocalCluster

    def run(self, *arguments: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-m", *arguments],
            cwd=ROOT, env=self.env, capture_output=True, text=True, timeout=120, check=False,
        )  # fmt: skip


@contextmanager
def local_stack(**settings: str) -> Iterator[LocalStack]:
    """As `./dev` finds the local database: BLOSSOM_DATA_DIR and BLOSSOM_PG_PORT, no DATABASE_URL;
    its cluster stopped at the end, whatever the test left running."""
    # Under /var/tmp or /dev/shm: when we are root, Postgres runs as `postgres` and must reach it.
    with tempfile.TemporaryDirectory(prefix="blossom-recipe-", dir=throwaway_folder()) as folder:
        os.chmod(folder, 0o755)
        port = free_port()
        env = {key: value for key, value in os.environ.items() if key != "DATABASE_URL"}
        env |= {"BLOSSOM_DATA_DIR": folder, "BLOSSOM_PG_PORT": str(port)} | settings
        cluster = LocalCluster(Path(folder) / "postgres", port)
        try:
            yield LocalStack(Path(folder), env, cluster)
        finally:
            cluster.stop()


@contextmanager
def made_and_migrated_data_folder() -> Iterator[Path]:
    """A data folder as `./dev migrate` leaves it on a new checkout: its cluster made and
    stopped, the database migrated; removed at the end."""
    with local_stack() as local:
        migrated = local.run("ops.stack", "migrate")
        assert migrated.returncode == 0, f"./dev migrate failed:\n{migrated.stdout}{migrated.stderr}"
        yield local.folder


def copy_data_folder(source: Path, destination: Path) -> None:
    """What `source` holds (a stopped cluster, the recipes' marks) copied into the folder
    `destination`, each file's owner kept: the cluster's are Postgres's account when we are root."""
    subprocess.run(["cp", "-a", f"{source}/.", str(destination)], check=True)
