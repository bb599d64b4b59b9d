"""`just mail`: the messages waiting in app.outbox, as a developer wants to read them.

Delivery comes later; in local development this is how you see the mail that would have been
sent (a password-reset token, for instance). Reads the local database (or DATABASE_URL).
"""

from __future__ import annotations

import argparse
import json

import psycopg

from ops.settings import Settings


def pending(url: str, limit: int, everything: bool) -> list[tuple[str, str, str, object]]:
    with psycopg.connect(url) as conn:
        rows = conn.execute(
            "select id, topic, to_char(created_at, 'YYYY-MM-DD HH24:MI:SS TZ'), payload from app.outbox"
            " where %(everything)s or delivered_at is null order by created_at desc limit %(limit)s",
            {"everything": everything, "limit": limit},
        ).fetchall()
    return [(str(i), str(t), str(c), p) for i, t, c, p in rows]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--limit", type=int, default=20, help="at most this many messages (newest first)")
    parser.add_argument("--all", action="store_true", help="delivered messages too")
    parser.add_argument("--database-url", help="admin URL (default: the local cluster or DATABASE_URL)")
    args = parser.parse_args()
    url = args.database_url or Settings.from_env().admin_url
    messages = pending(url, args.limit, args.all)
    if not messages:
        print("outbox: nothing waiting")
    for message_id, topic, created, payload in messages:
        print(f"── {topic}  {message_id}  {created}")
        print(json.dumps(payload, indent=2, ensure_ascii=False))


if __name__ == "__main__":
    main()
