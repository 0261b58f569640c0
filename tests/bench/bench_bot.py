"""Load benchmark of the whole bot: N users each completing an order at the same time
through the real PTB Application, with Telegram's transport faked in-process and the
sandbox panel in a separate process (so that this process is the bot alone).

    python tests/bench/bench_bot.py [--users 200] [--services 10000] [--rounds 3]
                                    [--rate 300] [--seconds 10]
                                    [--db postgresql://postgres@127.0.0.1:5432/test]
                                    [--think 0] [--keys 1] [--jobs] [--profile FILE]

What happens:
  1. A catalog of --services services (generated like a big panel's by bench_catalog's
     generator, in a child process) is written to a file and served by
     `python -m bot sandbox` in another child process.
  2. The bot is built as `python -m bot` builds it (`make_store`, `make_panels`,
     `build_application`, the event loop of bot/runtime.py) on a fresh database: a
     SQLite file in a temporary folder, or a fresh schema on --db.
  3. Setup (timed on its own, not judged): every user sends /start and pastes the key.
  4. The catalog is made warm with one fetch per panel key, so no round pays for it.
  5. Each round: all users at once (asyncio.gather), each user's updates one after the
     other: `/order <id>` -> "Order" -> link -> quantity -> "Confirm" (Default services
     without drip-feed, so the form asks exactly link and quantity). Every update is
     handed in as PTB's update fetcher does, through the bot's update processor (its
     limit on updates in hand, each user's updates in order); "handling time" runs from
     handing the update in until it is handled, so it includes waiting for a place, the
     event loop, the database and the panel: what a user would feel.
  6. Checks: every step got its expected reply, no handler error, no Bot API error, one
     stored order per user and round with distinct panel ids, and the panel's balance
     went down by exactly the stored charges (so no duplicate `add` reached it).

Two kinds of rounds:
  - capacity (--rounds): a closed loop with no pause, each user sending its next update
    as soon as it has the reply; about --users updates are always in flight, so
    updates/s is the bot's capacity, and handling time is mostly the queue that 200
    users with no pause build (Little's law: about users / (updates/s)). --think S adds
    a random 0..2*S s pause before each update.
  - steady load (--rate, --seconds): every user keeps ordering, pausing a random
    0..2*Z s before each update, Z = users / rate, so about --rate updates a second
    arrive from 200 users at once; after 2 s of warm-up, the updates that start within
    --seconds give the figures: handling time is then the bot's latency at that load.

Targets (issue): >= 300 updates/s, p99 < 50 ms per update, RSS < 150 MB with the
10,000-service catalog loaded. Updates/s is judged on capacity rounds 2..N (round 1
warms pools and caches up), p99 under the steady load of 300 updates/s, RSS over the
whole run. This process also hosts the fake Telegram and the fake users: their logs are
trimmed after each round so that RSS is the bot's, but their CPU counts.
"""

from __future__ import annotations

import argparse
import asyncio
import cProfile
import gc
import importlib
import json
import math
import os
import pstats
import random
import re
import shutil
import subprocess
import sys
import tempfile
import time
from collections import defaultdict
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from benchlib import (  # noqa: E402
    cpu_seconds_of,
    database,
    drop_schema,
    max_rss_mb,
    percentile,
    rss_mb,
)
from sqlalchemy import event  # noqa: E402
from telegram import Update  # noqa: E402
from telegram.ext import Application  # noqa: E402

from bot import runtime  # noqa: E402
from bot.app import build_application, make_panels, make_store  # noqa: E402
from bot.config import load_settings  # noqa: E402
from bot.domain.panels import Panels  # noqa: E402
from bot.playground.fakegram import FakeRequest, FakeTelegram, FakeUser  # noqa: E402
from bot.store import Store  # noqa: E402

TARGET_UPDATES_PER_SECOND = 300.0
TARGET_P99_MS = 50.0
TARGET_RSS_MB = 150.0

TOKEN = "123456:fake-token-for-benchmarks-only"
SECRET = "bench secret key for the store"
BALANCE = Decimal("100000000")
FIRST_USER_ID = 500_000
STEPS = ("/order", "Order", "link", "quantity", "Confirm")


# --- the catalog and the sandbox panel, each in its own process ----------------------------------


def write_catalog(path: Path, count: int) -> list[tuple[int, int]]:
    """Generate the catalog file in a child process (its garbage must not count as the
    bot's memory); returns `order_services` of it."""
    done = subprocess.run(
        [sys.executable, __file__, "--write-catalog", str(path), "--services", str(count)],
        check=True, capture_output=True, text=True,
    )
    return [(int(s), int(q)) for s, q in json.loads(done.stdout)]


def _write_catalog_here(path: Path, count: int) -> None:
    generate = importlib.import_module("bench_catalog").generate  # the catalog benchmark's generator
    text = generate(count, categories=max(10, count // 12))
    path.write_text(text, encoding="utf-8")
    print(json.dumps(order_services(json.loads(text))))


def order_services(items: list[dict[str, Any]], want: int = 20) -> list[tuple[int, int]]:
    """(service id, quantity) of Default services without drip-feed, spread over the
    catalog, so that each order asks exactly link and quantity."""
    fit = [
        (int(item["service"]), int(item["min"]))
        for item in items
        if item["type"] == "Default" and not item["dripfeed"] and int(item["min"]) <= 1000
    ]
    if not fit:
        raise SystemExit("the generated catalog has no Default service without drip-feed")
    step = max(1, len(fit) // want)
    return fit[::step][:want]


class Sandbox:
    def __init__(self, catalog: Path, keys: list[str]) -> None:
        command = [sys.executable, "-m", "bot", "sandbox", "--port", "0", "--balance", str(BALANCE),
                   "--speed", "0", "--catalog", str(catalog)]
        for key in keys:
            command += ["--key", key]
        self.process = subprocess.Popen(
            command, cwd=ROOT, stdout=subprocess.PIPE, text=True, env={**os.environ, "PYTHONPATH": str(ROOT)},
        )
        assert self.process.stdout is not None
        self.url = ""
        self.services = -1
        for line in self.process.stdout:
            if match := re.search(r"(http://\S+/api/v2)", line):
                self.url = match.group(1)
            if match := re.search(r"services: (\d+)", line):
                self.services = int(match.group(1))
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


# --- the bot ------------------------------------------------------------------------------------


@dataclass
class Bench:
    app: Application  # type: ignore[type-arg]
    store: Store
    panels: Panels
    fake: FakeTelegram
    errors: list[str] = field(default_factory=list)
    bad_calls: list[str] = field(default_factory=list)
    # Database work, counted by engine events: transactions, transactions that wrote,
    # statements (BEGIN and PRAGMA left out).
    db: dict[str, int] = field(default_factory=lambda: {"tx": 0, "write tx": 0, "statements": 0})
    write_tx_ms: list[float] = field(default_factory=list)
    lock_waits: list[float] = field(default_factory=list)
    placed: dict[int, int] = field(default_factory=lambda: defaultdict(int))  # orders per user
    api_calls_trimmed: int = 0

    def api_calls(self) -> int:
        """Bot API calls made so far (the fake's log is trimmed now and then)."""
        return self.api_calls_trimmed + len(self.fake.calls)

    def count_sql(self) -> None:
        """Engine events: count transactions and statements, time how long writing
        transactions run (begin to commit: on SQLite the database is locked meanwhile)
        and, on SQLite, how long BEGIN IMMEDIATE waits for that lock."""
        engines = self.store._tx.engines  # noqa: SLF001 - the engines the statements run on
        fresh: dict[int, bool] = {}
        writing: dict[int, bool] = {}
        began: dict[int, float] = {}
        lock_asked: dict[int, float] = {}

        def _begin(connection: Any) -> None:
            self.db["tx"] += 1
            fresh[id(connection)] = True
            began[id(connection)] = time.perf_counter()

        def _execute(connection: Any, cursor: Any, statement: str, *args: Any) -> None:
            head = statement.lstrip()[:16].upper()
            if head.startswith("BEGIN IMMEDIATE"):
                lock_asked[id(connection)] = time.perf_counter()
            if head.startswith(("BEGIN", "PRAGMA")):
                return
            self.db["statements"] += 1
            if not head.startswith("SELECT") and fresh.pop(id(connection), False):
                self.db["write tx"] += 1
                writing[id(connection)] = True

        def _executed(connection: Any, cursor: Any, statement: str, *args: Any) -> None:
            asked = lock_asked.pop(id(connection), None)
            if asked is not None:
                self.lock_waits.append((time.perf_counter() - asked) * 1000.0)

        def _end(connection: Any) -> None:
            fresh.pop(id(connection), None)
            start = began.pop(id(connection), None)
            if writing.pop(id(connection), False) and start is not None:
                self.write_tx_ms.append((time.perf_counter() - start) * 1000.0)

        for engine in engines:
            event.listen(engine, "begin", _begin)
            event.listen(engine, "before_cursor_execute", _execute)
            event.listen(engine, "after_cursor_execute", _executed)
            event.listen(engine, "commit", _end)
            event.listen(engine, "rollback", _end)

    async def handle(self, update: Update) -> float:
        """Hand the update in as PTB's update fetcher does (through the bot's update
        processor: its limit on updates in hand, one user's updates in order) and time it
        until handled."""
        started = time.perf_counter()
        await self.app.update_processor.process_update(update, self.app.process_update(update))
        return (time.perf_counter() - started) * 1000.0

    def trim_fake(self) -> int:
        """Between rounds: keep the fake Telegram's failed calls, then drop its logs and
        all but each chat's last message (a real bot keeps none of this)."""
        dropped = len(self.fake.calls)
        self.api_calls_trimmed += dropped
        self.bad_calls += [f"{c.method}: {c.description}" for c in self.fake.calls
                           if not c.ok and c.method.lower() != "getupdates"]
        self.fake.reset_calls()
        self.fake.changes.clear()
        # Presses the bot has not answered yet stay: it may be about to.
        for query_id in [q for q, data in self.fake.callback_queries.items() if data.get("answered")]:
            del self.fake.callback_queries[query_id]
        for chat in self.fake.chats.values():
            last = list(chat.messages)[-1:]
            dropped += len(chat.messages) - len(last)
            chat.messages = {message_id: chat.messages[message_id] for message_id in last}
        return dropped


async def start_bot(panel_url: str, db_url: str, schema: str | None, *, jobs: bool) -> Bench:
    settings = load_settings(
        require_token=False, telegram_token=TOKEN, telegram_api_url="http://127.0.0.1:9/tg",
        panel_url=panel_url, database_url=db_url, secret_key=SECRET,
    )
    store = make_store(settings, schema=schema)  # as production builds it (caches included)
    panels = make_panels(settings)  # as production: client settings, catalog TTL, settled catalogs
    fake = FakeTelegram(TOKEN)
    app = build_application(
        settings, store=store, panels=panels,
        request=FakeRequest(fake), get_updates_request=FakeRequest(fake), rate_limiter=False, settle=True,
    )
    bench = Bench(app, store, panels, fake)
    bench.count_sql()

    async def record_error(update: object, context: Any) -> None:
        bench.errors.append(f"{type(context.error).__name__}: {context.error}")

    app.add_error_handler(record_error)
    await app.initialize()
    assert app.post_init is not None
    await app.post_init(app)
    if jobs:
        await app.start()  # the JobQueue: watcher and notification sender run meanwhile
    return bench


def allow_rounds(app: Application, rounds: int) -> str:  # type: ignore[type-arg]
    """The bot's per-user flood limits (token buckets) let a person send a burst and then
    about one update a second; a bench user sends 2 + 5 x rounds updates and `rounds`
    orders as fast as it can. Raise the bursts just enough, so that each user's whole
    script passes (the limiter still runs for every update)."""
    deps = app.bot_data.get("deps")
    raised = []
    for name, need in (("updates_limit", 2 + len(STEPS) * rounds), ("orders_limit", rounds)):
        limit = getattr(deps, name, None)
        burst = getattr(limit, "burst", None)
        if isinstance(burst, int) and burst < need:
            limit.burst = need  # type: ignore[union-attr]
            raised.append(f"{name} burst {burst} -> {need}")
    return ", ".join(raised)


async def stop_bot(bench: Bench) -> None:
    if bench.app.running:
        await bench.app.stop()
    assert bench.app.post_shutdown is not None
    await bench.app.post_shutdown(bench.app)
    await bench.app.shutdown()


# --- users --------------------------------------------------------------------------------------


class Failed(Exception):
    pass


def expect(user: FakeUser, needle: str, step: str) -> None:
    text = user.last_text
    if needle not in text:
        raise Failed(f"user {user.id} after {step!r}: expected {needle!r}, got {text[:160]!r}")


async def link_user(bench: Bench, user: FakeUser, key: str, samples: list[float]) -> None:
    samples.append(await bench.handle(user.update_for_text("/start", bot=bench.app.bot)))
    expect(user, "API key", "/start")
    samples.append(await bench.handle(user.update_for_text(key, bot=bench.app.bot)))
    expect(user, "✅ Linked", "key")


async def order_once(
    bench: Bench, user: FakeUser, service_id: int, quantity: int, link: str,
    samples: dict[str, list[float]], pause: Callable[[], float],
    window: Callable[[float], bool] = lambda started: True,
) -> None:
    """One order, step by step; a step's handling time is recorded when `window(start)`
    says its start counts."""
    bot = bench.app.bot
    steps: list[tuple[str, Callable[[], Update], str]] = [
        ("/order", lambda: user.update_for_text(f"/order {service_id}", bot=bot), f"Service: {service_id}"),
        ("Order", lambda: user.update_for_press("Order", bot=bot), "✏️ Link"),
        ("link", lambda: user.update_for_text(link, bot=bot), "✏️ Quantity"),
        ("quantity", lambda: user.update_for_text(str(quantity), bot=bot), "Check your order"),
        ("Confirm", lambda: user.update_for_press("Confirm", bot=bot), "✅ Order"),
    ]
    for name, make, needle in steps:
        wait = pause()
        if wait > 0:
            await asyncio.sleep(wait)
        started = time.perf_counter()
        took = await bench.handle(make())
        if window(started):
            samples[name].append(took)
        expect(user, needle, name)
    bench.placed[user.id] += 1


async def run_all(jobs: list[Awaitable[None]]) -> list[str]:
    results = await asyncio.gather(*jobs, return_exceptions=True)
    failures = []
    for result in results:
        if isinstance(result, BaseException):
            failures.append(str(result) if isinstance(result, Failed) else f"{type(result).__name__}: {result}")
    return failures


# --- rounds and their figures -----------------------------------------------------------------------


@dataclass
class Round:
    label: str
    updates: int
    wall: float
    cpu: float  # the whole process: event loop + database driver threads
    main_cpu: float  # the event loop's thread only
    sys_cpu: float
    sandbox_cpu: float
    samples: list[float]
    by_step: dict[str, list[float]]
    failures: list[str]
    db: dict[str, int]
    panel_calls: int
    api_calls: int
    write_tx_ms: list[float] = field(default_factory=list)
    lock_waits: list[float] = field(default_factory=list)

    @property
    def rate(self) -> float:
        return self.updates / self.wall if self.wall else float("nan")

    @property
    def p99(self) -> float:
        return percentile(sorted(self.samples), 99)

    def print(self) -> None:
        ordered = sorted(self.samples)
        per = max(self.updates, 1)
        print(f"{self.label}: {self.updates:,} updates in {self.wall:.2f} s -> {self.rate:,.0f} updates/s")
        print(f"  handling ms: p50 {percentile(ordered, 50):.1f}  p90 {percentile(ordered, 90):.1f}"
              f"  p99 {percentile(ordered, 99):.1f}  max {ordered[-1] if ordered else float('nan'):.1f}"
              f"  mean {sum(ordered) / per:.1f}   (mean in flight {sum(ordered) / 1000 / self.wall:.0f})")
        if len(self.by_step) > 1:
            parts = []
            for name, values in self.by_step.items():
                values = sorted(values)
                parts.append(f"{name} {percentile(values, 50):.0f}/{percentile(values, 99):.0f}")
            print("  per step p50/p99 ms: " + ", ".join(parts))
        print(f"  bot CPU {self.cpu / per * 1000:.2f} ms/update (event loop thread {self.main_cpu / per * 1000:.2f},"
              f" system {self.sys_cpu / per * 1000:.2f}), {self.cpu / self.wall * 100:.0f}% of a core;"
              f" sandbox CPU {self.sandbox_cpu / per * 1000:.2f} ms/update")
        print(f"  per update: {self.db['tx'] / per:.1f} DB transactions ({self.db['write tx'] / per:.1f} writing),"
              f" {self.db['statements'] / per:.1f} SQL statements, {self.panel_calls / per:.2f} panel requests,"
              f" {self.api_calls / per:.1f} Bot API calls;"
              f" RSS now {rss_mb():.0f} MB, max {max_rss_mb():.0f} MB")
        if self.write_tx_ms:
            held = sorted(self.write_tx_ms)
            line = (f"  writing transactions, begin to commit: p50 {percentile(held, 50):.1f} ms, p99 "
                    f"{percentile(held, 99):.1f} ms")
            if self.lock_waits:  # SQLite: one writer at a time, so their sum is the lock's busy time
                waits = sorted(self.lock_waits)
                line += (f", holding the write lock {sum(held) / 1000 / self.wall * 100:.0f}% of the wall time;"
                         f" lock waits (BEGIN IMMEDIATE): p50 {percentile(waits, 50):.1f} ms, p99 "
                         f"{percentile(waits, 99):.1f} ms, max {waits[-1]:.0f} ms")
            print(line)
        if self.failures:
            print(f"  FAILED for {len(self.failures)} users, e.g.: {self.failures[0]}")


async def timed_round(
    label: str, bench: Bench, sandbox: Sandbox, jobs: Callable[[dict[str, list[float]]], list[Awaitable[None]]],
) -> Round:
    by_step: dict[str, list[float]] = defaultdict(list)
    work = jobs(by_step)
    db_before, calls_before = dict(bench.db), panel_calls(bench)
    held_before, waits_before = len(bench.write_tx_ms), len(bench.lock_waits)
    api_before = bench.api_calls()
    times, main_cpu, sandbox_cpu = os.times(), time.thread_time(), sandbox.cpu()
    started = time.perf_counter()
    failures = await run_all(work)
    wall = time.perf_counter() - started
    after = os.times()
    cpu = (after.user - times.user) + (after.system - times.system)
    main_cpu, sandbox_cpu = time.thread_time() - main_cpu, sandbox.cpu() - sandbox_cpu
    samples = [s for values in by_step.values() for s in values]
    db = {name: bench.db[name] - db_before[name] for name in db_before}
    return Round(label, len(samples), wall, cpu, main_cpu, after.system - times.system, sandbox_cpu, samples,
                 dict(by_step), failures, db, panel_calls(bench) - calls_before, bench.api_calls() - api_before,
                 bench.write_tx_ms[held_before:], bench.lock_waits[waits_before:])


def combined(label: str, rounds: list[Round]) -> Round:
    """Several rounds as one: their updates and times added up."""
    by_step: dict[str, list[float]] = defaultdict(list)
    for one in rounds:
        for name, values in one.by_step.items():
            by_step[name] += values
    return Round(
        label, sum(r.updates for r in rounds), sum(r.wall for r in rounds), sum(r.cpu for r in rounds),
        sum(r.main_cpu for r in rounds), sum(r.sys_cpu for r in rounds), sum(r.sandbox_cpu for r in rounds),
        [s for r in rounds for s in r.samples], dict(by_step), [f for r in rounds for f in r.failures],
        {name: sum(r.db[name] for r in rounds) for name in rounds[0].db}, sum(r.panel_calls for r in rounds),
        sum(r.api_calls for r in rounds),
        [ms for r in rounds for ms in r.write_tx_ms], [ms for r in rounds for ms in r.lock_waits],
    )


def panel_calls(bench: Bench) -> int:
    return sum(client.calls for client in bench.panels._clients.values())


async def steady_load(
    bench: Bench, sandbox: Sandbox, users: list[FakeUser], choices: list[tuple[int, int]], *,
    rate: float, seconds: float, warm_up: float = 2.0,
) -> Round:
    """Every user keeps placing orders, pausing a random 0..2*Z s before each update
    (Z = users / rate), for warm_up + seconds; the figures are those of the updates that
    start within the `seconds` after the warm-up (the offered load is steady by then),
    and the CPU is what the process used meanwhile."""
    think = len(users) / rate
    rng = random.Random(4242)
    by_step: dict[str, list[float]] = defaultdict(list)
    loop = asyncio.get_running_loop()
    start = time.perf_counter()
    opens, closes = start + warm_up, start + warm_up + seconds
    marks: dict[str, Any] = {}

    def mark(name: str) -> None:
        marks[name] = (os.times(), time.thread_time(), sandbox.cpu(), dict(bench.db), panel_calls(bench),
                       bench.api_calls(), len(bench.write_tx_ms), len(bench.lock_waits))

    loop.call_later(warm_up, mark, "open")
    loop.call_later(warm_up + seconds, mark, "close")

    def in_window(started: float) -> bool:
        return opens <= started < closes

    def pause() -> float:
        return rng.uniform(0, 2 * think)

    async def keep_ordering(user: FakeUser) -> None:
        number = 0
        while time.perf_counter() < closes:
            number += 1
            service_id, quantity = rng.choice(choices)
            link = f"https://instagram.com/p/steady{number}u{user.id}"
            await order_once(bench, user, service_id, quantity, link, by_step, pause, in_window)

    async def trim_now_and_then() -> None:
        # The fake Telegram keeps every message and call; a real one is not in this
        # process. Trimmed each second (each chat keeps its last message, which is all a
        # user's next step looks at), so that RSS stays the bot's.
        while time.perf_counter() < closes + 60:
            await asyncio.sleep(1.0)
            bench.trim_fake()

    trimmer = asyncio.create_task(trim_now_and_then())
    try:
        failures = await run_all([keep_ordering(user) for user in users])
    finally:
        trimmer.cancel()
    bench.trim_fake()
    (t0, cpu0, sb0, db0, calls0, api0, held0, waits0) = marks["open"]
    (t1, cpu1, sb1, db1, calls1, api1, held1, waits1) = marks["close"]
    samples = [sample for values in by_step.values() for sample in values]
    return Round(
        f"steady load ({rate:g} updates/s offered by {len(users)} users, {think * 1000:.0f} ms mean pause; "
        f"{seconds:g} s after {warm_up:g} s of warm-up)",
        len(samples), seconds, (t1.user - t0.user) + (t1.system - t0.system), cpu1 - cpu0, t1.system - t0.system,
        sb1 - sb0, samples, dict(by_step), failures, {name: db1[name] - db0[name] for name in db0}, calls1 - calls0,
        api1 - api0, bench.write_tx_ms[held0:held1], bench.lock_waits[waits0:waits1],
    )


# --- checks -------------------------------------------------------------------------------------


async def verify(bench: Bench, users: list[FakeUser], key_of: dict[int, str]) -> list[str]:
    problems: list[str] = []
    if bench.errors:
        problems.append(f"{len(bench.errors)} handler errors, e.g. {bench.errors[0]}")
    bench.trim_fake()
    if bench.bad_calls:
        problems.append(f"{len(bench.bad_calls)} Bot API calls failed, e.g. {bench.bad_calls[0]}")
    panel_ids: set[int] = set()
    charged: dict[str, Decimal] = defaultdict(Decimal)
    stored = 0
    for user in users:
        orders = await bench.store.orders_for(user.id, limit=bench.placed[user.id] + 5)
        stored += len(orders)
        if len(orders) != bench.placed[user.id]:
            problems.append(f"user {user.id} has {len(orders)} stored orders, expected {bench.placed[user.id]}")
        for order in orders:
            panel_ids.add(order.panel_order_id)
            charged[key_of[user.id]] += Decimal(order.charge or 0)
    expected = sum(bench.placed.values())
    if stored != expected or len(panel_ids) != expected:
        problems.append(f"{stored} stored orders with {len(panel_ids)} distinct panel ids, expected {expected}")
    # The panel's own books: its balance fell by exactly what the stored orders cost, so
    # no `add` reached it that the bot does not know of (the panel charges 5 decimals).
    for key, total in charged.items():
        balance = await bench.panels.client(key).balance()
        spent = BALANCE - balance.amount
        if abs(spent - total) > Decimal("0.00001") * expected:
            problems.append(f"key …{key[-4:]}: the panel charged {spent}, the stored orders cost {total}")
    return problems[:10]


# --- main ---------------------------------------------------------------------------------------


async def run(args: argparse.Namespace) -> int:
    rss_start = rss_mb()
    work = Path(tempfile.mkdtemp(prefix="bench_bot_"))
    sandbox: Sandbox | None = None
    schema: str | None = None
    try:
        catalog_file = work / "services.json"
        choices = write_catalog(catalog_file, args.services)
        keys = [f"bench-key-{i:04d}-0123456789abcdef" for i in range(args.keys)]
        sandbox = Sandbox(catalog_file, keys)
        db_url, schema, where = await database(args.db, work, "bench_bot")
        print(f"users {args.users}, catalog {sandbox.services:,} services, panel keys {args.keys}, "
              f"rounds {args.rounds}, think {args.think:g} s{', jobs running' if args.jobs else ''}; {where}; "
              f"{os.cpu_count()} CPUs, load average {os.getloadavg()[0]:.1f}; event loop {runtime.event_loop_name()}")
        print(f"ordering Default services without drip-feed: {', '.join(str(s) for s, _ in choices[:8])}"
              f"{' …' if len(choices) > 8 else ''}")
        print(f"targets: >= {TARGET_UPDATES_PER_SECOND:.0f} updates/s, p99 < {TARGET_P99_MS:.0f} ms, "
              f"RSS < {TARGET_RSS_MB:.0f} MB (judged on rounds 2..N, RSS on the whole run)")
        return await measure(args, sandbox, db_url, schema, keys, choices, rss_start)
    finally:
        if sandbox is not None:
            sandbox.stop()
        if schema is not None:
            await drop_schema(args.db, schema)
        shutil.rmtree(work, ignore_errors=True)


async def measure(
    args: argparse.Namespace, sandbox: Sandbox, db_url: str, schema: str | None, keys: list[str],
    choices: list[tuple[int, int]], rss_start: float,
) -> int:
    bench: Bench | None = None
    status = 0
    try:
        bench = await start_bot(sandbox.url, db_url, schema, jobs=args.jobs)
        rss_app = rss_mb()
        # Orders per user: the capacity rounds, and what the steady load may take (with room).
        steady = math.ceil((args.paced_seconds + 2.0) * args.rate / args.users / len(STEPS)) + 2 if args.rate else 0
        raised = allow_rounds(bench.app, args.rounds + steady)
        if raised:
            print(f"per-user flood limits raised for the bench's scripted users: {raised}")
        users = [bench.fake.user(FIRST_USER_ID + i, first_name=f"User{i}", language_code="en")
                 for i in range(args.users)]
        key_of = {user.id: keys[i % len(keys)] for i, user in enumerate(users)}

        setup = await timed_round(
            "setup (/start + key)", bench, sandbox,
            lambda by_step: [link_user(bench, u, key_of[u.id], by_step["link key"]) for u in users],
        )
        setup.print()
        if setup.failures:
            return 2

        # Warm the catalog: one `services` fetch per panel key, before any timed round.
        started = time.perf_counter()
        for key in keys:
            catalog = await bench.panels.catalog(key)
        warm = time.perf_counter() - started
        bench.trim_fake()
        gc.collect()
        rss_catalog = rss_mb()
        print(f"catalog warm: {len(catalog):,} services, {len(catalog.categories):,} categories, "
              f"{len(catalog.platforms)} platforms; {args.keys} fetch(es) in {warm:.2f} s; RSS {rss_catalog:.0f} MB")

        profiler = cProfile.Profile() if args.profile else None

        async def play(label: str, number: int, think: float) -> Round:
            """Every user places one order; `think`: mean pause before each update."""
            rng = random.Random(number)

            def pause() -> float:
                return rng.uniform(0, 2 * think) if think > 0 else 0.0

            def jobs(by_step: dict[str, list[float]]) -> list[Awaitable[None]]:
                for name in STEPS:
                    by_step[name] = []
                result: list[Awaitable[None]] = []
                for user in users:
                    service_id, quantity = rng.choice(choices)
                    link = f"https://instagram.com/p/bench{number}u{user.id}"
                    result.append(order_once(bench, user, service_id, quantity, link, by_step, pause))
                return result

            if profiler is not None:
                profiler.enable()
            current = await timed_round(label, bench, sandbox, jobs)
            if profiler is not None:
                profiler.disable()
            bench.trim_fake()
            return current

        # Capacity: closed loop, every user sends its next update as soon as it has the reply.
        rounds: list[Round] = []
        for number in range(1, args.rounds + 1):
            label = f"round {number}"
            if number == 1 and args.rounds > 1:
                label += " (first: pools and caches warm up)"
            current = await play(label, number, args.think)
            if number <= 3 or number == args.rounds or current.failures:
                current.print()
            rounds.append(current)
            if current.failures:
                status = 2
                break
        # The first round pays for warming up; capacity is judged on the others.
        warm_rounds = rounds[1:] if len(rounds) > 1 else rounds
        first = len(rounds) - len(warm_rounds) + 1
        judged = combined(f"round {first}" if first == len(rounds) else f"rounds {first}-{len(rounds)} together",
                          warm_rounds)
        if len(warm_rounds) > 1:
            judged.print()

        # Latency at the target load: users keep ordering, pausing between updates (mean
        # users / rate), so about `rate` updates a second arrive; handling time is then
        # what each update takes at that load (waiting for the bot included), not the
        # length of the queue that the closed loop builds.
        paced: Round | None = None
        if args.rate > 0 and status == 0:
            paced = await steady_load(bench, sandbox, users, choices, rate=args.rate, seconds=args.paced_seconds)
            paced.print()
            if paced.failures:
                status = 2

        problems = await verify(bench, users, key_of)
        gc.collect()
        print(f"memory: RSS {rss_start:.0f} MB at start (imports), {rss_app:.0f} MB with the app, "
              f"{rss_catalog:.0f} MB after setup + catalog, {rss_mb():.0f} MB now; max RSS {max_rss_mb():.0f} MB")
        if problems:
            status = 2
            print("CHECKS FAILED:")
            for problem in problems:
                print(f"  {problem}")
        else:
            print(f"checks: {sum(bench.placed.values()):,} orders placed once each "
                  f"(stored, distinct panel ids, panel balance matches), no handler or Bot API errors")

        if profiler is not None:
            profiler.dump_stats(args.profile)
            print(f"\nprofile of the timed rounds -> {args.profile} (the timings above are inflated by cProfile)")
            stats = pstats.Stats(profiler)
            stats.sort_stats("tottime").print_stats(25)
            stats.sort_stats("cumulative").print_stats(40)

        if status == 0:
            latency = paced if paced is not None else judged
            met = {
                "updates/s": judged.rate >= TARGET_UPDATES_PER_SECOND,
                "p99": latency.p99 < TARGET_P99_MS,
                "RSS": max_rss_mb() < TARGET_RSS_MB,
            }
            missed = [name for name, ok in met.items() if not ok]
            print(f"verdict: {judged.rate:,.0f} updates/s ({judged.label.split(' (')[0]}), p99 {latency.p99:.1f} ms "
                  f"({latency.label.split(' (')[0]}, {latency.rate:,.0f} updates/s), max RSS {max_rss_mb():.0f} MB -> "
                  + ("all targets met" if not missed else f"TARGET MISSED: {', '.join(missed)}"))
            status = 0 if not missed else 1
        return status
    finally:
        if bench is not None:
            await stop_bot(bench)


def main() -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n\n")[0])
    parser.add_argument("--users", type=int, default=200, help="concurrent users (default 200)")
    parser.add_argument("--services", type=int, default=10_000, help="catalog size (default 10,000)")
    parser.add_argument("--rounds", type=int, default=3,
                        help="capacity rounds, one order per user each (default 3; the first warms up)")
    parser.add_argument("--db", metavar="URL", help="PostgreSQL URL (a fresh schema is made and dropped); "
                        "default: a SQLite file in a temporary folder")
    parser.add_argument("--think", type=float, default=0.0, metavar="S",
                        help="mean pause in seconds before each update (uniform 0..2S; default 0: capacity)")
    parser.add_argument("--rate", type=float, default=TARGET_UPDATES_PER_SECOND, metavar="R",
                        help="after the capacity rounds, a steady load of about R updates/s offered, where the "
                        "p99 is judged (default %(default)g, the target; 0: none)")
    parser.add_argument("--seconds", dest="paced_seconds", type=float, default=10.0, metavar="S",
                        help="how long the steady load is measured, after 2 s of warm-up (default %(default)g)")
    parser.add_argument("--keys", type=int, default=1,
                        help="distinct panel keys the users link, round-robin (default 1; each key gets its own "
                        "catalog)")
    parser.add_argument("--jobs", action="store_true", help="start the Application so its JobQueue (watcher, "
                        "notification sender) runs during the rounds")
    parser.add_argument("--profile", metavar="FILE", help="cProfile the timed rounds into FILE and print the top")
    parser.add_argument("--write-catalog", metavar="FILE", help=argparse.SUPPRESS)  # the child process's job
    args = parser.parse_args()
    if args.write_catalog:
        _write_catalog_here(Path(args.write_catalog), args.services)
        return 0
    if (args.users < 1 or args.rounds < 1 or args.keys < 1 or args.services < 100 or args.think < 0
            or args.rate < 0 or args.paced_seconds <= 0):
        parser.error("--users, --rounds and --keys must be >= 1, --services >= 100, --think and --rate >= 0, "
                     "--seconds > 0")
    runtime.tune_collector()  # as `python -m bot` runs
    return runtime.run(run(args))  # the event loop the bot runs on


if __name__ == "__main__":
    raise SystemExit(main())
