"""Login timing: an unknown email against a wrong password, through the edge.

Both must take about the same time (medians within 25%), or timing would tell an attacker
which emails have accounts. Tries alternate between the two kinds; rate-limit counters are
cleared between tries (as the admin) so that every try runs the full login.

Usage: python bench/auth_timing.py [EDGE_URL DATABASE_URL] [TRIES]
(default: BLOSSOM_BENCH_EDGE_URL and BLOSSOM_BENCH_DATABASE_URL, as `just bench` sets them).
"""

from __future__ import annotations

import json
import os
import secrets
import statistics
import sys
import time
import urllib.error
import urllib.request
from urllib.parse import urlsplit

import psycopg

PASSWORD = "timing password 1"


def post(url: str, body: dict[str, str]) -> int:
    req = urllib.request.Request(
        url, data=json.dumps(body).encode(), headers={"Content-Type": "application/json"}, method="POST"
    )
    try:
        with urllib.request.urlopen(req, timeout=30) as reply:
            return int(reply.status)
    except urllib.error.HTTPError as error:
        return int(error.code)


def timed_login(edge_url: str, email: str, password: str) -> float:
    started = time.perf_counter()
    status = post(f"{edge_url}/auth/login", {"email": email, "password": password})
    elapsed = time.perf_counter() - started
    if status != 401:
        raise SystemExit(f"auth_timing: expected 401, got {status}")
    return elapsed


def main() -> None:
    args = sys.argv[1:]
    edge_url = (args[0] if args else os.environ.get("BLOSSOM_BENCH_EDGE_URL", "")).rstrip("/")
    database_url = args[1] if len(args) > 1 else os.environ.get("BLOSSOM_BENCH_DATABASE_URL", "")
    tries = int(args[2]) if len(args) > 2 else 20
    if not (edge_url and database_url):
        raise SystemExit(__doc__)
    if urlsplit(edge_url).hostname not in ("127.0.0.1", "localhost", "::1"):
        raise SystemExit("auth_timing: loopback URLs only")

    email = f"timing-{secrets.token_hex(4)}@example.com"
    status = post(f"{edge_url}/auth/signup", {"email": email, "password": PASSWORD, "display_name": "Timing"})
    if status != 201:
        raise SystemExit(f"auth_timing: sign-up answered {status}")

    unknown: list[float] = []
    wrong: list[float] = []
    with psycopg.connect(database_url, autocommit=True) as conn:
        cost = conn.execute("select auth.bcrypt_cost()").fetchone()
        print(f"bcrypt cost {cost[0] if cost else '?'}, {tries} tries of each kind, alternating")
        for _ in range(tries):
            unknown.append(timed_login(edge_url, f"nobody-{secrets.token_hex(4)}@example.com", PASSWORD))
            wrong.append(timed_login(edge_url, email, "not the password"))
            conn.execute("delete from app.rate_limit_hits where kind like 'login.%'")

    m_unknown, m_wrong = statistics.median(unknown), statistics.median(wrong)
    spread = abs(m_unknown - m_wrong) / min(m_unknown, m_wrong)
    print(f"unknown email   median {m_unknown * 1000:7.1f} ms")
    print(f"wrong password  median {m_wrong * 1000:7.1f} ms")
    print(f"difference {spread:.1%} ({'within' if spread <= 0.25 else 'OVER'} the 25% bound)")


if __name__ == "__main__":
    main()
