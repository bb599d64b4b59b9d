"""The repository stands on its own: no file of it points at a path outside it."""

from __future__ import annotations

import re
import subprocess

from codegen.config import ROOT

RELATIVE = re.compile(r"(?<![\w.])((?:\.\./)+[\w.-][\w./-]*)")


def tracked_text_files() -> list[str]:
    listed = subprocess.run(["git", "ls-files"], cwd=ROOT, capture_output=True, text=True, check=True).stdout
    return [name for name in listed.splitlines() if not name.endswith((".lock", ".png"))]


def test_no_file_refers_to_a_path_outside_the_repository() -> None:
    outside = []
    for name in tracked_text_files():
        path = ROOT / name
        try:
            text = path.read_text()
        except (UnicodeDecodeError, FileNotFoundError):
            continue
        for match in RELATIVE.finditer(text):
            target = (path.parent / match.group(1)).resolve()
            if not target.is_relative_to(ROOT):
                line = text.count("\n", 0, match.start()) + 1
                outside.append(f"{name}:{line}: {match.group(1)}")
    assert not outside, "paths outside the repository:\n" + "\n".join(outside)
