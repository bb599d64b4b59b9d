"""Where throwaway clusters are made (ops/scratch.py): in memory when there is room, on disk for
benchmarks, wherever BLOSSOM_TMP says when it is set."""

from __future__ import annotations

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
