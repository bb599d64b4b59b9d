"""Data folders (BLOSSOM_DATA_DIR) for the tests of the recipes on the local cluster."""

from __future__ import annotations

import subprocess
from pathlib import Path


def copy_data_folder(source: Path, destination: Path) -> None:
    """What `source` holds (a stopped cluster, the recipes' marks) copied into the folder
    `destination`, each file's owner kept: the cluster's are Postgres's account when we are root."""
    subprocess.run(["cp", "-a", f"{source}/.", str(destination)], check=True)
