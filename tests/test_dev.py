"""`dev`, the front door: what it does on a machine that lacks what it installs."""

from __future__ import annotations

import fcntl
import os
import shutil
import subprocess
import time
from pathlib import Path

import pytest

from ops.settings import ROOT

# A python3 without ensurepip, as Debian's is until python3-venv is installed: ./dev then wants
# that package from apt-get.
PYTHON_WITHOUT_ENSUREPIP = """#!/bin/sh
case "$*" in *ensurepip*) exit 1 ;; esac
exec python3 "$@"
"""


@pytest.mark.skipif(os.geteuid() != 0, reason="./dev runs apt-get as root (through sudo otherwise)")
@pytest.mark.skipif(shutil.which("apt-get") is None, reason="./dev installs Debian's packages with apt-get")
def test_dev_waits_for_the_package_lists_that_another_apt_get_holds(tmp_path: Path) -> None:
    """Two `./dev` at once on a new machine (two clones, or one beside an unattended upgrade)
    both install Debian's packages. The second's `apt-get update` found the package lists locked
    and failed at once (`Could not get lock /var/lib/apt/lists/lock`), and ./dev with it, asking
    the developer to install the packages by hand. It waits its turn. apt is given folders of its
    own here (APT_CONFIG), with no package source: the lists' lock is this test's to hold, and
    the install that follows the update fails, as no source offers the package."""
    apt = tmp_path / "apt"
    for folder in ("lists/partial", "dpkg", "sources.list.d", "cache/archives/partial"):
        (apt / folder).mkdir(parents=True)
    (apt / "dpkg" / "status").touch()
    config = apt / "apt.conf"
    config.write_text(
        f'Dir::State::Lists "{apt}/lists";\n'
        f'Dir::State::status "{apt}/dpkg/status";\n'
        'Dir::Etc::SourceList "/dev/null";\n'
        f'Dir::Etc::SourceParts "{apt}/sources.list.d";\n'
        f'Dir::Cache "{apt}/cache";\n'
    )
    python = tmp_path / "python3"
    python.write_text(PYTHON_WITHOUT_ENSUREPIP)
    python.chmod(0o755)
    said = tmp_path / "dev.err"
    env = os.environ | {"APT_CONFIG": str(config), "BLOSSOM_PYTHON": str(python)}
    with open(apt / "lists" / "lock", "w") as lists_lock, open(said, "w") as errors:
        fcntl.lockf(lists_lock, fcntl.LOCK_EX)
        dev = subprocess.Popen([str(ROOT / "dev")], env=env, stdout=subprocess.DEVNULL, stderr=errors)
        try:
            deadline = time.monotonic() + 60
            while "waiting" not in said.read_text() and dev.poll() is None and time.monotonic() < deadline:
                time.sleep(0.1)
            assert dev.poll() is None, f"./dev gave up on the locked lists:\n{said.read_text()}"
            fcntl.lockf(lists_lock, fcntl.LOCK_UN)
            dev.wait(timeout=60)
        finally:
            if dev.poll() is None:
                dev.kill()
                dev.wait()
    output = said.read_text()
    assert "Unable to locate package python3-venv" in output, f"the update ran, then the install:\n{output}"
    assert dev.returncode == 1
