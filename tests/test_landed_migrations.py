"""ops/sql_lint.py's landed-migrations check: a migration (or its rollback) committed on main's
history is compared with the text it landed with; each case on a throwaway git repository."""

from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
from pathlib import Path

import pytest

from ops.sql_lint import Excused, landed_migration_findings, load_exceptions

MIGRATION = "-- landed\ncreate table app.t (id integer);\n"
ROLLBACK = "-- rollback of landed\ndrop table app.t;\n"


def git(repo: Path, *arguments: str) -> str:
    environment = os.environ | {
        "GIT_AUTHOR_NAME": "t", "GIT_AUTHOR_EMAIL": "t@example.org",
        "GIT_COMMITTER_NAME": "t", "GIT_COMMITTER_EMAIL": "t@example.org",
        "GIT_CONFIG_GLOBAL": os.devnull, "GIT_CONFIG_NOSYSTEM": "1",
    }  # fmt: skip
    done = subprocess.run(
        ["git", "-C", str(repo), *arguments], env=environment, capture_output=True, text=True, check=True
    )
    return done.stdout


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    """main with one landed migration and its rollback, then a second commit that leaves them."""
    repo = tmp_path / "repo"
    (repo / "migrations").mkdir(parents=True)
    git(repo, "init", "-q", "-b", "main")
    (repo / "migrations" / "0001.landed.sql").write_text(MIGRATION)
    (repo / "migrations" / "0001.landed.rollback.sql").write_text(ROLLBACK)
    git(repo, "add", ".")
    git(repo, "commit", "-q", "-m", "0001")
    (repo / "README").write_text("later\n")
    git(repo, "add", ".")
    git(repo, "commit", "-q", "-m", "later")
    return repo


def excused(tmp_path: Path, *entries: tuple[str, str]) -> list[Excused]:
    exceptions = tmp_path / "exceptions.toml"
    exceptions.write_text(
        "".join(
            f'[[edited_migration]]\nsha256 = {{ "{name}" = "{sha}" }}\nreason = "planted"\n'
            for name, sha in entries
        )
    )
    return load_exceptions(exceptions)["edited_migration"]


def sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def test_the_landed_migrations_of_this_tree_are_as_they_landed_but_those_excused() -> None:
    landed = landed_migration_findings(excused=load_exceptions()["edited_migration"])
    assert landed.findings == []


def test_an_untouched_tree_and_a_new_migration_pass(repo: Path) -> None:
    (repo / "migrations" / "0002.new.sql").write_text("create table app.u (id integer);\n")
    landed = landed_migration_findings(repo / "migrations")
    assert (landed.findings, landed.note) == ([], None)


@pytest.mark.parametrize("name", ["0001.landed.sql", "0001.landed.rollback.sql"])
def test_an_edit_of_a_landed_file_is_a_finding_committed_or_not(repo: Path, name: str) -> None:
    path = repo / "migrations" / name
    path.write_text(path.read_text() + "-- and more\n")
    for state in ("in the working tree", "committed"):
        if state == "committed":
            git(repo, "commit", "-q", "-am", "edit")
        findings = landed_migration_findings(repo / "migrations").findings
        assert [finding.where for finding in findings] == [f"{path}:1"]
        assert "migration-edited" in findings[0].what
        assert sha256(path) in findings[0].what, "the checksum an entry would excuse"


def test_an_excused_edit_passes_and_an_edit_after_it_does_not(repo: Path, tmp_path: Path) -> None:
    path = repo / "migrations" / "0001.landed.sql"
    path.write_text(MIGRATION + "-- mended\n")
    entries = excused(tmp_path, ("0001.landed.sql", sha256(path)))
    assert landed_migration_findings(repo / "migrations", entries).findings == []
    path.write_text(MIGRATION + "-- mended, and again\n")
    findings = landed_migration_findings(repo / "migrations", entries).findings
    assert len(findings) == 1
    assert "edited again since" in findings[0].what


def test_an_entry_that_excuses_nothing_is_a_finding(repo: Path, tmp_path: Path) -> None:
    entries = excused(tmp_path, ("0001.landed.sql", "0" * 64))
    findings = landed_migration_findings(repo / "migrations", entries).findings
    assert [finding.where for finding in findings] == [str(tmp_path / "exceptions.toml")]
    assert "remove the entry" in findings[0].what


def test_a_migration_landed_on_main_counts_from_a_branch_too(repo: Path) -> None:
    """A branch's own new migration may change until it lands; one of main's may not."""
    git(repo, "checkout", "-q", "-b", "feature")
    mine = repo / "migrations" / "0002.mine.sql"
    mine.write_text("create table app.u (id integer);\n")
    git(repo, "add", ".")
    git(repo, "commit", "-q", "-m", "0002")
    mine.write_text("create table app.u (id bigint);\n")
    assert landed_migration_findings(repo / "migrations").findings == []
    (repo / "migrations" / "0001.landed.sql").write_text(MIGRATION + "-- edited on the branch\n")
    assert len(landed_migration_findings(repo / "migrations").findings) == 1


def test_a_shallow_clone_is_checked_against_the_history_it_has_and_says_so(
    repo: Path, tmp_path: Path
) -> None:
    shallow = tmp_path / "shallow"
    subprocess.run(
        ["git", "clone", "-q", "--depth", "1", f"file://{repo}", str(shallow)],
        check=True,
        capture_output=True,
    )
    path = shallow / "migrations" / "0001.landed.sql"
    path.write_text(MIGRATION + "-- edited\n")
    landed = landed_migration_findings(shallow / "migrations")
    assert landed.note is not None
    assert "shallow" in landed.note
    assert len(landed.findings) == 1, "what the history it has shows is still checked"


def test_a_tree_without_git_is_skipped_saying_so(repo: Path, tmp_path: Path) -> None:
    bare_tree = tmp_path / "export"
    shutil.copytree(repo / "migrations", bare_tree / "migrations")
    landed = landed_migration_findings(bare_tree / "migrations")
    assert landed.findings == []
    assert landed.note is not None
    assert "not checked" in landed.note


def test_a_migration_mended_on_its_branch_before_a_merge_landed_as_merged(repo: Path) -> None:
    """A branch may change its new migration until it lands; merged into main (not fast-forward,
    as this repository's branches are), its branch's commits join main's history, and the commit
    that first added the file there held the text before the mend: the merge's text is the one
    that landed."""
    git(repo, "checkout", "-q", "-b", "feature")
    mine = repo / "migrations" / "0002.mine.sql"
    mine.write_text("create table app.u (id integer);\n")
    git(repo, "add", ".")
    git(repo, "commit", "-q", "-m", "0002")
    mine.write_text("create table app.u (id bigint);\n")
    git(repo, "commit", "-q", "-am", "0002 mended")
    git(repo, "checkout", "-q", "main")
    git(repo, "merge", "-q", "--no-ff", "-m", "Merge feature", "feature")
    assert landed_migration_findings(repo / "migrations").findings == []
    mine.write_text("create table app.u (id numeric);\n")
    assert len(landed_migration_findings(repo / "migrations").findings) == 1, "landed now"


def test_an_excused_edit_older_than_a_shallow_clone_is_no_finding(repo: Path, tmp_path: Path) -> None:
    """A clone of depth 1 (CI's usual checkout) holds each file as its one commit has it: an
    edit made and excused before then is out of its sight, and its entry, which nothing there
    seemed to need, was a finding ("remove the entry"), failing the lint of every such clone."""
    path = repo / "migrations" / "0001.landed.rollback.sql"
    path.write_text(ROLLBACK + "-- mended\n")
    git(repo, "commit", "-q", "-am", "mend the rollback")
    entries = excused(tmp_path, ("0001.landed.rollback.sql", sha256(path)))
    assert landed_migration_findings(repo / "migrations", entries).findings == []
    shallow = tmp_path / "shallow"
    subprocess.run(
        ["git", "clone", "-q", "--depth", "1", f"file://{repo}", str(shallow)],
        check=True,
        capture_output=True,
    )
    landed = landed_migration_findings(shallow / "migrations", entries)
    assert landed.findings == []
    assert landed.note is not None
    assert "shallow" in landed.note
    stale = excused(tmp_path, ("0001.landed.rollback.sql", "0" * 64))
    assert len(landed_migration_findings(shallow / "migrations", stale).findings) == 1, (
        "an entry that excuses no text the file has is still one to remove"
    )
