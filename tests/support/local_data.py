"""Data folders (BLOSSOM_DATA_DIR) for the tests of the recipes on the local cluster: one made
and migrated once a process, which the tests of what comes after copy. Making and migrating a
cluster of their own cost each some 1.5 s of CPU that was not what they test."""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from ops.cluster import LocalCluster
from ops.scratch import free_port, throwaway_folder
from ops.settings import ROOT


@contextmanager
def made_and_migrated_data_folder() -> Iterator[Path]:
    """A data folder as `./dev migrate` leaves it on a new checkout: its cluster made and
    stopped, the database migrated; removed at the end."""
    # Under /var/tmp or /dev/shm: when we are root, Postgres runs as `postgres` and must reach it.
    with tempfile.TemporaryDirectory(prefix="blossom-migrated-", dir=throwaway_folder()) as folder:
        os.chmod(folder, 0o755)
        port = free_port()
        environment = {name: value for name, value in os.environ.items() if name != "DATABASE_URL"}
        environment |= {"BLOSSOM_DATA_DIR": folder, "BLOSSOM_PG_PORT": str(port)}
        try:
            migrated = subprocess.run(
                [sys.executable, "-m", "ops.stack", "migrate"],
                cwd=ROOT, env=environment, capture_output=True, text=True, timeout=120, check=False,
            )  # fmt: skip
            assert migrated.returncode == 0, f"./dev migrate failed:\n{migrated.stdout}{migrated.stderr}"
        except BaseException:
            # The cluster the recipe started, should it be left running, before its folder goes.
            LocalCluster(Path(folder) / "postgres", port).stop()
            raise
        yield Path(folder)


def copy_data_folder(source: Path, destination: Path) -> None:
    """What `source` holds (a stopped cluster, the recipes' marks) copied into the folder
    `destination`, each file's owner kept: the cluster's are Postgres's account when we are root."""
    subprocess.run(["cp", "-a", f"{source}/.", str(destination)], check=True)
