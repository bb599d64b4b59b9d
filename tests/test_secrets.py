"""The key ring that seals tenants' credentials (services/secrets.py)."""

from __future__ import annotations

import os
import re
import subprocess
import sys

import psycopg
import pytest

from ops.scratch import free_port
from ops.secrets import reseal
from ops.settings import ROOT
from services.secrets import KeyRing, Sealed, SecretUnreadable, new_key_entry
from services.slack import bot_token_context
from tests.support.orgs_db import make_org, make_user

TOKEN = "xoxb-123-456-secret"


def test_a_sealed_secret_opens_in_its_context_only() -> None:
    ring = KeyRing.from_entries(new_key_entry("k1"))
    sealed = ring.seal(TOKEN, "slack.bot_token:org_a")
    assert sealed.key_id == "k1"
    assert TOKEN.encode() not in sealed.ciphertext
    assert ring.open(sealed, "slack.bot_token:org_a") == TOKEN
    with pytest.raises(SecretUnreadable):
        ring.open(sealed, "slack.bot_token:org_b")  # copied into another organization's row


def test_the_same_secret_seals_differently_each_time() -> None:
    ring = KeyRing.from_entries(new_key_entry("k1"))
    assert ring.seal(TOKEN, "c").ciphertext != ring.seal(TOKEN, "c").ciphertext


def test_a_tampered_ciphertext_does_not_open() -> None:
    ring = KeyRing.from_entries(new_key_entry("k1"))
    sealed = ring.seal(TOKEN, "c")
    flipped = bytes([sealed.ciphertext[-1] ^ 1])
    with pytest.raises(SecretUnreadable):
        ring.open(Sealed("k1", sealed.ciphertext[:-1] + flipped), "c")


def test_rotation_keeps_old_secrets_readable_and_seals_new_ones_with_the_new_key() -> None:
    old_entry, new_entry = new_key_entry("2026-01"), new_key_entry("2026-12")
    sealed_before = KeyRing.from_entries(old_entry).seal(TOKEN, "c")
    rotated = KeyRing.from_entries(new_entry, (old_entry,))
    assert rotated.open(sealed_before, "c") == TOKEN
    assert rotated.seal(TOKEN, "c").key_id == "2026-12"
    with pytest.raises(SecretUnreadable, match="2026-01"):
        KeyRing.from_entries(new_entry).open(sealed_before, "c")  # the old key dropped too early


def test_the_environment_names_what_is_wrong(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("BLOSSOM_SECRETS_KEY", raising=False)
    with pytest.raises(ValueError, match="BLOSSOM_SECRETS_KEY is not set"):
        KeyRing.from_environment()
    for bad in ("no-colon", "k1:not base64!", "k1:c2hvcnQ=", "bad id:" + new_key_entry("x").split(":")[1]):
        monkeypatch.setenv("BLOSSOM_SECRETS_KEY", bad)
        with pytest.raises(ValueError, match="BLOSSOM_SECRETS_KEY"):
            KeyRing.from_environment()
    entry = new_key_entry("k1")
    monkeypatch.setenv("BLOSSOM_SECRETS_KEY", entry)
    monkeypatch.setenv("BLOSSOM_SECRETS_PREVIOUS_KEYS", entry)
    with pytest.raises(ValueError, match="appears twice"):
        KeyRing.from_environment()


# What a key's refusal says it must be, after `VARIABLE: key 'ID' `.
NOT_BASE64 = "is not base64: a key is its 32 bytes in base64, of A-Z a-z 0-9 + / = alone"


@pytest.mark.parametrize("variable", ["BLOSSOM_SECRETS_KEY", "BLOSSOM_SECRETS_PREVIOUS_KEYS"])
@pytest.mark.parametrize("letter", ["é", "\udcff"], ids=["not-ascii", "not-utf8"])
def test_a_key_with_a_letter_outside_ascii_says_what_a_key_is(
    monkeypatch: pytest.MonkeyPatch, variable: str, letter: str
) -> None:
    """A key with a letter outside ASCII (an é, a byte that is not UTF-8) was refused in base64's
    own words, `string argument should contain only ASCII characters`, which named neither the
    setting nor the key: the edge, the worker, the pipeline and the recipes stopped with that."""
    encoded = new_key_entry("k1").split(":")[1]
    monkeypatch.setenv("BLOSSOM_SECRETS_KEY", new_key_entry("current"))
    monkeypatch.setenv(variable, f"k1:{encoded[:-2]}{letter}=")
    refusal = f"{variable}: key 'k1' {NOT_BASE64}"
    with pytest.raises(ValueError, match=f"^{re.escape(refusal)}$"):
        KeyRing.from_environment()


def test_a_recipe_given_a_key_outside_ascii_says_what_a_key_is_in_one_line() -> None:
    """`./dev reseal-secrets` said `secrets: string argument should contain only ASCII
    characters`, and nothing of which setting held it; it names the setting and the key now."""
    nowhere = f"postgresql://postgres@127.0.0.1:{free_port()}/blossom"
    key = "k1:é" + new_key_entry("k1").split(":")[1]
    ran = subprocess.run(
        [sys.executable, "-m", "ops.secrets", "reseal"],
        cwd=ROOT, env=os.environ | {"DATABASE_URL": nowhere, "BLOSSOM_SECRETS_KEY": key},
        capture_output=True, text=True, timeout=60, check=False,
    )  # fmt: skip
    assert (ran.returncode, ran.stderr) == (1, f"secrets: BLOSSOM_SECRETS_KEY: key 'k1' {NOT_BASE64}\n")


def test_no_key_shows_in_the_key_rings_repr() -> None:
    assert "keys" not in repr(KeyRing.from_entries(new_key_entry("k1")))


def test_resealing_moves_every_credential_to_the_current_key(database_url: str) -> None:
    old_entry, new_entry = new_key_entry("old"), new_key_entry("new")
    old_ring = KeyRing.from_entries(old_entry)
    with psycopg.connect(database_url) as conn:
        owner = make_user(conn, "Owner")
        orgs = [make_org(conn, name, {owner: "owner"}) for name in ("Acme", "Globex", "Initech")]
        lost = KeyRing.from_entries(new_key_entry("lost"))
        for org_id, ring in zip(orgs, (old_ring, old_ring, lost), strict=True):
            sealed = ring.seal(f"xoxb-token-of-{org_id}", bot_token_context(org_id))
            conn.execute(
                "insert into app.slack_connections (org_id, team_id, team_name, channel, bot_token_key_id,"
                " bot_token_sealed) values (%s, 'T1', 'Team', 'C1', %s, %s)",
                (org_id, sealed.key_id, sealed.ciphertext),
            )
    rotated = KeyRing.from_entries(new_entry, (old_entry,))
    assert reseal(database_url, rotated) == (2, [orgs[2]])
    assert reseal(database_url, rotated) == (0, [orgs[2]]), "nothing left to do twice"
    with psycopg.connect(database_url) as conn:
        rows = conn.execute(
            "select org_id, bot_token_key_id, bot_token_sealed from app.slack_connections order by org_id"
        ).fetchall()
    opened = {
        org_id: KeyRing.from_entries(new_entry).open(Sealed(key_id, bytes(sealed)), bot_token_context(org_id))
        for org_id, key_id, sealed in rows
        if key_id == "new"
    }
    assert opened == {org_id: f"xoxb-token-of-{org_id}" for org_id in orgs[:2]}


def test_resealing_on_a_database_out_of_reach_says_so_without_a_traceback() -> None:
    """`./dev reseal-secrets` with DATABASE_URL naming a server that is down: a traceback of
    psycopg's OperationalError. (The local cluster it starts: tests/test_local_recipes.py.)"""
    nowhere = f"postgresql://postgres@127.0.0.1:{free_port()}/blossom"
    ran = subprocess.run(
        [sys.executable, "-m", "ops.secrets", "reseal"],
        cwd=ROOT, env=os.environ | {"DATABASE_URL": nowhere, "BLOSSOM_SECRETS_KEY": new_key_entry("k1")},
        capture_output=True, text=True, timeout=60, check=False,
    )  # fmt: skip
    assert ran.returncode == 1, ran.stderr
    assert "Traceback" not in ran.stderr
    assert ran.stderr.startswith("secrets: cannot reach the database server at 127.0.0.1:"), ran.stderr
    assert ran.stderr.count("\n") == 1, ran.stderr
