"""The key ring that seals tenants' credentials (services/secrets.py)."""

from __future__ import annotations

import pytest

from services.secrets import KeyRing, Sealed, SecretUnreadable, new_key_entry

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
    assert rotated.needs_resealing(sealed_before)
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


def test_no_key_shows_in_the_key_rings_repr() -> None:
    entry = new_key_entry("k1")
    assert entry.split(":")[1] not in repr(KeyRing.from_entries(entry))
