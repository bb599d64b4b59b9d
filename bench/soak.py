"""Soak: mixed traffic through the edge for 5 minutes; goals: no 5xx, p99 flat, RSS growth under 10%.

How long: BLOSSOM_BENCH_SOAK_SECONDS (300). "p99 flat": the last window's p99 at most 1.2x the
first's.

Traffic, at BLOSSOM_BENCH_SOAK_RATE requests/s (40) from BLOSSOM_BENCH_SOAK_USERS (40) signed-in
users, each from an address of its own and with an organization of its own: reads (`me`,
`list_organizations`, `list_members`, `list_invitations`), profile updates, sign-ins (login),
invitations and password-reset requests, whose mail the worker delivers to an SMTP sink. It is
an open loop: requests leave on a fixed schedule whether or not earlier ones were answered, so
a slowdown shows as latency, not as less load.

Printed per window (a minute, or a fifth of a shorter run): requests, throughput, p50 and p99,
5xx, and refusals by a limit (429: expected, the per-address and per-user quotas). Then the last
window's p99 against the first's (the baseline, measured in the same run), and per action, the
mail delivered,
and the resident memory of the edge, PostgREST and the worker after the first window (warm)
and at the end. Run: `./dev bench soak` (BLOSSOM_BENCH_SOAK_SECONDS=60 for a short one).
"""

from __future__ import annotations

import asyncio
import os
import random
import secrets
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

import aiohttp

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from _smtp_sink import Sink

from ops.bench import bench_count, bench_number
from ops.services import start_worker, stop, worker_env
from ops.settings import with_user

SECONDS = bench_number("BLOSSOM_BENCH_SOAK_SECONDS")
RATE = bench_number("BLOSSOM_BENCH_SOAK_RATE")
USERS = bench_count("BLOSSOM_BENCH_SOAK_USERS")
WINDOW = min(60.0, SECONDS / 5)
PASSWORD = "soak test password 1"
# What the traffic is made of, by weight.
MIX = {
    "me": 30,
    "list_organizations": 20,
    "list_members": 12,
    "list_invitations": 8,
    "update_profile": 15,
    "login": 3,
    "invite_member": 6,
    "password_reset": 3,
    "healthz": 3,
}


@dataclass
class User:
    email: str
    session: aiohttp.ClientSession
    cookie: str = ""
    org_id: str = ""
    invited: int = 0


@dataclass
class Window:
    latencies: list[float] = field(default_factory=list)
    by_action: dict[str, list[float]] = field(default_factory=dict)
    server_errors: int = 0
    limited: int = 0
    refused: int = 0
    failed: int = 0


def rss_kib(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    return 0


def percentile(values: list[float], p: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(p * len(ordered)))] if ordered else float("nan")


def milliseconds(values: list[float], p: float) -> str:
    """The percentile in ms, or `-` for a window without such requests (a rare action in a short
    soak), not `nan`."""
    return f"{percentile(values, p) * 1000:.1f}" if values else "-"


def source_address(n: int) -> str:
    return f"127.77.{n // 250}.{n % 250 + 1}"


async def post(user: User, edge: str, path: str, body: object) -> tuple[int, dict[str, object]]:
    headers = {"Origin": edge, "Cookie": user.cookie}
    async with user.session.post(f"{edge}{path}", json=body, headers=headers) as reply:
        data = await reply.json(content_type=None) if reply.status != 204 else {}
        if "set-cookie" in reply.headers:
            for cookie in reply.headers.getall("set-cookie"):
                name, _, rest = cookie.partition("=")
                if name == "blossom_session" and rest.split(";", 1)[0]:
                    user.cookie = f"blossom_session={rest.split(';', 1)[0]}"
        return reply.status, data if isinstance(data, dict) else {"rows": data}


async def set_up(edge: str) -> list[User]:
    users = []
    for n in range(USERS):
        connector = aiohttp.TCPConnector(local_addr=(source_address(n), 0), limit=8)
        user = User(f"soak-{secrets.token_hex(4)}@example.com", aiohttp.ClientSession(connector=connector))
        status, _ = await post(user, edge, "/auth/signup", {"email": user.email, "password": PASSWORD,
                                                            "display_name": f"Soak {n}"})  # fmt: skip
        assert status == 201, f"sign-up answered {status}"
        status, org = await post(user, edge, "/rpc/create_organization", {"name": f"Soak {n}"})
        assert status == 200, f"create_organization answered {status}"
        user.org_id = str(org["id"])
        users.append(user)
    return users


async def act(user: User, edge: str, action: str) -> int:
    if action == "healthz":
        async with user.session.get(f"{edge}/healthz") as reply:
            await reply.read()
            return reply.status
    if action == "login":
        return (await post(user, edge, "/auth/login", {"email": user.email, "password": PASSWORD}))[0]
    if action == "password_reset":
        return (await post(user, edge, "/auth/password-reset", {"email": user.email}))[0]
    if action == "update_profile":
        return (
            await post(user, edge, "/rpc/update_profile", {"display_name": f"Soak {secrets.token_hex(3)}"})
        )[0]
    if action == "invite_member":
        user.invited += 1
        body = {"org_id": user.org_id, "email": f"guest-{user.invited}-{user.email}", "role": "member"}
        return (await post(user, edge, "/rpc/invite_member", body))[0]
    if action in ("list_members", "list_invitations"):
        return (await post(user, edge, f"/rpc/{action}", {"org_id": user.org_id}))[0]
    return (await post(user, edge, f"/rpc/{action}", {}))[0]


async def soak(edge: str, users: list[User], first_window: asyncio.Event) -> list[Window]:
    """The traffic; `first_window` is set once the first window is over (the processes are warm)."""
    windows = [Window() for _ in range(int(SECONDS / WINDOW + 0.5))]
    actions, weights = list(MIX), list(MIX.values())
    started = time.monotonic()
    pending: set[asyncio.Task[None]] = set()

    async def one(n: int, at: float) -> None:
        action = random.choices(actions, weights)[0]
        user = users[n % len(users)]
        window = windows[min(int((at - started) / WINDOW), len(windows) - 1)]
        try:
            status = await act(user, edge, action)
        except (aiohttp.ClientError, TimeoutError, ValueError):
            window.failed += 1
            return
        window.latencies.append(time.monotonic() - at)
        window.by_action.setdefault(action, []).append(time.monotonic() - at)
        if status >= 500:
            window.server_errors += 1
        elif status == 429:
            window.limited += 1
        elif status >= 400:
            window.refused += 1

    total = int(SECONDS * RATE)
    for n in range(total):
        at = started + n / RATE
        delay = at - time.monotonic()
        if delay > 0:
            await asyncio.sleep(delay)
        if time.monotonic() - started >= WINDOW:
            first_window.set()
        task = asyncio.create_task(one(n, at))
        pending.add(task)
        task.add_done_callback(pending.discard)
    await asyncio.gather(*pending)
    first_window.set()
    return windows


def main() -> None:
    edge = os.environ["BLOSSOM_BENCH_EDGE_URL"]
    url = os.environ["BLOSSOM_BENCH_DATABASE_URL"]
    pids = {
        "edge": int(os.environ["BLOSSOM_BENCH_EDGE_PID"]),
        "PostgREST": int(os.environ["BLOSSOM_BENCH_POSTGREST_PID"]),
    }
    sink = Sink()
    sink.controller.start()
    settings = worker_env(with_user(url, "worker"), f"smtp://127.0.0.1:{sink.port}", edge)
    with tempfile.TemporaryDirectory() as logs:
        worker = start_worker(settings, url, Path(logs) / "worker.log")
        pids["worker"] = worker.pid
        try:
            windows, rss = asyncio.run(run(edge, pids))
        finally:
            stop(worker)
    sink.controller.stop()
    report(windows, rss, len(sink.arrivals))


async def run(edge: str, pids: dict[str, int]) -> tuple[list[Window], dict[str, tuple[int, int]]]:
    users = await set_up(edge)
    try:
        first_window = asyncio.Event()
        warm: dict[str, int] = {}

        async def note_warm() -> None:
            await first_window.wait()
            warm.update({name: rss_kib(pid) for name, pid in pids.items()})

        noting = asyncio.create_task(note_warm())
        windows = await soak(edge, users, first_window)
        await noting
        end = {name: rss_kib(pid) for name, pid in pids.items()}
        return windows, {name: (warm[name], end[name]) for name in pids}
    finally:
        for user in users:
            await user.session.close()


def report(windows: list[Window], rss: dict[str, tuple[int, int]], mails: int) -> None:
    print(f"soak: {SECONDS:.0f} s at {RATE:.0f} requests/s through the edge, {USERS} users,", end=" ")
    print(f"windows of {WINDOW:.0f} s")
    columns = ("requests", "req/s", "p50 ms", "p99 ms", "5xx", "429", "4xx", "failed")
    print(f"{'window':>8}" + "".join(f"{name:>9}" for name in columns))
    for n, window in enumerate(windows):
        count = len(window.latencies) + window.failed
        p50, p99 = milliseconds(window.latencies, 0.5), milliseconds(window.latencies, 0.99)
        figures = (count, f"{count / WINDOW:.1f}", p50, p99, window.server_errors,
                   window.limited, window.refused, window.failed)  # fmt: skip
        print(f"{n * WINDOW:>7.0f}s" + "".join(f"{figure:>9}" for figure in figures))
    first, last = percentile(windows[0].latencies, 0.99), percentile(windows[-1].latencies, 0.99)
    errors = sum(w.server_errors + w.failed for w in windows)
    print(f"p99, last window / first (the baseline): {last / first:.2f}x (goal: at most 1.20)")

    def without_logins(window: Window) -> list[float]:
        return [x for action, values in window.by_action.items() if action != "login" for x in values]

    first, last = percentile(without_logins(windows[0]), 0.99), percentile(without_logins(windows[-1]), 0.99)
    print(f"  the same without sign-ins (bcrypt, whose queue sets the p99 above): {last / first:.2f}x")
    print(f"{'action':>20} {'p99 first':>10} {'p99 last':>10}  (ms)")
    for action in MIX:
        began, ended = windows[0].by_action.get(action, []), windows[-1].by_action.get(action, [])
        print(f"{action:>20} {milliseconds(began, 0.99):>10} {milliseconds(ended, 0.99):>10}")
    print(f"5xx and failed requests: {errors} (goal: 0)")
    print(f"mail delivered to the sink: {mails}")
    print(f"{'process':>10} {'RSS warm':>10} {'RSS end':>10} {'growth':>7}  (goal: under 10%)")
    for name, (warm, end) in rss.items():
        print(f"{name:>10} {warm / 1024:>8.1f}Mi {end / 1024:>8.1f}Mi {100 * (end - warm) / warm:>6.1f}%")


if __name__ == "__main__":
    main()
