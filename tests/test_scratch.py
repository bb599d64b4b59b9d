"""Throwaway things for checks (ops/scratch.py): where clusters are made (in memory when there is
room, on disk for benchmarks, wherever BLOSSOM_TMP says when it is set), and the ports their
servers listen on."""

from __future__ import annotations

import os
import secrets
import socket
from pathlib import Path

import pytest

from ops import scratch


@pytest.fixture
def no_choice_given(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("BLOSSOM_TMP", raising=False)


def test_blossom_tmp_decides_when_set(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("BLOSSOM_TMP", str(tmp_path))
    assert scratch.throwaway_folder() == tmp_path
    assert scratch.throwaway_folder(on_disk=True) == tmp_path


@pytest.mark.usefixtures("no_choice_given")
def test_benchmarks_stay_on_disk() -> None:
    assert scratch.throwaway_folder(on_disk=True) == scratch.DISK_FOLDER


@pytest.mark.usefixtures("no_choice_given")
def test_a_folder_that_is_no_tmpfs_is_not_taken_for_memory(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setattr(scratch, "MEMORY_FOLDER", tmp_path)
    assert scratch.throwaway_folder() == scratch.DISK_FOLDER


@pytest.mark.usefixtures("no_choice_given")
def test_memory_is_taken_only_with_room(monkeypatch: pytest.MonkeyPatch) -> None:
    if not scratch._is_tmpfs(scratch.MEMORY_FOLDER):
        pytest.skip(f"{scratch.MEMORY_FOLDER} is not a tmpfs on this machine")
    # The room is made up: the run's own clusters come and go in that folder meanwhile.
    monkeypatch.setattr(scratch, "_free_bytes", lambda _folder: scratch.MEMORY_NEEDED)
    assert scratch.throwaway_folder() == scratch.MEMORY_FOLDER
    monkeypatch.setattr(scratch, "_free_bytes", lambda _folder: scratch.MEMORY_NEEDED - 1)
    assert scratch.throwaway_folder() == scratch.DISK_FOLDER


def test_free_ports_lie_outside_the_range_outgoing_connections_take_theirs_from() -> None:
    """A port the kernel picks for bind(0) lies in its ephemeral range, where any outgoing
    connection may take it as its source port before the server meant for it binds it: the edge
    then failed to start with "address already in use"."""
    low, high = (int(part) for part in Path("/proc/sys/net/ipv4/ip_local_port_range").read_text().split())
    ports = [scratch.free_port() for _ in range(50)]
    assert all(not low <= port <= high for port in ports), ports
    assert len(set(ports)) == len(ports)
    for port in ports:
        with socket.socket() as listener:
            listener.bind(("127.0.0.1", port))
            listener.listen()


def test_a_port_in_use_is_not_handed_out() -> None:
    taken = []
    try:
        for _ in range(20):
            listener = socket.socket()
            listener.bind(("127.0.0.1", scratch.free_port()))
            listener.listen()
            taken.append(listener)
        ports = {listener.getsockname()[1] for listener in taken}
        # More picks than there are ports to hand out: every walk comes round to them.
        handed_out = {scratch.free_port() for _ in range(len(scratch.listening_ports()) + 1)}
        assert not ports & handed_out
    finally:
        for listener in taken:
            listener.close()


def port_of_a_child(walk_from: int | None = None) -> int:
    """The port free_port hands out in a child forked now, its walk starting at `walk_from` when
    given (as another process's may)."""
    reading, writing = os.pipe()
    child = os.fork()
    if child == 0:  # pragma: no cover - the child reports through the pipe
        if walk_from is not None:
            secrets.randbelow = lambda exclusive_upper_bound: scratch.listening_ports().index(walk_from)
        os.write(writing, str(scratch.free_port()).encode())
        os._exit(0)
    os.close(writing)
    os.waitpid(child, 0)
    with os.fdopen(reading) as said:
        return int(said.read())


def test_a_forked_process_walks_ports_of_its_own() -> None:
    """A child forked after its parent handed out ports would walk on in step with it."""
    scratch.free_port()
    assert port_of_a_child() != scratch.free_port()


def test_a_port_handed_out_is_not_handed_out_again_before_its_server_binds_it() -> None:
    """free_port saw a port free, and the server meant for it bound it a moment later (a recipe's
    Postgres seconds later, after initdb): another process whose walk came to that port meanwhile
    saw it free too and handed it out again, and one of the two servers would not start
    ("Address already in use"). Here that other process is a child whose walk starts there."""
    first = scratch.free_port()
    assert port_of_a_child(walk_from=first) != first


def test_a_claim_on_a_port_ends_with_the_process_that_made_it() -> None:
    """A port is claimed by its process alone, for as long as it runs: a child's claim is gone when
    the child ends, and a child that ends leaves its parent's claims to the parent."""
    theirs = scratch.free_port()
    childs = port_of_a_child()
    assert port_of_a_child(walk_from=theirs) != theirs, "the parent's claim outlives its children"
    assert scratch._claimed(childs), "the child's claim ended with it"
