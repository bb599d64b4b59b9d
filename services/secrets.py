"""Credentials that tenants give us (a Slack bot token), encrypted before they reach Postgres.

AES-256-GCM with a key ring read from the environment:

    BLOSSOM_SECRETS_KEY            KEY_ID:BASE64   the key new secrets are sealed with
    BLOSSOM_SECRETS_PREVIOUS_KEYS  KEY_ID:BASE64, ...   keys that only open what they sealed

A sealed secret is stored as two values: the id of the key that sealed it, and a 12-byte
random nonce followed by the ciphertext and its tag. The secret is bound to where it belongs
(`context`, e.g. "slack.bot_token:org_…") as associated data, so a ciphertext copied into
another row or another organization does not open. Rotation: make a new key the current one
and move the old one to the previous keys; secrets sealed with it keep opening, and are sealed
again with the current key when next written or by `just reseal-secrets` (ops/secrets.py).
Postgres never sees a key or a plaintext.
"""

from __future__ import annotations

import base64
import os
import re
import secrets
from dataclasses import dataclass, field

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from blossom_db.settings import split_list

KEY_VARIABLE = "BLOSSOM_SECRETS_KEY"
PREVIOUS_KEYS_VARIABLE = "BLOSSOM_SECRETS_PREVIOUS_KEYS"
KEY_ID_SHAPE = re.compile(r"[A-Za-z0-9_.-]{1,32}")
NONCE_BYTES = 12


class SecretUnreadable(Exception):
    """A sealed secret that this key ring cannot open: its key is not in the ring (`key_missing`:
    a key gone from it, or one this process has not been given yet, as while a rotation restarts
    the processes one after another), or it was tampered with or moved to another context. Says
    which key id, never the secret."""

    def __init__(self, message: str, *, key_missing: bool = False) -> None:
        super().__init__(message)
        self.key_missing = key_missing


@dataclass(frozen=True)
class Sealed:
    key_id: str
    ciphertext: bytes


def _parse_key(entry: str, variable: str) -> tuple[str, bytes]:
    key_id, separator, encoded = entry.partition(":")
    if not separator or not KEY_ID_SHAPE.fullmatch(key_id):
        raise ValueError(f"{variable}: each key is KEY_ID:BASE64, the id 1-32 of [A-Za-z0-9_.-]")
    try:
        key = base64.b64decode(encoded, validate=True)
    # ValueError, not only its binascii.Error: a letter outside ASCII is refused with a plain one,
    # in words that name neither the setting nor the key.
    except ValueError:
        raise ValueError(
            f"{variable}: key {key_id!r} is not base64: a key is its 32 bytes in base64, of A-Z a-z"
            " 0-9 + / = alone"
        ) from None
    if len(key) != 32:
        raise ValueError(f"{variable}: key {key_id!r} must be 32 bytes (AES-256), not {len(key)}")
    return key_id, key


def new_key_entry(key_id: str) -> str:
    """A fresh key in the form BLOSSOM_SECRETS_KEY takes."""
    if not KEY_ID_SHAPE.fullmatch(key_id):
        raise ValueError("a key id is 1-32 of [A-Za-z0-9_.-]")
    return f"{key_id}:{base64.b64encode(secrets.token_bytes(32)).decode()}"


@dataclass(frozen=True)
class KeyRing:
    current_id: str
    keys: dict[str, bytes] = field(repr=False)

    @classmethod
    def from_entries(cls, current: str, previous: tuple[str, ...] = ()) -> KeyRing:
        current_id, current_key = _parse_key(current, KEY_VARIABLE)
        keys = {current_id: current_key}
        for entry in previous:
            key_id, key = _parse_key(entry, PREVIOUS_KEYS_VARIABLE)
            if key_id in keys:
                raise ValueError(f"{PREVIOUS_KEYS_VARIABLE}: key id {key_id!r} appears twice")
            keys[key_id] = key
        return cls(current_id, keys)

    @classmethod
    def from_environment(cls) -> KeyRing:
        current = os.environ.get(KEY_VARIABLE, "").strip()
        if not current:
            raise ValueError(f"{KEY_VARIABLE} is not set: it holds the key that seals tenants' credentials")
        return cls.from_entries(current, split_list(os.environ.get(PREVIOUS_KEYS_VARIABLE, "")))

    def seal(self, plaintext: str, context: str) -> Sealed:
        nonce = secrets.token_bytes(NONCE_BYTES)
        sealed = AESGCM(self.keys[self.current_id]).encrypt(nonce, plaintext.encode(), context.encode())
        return Sealed(self.current_id, nonce + sealed)

    def open(self, sealed: Sealed, context: str) -> str:
        key = self.keys.get(sealed.key_id)
        if key is None:
            raise SecretUnreadable(
                f"sealed with key {sealed.key_id!r}, which is not in the key ring", key_missing=True
            )
        nonce, ciphertext = sealed.ciphertext[:NONCE_BYTES], sealed.ciphertext[NONCE_BYTES:]
        try:
            return AESGCM(key).decrypt(nonce, ciphertext, context.encode()).decode()
        except (InvalidTag, ValueError):
            raise SecretUnreadable(f"sealed with key {sealed.key_id!r}, but it does not open here") from None
