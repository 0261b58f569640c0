"""Benchmark of watching and notifying: 10,000 open orders over 50 panel keys checked by
the real `Watcher`, then an outbox of notifications delivered by the real `Sender`
through PTB's `AIORateLimiter` to a fake Telegram that enforces the flood limits.

    python tests/bench/bench_watch.py [--orders 10000] [--keys 50] [--changes 2000]
                                      [--users 300] [--per-user 2]
                                      [--db postgresql://postgres@127.0.0.1:5432/test]
                                      [--profile /tmp/watch.prof] [--profile-top 25]

What happens:
  1. Setup (untimed): `python -m bot sandbox --speed 0` in a child process with --keys
     keys (so this process is the bot alone and its CPU time is the bot's). --orders
     orders are placed over HTTP `add` with uneven sizes per key (1, 2, 99, 100, 101,
     199 ... 1000 and a skewed rest), then stored: one user and linked account per key
     and one row per order, written with the panel's own current values (status,
     remains, start count, charge) so that a cycle finds nothing to change.
  2. Watching: the `Watcher` (production settings: one shared `Panels` HTTP pool,
     concurrency 8) runs 3 cycles with no change, 1 cycle with --changes changes, and 1
     more with no change. A checked order is next due 0.9 poll intervals later, so the
     watcher's clock is moved on by one poll interval (60 s) before each cycle.
     Status calls are counted on the client side: an httpx request hook on
     `panels.http` (ids per request, per key) cross-checked with `PanelClient.calls`.
     They must be sum(ceil(n/100)) over the keys, each request <= 100 ids.
     How changes are made: with `--speed 0` the sandbox's clock stands still, so every
     order reads Pending forever (a moving clock would change `remains` of every running
     order on every cycle, and `set_status` exists only in-process). Instead the store's
     copy of --changes random orders is rolled to "In progress" in one UPDATE before the
     last cycle: the panel's unchanged "Pending" then differs from what the bot knows,
     which for the watcher is exactly a status change (diff, UPDATE of the order and
     INSERT of its notice in one transaction per order).
     CPU per order = `time.process_time()` of this process over the cycle / orders
     checked (on SQLite this includes aiosqlite's thread; PostgreSQL's server and the
     sandbox are other processes, their CPU is shown apart).
  3. Notifications: the watcher's notices are set aside (marked sent), then --users
     users get --per-user "order_status" notices each (payloads made by the watcher's
     `order_payload`), queued one user after the other as a cycle queues them. The
     `Sender` (30/s overall, 1/s per chat, real clock) sends them through a bot built
     by `build_application(..., rate_limiter=True)` (PTB's AIORateLimiter) onto
     `FakeTelegram(enforce_flood_limits=True)`. Passes run as the JobQueue would run
     `send_notifications` (every 1 s, never overlapping) until the outbox is empty.
     Checks: no 429 from the fake, every notice delivered exactly once (messages per
     chat and order ids), nothing left unsent.

Targets (issue): a cycle under 2 s, under 100 µs of CPU per order, notifications at
Telegram's ceiling (about 30/s) with no 429 from the faked transport.
"""

from __future__ import annotations

import argparse
import asyncio
import cProfile
import math
import os
import pstats
import random
import re
import subprocess
import sys
import tempfile
import time
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from decimal import Decimal
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs

import httpx

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from benchlib import cpu_seconds_of, database, drop_schema, max_rss_mb  # noqa: E402
from sqlalchemy import event, func, update  # noqa: E402
from sqlmodel import col, select  # noqa: E402

from bot.app import build_application  # noqa: E402
from bot.config import load_settings  # noqa: E402
from bot.domain.panels import Panels  # noqa: E402
from bot.domain.watcher import KIND_ORDER, CycleReport, Watcher, order_payload  # noqa: E402
from bot.playground.fakegram import FakeRequest, FakeTelegram  # noqa: E402
from bot.outbox.sender import Sender  # noqa: E402
from bot.panel.client import BATCH_LIMIT, PanelClient  # noqa: E402
from bot.panel.models import Service  # noqa: E402
from bot.panel.status import OrderStatus  # noqa: E402
from bot.store import KeyBox, Notice, Notification, Order, Store  # noqa: E402

TARGET_CYCLE_SECONDS = 2.0
TARGET_CPU_US_PER_ORDER = 100.0
TARGET_NOTIFY_PER_SECOND = 30.0  # Telegram's ceiling; "at the ceiling" = within 10% of it
NOTIFY_TOLERANCE = 0.9

TOKEN = "123456:fake-token-for-benchmarks-only"
SECRET = "bench secret key for the store"
BALANCE = "100000000"
OWNER_BASE = 700_000  # users owning the keys
NOTIFY_BASE = 800_000  # users receiving the notification phase's messages
# Sizes that sit on and around the batch edges; the rest of the orders go to the other
# keys with a skewed (log-normal) spread, so some keys are small and some large.
EDGE_SIZES = (1, 1, 1, 2, 99, 100, 101, 199, 200, 201, 350, 399, 400, 401, 1000)


def expected_calls(n: int) -> int:
    return math.ceil(n / BATCH_LIMIT)


def key_sizes(orders: int, keys: int, seed: int = 7) -> list[int]:
    """Orders per key: the edge sizes first (as far as they fit), a skewed rest."""
    if keys <= 0 or orders < keys:
        raise SystemExit("need at least one order per key")
    edges = list(EDGE_SIZES[: max(0, keys - 1)])
    while edges and sum(edges) > orders - (keys - len(edges)):
        edges.pop()
    rest_keys = keys - len(edges)
    rest = orders - sum(edges)
    rng = random.Random(seed)
    weights = [rng.lognormvariate(0.0, 1.0) for _ in range(rest_keys)]
    total = sum(weights)
    sizes = [max(1, int(rest * w / total)) for w in weights]
    # Put the rounding difference on the largest keys (or take it from them).
    order = sorted(range(rest_keys), key=lambda i: -sizes[i])
    diff, i = rest - sum(sizes), 0
    while diff:
        j = order[i % rest_keys]
        step = 1 if diff > 0 else -1
        if sizes[j] + step >= 1:
            sizes[j] += step
            diff -= step
        i += 1
    result = edges + sizes
    rng.shuffle(result)
    assert sum(result) == orders and len(result) == keys and min(result) >= 1
    return result


# --- the sandbox panel in its own process ----------------------------------------------------


class Sandbox:
    def __init__(self, keys: list[str]) -> None:
        command = [sys.executable, "-m", "bot", "sandbox", "--port", "0", "--balance", BALANCE, "--speed", "0"]
        for key in keys:
            command += ["--key", key]
        self.process = subprocess.Popen(
            command, cwd=ROOT, stdout=subprocess.PIPE, text=True, env={**os.environ, "PYTHONPATH": str(ROOT)},
        )
        assert self.process.stdout is not None
        self.url = ""
        for line in self.process.stdout:
            if match := re.search(r"(http://\S+/api/v2)", line):
                self.url = match.group(1)
            if "Press Ctrl+C" in line:
                break
        if not self.url:
            self.process.kill()
            raise SystemExit("the sandbox panel did not start")

    def cpu(self) -> float:
        return cpu_seconds_of(self.process.pid)

    def stop(self) -> None:
        self.process.terminate()
        try:
            self.process.wait(10)
        except subprocess.TimeoutExpired:
            self.process.kill()


# --- counting panel requests --------------------------------------------------------------------


@dataclass
class RequestLog:
    """Every request on the watcher's HTTP pool: (key, action, number of ids)."""

    entries: list[tuple[str, str, int]] = field(default_factory=list)

    async def hook(self, request: httpx.Request) -> None:
        form = parse_qs(request.content.decode())
        key = form.get("key", [""])[0]
        action = form.get("action", [""])[0]
        ids = form.get("orders", form.get("order", [""]))[0]
        self.entries.append((key, action, len([i for i in ids.split(",") if i]) if ids else 0))

    def since(self, start: int, action: str = "status") -> list[tuple[str, str, int]]:
        return [e for e in self.entries[start:] if e[1] == action]


# --- timing the watcher's parts (wrapping the instances, not the code) --------------------------


@dataclass
class Parts:
    load: float = 0.0  # leasing the due orders and refills, reading their accounts
    finish: float = 0.0  # releasing the leases / scheduling the next check, per key
    writes: float = 0.0  # update_order calls, summed (they run concurrently per key)
    write_calls: int = 0

    def wrap(self, store: Store) -> None:
        for name in ("lease_due_checks", "lease_open_refills", "orders_by_ids", "get_accounts"):
            self._time(store, name, "load")
        for name in ("apply_checks", "release_refills"):
            self._time(store, name, "finish")
        self._time(store, "update_order", "writes", count=True)

    def _time(self, store: Store, name: str, slot: str, count: bool = False) -> None:
        original = getattr(store, name)

        async def timed(*args: Any, **kwargs: Any) -> Any:
            started = time.perf_counter()
            try:
                return await original(*args, **kwargs)
            finally:
                setattr(self, slot, getattr(self, slot) + time.perf_counter() - started)
                if count:
                    self.write_calls += 1

        setattr(store, name, timed)

    def reset(self) -> None:
        self.load = self.finish = self.writes = 0.0
        self.write_calls = 0


@dataclass
class SqlCount:
    """Database work seen by engine events: transactions, SQL statements, the time spent
    executing them (wall, waits included), and on SQLite the time BEGIN IMMEDIATE waited
    for the write lock (another connection of this process holding it)."""

    tx: int = 0
    statements: int = 0
    exec_seconds: float = 0.0
    begin_seconds: float = 0.0
    _started: dict[int, float] = field(default_factory=dict)

    def attach(self, store: Store) -> None:
        engine = store.engine.sync_engine

        @event.listens_for(engine, "begin")
        def _begin(connection: Any) -> None:
            self.tx += 1

        @event.listens_for(engine, "before_cursor_execute")
        def _before(connection: Any, cursor: Any, statement: str, *args: Any) -> None:
            if not statement.startswith(("BEGIN", "PRAGMA")):
                self.statements += 1
            self._started[id(cursor)] = time.perf_counter()

        @event.listens_for(engine, "after_cursor_execute")
        def _after(connection: Any, cursor: Any, statement: str, *args: Any) -> None:
            started = self._started.pop(id(cursor), None)
            if started is None:
                return
            elapsed = time.perf_counter() - started
            if statement.startswith("BEGIN"):
                self.begin_seconds += elapsed
            elif not statement.startswith("PRAGMA"):
                self.exec_seconds += elapsed

    def snapshot(self) -> tuple[int, int, float, float]:
        return self.tx, self.statements, self.exec_seconds, self.begin_seconds


# --- phase 1: setup ------------------------------------------------------------------------------


async def place_orders(url: str, keys: list[str], sizes: list[int]) -> tuple[dict[str, list[int]], Service, float]:
    """Place the orders over HTTP `add` (its own connection pool, not the watcher's)."""
    async with httpx.AsyncClient(limits=httpx.Limits(max_connections=32)) as http:
        first = PanelClient(url, keys[0], http=http)
        services = await first.services()
        service = next(s for s in services if s.type == "Default" and not s.dripfeed and s.min <= 1000)
        semaphore = asyncio.Semaphore(32)
        clients = {key: PanelClient(url, key, http=http) for key in keys}

        async def place(key: str, i: int) -> int:
            async with semaphore:
                link = f"https://example.com/p/{key[-20:]}/{i}"
                return await clients[key].add({"service": str(service.id), "link": link, "quantity": str(service.min)})

        started = time.perf_counter()
        ids: dict[str, list[int]] = {}
        results = await asyncio.gather(*(
            asyncio.gather(*(place(key, i) for i in range(n))) for key, n in zip(keys, sizes, strict=True)
        ))
        for key, placed in zip(keys, results, strict=True):
            ids[key] = list(placed)
        return ids, service, time.perf_counter() - started


async def current_statuses(url: str, ids: dict[str, list[int]]) -> dict[int, OrderStatus]:
    async with httpx.AsyncClient() as http:
        found: dict[int, OrderStatus] = {}
        for key, order_ids in ids.items():
            found.update(await PanelClient(url, key, http=http).statuses(order_ids))
        return found


async def store_orders(
    store: Store, panel_url: str, ids: dict[str, list[int]], service: Service, statuses: dict[int, OrderStatus]
) -> dict[str, int]:
    """One user and account per key, and every order as the panel has it now."""
    account_of: dict[str, int] = {}
    for n, key in enumerate(ids):
        user_id = OWNER_BASE + n
        await store.ensure_user(user_id, "en")
        account = await store.link_account(user_id, panel_url, key, "USD")
        assert account.id is not None
        account_of[key] = account.id
    rows: list[Order] = []
    for n, (key, order_ids) in enumerate(ids.items()):
        for panel_id in order_ids:
            status = statuses[panel_id]
            assert status.status and status.error is None, status
            rows.append(Order(
                panel_order_id=panel_id, account_id=account_of[key], user_id=OWNER_BASE + n,
                service_id=service.id, service_name=service.name, service_type=service.type,
                link=f"https://example.com/p/{panel_id}", quantity=service.min, fields={},
                charge=status.charge, currency=status.currency, status=status.status,
                start_count=status.start_count, remains=status.remains, final=status.is_final,
                refill=service.refill, cancel=service.cancel,
            ))
    # Bulk insert (setup only): the same rows `add_order` writes, in a few transactions.
    for start in range(0, len(rows), 2000):
        async with store.session() as s:
            s.add_all(rows[start : start + 2000])
    return account_of


# --- phase 2: cycles -----------------------------------------------------------------------------


class PollClock:
    """The watcher's clock: real time at the start, moved on by one poll interval before
    each cycle, so every order is due again (a checked order is next due 0.9 poll later)."""

    def __init__(self) -> None:
        self.now = datetime.now(timezone.utc)

    def __call__(self) -> datetime:
        return self.now

    def next_poll(self, seconds: float) -> None:
        self.now = max(self.now + timedelta(seconds=seconds), datetime.now(timezone.utc))


@dataclass
class Cycle:
    label: str
    report: CycleReport
    wall: float
    cpu: float
    sandbox_cpu: float
    status_calls: int
    client_calls: int
    calls_ok: bool
    batch_max: int
    load: float
    finish: float
    writes: float
    write_calls: int
    loop_cpu: float  # CPU of the main thread (the event loop); the rest is other threads
    tx: int
    statements: int
    exec_seconds: float
    begin_seconds: float
    problems: list[str]

    @property
    def cpu_us_per_order(self) -> float:
        return self.cpu / max(self.report.orders, 1) * 1e6


async def run_cycle(
    label: str, watcher: Watcher, clock: PollClock, panels: Panels, keys: list[str], sizes: dict[str, int],
    log: RequestLog, parts: Parts, sql: SqlCount, sandbox: Sandbox, profiler: cProfile.Profile | None,
    want_changes: int,
) -> Cycle:
    clock.next_poll(watcher.poll_seconds)
    start = len(log.entries)
    calls_before = sum(panels.client(k).calls for k in keys)
    parts.reset()
    sql_before = sql.snapshot()
    loop_cpu = time.thread_time()
    cpu, sandbox_cpu = time.process_time(), sandbox.cpu()
    started = time.perf_counter()
    if profiler:
        profiler.enable()
    report = await watcher.run_cycle()
    if profiler:
        profiler.disable()
    wall = time.perf_counter() - started
    cpu, sandbox_cpu = time.process_time() - cpu, sandbox.cpu() - sandbox_cpu
    loop_cpu = time.thread_time() - loop_cpu
    tx, statements, exec_seconds, begin_seconds = (b - a for a, b in zip(sql_before, sql.snapshot(), strict=True))
    client_calls = sum(panels.client(k).calls for k in keys) - calls_before
    requests = log.since(start)
    per_key: dict[str, list[int]] = defaultdict(list)
    for key, _, n in requests:
        per_key[key].append(n)
    problems: list[str] = []
    for key in keys:
        got, want = per_key.get(key, []), sizes[key]
        if len(got) != expected_calls(want) or sum(got) != want:
            problems.append(f"key …{key[-6:]}: {len(got)} status calls for {sum(got)} ids, "
                            f"expected {expected_calls(want)} for {want}")
    total = sum(sizes.values())
    if report.orders != total:
        problems.append(f"{report.orders} orders checked, expected {total}")
    if report.failed_accounts or report.paused_accounts:
        problems.append(f"failed accounts {report.failed_accounts}, paused {report.paused_accounts}")
    if report.changes != want_changes or report.notices != want_changes:
        problems.append(f"{report.changes} changes / {report.notices} notices, expected {want_changes}")
    if client_calls != len(requests):
        problems.append(f"PanelClient.calls says {client_calls}, the HTTP hook saw {len(requests)}")
    expected = sum(expected_calls(n) for n in sizes.values())
    return Cycle(label, report, wall, cpu, sandbox_cpu, len(requests), client_calls,
                 len(requests) == expected and not problems, max((n for _, _, n in requests), default=0),
                 parts.load, parts.finish, parts.writes, parts.write_calls, loop_cpu, int(tx), int(statements),
                 exec_seconds, begin_seconds, problems)


async def roll_back_orders(store: Store, count: int, seed: int = 11) -> list[int]:
    """The store's copy of `count` random orders says "In progress" (the panel: Pending)."""
    async with store.session() as s:
        ids = [i for i in (await s.exec(select(Order.id).order_by(col(Order.id)))).all() if i is not None]
    chosen = sorted(random.Random(seed).sample(ids, min(count, len(ids))))
    async with store.session() as s:
        for start in range(0, len(chosen), 500):
            await s.exec(update(Order).where(col(Order.id).in_(chosen[start : start + 500]))
                         .values(status="In progress"))
    return chosen


# --- phase 3: notifications ----------------------------------------------------------------------


@dataclass
class Delivery:
    queued: int
    sent: int
    wall: float
    cpu: float
    passes: int
    in_passes: float  # seconds inside send_due (the rest is waiting for the next 1 s tick)
    count_429: int
    problems: list[str]

    @property
    def rate(self) -> float:
        return self.sent / self.wall if self.wall else float("nan")


async def set_aside_outbox(store: Store) -> int:
    """Mark everything queued so far as sent (the watcher's notices of phase 2)."""
    async with store.session() as s:
        result = await s.exec(update(Notification).where(col(Notification.sent_at).is_(None))
                              .values(sent_at=datetime.now(timezone.utc)))
        return int(result.rowcount)


async def unsent(store: Store) -> int:
    async with store.session() as s:
        return int((await s.exec(select(func.count()).select_from(Notification)
                                 .where(col(Notification.sent_at).is_(None)))).one())


async def deliver(
    store: Store, fake: FakeTelegram, app: Any, users: int, per_user: int, profiler: cProfile.Profile | None,
) -> Delivery:
    service = Service.from_api({"service": 1, "name": "Bench followers", "type": "Default", "rate": "1.2",
                                "min": 10, "max": 10000, "category": "Bench"})
    assert service is not None
    expected: dict[int, list[int]] = {}
    for u in range(users):
        uid = NOTIFY_BASE + u
        fake.user(uid, first_name=f"U{u}", language_code="en")
        await store.ensure_user(uid, "en")
        expected[uid] = []
        for k in range(per_user):
            panel_id = 9_000_000 + u * per_user + k
            order = Order(id=5_000_000 + u * per_user + k, panel_order_id=panel_id, account_id=1, user_id=uid,
                          service_id=service.id, service_name=service.name, quantity=1000,
                          charge=Decimal("1.2"), currency="USD", status="Pending")
            status = OrderStatus(panel_id, status="In progress", charge=Decimal("1.2"), start_count=120,
                                 remains=400, currency="USD")
            fresh = await store.enqueue_notification(Notice(
                user_id=uid, kind=KIND_ORDER, dedupe_key=f"bench:{panel_id}:Pending>In progress",
                payload=order_payload(order, status, "Pending"),
            ))
            assert fresh
            expected[uid].append(panel_id)
    queued = users * per_user
    sender = Sender(store, default_locale="en", per_second=30, per_chat_seconds=1)
    bot = app.bot
    count_429_before = fake.count_429
    sends_before = len(fake.calls_to("sendMessage"))
    passes = 0
    in_passes = 0.0
    cpu = time.process_time()
    started = time.perf_counter()
    deadline = started + max(60.0, queued / TARGET_NOTIFY_PER_SECOND * 4)
    while True:
        pass_started = time.perf_counter()
        if profiler:
            profiler.enable()
        await sender.send_due(bot)
        if profiler:
            profiler.disable()
        in_passes += time.perf_counter() - pass_started
        passes += 1
        if await unsent(store) == 0 or time.perf_counter() > deadline:
            break
        # The JobQueue runs send_notifications every 1 s and skips ticks while a pass runs.
        elapsed = time.perf_counter() - started
        await asyncio.sleep(math.floor(elapsed) + 1 - elapsed)
    wall = time.perf_counter() - started
    cpu = time.process_time() - cpu
    problems: list[str] = []
    left = await unsent(store)
    if left:
        problems.append(f"{left} notifications still unsent after {wall:.0f} s")
    duplicates, missing = 0, 0
    for uid, panel_ids in expected.items():
        texts = [m.text for m in fake.messages(uid)]
        seen = Counter(pid for text in texts for pid in panel_ids if f"#{pid}" in text)
        missing += sum(1 for pid in panel_ids if seen[pid] == 0)
        duplicates += sum(max(0, seen[pid] - 1) for pid in panel_ids)
        if len(texts) != len(panel_ids):
            problems.append(f"chat {uid}: {len(texts)} messages, expected {len(panel_ids)}")
    if missing or duplicates:
        problems.append(f"{missing} notifications missing, {duplicates} delivered twice")
    sends = fake.calls_to("sendMessage")[sends_before:]
    failed = [c for c in sends if c.status != 200]
    if failed:
        problems.append(f"{len(failed)} sendMessage calls failed, e.g. {failed[0].status} {failed[0].description}")
    count_429 = fake.count_429 - count_429_before
    if count_429:
        problems.append(f"{count_429} HTTP 429 from the fake Telegram")
    delivered = sum(len(fake.messages(uid)) for uid in expected)
    return Delivery(queued, delivered, wall, cpu, passes, in_passes, count_429, problems[:8])


# --- main ----------------------------------------------------------------------------------------


def mark(ok: bool) -> str:
    return "ok" if ok else "MISSED"


async def run(args: argparse.Namespace) -> int:
    work = Path(tempfile.mkdtemp(prefix="bench_watch_"))
    keys = [f"watch-key-{i:02d}-0123456789abcdef" for i in range(args.keys)]
    sizes_list = key_sizes(args.orders, args.keys)
    sizes = dict(zip(keys, sizes_list, strict=True))
    want_calls = sum(expected_calls(n) for n in sizes_list)
    sandbox = Sandbox(keys)
    schema: str | None = None
    db_url, schema, where = await database(args.db, work, "bench_watch")
    ordered = sorted(sizes_list)
    print(f"{args.orders:,} open orders over {args.keys} keys; {where}; sandbox pid {sandbox.process.pid} "
          f"at {sandbox.url} (--speed 0)")
    print(f"orders per key: min {ordered[0]}, median {ordered[len(ordered) // 2]}, max {ordered[-1]}; "
          f"keys with 1: {ordered.count(1)}, <=100: {sum(n <= 100 for n in ordered)}, "
          f">=350: {sum(n >= 350 for n in ordered)}")
    print(f"expected status calls per cycle = sum(ceil(n/100)) = {want_calls}  "
          f"(one call per key would be {args.keys}; one per order {args.orders:,})")
    print(f"targets: cycle < {TARGET_CYCLE_SECONDS:g} s, CPU < {TARGET_CPU_US_PER_ORDER:g} µs/order, "
          f"notifications ~{TARGET_NOTIFY_PER_SECOND:g}/s (>= {TARGET_NOTIFY_PER_SECOND * NOTIFY_TOLERANCE:g}) "
          f"with no 429")

    settings = load_settings(
        require_token=False, telegram_token=TOKEN, telegram_api_url="http://127.0.0.1:9/tg",
        panel_url=sandbox.url, database_url=db_url, secret_key=SECRET,
    )
    store = Store(db_url, keybox=KeyBox(SECRET), schema=schema)
    panels = Panels(sandbox.url)  # production client settings
    fake = FakeTelegram(TOKEN, enforce_flood_limits=True)
    app = build_application(settings, store=store, panels=panels, request=FakeRequest(fake),
                            get_updates_request=FakeRequest(fake), rate_limiter=True, watch=False)
    # Three profiles: the cycles without changes, the cycle with changes, the sending.
    profiles = {name: cProfile.Profile() for name in ("steady", "changes", "send")} if args.profile else {}
    status = 0
    try:
        await app.initialize()
        assert app.post_init is not None
        await app.post_init(app)  # create_all, command menus (through the rate limiter)

        # --- 1. setup ---
        ids, service, placing = await place_orders(sandbox.url, keys, sizes_list)
        print(f"\nsetup: placed {args.orders:,} orders over HTTP in {placing:.1f} s "
              f"({args.orders / placing:,.0f}/s), service {service.id} ({service.type}, quantity {service.min})")
        started = time.perf_counter()
        statuses = await current_statuses(sandbox.url, ids)
        await store_orders(store, sandbox.url, ids, service, statuses)
        print(f"setup: stored {args.keys} users/accounts and {args.orders:,} orders in "
              f"{time.perf_counter() - started:.1f} s")

        # --- 2. cycles ---
        clock = PollClock()
        watcher = Watcher(store, panels, poll_seconds=settings.status_poll_seconds, clock=clock)
        log = RequestLog()
        panels.http.event_hooks["request"].append(log.hook)
        parts = Parts()
        parts.wrap(store)
        sql = SqlCount()
        sql.attach(store)
        cycles: list[Cycle] = []

        async def cycle(label: str, profile: str, changes: int) -> None:
            cycles.append(await run_cycle(label, watcher, clock, panels, keys, sizes, log, parts, sql, sandbox,
                                          profiles.get(profile), changes))

        for n in range(1, 4):
            await cycle(f"cycle {n}, no change", "steady", 0)
        rolled = await roll_back_orders(store, args.changes)
        await cycle(f"cycle 4, {len(rolled):,} changes", "changes", len(rolled))
        if rolled:
            await cycle("cycle 5, no change", "steady", 0)

        print(f"\n{'cycle':<22}{'status calls':>13}{'wall s':>8}{'CPU s':>7}{'µs/order':>9}"
              f"{'loop/other CPU':>15}{'panel CPU':>10}{'changes':>8}")
        for c in cycles:
            calls = f"{c.status_calls}/{want_calls}"
            split = f"{c.loop_cpu:.2f}/{max(0.0, c.cpu - c.loop_cpu):.2f}"
            print(f"{c.label:<22}{calls:>13}{c.wall:>8.3f}{c.cpu:>7.3f}{c.cpu_us_per_order:>9.1f}"
                  f"{split:>15}{c.sandbox_cpu:>10.2f}{c.report.changes:>8,}")
            for problem in c.problems[:5]:
                print(f"    ! {problem}")
        print(f"\n{'database work':<22}{'tx':>7}{'SQL':>7}{'SQL s':>8}{'BEGIN wait':>11}{'lease s':>9}"
              f"{'finish s':>10}{'update_order':>14}{'sum s':>8}")
        for c in cycles:
            print(f"{c.label:<22}{c.tx:>7,}{c.statements:>7,}{c.exec_seconds:>8.2f}{c.begin_seconds:>11.2f}"
                  f"{c.load:>9.3f}{c.finish:>10.2f}{c.write_calls:>14,}{c.writes:>8.2f}")
        print("  loop/other CPU: the event loop's thread / the other threads (aiosqlite's) of this process;\n"
              "  panel CPU: the sandbox process. SQL s: statements' execution, wall summed over connections;\n"
              "  BEGIN wait: SQLite's BEGIN IMMEDIATE waiting for the write lock, summed (not measured on\n"
              "  PostgreSQL). lease s: lease_due_checks + lease_open_refills + get_accounts (wall); finish s:\n"
              "  apply_checks + release_refills, wall summed over the keys (they overlap); update_order: one\n"
              "  transaction per changed order, wall summed. "
              f"Largest status request: {max(c.batch_max for c in cycles)} ids.")

        # --- 3. notifications ---
        aside = await set_aside_outbox(store)
        print(f"\nnotifications: set aside the watcher's {aside:,} queued notices; queueing "
              f"{args.users * args.per_user:,} for {args.users} users ({args.per_user} each)")
        delivery = await deliver(store, fake, app, args.users, args.per_user, profiles.get("send"))
        print(f"  delivered {delivery.sent:,}/{delivery.queued:,} in {delivery.wall:.1f} s over {delivery.passes} "
              f"passes -> {delivery.rate:.1f}/s; inside send_due {delivery.in_passes:.1f} s -> "
              f"{delivery.sent / max(delivery.in_passes, 1e-9):.1f}/s; CPU {delivery.cpu:.2f} s "
              f"({delivery.cpu / max(delivery.sent, 1) * 1000:.2f} ms/message); 429s: {delivery.count_429}")
        for problem in delivery.problems:
            print(f"    ! {problem}")

        # --- summary ---
        steady = [c for c in cycles if c.report.changes == 0]
        changed = [c for c in cycles if c.report.changes]
        worst_steady = max(steady, key=lambda c: c.wall)
        calls_ok = all(c.calls_ok for c in cycles)
        cpu_steady = max(c.cpu_us_per_order for c in steady)
        rows: list[tuple[str, str, str, bool]] = [
            ("status calls per cycle", f"{cycles[0].status_calls} (every cycle: {mark(calls_ok)})",
             f"= {want_calls}", calls_ok),
            ("cycle wall, no change (worst)", f"{worst_steady.wall:.2f} s", f"< {TARGET_CYCLE_SECONDS:g} s",
             worst_steady.wall < TARGET_CYCLE_SECONDS),
            ("CPU per order, no change (worst)", f"{cpu_steady:.1f} µs", f"< {TARGET_CPU_US_PER_ORDER:g} µs",
             cpu_steady < TARGET_CPU_US_PER_ORDER),
        ]
        for c in changed:
            rows += [
                (f"cycle wall, {c.report.changes:,} changes", f"{c.wall:.2f} s", f"< {TARGET_CYCLE_SECONDS:g} s",
                 c.wall < TARGET_CYCLE_SECONDS),
                (f"CPU per order, {c.report.changes:,} changes", f"{c.cpu_us_per_order:.1f} µs",
                 f"< {TARGET_CPU_US_PER_ORDER:g} µs", c.cpu_us_per_order < TARGET_CPU_US_PER_ORDER),
            ]
        rows += [
            ("notifications per second", f"{delivery.rate:.1f}/s ({delivery.sent}/{delivery.queued} in "
             f"{delivery.wall:.1f} s)", f"~{TARGET_NOTIFY_PER_SECOND:g}/s",
             delivery.rate >= TARGET_NOTIFY_PER_SECOND * NOTIFY_TOLERANCE),
            ("429 from fake Telegram", str(delivery.count_429), "0", delivery.count_429 == 0),
            ("delivered exactly once", "yes" if not delivery.problems else "NO", "yes", not delivery.problems),
        ]
        print(f"\n{'figure':<36}{'measured':<34}{'target':<10}")
        for name, value, target, ok in rows:
            print(f"{name:<36}{value:<34}{target:<10}{mark(ok)}")
        print(f"max RSS of this process {max_rss_mb():.0f} MB")
        if not all(ok for *_, ok in rows) or any(c.problems for c in cycles):
            status = 1
        for name, profile in profiles.items():
            path = f"{args.profile}.{name}"
            profile.dump_stats(path)
            print(f"\n=== profile '{name}' -> {path} (main thread only; timings inflated by cProfile) ===")
            stats = pstats.Stats(profile)
            stats.sort_stats("tottime").print_stats(args.profile_top)
            stats.sort_stats("cumulative").print_stats(args.profile_top)
    finally:
        try:
            if app.post_shutdown is not None:
                await app.post_shutdown(app)  # closes panels and disposes the store
            await app.shutdown()
        finally:
            sandbox.stop()
            if schema is not None:
                await drop_schema(db_url, schema)
    return status


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--orders", type=int, default=10_000, help="open orders (default 10,000)")
    parser.add_argument("--keys", type=int, default=50, help="panel keys, one user each (default 50)")
    parser.add_argument("--changes", type=int, default=2_000, help="orders changed before cycle 4 (default 2,000)")
    parser.add_argument("--users", type=int, default=300, help="users receiving notifications (default 300)")
    parser.add_argument("--per-user", type=int, default=2, help="notifications per user (default 2)")
    parser.add_argument("--db", help="a PostgreSQL URL; a fresh schema is made and dropped (default: SQLite file)")
    parser.add_argument("--profile", metavar="FILE",
                        help="cProfile into FILE.steady / FILE.changes / FILE.send and print the top of each")
    parser.add_argument("--profile-top", type=int, default=25, help="rows of each profile printed (default 25)")
    args = parser.parse_args()
    return asyncio.run(run(args))


if __name__ == "__main__":
    sys.exit(main())
