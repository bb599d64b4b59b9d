"""`dev`, the front door: what it does on a machine that lacks what it installs."""

from __future__ import annotations

import fcntl
import hashlib
import os
import re
import shutil
import subprocess
import sys
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


def apt_of_its_own(tmp_path: Path) -> Path:
    """An apt configuration (for APT_CONFIG) with folders of its own and no package source:
    apt-get update finds nothing, and an install fails, whatever the machine's apt holds."""
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
    return config


@pytest.mark.skipif(os.geteuid() != 0, reason="./dev runs apt-get as root (through sudo otherwise)")
@pytest.mark.skipif(shutil.which("apt-get") is None, reason="./dev installs Debian's packages with apt-get")
def test_dev_waits_for_the_package_lists_that_another_apt_get_holds(tmp_path: Path) -> None:
    """Two `./dev` at once on a new machine (two clones, or one beside an unattended upgrade)
    both install Debian's packages. The second's `apt-get update` found the package lists locked
    and failed at once (`Could not get lock /var/lib/apt/lists/lock`), and ./dev with it, asking
    the developer to install the packages by hand. It waits its turn. apt is given folders of its
    own here (APT_CONFIG), with no package source: the lists' lock is this test's to hold, and
    the install that follows the update fails, as no source offers the package."""
    config = apt_of_its_own(tmp_path)
    apt = config.parent
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


# Fakes of what ./dev installs the Python packages with, each writing what it was asked to
# DEV_LOG: the interpreter a venv is made with, the venv's python (its pip), uv, and just.
FAKE_PYTHON3 = """#!/bin/sh
case "$*" in
  *"-m venv"*)
    echo "venv $*" >>"$DEV_LOG"
    rm -rf .venv && mkdir -p .venv/bin && cp "$FAKES/python" "$FAKES/just" .venv/bin/
    exit 0 ;;
esac
exec python3 "$@"
"""
FAKE_VENV_PYTHON = """#!/bin/sh
echo "python $*" >>"$DEV_LOG"
if [ "$1 $2 $3" = "-m pip install" ]; then
  for requirements; do :; done
  pins=$(cat "$requirements")  # once: it may be a pipe
  if printf '%s\n' "$pins" | head -n 1 | grep -q '^uv=='; then
    echo "pip installs $(printf '%s\n' "$pins" | grep -c .) lines of the uv pin" >>"$DEV_LOG"
    cp "$FAKES/uv" "$(dirname "$0")/uv"
  fi
fi
exit 0
"""
FAKE_UV = """#!/bin/sh
echo "uv $* (http timeout ${UV_HTTP_TIMEOUT:-none}, retries ${UV_HTTP_RETRIES:-none})" >>"$DEV_LOG"
if [ -n "${FAKE_UV_AWAITS:-}" ]; then  # a file uv waits for, ten seconds at most
  tries=0
  while [ ! -e "$FAKE_UV_AWAITS" ] && [ "$tries" -lt 100 ]; do sleep 0.1; tries=$((tries + 1)); done
  if [ -e "$FAKE_UV_AWAITS" ]; then echo "uv saw $FAKE_UV_AWAITS" >>"$DEV_LOG"; fi
fi
exit "${FAKE_UV_EXIT:-0}"
"""
# npm ci of MailDev: its program in place, and a mark of its run beside the fake.
FAKE_NPM = """#!/bin/sh
echo "npm $*" >>"$DEV_LOG"
if [ -n "${FAKE_NPM_EXIT:-}" ]; then exit "$FAKE_NPM_EXIT"; fi
mkdir -p node_modules/.bin && touch node_modules/.bin/maildev && chmod +x node_modules/.bin/maildev
touch "$(dirname "$0")/npm-ran"
"""
FAKE_JUST = "#!/bin/sh\nexit 0\n"


def dev_with_fakes(tmp_path: Path) -> tuple[Path, dict[str, str]]:
    """A copy of ./dev in a folder of its own, with requirements.lock and the tools it would
    fetch from npm already in place, and a .venv of fakes: what ./dev does to install the Python
    packages, seen without the network. Returns the folder and the environment to run it in."""
    fakes = tmp_path / "fakes"
    fakes.mkdir()
    for name, text in (
        ("python3", FAKE_PYTHON3), ("python", FAKE_VENV_PYTHON), ("uv", FAKE_UV), ("just", FAKE_JUST)
    ):  # fmt: skip
        (fakes / name).write_text(text)
        (fakes / name).chmod(0o755)
    checkout = tmp_path / "checkout"
    (checkout / "ops" / "maildev").mkdir(parents=True)
    shutil.copy(ROOT / "dev", checkout / "dev")
    shutil.copy(ROOT / "requirements.lock", checkout / "requirements.lock")
    lock = ROOT / "ops" / "maildev" / "package-lock.json"
    shutil.copy(lock, checkout / "ops" / "maildev" / "package-lock.json")
    tools = checkout / ".tools"
    installed = (
        "postgrest-12.0.2/postgrest",
        "typescript-5.6.3/package/bin/tsc",
        "maildev/node_modules/.bin/maildev",
    )
    for tool in installed:
        (tools / tool).parent.mkdir(parents=True, exist_ok=True)
        (tools / tool).write_text("")
        (tools / tool).chmod(0o755)
    (tools / "maildev" / ".package-lock.sha256").write_text(sha256_of(lock) + "\n")
    (checkout / ".venv" / "bin").mkdir(parents=True)
    for name in ("python", "just"):
        shutil.copy(fakes / name, checkout / ".venv" / "bin" / name)
    env = os.environ | {"BLOSSOM_PYTHON": str(fakes / "python3"), "FAKES": str(fakes)}
    env["DEV_LOG"] = str(tmp_path / "log")
    return checkout, env


def sha256_of(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def assert_made_again_then_installed(dev_log: Path) -> None:
    """The fakes' log shows .venv made again (venv --clear), then the lock installed into it."""
    log = dev_log.read_text().splitlines()
    remade = log.index(next(line for line in log if line.startswith("venv ") and "--clear .venv" in line))
    installed = log.index(next(line for line in log if line.startswith("uv pip install")))
    assert remade < installed, log


def stamp_venv(venv: Path, checkout: Path, made_from: str) -> None:
    """A venv installed from the checkout's lock (its stamp), made from the interpreter `made_from`."""
    (venv / "pyvenv.cfg").write_text(f"executable = {made_from}\n")
    (venv / ".requirements.sha256").write_text(sha256_of(checkout / "requirements.lock") + "\n")


needs_debian_packages = pytest.mark.skipif(
    not Path("/usr/lib/postgresql/15/bin/postgres").exists(),
    reason="./dev would install Debian's packages first",
)


@needs_debian_packages
def test_an_install_cut_short_is_made_again_in_a_new_venv(tmp_path: Path) -> None:
    """uv writes many packages at once, each's metadata before its modules, and compiles their
    bytecode last: an install cut short (Ctrl-C, a cancelled CI job) left packages half written,
    which the next ./dev's uv took for installed; it ended well, stamped the venv, and every later
    ./dev left it broken (`import psycopg` failed). The venv is made again first."""
    checkout, env = dev_with_fakes(tmp_path)
    (checkout / ".venv" / ".installing").touch()  # what an install cut short leaves
    ran = subprocess.run([str(checkout / "dev")], env=env, capture_output=True, text=True, timeout=60)
    assert ran.returncode == 0, ran.stderr
    assert "the last install into .venv did not finish: .venv is made again" in ran.stderr
    assert_made_again_then_installed(tmp_path / "log")
    assert not (checkout / ".venv" / ".installing").exists()
    stamp = (checkout / ".venv" / ".requirements.sha256").read_text().strip()
    assert stamp == sha256_of(checkout / "requirements.lock")


@needs_debian_packages
def test_the_lock_is_installed_by_uv_and_by_pip_where_uv_cannot(tmp_path: Path) -> None:
    """pip installs uv from the lock's own pin of it (its hashes), then uv the whole lock, each
    file checked against its hashes, with a bounded wait for the index: by uv's defaults one that
    took connections and never answered held the install two silent minutes. Where uv fails, pip
    installs the lock, and says so."""
    checkout, env = dev_with_fakes(tmp_path)
    ran = subprocess.run(
        [str(checkout / "dev")], env=env | {"FAKE_UV_EXIT": "1"}, capture_output=True, text=True, timeout=60
    )
    assert ran.returncode == 0, ran.stderr
    log = (tmp_path / "log").read_text().splitlines()
    uv_pin = next(line for line in log if line.startswith("pip installs"))
    assert int(uv_pin.split()[2]) > 2, "uv's line, its hashes and where it comes from"
    uv = next(line for line in log if line.startswith("uv pip install"))
    for option in ("--require-hashes", "--compile-bytecode", "-r requirements.lock"):
        assert option in uv, uv
    assert uv.endswith("(http timeout 10, retries 1)"), uv
    assert "uv could not install requirements.lock: pip installs it" in ran.stderr
    assert log[-1].startswith("python -m pip install"), log
    assert log[-1].endswith("--require-hashes --no-deps -r requirements.lock"), log


def maildev_to_install(checkout: Path, env: dict[str, str]) -> dict[str, str]:
    """MailDev not installed yet in the checkout of dev_with_fakes, and a fake npm first on PATH
    to install it: the environment to run ./dev in."""
    shutil.rmtree(checkout / ".tools" / "maildev")
    shutil.copy(ROOT / "ops" / "maildev" / "package.json", checkout / "ops" / "maildev" / "package.json")
    npm = checkout.parent / "npm" / "npm"
    npm.parent.mkdir()
    npm.write_text(FAKE_NPM)
    npm.chmod(0o755)
    return env | {"PATH": f"{npm.parent}:{env['PATH']}"}


@needs_debian_packages
def test_the_node_tools_are_fetched_while_the_python_packages_install(tmp_path: Path) -> None:
    """On a fresh machine the installs wait on the network most of their time: one after another
    they took 27 s before CI's tests could start, side by side 22. Here uv waits for MailDev's
    npm ci, which, run after it, it never saw."""
    checkout, env = dev_with_fakes(tmp_path)
    env = maildev_to_install(checkout, env) | {"FAKE_UV_AWAITS": str(tmp_path / "npm" / "npm-ran")}
    ran = subprocess.run([str(checkout / "dev")], env=env, capture_output=True, text=True, timeout=60)
    assert ran.returncode == 0, ran.stderr
    log = (tmp_path / "log").read_text().splitlines()
    assert f"uv saw {tmp_path / 'npm' / 'npm-ran'}" in log, log
    assert (checkout / ".tools" / "maildev" / "node_modules" / ".bin" / "maildev").exists()


@needs_debian_packages
def test_a_node_tool_that_fails_to_install_fails_dev_after_the_python_packages(tmp_path: Path) -> None:
    """The tools fetched beside the Python packages fail ./dev as they did one after another:
    their message, status 1, nothing run, the Python packages installed all the same."""
    checkout, env = dev_with_fakes(tmp_path)
    env = maildev_to_install(checkout, env) | {"FAKE_NPM_EXIT": "1"}
    ran = subprocess.run([str(checkout / "dev")], env=env, capture_output=True, text=True, timeout=60)
    assert ran.returncode == 1, ran.stderr
    assert "dev: npm ci of ops/maildev failed" in ran.stderr
    log = (tmp_path / "log").read_text().splitlines()
    assert any(line.startswith("uv pip install") for line in log), log
    assert not (checkout / ".tools" / "maildev").exists()


# node, of the version FAKE_NODE_VERSION names, whichever way it is asked.
FAKE_NODE = """#!/bin/sh
case "$1" in
  --version) echo "$FAKE_NODE_VERSION" ;;
  -e) major=${FAKE_NODE_VERSION#v}; [ "${major%%.*}" -ge 20 ] ;;
  *) exit 1 ;;
esac
"""


@needs_debian_packages
@pytest.mark.parametrize(
    ("version", "accepted"), [("v18.19.1", False), ("v20.0.0", True), ("v22.11.0", True)]
)
def test_node_older_than_20_is_refused(tmp_path: Path, version: str, accepted: bool) -> None:
    checkout, env = dev_with_fakes(tmp_path)
    node = tmp_path / "node" / "node"
    node.parent.mkdir()
    node.write_text(FAKE_NODE)
    node.chmod(0o755)
    env |= {"PATH": f"{node.parent}:{env['PATH']}", "FAKE_NODE_VERSION": version}
    ran = subprocess.run([str(checkout / "dev")], env=env, capture_output=True, text=True, timeout=60)
    refused = "dev: node 20 or newer is required (TypeScript and the generated client's tests)"
    assert (ran.returncode, refused in ran.stderr) == ((0, False) if accepted else (1, True)), ran.stderr


def interpreter_of(venv: Path) -> Path:
    """The interpreter a venv was made from, as its pyvenv.cfg records it."""
    config = dict(
        line.split(" = ", 1) for line in (venv / "pyvenv.cfg").read_text().splitlines() if " = " in line
    )
    assert "executable" in config, f"{venv / 'pyvenv.cfg'} names no interpreter: not made by `python -m venv`"
    return Path(config["executable"]).resolve()


DEBIAN_PYTHON = Path("/usr/bin/python3")


def debian_python_makes_the_venv() -> bool:
    """Debian's python3 is there, 3.11 or newer, and makes venvs (python3-venv): ./dev makes .venv
    from it only then."""
    check = [str(DEBIAN_PYTHON), "-c", "import ensurepip, sys; sys.exit(sys.version_info < (3, 11))"]
    return DEBIAN_PYTHON.exists() and subprocess.run(check, check=False, capture_output=True).returncode == 0


@pytest.mark.skipif("BLOSSOM_PYTHON" in os.environ, reason="the developer chose the interpreter")
def test_the_venv_is_made_from_debians_python() -> None:
    """Debian builds its Python with profile-guided and link-time optimisation; pyenv's builds
    (the python3 first on this machine's PATH) have neither: on one, a run of the tests, which
    starts some four hundred Python processes, took a fifth more CPU. ./dev makes .venv from
    Debian's python3 wherever it is 3.11 or newer and makes venvs."""
    if not debian_python_makes_the_venv():
        pytest.skip("no Debian python3 of 3.11 or newer that makes venvs")
    assert interpreter_of(ROOT / ".venv") == DEBIAN_PYTHON.resolve()


@needs_debian_packages
def test_a_venv_made_from_another_python_is_made_again(tmp_path: Path) -> None:
    """The lock's packages installed and stamped, but by another interpreter than ./dev now
    makes .venv from (a venv made before ./dev chose Debian's, or another BLOSSOM_PYTHON): the
    venv is made again from the chosen one, and the lock installed into it."""
    checkout, env = dev_with_fakes(tmp_path)
    stamp_venv(checkout / ".venv", checkout, "/opt/elsewhere/bin/python3.11")
    ran = subprocess.run([str(checkout / "dev")], env=env, capture_output=True, text=True, timeout=60)
    assert ran.returncode == 0, ran.stderr
    made_again = re.search(
        r"\.venv was made from /opt/elsewhere/bin/python3\.11: it is made again from (\S+)\n", ran.stderr
    )
    assert made_again, ran.stderr
    assert Path(made_again[1]).name.startswith("python3"), "the interpreter, by its own path"
    assert_made_again_then_installed(tmp_path / "log")


def interpreter_of_python3(env: dict[str, str]) -> str:
    """The interpreter `python3` runs in `env`, by its real path (what ./dev compares)."""
    where = "import os, sys; print(os.path.realpath(sys.executable))"
    return subprocess.run(
        ["python3", "-c", where], env=env, capture_output=True, text=True, check=True
    ).stdout.strip()


@needs_debian_packages
def test_a_venv_made_from_the_chosen_python_is_left_as_it_is(tmp_path: Path) -> None:
    """Stamped, and made from the interpreter ./dev chooses: nothing is made or installed again
    (a check that found it otherwise would remake .venv at every ./dev)."""
    checkout, env = dev_with_fakes(tmp_path)
    stamp_venv(checkout / ".venv", checkout, interpreter_of_python3(env))
    ran = subprocess.run([str(checkout / "dev")], env=env, capture_output=True, text=True, timeout=60)
    assert ran.returncode == 0, ran.stderr
    assert not (tmp_path / "log").exists(), (tmp_path / "log").read_text()


@needs_debian_packages
def test_a_venv_linked_from_elsewhere_is_not_made_again(tmp_path: Path) -> None:
    """A .venv that is a link to another checkout's (as a second clone may share one), made from
    another interpreter: `venv --clear` emptied the folder it links to, then refused to make a
    venv at a link, and every later ./dev failed. Only the speed of the tests was at stake: the
    linked venv is used as it is."""
    checkout, env = dev_with_fakes(tmp_path)
    shared = tmp_path / "shared-venv"
    (checkout / ".venv").rename(shared)
    (checkout / ".venv").symlink_to(shared)
    stamp_venv(shared, checkout, "/opt/elsewhere/bin/python3.11")
    ran = subprocess.run([str(checkout / "dev")], env=env, capture_output=True, text=True, timeout=60)
    assert ran.returncode == 0, ran.stderr
    assert not (tmp_path / "log").exists(), (tmp_path / "log").read_text()
    assert (shared / "pyvenv.cfg").is_file(), "the venv linked to is untouched"


@needs_debian_packages
def test_debians_python_without_ensurepip_leaves_the_choice_to_python3(tmp_path: Path) -> None:
    """Debian's python3 makes venvs only once python3-venv is installed. Chosen for its speed
    while that was missing, it sent ./dev to apt-get for it: a developer without root, whose
    python3 (pyenv's) makes venvs, could run ./dev no longer. Debian's is chosen only where it
    can make the venv; else the python3 on PATH is, as before."""
    checkout, env = dev_with_fakes(tmp_path)
    debian = tmp_path / "debian-python3"
    debian.write_text(PYTHON_WITHOUT_ENSUREPIP.replace("exec python3", f"exec {sys.executable}"))
    debian.chmod(0o755)
    dev = checkout / "dev"
    dev.write_text(
        dev.read_text().replace("debian_python=/usr/bin/python3\n", f"debian_python={debian}\n", 1)
    )
    on_path = tmp_path / "on-path"
    on_path.mkdir()
    (on_path / "python3").write_text(FAKE_PYTHON3.replace("exec python3", f"exec {sys.executable}"))
    (on_path / "python3").chmod(0o755)
    env = {name: value for name, value in env.items() if name != "BLOSSOM_PYTHON"}
    env |= {"PATH": f"{on_path}:{env['PATH']}", "APT_CONFIG": str(apt_of_its_own(tmp_path))}
    ran = subprocess.run([str(dev)], env=env, capture_output=True, text=True, timeout=120)
    assert ran.returncode == 0, ran.stderr
    assert "installing Debian packages" not in ran.stderr
    assert any(line.startswith("venv ") for line in (tmp_path / "log").read_text().splitlines())


@pytest.mark.parametrize("python", ["/nowhere/python3", "no-such-python3", "/etc"])
def test_a_blossom_python_that_names_no_program_is_refused_naming_it(tmp_path: Path, python: str) -> None:
    """A BLOSSOM_PYTHON that names nothing to run was taken for a python3 without ensurepip: ./dev
    sent apt-get for python3-venv, and then said it could not install that, never naming the
    setting. It stops first, naming it, and installs nothing. apt is given folders of its own, as
    in the test of the package lists' lock, so that the old way's install reaches no real one."""
    checkout, env = dev_with_fakes(tmp_path)
    env |= {"BLOSSOM_PYTHON": python, "APT_CONFIG": str(apt_of_its_own(tmp_path))}
    ran = subprocess.run([str(checkout / "dev")], env=env, capture_output=True, text=True, timeout=60)
    assert (ran.returncode, ran.stderr) == (
        1,
        f"dev: BLOSSOM_PYTHON names no program to run: {python} (it is the Python, 3.11 or newer,"
        " that .venv is made from)\n",
    )
    assert not (tmp_path / "log").exists(), "nothing made or installed"
