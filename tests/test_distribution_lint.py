"""The distributability lint (ops/distribution_lint.py): the schema passes, and each kind of
breach planted in a schema of its own is named."""

from __future__ import annotations

from pathlib import Path

from ops.distribution_lint import findings

DECLARED = """
[root]
table = "app.organizations"
column = "id"

[reference]
"app.users" = "accounts are no tenant's"
"""

SOUND = """
create table app.organizations (id text primary key, name text);
create table app.users (id text primary key, email text);
create unique index users_email_key on app.users (lower(email));
create table app.projects (
  org_id text not null references app.organizations (id),
  id text not null,
  owner_id text references app.users (id),
  constraint projects_pkey primary key (org_id, id)
);
create table app.tasks (
  org_id text not null,
  id text not null,
  project_id text not null,
  primary key (org_id, id),
  constraint tasks_project_fkey foreign key (org_id, project_id) references app.projects (org_id, id)
);
create unique index tasks_org_id_name_key on app.tasks (org_id, lower(id));
"""


def lint(tmp_path: Path, schema: str, declared: str = DECLARED) -> list[str]:
    (tmp_path / "schema.sql").write_text(schema)
    (tmp_path / "distribution.toml").write_text(declared)
    return findings([tmp_path / "schema.sql"], tmp_path / "distribution.toml")


def test_the_schema_is_distributable_but_for_its_declared_breaches() -> None:
    assert findings() == []


def test_a_sound_schema_has_no_finding(tmp_path: Path) -> None:
    assert lint(tmp_path, SOUND) == []


def test_a_tenant_tables_key_without_org_id_is_named(tmp_path: Path) -> None:
    planted = SOUND + "create table app.notes (id text primary key, org_id text, body text unique);"
    assert lint(tmp_path, planted) == [
        "app.notes notes_pkey: primary key (id) does not include org_id",
        "app.notes notes_body_key: unique (body) does not include org_id",
    ]


def test_a_unique_index_without_org_id_is_named(tmp_path: Path) -> None:
    planted = SOUND + "create unique index tasks_id_key on app.tasks (id);"
    assert lint(tmp_path, planted) == ["app.tasks tasks_id_key: unique (id) does not include org_id"]


def test_a_foreign_key_between_tenant_tables_must_join_org_id(tmp_path: Path) -> None:
    planted = SOUND + (
        "create table app.links (org_id text, id text, task_id text references app.tasks (id),"
        " primary key (org_id, id));"
    )
    assert lint(tmp_path, planted) == [
        "app.links links_task_id_fkey: foreign key to tenant table app.tasks does not include org_id"
    ]


def test_a_table_without_org_id_must_be_declared_a_reference_table(tmp_path: Path) -> None:
    planted = (
        SOUND + "create table app.tags (id text primary key, project_id text references app.projects (id));"
    )
    assert lint(tmp_path, planted) == [
        "app.tags: has no org_id and is not declared a reference table in distribution.toml",
        "app.tags tags_project_id_fkey: a reference table's foreign key to tenant table app.projects",
    ]


def test_a_declared_breach_that_no_longer_happens_is_named(tmp_path: Path) -> None:
    declared = DECLARED + '[[breach]]\ntable = "app.tasks"\nconstraint = "tasks_pkey"\nreason = "once"\n'
    assert lint(tmp_path, SOUND, declared) == [
        "distribution.toml: [[breach]] app.tasks tasks_pkey: nothing breaks it; remove the entry"
    ]
