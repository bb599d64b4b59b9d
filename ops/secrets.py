"""`just new-secrets-key ID` and `just reseal-secrets`: the key ring's upkeep (docs/services.md).

    new-secrets-key ID   prints a fresh key for BLOSSOM_SECRETS_KEY, KEY_ID:BASE64
    reseal-secrets       seals again, with the current key, every stored credential that an
                         older key of the ring sealed; after it, the old key can leave the ring

Resealing runs as the database's admin user (DATABASE_URL, or the local cluster, started when it
is not running and stopped again after, as the other recipes on it do) with the ring
the edge and the worker use (BLOSSOM_SECRETS_KEY, BLOSSOM_SECRETS_PREVIOUS_KEYS); on the local
database the development key `up` keeps in the data folder is in it too, as under `up`. Each row is
replaced only if it still holds what was read, so a connection made meanwhile is left alone.
"""

from __future__ import annotations

import os
import sys

import psycopg

from blossom_db.connections import Connection
from blossom_db.settings import connection_failure, split_list
from ops.settings import Settings, recipe_parser
from ops.stack import database, development_key_file
from services.secrets import (
    KEY_VARIABLE,
    PREVIOUS_KEYS_VARIABLE,
    KeyRing,
    Sealed,
    SecretUnreadable,
    new_key_entry,
)
from services.slack import bot_token_context


def reseal(admin_url: str, ring: KeyRing) -> tuple[int, list[str]]:
    """How many credentials were sealed again, and the organizations whose credential the ring
    cannot open (their key is missing: they must connect again)."""
    resealed, unreadable = 0, []
    with Connection.connect(admin_url) as conn:
        rows = conn.execute(
            "select org_id, bot_token_key_id, bot_token_sealed from app.slack_connections"
            " where bot_token_key_id <> %s",
            (ring.current_id,),
        ).fetchall()
        for org_id, key_id, ciphertext in rows:
            old = Sealed(key_id, bytes(ciphertext))
            try:
                token = ring.open(old, bot_token_context(org_id))
            except SecretUnreadable:
                unreadable.append(org_id)
                continue
            new = ring.seal(token, bot_token_context(org_id))
            updated = conn.execute(
                "update app.slack_connections set bot_token_key_id = %s, bot_token_sealed = %s"
                " where org_id = %s and bot_token_key_id = %s and bot_token_sealed = %s",
                (new.key_id, new.ciphertext, org_id, old.key_id, old.ciphertext),
            )
            resealed += updated.rowcount
    return resealed, unreadable


def key_ring(settings: Settings) -> KeyRing:
    """The ring of BLOSSOM_SECRETS_KEY and BLOSSOM_SECRETS_PREVIOUS_KEYS; on the local database
    (no DATABASE_URL), with the development key `./dev up` seals with when the first is unset
    (ops.stack.use_development_secrets_key): the current key then, as under `up`, or else an
    older key of the ring, so that what `up` sealed with it is sealed again with the new one."""
    development_file = development_key_file(settings)
    if settings.external_database_url or not development_file.exists():
        return KeyRing.from_environment()
    development = development_file.read_text().strip()
    current = os.environ.get(KEY_VARIABLE, "").strip() or development
    previous = split_list(os.environ.get(PREVIOUS_KEYS_VARIABLE, ""))
    ids = {entry.partition(":")[0] for entry in (current, *previous)}
    if development.partition(":")[0] not in ids:
        previous = (*previous, development)
    return KeyRing.from_entries(current, previous)


def main() -> None:
    parser = recipe_parser("secrets", __doc__)
    commands = parser.add_subparsers(dest="command", required=True)
    # Each named as the recipe that runs it.
    new_key = commands.add_parser(
        "new-key", prog="just new-secrets-key", help="print a fresh key, KEY_ID:BASE64"
    )
    new_key.add_argument("key_id")
    commands.add_parser(
        "reseal", prog="just reseal-secrets", help="seal every credential again with the current key"
    )
    args, unknown = parser.parse_known_args()
    if unknown:
        # The recipe's own usage, not that of both.
        commands.choices[args.command].error(f"unrecognized arguments: {' '.join(unknown)}")
    try:
        if args.command == "new-key":
            print(new_key_entry(args.key_id))
            return
        settings = Settings.from_env()
        ring = key_ring(settings)
    except ValueError as error:
        raise SystemExit(f"secrets: {error}") from None
    try:
        with database(settings):
            resealed, unreadable = reseal(settings.admin_url, ring)
    # psycopg's: DATABASE_URL's server out of reach, or the database not migrated; the local
    # cluster's (ClusterError, a RuntimeError), or a data folder we may not write in (OSError).
    except (psycopg.Error, RuntimeError, OSError) as error:
        # Postgres's first line; the cluster's error whole, what the server logged below it.
        first_line = str(error).strip().splitlines()[0] if isinstance(error, psycopg.Error) else str(error)
        said = connection_failure(settings.admin_url, error) or first_line
        raise SystemExit(f"secrets: {said}") from None
    print(f"secrets: {resealed} credential(s) sealed again with key {ring.current_id!r}")
    if unreadable:
        print(
            f"secrets: no key of the ring opens the Slack token of: {', '.join(unreadable)}", file=sys.stderr
        )
        raise SystemExit(1)


if __name__ == "__main__":
    main()
