"""Benchmark of watching and notifying on PostgreSQL with two `python -m bot watcher`
processes: status calls per cycle, orders polled twice, and duplicate notifications.

    python tests/bench/bench_watchers_pg.py [--db postgresql://postgres@127.0.0.1:5432/test]
                                            [--orders 10000] [--keys 50] [--users 500]
                                            [--rounds 2] [--batch 2000] [--poll 5]
                                            [--budget 290] [--windows] [--dump-sends FILE]
                                            [--shared-loop]

What happens (the multi-process test `test_two_watcher_processes_notify_every_change_
exactly_once`, at the size of `bench_watch.py`):
  1. Setup (untimed): a database of its own on the server of --db (created, migrated with
     `bot.store.migrate.upgrade`, dropped at the end); the sandbox panel in this process
     (`SandboxPanel(speed=0)`: its clock stands still, so an order changes only when
     `set_status` says so) with --keys accounts; --orders orders made directly in the
     sandbox's books (`PanelState.add_order`, the code behind HTTP `add`) with
     bench_watch's uneven sizes per key (1, 2, 99, 100, 101 ... 1000 and a skewed rest),
     placed in a shuffled order so that a key's ids are not contiguous. One account per
     key (owned by one of the first --keys users); each order belongs to one of --users
     users (round robin; a shared account, as in team mode). Orders are stored with the
     panel's own values (Pending, remains, start count 0, charge), so a cycle without a
     `set_status` finds nothing to change. The fake Telegram (`FakeTelegram(enforce_
     flood_limits=True)`) is served over HTTP (`FakeBotApiServer`) from a thread with an
     event loop of its own, so that the arrival times its flood limits are checked on
     are not held back by the sandbox answering a cycle's status requests on this
     process's loop (--shared-loop serves it on this loop, as the multi-process test does).
  2. Two watcher processes (`python -m bot watcher`, STATUS_POLL_SECONDS=--poll) on the
     same database. Each runs a cycle every --poll seconds (leasing due orders with
     SKIP LOCKED); the one holding the "sender" advisory lock sends the outbox each second.
     Each process gets PANEL_URL with a query tag (`?bench_watcher=A` / `B`): the sandbox
     logs query fields with each request, so a status call can be told apart by process;
     the panel and the watcher ignore it.
  3. Rounds. Round 0 is a warm-up without changes (until every order was polled, then
     two poll intervals). Each next round forces --batch orders to a new status in the
     sandbox with `set_status` (round 1: Pending -> In progress; later rounds: half
     In progress -> Partial, half Pending -> Completed, final statuses that take the
     orders out of the watch), then waits until their notifications are queued and the
     outbox is empty. The outbox drains at about 25/s, so each 2,000 costs ~85 s; the
     default 2 rounds keep the run near 3.5 minutes, and a round still draining when
     --budget runs out fails the run.

How cycles are counted: the sandbox's status requests (both processes) are cut into
windows of 0.9 x --poll seconds, each starting at the first request after the previous
window. A watched order is next due 0.9 poll intervals after the end of the cycle that
checked it, so no order may appear twice in one window; a watcher cycle lasts well
under a window, so a window holds one system cycle (or the parts of one, when the
processes share the keys).
  - status calls per cycle: must equal sum(ceil(n/100)) over the keys for the ids polled
    in that window ("tight"), and never exceed sum(ceil(open/100)) over the keys' open
    orders ("expected"); a key whose orders went to both processes in one window costs
    an extra call and shows as a split.
  - ids polled twice in a cycle: the same id twice in one window (must be 0); also
    reported: any two polls of an id less than 0.9 x --poll apart, anywhere.
  - notifications: queued (new outbox rows), delivered (sendMessage 200 in the fake),
    duplicates (messages per order + status beyond 1, must be 0), missing, to the wrong
    chat, the fake's 429s (must be 0), time from `set_status` until all were queued
    ("detect") and delivered ("drain"), messages per second from first to last send.

Every 429 is also described (which limit, and whether a status request came in the second
before); --dump-sends writes the fake's sendMessage calls and the status requests out
for a closer look.

Exit status 0 when there are no duplicate notifications, every window's status calls are
within both sums, no id was polled twice in a window, nothing is missing and there was no
429; 1 otherwise.
"""

from __future__ import annotations

import argparse
import asyncio
import math
import os
import random
import re
import shutil
import signal
import sys
import tempfile
import threading
import time
import uuid
from collections import Counter, defaultdict
from collections.abc import AsyncIterator
from concurrent.futures import Future
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from datetime import datetime, timezone
from decimal import Decimal
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

from sqlalchemy import text  # noqa: E402

from bot.playground.fakegram import FakeTelegram  # noqa: E402
from bot.playground.fakegram.http import FakeBotApiServer  # noqa: E402
from bot.panel.client import BATCH_LIMIT  # noqa: E402
from bot.playground.sandbox import SandboxPanel  # noqa: E402
from bot.store import KeyBox, Order, Store, migrate  # noqa: E402
from bot.store.db import make_engine  # noqa: E402
from tests.bench.bench_watch import key_sizes  # noqa: E402

DEFAULT_DB = os.environ.get("TEST_DATABASE_URL", "postgresql://postgres@127.0.0.1:5432/test")
TOKEN = "123456:fake-token-for-benchmarks-only"
SECRET = "bench watchers secret key"
SERVICE_ID = 1012  # built-in catalog: Default, min 100
QUANTITY = 100
USER_BASE = 7_100_000_000
TAGS = ("A", "B")
TAG_FIELD = "bench_watcher"
# (from status, to status, remains or None for the panel's own). Round 1 moves the whole
# batch along the first; every later round splits its batch over the other two.
FIRST = ("Pending", "In progress", None)
LATER = (("In progress", "Partial", QUANTITY // 2), ("Pending", "Completed", 0))
FINAL = frozenset({"Completed", "Partial", "Canceled", "Refunded"})
CYCLE_LINE = re.compile(r"cycle: (\d+) accounts, (\d+) orders, (\d+) changes, (\d+) failed, ([\d.]+)s")
ORDER_TEXT = re.compile(r"Order #(\d+): <b>([^<]*)</b>")


def ceil_calls(n: int) -> int:
    return math.ceil(n / BATCH_LIMIT)


# --- database ------------------------------------------------------------------------------------


@asynccontextmanager
async def fresh_database(url: str) -> AsyncIterator[str]:
    """A database of its own (separate processes cannot share a schema setting)."""
    name = f"bench_watchers_{uuid.uuid4().hex[:10]}"
    admin = make_engine(url).execution_options(isolation_level="AUTOCOMMIT")
    try:
        async with admin.connect() as conn:
            await conn.exec_driver_sql(f'CREATE DATABASE "{name}"')
        try:
            yield url.rsplit("/", 1)[0] + "/" + name
        finally:
            async with admin.connect() as conn:
                await conn.exec_driver_sql(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    finally:
        await admin.dispose()


async def outbox(store: Store) -> tuple[int, int]:
    """(rows in the outbox, rows not sent yet)."""
    async with store.session() as s:
        row = (await s.exec(text(  # type: ignore[call-overload]
            "SELECT count(*), count(*) FILTER (WHERE sent_at IS NULL) FROM notifications"))).one()
    return int(row[0]), int(row[1])


async def queued_between(store: Store, since: datetime) -> tuple[int, datetime | None]:
    async with store.session() as s:
        row = (await s.exec(text(  # type: ignore[call-overload]
            "SELECT count(*), max(created_at) FROM notifications WHERE created_at >= :since"
        ).bindparams(since=since))).one()
    return int(row[0]), row[1]


# --- setup ---------------------------------------------------------------------------------------


@dataclass
class Book:
    """What the bench knows of every order: its key, its user, its status in the panel."""

    key_of: dict[int, int] = field(default_factory=dict)  # panel id -> key index
    user_of: dict[int, int] = field(default_factory=dict)  # panel id -> telegram id
    status: dict[int, str] = field(default_factory=dict)
    per_key: list[int] = field(default_factory=list)  # orders per key (all open at start)
    final_at: dict[int, float] = field(default_factory=dict)  # panel id -> when set final


def make_orders(sandbox: SandboxPanel, keys: list[str], sizes: list[int], users: int, seed: int) -> Book:
    """Orders made in the sandbox's books, in a shuffled key order, users round robin."""
    plan = [k for k, n in enumerate(sizes) for _ in range(n)]
    random.Random(seed).shuffle(plan)
    book = Book(per_key=list(sizes))
    for i, k in enumerate(plan):
        account = sandbox.state.accounts[keys[k]]
        panel_id = sandbox.state.add_order(
            account, {"service": str(SERVICE_ID), "link": f"https://example.com/w/{k}/{i}", "quantity": str(QUANTITY)})
        book.key_of[panel_id] = k
        book.user_of[panel_id] = USER_BASE + i % users
        book.status[panel_id] = "Pending"
    return book


async def store_world(store: Store, sandbox: SandboxPanel, fake: FakeTelegram, keys: list[str], book: Book,
                      users: int) -> None:
    """Users, one account per key, and every order as the panel shows it now."""
    for u in range(users):
        uid = USER_BASE + u
        fake.user(uid, first_name=f"U{u}", language_code="en")
        await store.ensure_user(uid, "en")
    account_ids: list[int] = []
    for k, key in enumerate(keys):
        account = await store.link_account(USER_BASE + k, sandbox.url, key, "USD")
        assert account.id is not None
        account_ids.append(account.id)
    rows = []
    for panel_id, k in book.key_of.items():
        seen = sandbox.order(panel_id)
        rows.append(Order(
            panel_order_id=panel_id, account_id=account_ids[k], user_id=book.user_of[panel_id],
            service_id=SERVICE_ID, service_name="Followers", service_type="Default", link=seen.link,
            quantity=seen.quantity, charge=seen.charge, currency=seen.currency, status=seen.status,
            start_count=seen.start_count, remains=seen.remains, refill=True, cancel=True,
        ))
    for start in range(0, len(rows), 2000):
        async with store.session() as s:
            s.add_all(rows[start:start + 2000])


# --- the fake Telegram over HTTP ---------------------------------------------------------------


class FakeApiThread:
    """`FakeBotApiServer` on an event loop of its own in a thread, so that the sandbox's
    work on this process's loop (a cycle's status requests) does not hold back the fake's
    replies and bunch up the arrival times its flood limits are checked on."""

    def __init__(self, fake: FakeTelegram) -> None:
        self.api = FakeBotApiServer(fake)
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, name="fake-telegram", daemon=True)

    async def start(self) -> str:
        self.thread.start()
        future: Future[str] = asyncio.run_coroutine_threadsafe(self.api.start(), self.loop)
        return await asyncio.wrap_future(future)

    async def stop(self) -> None:
        await asyncio.wrap_future(asyncio.run_coroutine_threadsafe(self.api.stop(), self.loop))
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(5)
        self.loop.close()


# --- the watcher processes -----------------------------------------------------------------------


@dataclass
class Cycle:
    at: float
    orders: int
    changes: int
    failed: int
    seconds: float


class WatcherProcess:
    def __init__(self, tag: str) -> None:
        self.tag = tag
        self.process: asyncio.subprocess.Process | None = None
        self.cycles: list[Cycle] = []
        self.lines: list[str] = []
        self._reader: asyncio.Task[None] | None = None

    async def start(self, env: dict[str, str], cwd: Path) -> None:
        self.process = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "bot", "watcher", cwd=cwd, env=env,
            stdout=asyncio.subprocess.DEVNULL, stderr=asyncio.subprocess.PIPE,
        )
        self._reader = asyncio.create_task(self._read())

    async def _read(self) -> None:
        assert self.process is not None and self.process.stderr is not None
        async for raw in self.process.stderr:
            line = raw.decode(errors="replace").rstrip()
            self.lines.append(line)
            if match := CYCLE_LINE.search(line):
                self.cycles.append(Cycle(time.time(), int(match[2]), int(match[3]), int(match[4]), float(match[5])))

    @property
    def exited(self) -> bool:
        return self.process is not None and self.process.returncode is not None

    def problems(self) -> list[str]:
        return [line for line in self.lines if " WARNING " in line or " ERROR " in line or "Traceback" in line]

    async def stop(self) -> int | None:
        if self.process is None:
            return None
        if self.process.returncode is None:
            self.process.send_signal(signal.SIGTERM)
        try:
            code = await asyncio.wait_for(self.process.wait(), 20)
        except TimeoutError:
            self.process.kill()
            code = await self.process.wait()
        if self._reader is not None:
            try:
                await asyncio.wait_for(self._reader, 5)
            except TimeoutError:
                self._reader.cancel()
        return code


# --- cycles from the sandbox's request log -------------------------------------------------------


@dataclass
class Poll:
    at: float
    tag: str
    key: int
    ids: list[int]


@dataclass
class Window:
    start: float
    polls: list[Poll] = field(default_factory=list)
    open_total: int = 0
    expected: int = 0  # sum(ceil(open/100)) over the keys at the window's start

    @property
    def calls(self) -> int:
        return len(self.polls)

    @property
    def ids(self) -> Counter[int]:
        return Counter(i for p in self.polls for i in p.ids)

    @property
    def tight(self) -> int:
        per_key: Counter[int] = Counter()
        for p in self.polls:
            per_key[p.key] += len(p.ids)
        return sum(ceil_calls(n) for n in per_key.values())

    @property
    def repolled(self) -> int:
        return sum(c - 1 for c in self.ids.values() if c > 1)

    @property
    def split_keys(self) -> int:
        tags: dict[int, set[str]] = defaultdict(set)
        for p in self.polls:
            tags[p.key].add(p.tag)
        return sum(1 for t in tags.values() if len(t) > 1)

    @property
    def tags(self) -> str:
        return "+".join(sorted({p.tag for p in self.polls}))

    @property
    def coverage(self) -> float:
        return len(self.ids) / self.open_total if self.open_total else 1.0

    @property
    def ok(self) -> bool:
        return self.calls <= self.tight and self.calls <= self.expected and self.repolled == 0


def read_polls(sandbox: SandboxPanel, start: int, book: Book) -> tuple[list[Poll], list[str]]:
    polls, problems = [], []
    for record in sandbox.requests[start:]:
        if record.action != "status":
            continue
        ids = [int(i) for i in record.fields.get("orders", record.fields.get("order", "")).split(",") if i.strip()]
        keys = {book.key_of.get(i, -1) for i in ids}
        if len(keys) != 1 or -1 in keys:
            problems.append(f"a status request with ids of {len(keys)} keys (or unknown ids): {ids[:5]}")
            continue
        if len(ids) > BATCH_LIMIT:
            problems.append(f"a status request with {len(ids)} ids")
        polls.append(Poll(record.time, record.fields.get(TAG_FIELD, "?"), keys.pop(), ids))
    return polls, problems


def closed_times(polls: list[Poll], book: Book) -> dict[int, float]:
    """When the watchers learnt that an order turned final: its first poll after that."""
    closed: dict[int, float] = {}
    for p in polls:
        for i in p.ids:
            final_at = book.final_at.get(i)
            if final_at is not None and i not in closed and p.at > final_at:
                closed[i] = p.at
    return closed


def make_windows(polls: list[Poll], book: Book, length: float) -> list[Window]:
    closed = closed_times(polls, book)
    closed_by_key: dict[int, list[float]] = defaultdict(list)
    for i, at in closed.items():
        closed_by_key[book.key_of[i]].append(at)
    windows: list[Window] = []
    for p in polls:
        if not windows or p.at >= windows[-1].start + length:
            w = Window(p.at)
            open_per_key = [n - sum(1 for at in closed_by_key.get(k, ()) if at < w.start)
                            for k, n in enumerate(book.per_key)]
            w.open_total = sum(open_per_key)
            w.expected = sum(ceil_calls(n) for n in open_per_key)
            windows.append(w)
        windows[-1].polls.append(p)
    return windows


def poll_gaps(polls: list[Poll]) -> list[float]:
    """Seconds between consecutive polls of the same id, all ids."""
    last: dict[int, float] = {}
    gaps = []
    for p in polls:
        for i in p.ids:
            if i in last:
                gaps.append(p.at - last[i])
            last[i] = p.at
    return gaps


def quantile(values: list[float], q: float) -> float | None:
    if not values:
        return None
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


# --- rounds --------------------------------------------------------------------------------------


@dataclass
class Round:
    name: str
    started: float  # time.time() when the statuses were set (for the warm-up: watchers start)
    started_mono: float
    changed: list[int] = field(default_factory=list)
    what: str = ""
    ended: float = 0.0
    queued: int = 0
    last_queued: datetime | None = None
    delivered: int = 0
    duplicates: int = 0
    missing: int = 0
    wrong_chat: int = 0
    failed_sends: int = 0
    count_429: int = 0
    first_send: float | None = None
    last_send: float | None = None
    timed_out: bool = False
    windows: list[Window] = field(default_factory=list)

    @property
    def detect(self) -> float | None:
        if self.last_queued is None:
            return None
        return self.last_queued.timestamp() - self.started

    @property
    def drain(self) -> float | None:
        return None if self.last_send is None else self.last_send - self.started_mono

    @property
    def rate(self) -> float | None:
        if self.first_send is None or self.last_send is None or self.delivered < 2:
            return None
        return (self.delivered - 1) / max(self.last_send - self.first_send, 1e-9)


def check_messages(rnd: Round, fake: FakeTelegram, calls_from: int, book: Book) -> None:
    sends = [c for c in list(fake.calls[calls_from:]) if c.method.lower() == "sendmessage"]
    rnd.failed_sends = sum(1 for c in sends if c.status not in (200, 429))
    ok = [c for c in sends if c.status == 200]
    rnd.delivered = len(ok)
    if ok:
        rnd.first_send, rnd.last_send = ok[0].at, ok[-1].at
    seen: Counter[tuple[int, str]] = Counter()
    per_order: Counter[int] = Counter()
    for c in ok:
        match = ORDER_TEXT.search(str(c.params.get("text", "")))
        if match is None:
            continue
        panel_id = int(match[1])
        seen[(panel_id, match[2])] += 1
        per_order[panel_id] += 1
        if int(c.params.get("chat_id", 0)) != book.user_of.get(panel_id):
            rnd.wrong_chat += 1
    rnd.duplicates = sum(n - 1 for n in seen.values() if n > 1)
    rnd.missing = sum(1 for i in rnd.changed if per_order[i] == 0)


async def run_round(rnd: Round, fake: FakeTelegram, store: Store, book: Book, watchers: list[WatcherProcess],
                    expected_total: int, deadline: float) -> None:
    calls_from = len(fake.calls)
    before_429 = fake.count_429
    since = datetime.fromtimestamp(rnd.started, timezone.utc)
    while True:
        await asyncio.sleep(0.5)
        total, unsent = await outbox(store)
        sent_now = sum(1 for c in list(fake.calls[calls_from:])
                       if c.method.lower() == "sendmessage" and c.status == 200)
        if total >= expected_total and unsent == 0 and sent_now >= len(rnd.changed):
            break
        if time.monotonic() > deadline or all(w.exited for w in watchers):
            rnd.timed_out = True
            break
    await asyncio.sleep(1.5)  # a late second send of the same notice would land by now
    rnd.ended = time.time()
    rnd.queued, rnd.last_queued = await queued_between(store, since)
    check_messages(rnd, fake, calls_from, book)
    rnd.count_429 = fake.count_429 - before_429


def pick(book: Book, status: str, count: int, rng: random.Random) -> list[int]:
    candidates = sorted(i for i, s in book.status.items() if s == status)
    return sorted(rng.sample(candidates, min(count, len(candidates))))


def diagnose_429(fake: FakeTelegram, polls: list[Poll], mono_to_wall: float) -> str:
    """Which of the fake's limits each 429 hit, and whether a status request reached the
    sandbox in the second before it (work on the loop the fake shares in --shared-loop)."""
    calls = [c for c in list(fake.calls) if c.method.lower() == "sendmessage"]
    refused = [c for c in calls if c.status == 429]
    if not refused:
        return ""
    ok = [c for c in calls if c.status == 200]
    poll_times = [p.at for p in polls]
    full_global = full_chat = near_polls = 0
    for c in refused:
        window = [o for o in ok if c.at - fake.flood_window < o.at <= c.at]
        full_global += len(window) >= int(fake.flood_global_per_second * fake.flood_window)
        full_chat += sum(1 for o in window if str(o.params.get("chat_id")) == str(c.params.get("chat_id"))) \
            >= fake.flood_per_chat_burst
        wall = c.at + mono_to_wall
        near_polls += any(wall - 1.0 <= t <= wall for t in poll_times)
    return (f"{len(refused)} sendMessage answered 429: global 30/s window full for {full_global}, a chat's "
            f"window full for {full_chat}; a status request reached the sandbox in the second before "
            f"{near_polls} of them")


# --- report --------------------------------------------------------------------------------------


def fmt(value: float | None, spec: str = ".1f", none: str = "-") -> str:
    return none if value is None else format(value, spec)


def span(values: list[int]) -> str:
    if not values:
        return "-"
    lo, hi = min(values), max(values)
    return f"{lo}" if lo == hi else f"{lo}-{hi}"


def print_report(rounds: list[Round], full_sum: int, args: argparse.Namespace) -> None:
    print(f"\n{'round':<6}{'cycles':>7}{'full':>5}{'calls/cycle':>12}{'expected':>9}{'over':>5}"
          f"{'twice':>6}{'split':>6}{'by A/B/both':>12}")
    for r in rounds:
        full = [w for w in r.windows if w.coverage >= 1.0]
        over = sum(1 for w in r.windows if w.calls > w.tight or w.calls > w.expected)
        by = Counter(w.tags for w in r.windows)
        print(f"{r.name:<6}{len(r.windows):>7}{len(full):>5}{span([w.calls for w in full]):>12}"
              f"{span([w.expected for w in full] or [w.expected for w in r.windows]):>9}{over:>5}"
              f"{sum(w.repolled for w in r.windows):>6}{sum(w.split_keys for w in r.windows):>6}"
              f"{'/'.join(str(by[t]) for t in ('A', 'B', 'A+B')):>12}")
    print("  cycles: windows of 0.9 x poll; full: windows that polled every open order; calls/cycle and expected\n"
          "  (sum of ceil(open/100) over keys) over the full ones; over: windows above the tight or expected sum;\n"
          "  twice: ids polled twice in one window; split: keys whose orders went to both processes in one window;\n"
          f"  by A/B/both: windows served by one process or both. Expected with all {args.orders:,} orders open: "
          f"{full_sum}.")
    print(f"\n{'round':<6}{'changed':>8}{'queued':>7}{'sent':>6}{'dup':>5}{'miss':>5}{'429':>5}"
          f"{'detect s':>9}{'drain s':>8}{'msg/s':>7}")
    for r in rounds[1:]:
        print(f"{r.name:<6}{len(r.changed):>8,}{r.queued:>7,}{r.delivered:>6,}{r.duplicates:>5}{r.missing:>5}"
              f"{r.count_429:>5}{fmt(r.detect):>9}{fmt(r.drain):>8}{fmt(r.rate):>7}"
              + ("  TIMED OUT" if r.timed_out else "")
              + (f"  {r.wrong_chat} to a wrong chat" if r.wrong_chat else "")
              + (f"  {r.failed_sends} failed sends" if r.failed_sends else ""))
    print("  detect: set_status -> last notification queued; drain: set_status -> last message delivered;\n"
          "  msg/s: messages delivered / time from the first to the last send of the round.")
    if args.windows:
        for r in rounds:
            print(f"\nround {r.name} ({r.what}): windows (t from the round's start)")
            print(f"  {'t s':>7}{'calls':>6}{'tight':>6}{'expect':>7}{'ids':>7}{'open':>7}{'twice':>6}{'split':>6}  by")
            for w in r.windows:
                print(f"  {w.start - r.started:>7.1f}{w.calls:>6}{w.tight:>6}{w.expected:>7}{len(w.ids):>7,}"
                      f"{w.open_total:>7,}{w.repolled:>6}{w.split_keys:>6}  {w.tags}{'' if w.ok else '  !'}")


# --- main ----------------------------------------------------------------------------------------


async def run(args: argparse.Namespace) -> int:
    wall_started = time.perf_counter()
    budget_end = time.monotonic() + args.budget - 8  # 8 s to stop the watchers, analyse and print
    mono_to_wall = time.time() - time.monotonic()
    rng = random.Random(args.seed)
    keys = [f"pg-watch-key-{k:02d}-{uuid.uuid4().hex[:12]}" for k in range(args.keys)]
    sizes = key_sizes(args.orders, args.keys)
    full_sum = sum(ceil_calls(n) for n in sizes)
    window = 0.9 * args.poll
    ordered = sorted(sizes)
    print(f"{args.orders:,} open orders over {args.keys} keys ({args.users} users), two watcher processes, "
          f"STATUS_POLL_SECONDS={args.poll:g}, PostgreSQL {args.db.rsplit('@', 1)[-1].rsplit('/', 1)[0]}")
    print(f"orders per key: min {ordered[0]}, median {ordered[len(ordered) // 2]}, max {ordered[-1]}; "
          f"expected status calls per cycle = sum(ceil(n/100)) = {full_sum}")

    failures: list[str] = []
    rounds: list[Round] = []
    watchers = [WatcherProcess(tag) for tag in TAGS]
    codes: list[int | None] = []
    book = Book()
    log_start = 0
    polls: list[Poll] = []
    poll_problems: list[str] = []
    work = Path(tempfile.mkdtemp(prefix="bench_watchers_pg_"))  # the watchers' cwd: no .env read
    async with SandboxPanel(speed=0) as sandbox, fresh_database(args.db) as db_url:
        for key in keys:
            sandbox.add_account(key, balance=Decimal(100_000_000))
        fake = FakeTelegram(TOKEN, enforce_flood_limits=True)
        api: FakeBotApiServer | FakeApiThread = FakeBotApiServer(fake) if args.shared_loop else FakeApiThread(fake)
        api_url = await api.start()
        store = Store(db_url, keybox=KeyBox(SECRET))
        try:
            started = time.perf_counter()
            await migrate.upgrade(store.engine)
            book = make_orders(sandbox, keys, sizes, args.users, args.seed)
            await store_world(store, sandbox, fake, keys, book, args.users)
            print(f"setup: {args.orders:,} orders in the sandbox and the database "
                  f"({db_url.rsplit('/', 1)[-1]}) in {time.perf_counter() - started:.1f} s")

            env = {**os.environ, "PYTHONPATH": str(ROOT), "TELEGRAM_TOKEN": TOKEN, "TELEGRAM_API_URL": api_url,
                   "DATABASE_URL": db_url, "SECRET_KEY": SECRET, "STATUS_POLL_SECONDS": f"{args.poll:g}"}
            for name in ("PANEL_KEY", "ALLOWED_USERS", "ADMIN_IDS", "WEBHOOK_URL", "WEBHOOK_SECRET"):
                env.pop(name, None)
            log_start = len(sandbox.requests)
            warm = Round("0", time.time(), time.monotonic())
            warm.what = "warm-up, no change"
            print("round 0: watchers started; warm-up without changes")
            rounds.append(warm)
            for w in watchers:
                await w.start({**env, "PANEL_URL": f"{sandbox.url}?{TAG_FIELD}={w.tag}"}, work)

            # Warm-up: every order polled, then two more poll intervals without changes.
            deadline = min(time.monotonic() + 60, budget_end)
            while time.monotonic() < deadline and not all(w.exited for w in watchers):
                await asyncio.sleep(0.5)
                polls, _ = read_polls(sandbox, log_start, book)
                if len({i for p in polls for i in p.ids}) >= args.orders:
                    break
            await asyncio.sleep(2 * args.poll)
            warm.ended = time.time()
            total, unsent = await outbox(store)
            if total:
                failures.append(f"warm-up: {total} notifications queued without any change (setup differs from "
                                f"the panel?)")
            expected_total = total

            for n in range(1, args.rounds + 1):
                moves = [FIRST] if n == 1 else list(LATER)
                shares = [args.batch // len(moves) + (j < args.batch % len(moves)) for j in range(len(moves))]
                plan = [(pick(book, source, share, rng), source, target, remains)
                        for (source, target, remains), share in zip(moves, shares, strict=True)]
                ids = sorted(i for chosen, *_ in plan for i in chosen)
                rnd = Round(str(n), time.time(), time.monotonic(), ids)
                rnd.what = ", ".join(f"{len(chosen):,} {source} -> {target}" for chosen, source, target, _ in plan)
                rounds.append(rnd)
                print(f"round {n}: {rnd.what}")
                if not ids:
                    failures.append(f"round {n}: no order left to change")
                    continue
                rnd.started, rnd.started_mono = time.time(), time.monotonic()
                for chosen, _source, target, remains in plan:
                    for i in chosen:  # synchronous: no status request is answered in between
                        sandbox.set_status(i, target, remains)
                        book.status[i] = target
                        if target in FINAL:
                            book.final_at[i] = rnd.started
                expected_total += len(ids)
                # Normal drain: ~25 messages a second; the whole run stays within --budget.
                deadline = min(time.monotonic() + 20 + len(ids) / 30 * 1.6, budget_end)
                await run_round(rnd, fake, store, book, watchers, expected_total, deadline)
                print(f"         {rnd.delivered:,} delivered, {fmt(rnd.drain)} s after the change"
                      + (" (timed out)" if rnd.timed_out else ""))
        finally:
            codes = [await w.stop() for w in watchers]
            polls, poll_problems = read_polls(sandbox, log_start, book)
            await store.dispose()
            await api.stop()
            shutil.rmtree(work, ignore_errors=True)

    # --- analysis ---
    windows = make_windows(polls, book, window)
    bounds = [r.started for r in rounds]
    for win in windows:
        index = max(i for i, b in enumerate(bounds) if b <= win.start or i == 0)
        rounds[index].windows.append(win)
    gaps = poll_gaps(polls)
    early = sum(1 for g in gaps if g < window)
    print("\nrounds: " + "; ".join(f"{r.name} {r.what}" for r in rounds))
    print_report(rounds, full_sum, args)

    for w in watchers:
        with_orders = [c for c in w.cycles if c.orders]
        apart = [b.at - a.at for a, b in zip(w.cycles, w.cycles[1:])]
        print(f"watcher {w.tag}: {len(w.cycles)} cycles, {len(with_orders)} with orders "
              f"({sum(c.orders for c in w.cycles):,} orders checked, {sum(c.changes for c in w.cycles):,} changes); "
              f"cycle with orders median {fmt(quantile([c.seconds for c in with_orders], 0.5), '.2f')} s, longest "
              f"{fmt(max((c.seconds for c in with_orders), default=None), '.2f')} s; cycles apart median "
              f"{fmt(quantile(apart, 0.5))} s, longest {fmt(max(apart, default=None))} s; exit code "
              f"{codes[TAGS.index(w.tag)]}")
        shown = w.lines[-25:] if codes[TAGS.index(w.tag)] != 0 else w.problems()[:5]
        for line in shown:
            print(f"    ! {line}")
    if diagnosis := diagnose_429(fake, polls, mono_to_wall):
        print(diagnosis)
    if args.dump_sends:
        with open(args.dump_sends, "w") as out:
            out.write("wall_time\tstatus\tchat_id\ttext\n")
            for c in list(fake.calls):
                if c.method.lower() == "sendmessage":
                    first_line = str(c.params.get("text", "")).split("\n", 1)[0]
                    out.write(f"{c.at + mono_to_wall:.4f}\t{c.status}\t{c.params.get('chat_id')}\t{first_line}\n")
        with open(args.dump_sends + ".polls", "w") as out:
            out.write("wall_time\twatcher\tkey\tids\n")
            for p in polls:
                out.write(f"{p.at:.4f}\t{p.tag}\t{p.key}\t{len(p.ids)}\n")
        print(f"sendMessage calls written to {args.dump_sends}, status requests to {args.dump_sends}.polls")
    changes_logged = sum(c.changes for w in watchers for c in w.cycles)
    changes_made = sum(len(r.changed) for r in rounds)
    print(f"status requests: {len(polls):,}; time between two polls of one order: min "
          f"{fmt(min(gaps, default=None), '.2f')}, median {fmt(quantile(gaps, 0.5))}, p90 {fmt(quantile(gaps, 0.9))}, "
          f"max {fmt(max(gaps, default=None))} s ({early} sooner than {window:g} s); changes stored "
          f"{changes_logged:,} of {changes_made:,} made")

    # --- verdict ---
    twice = sum(w.repolled for w in windows)
    over = [w for w in windows if w.calls > w.tight or w.calls > w.expected]
    dups = sum(r.duplicates for r in rounds)
    missing = sum(r.missing for r in rounds)
    count_429 = fake.count_429
    full_calls = Counter((w.calls, w.expected) for w in windows if w.coverage >= 1.0)
    failures += poll_problems[:5]
    if over:
        worst = max(over, key=lambda w: w.calls - min(w.tight, w.expected))
        failures.append(f"{len(over)} cycles above the expected status calls (e.g. {worst.calls} calls, "
                        f"tight {worst.tight}, expected {worst.expected}, {worst.split_keys} keys split)")
    if twice:
        failures.append(f"{twice} ids polled twice within one cycle")
    if dups:
        failures.append(f"{dups} duplicate notifications")
    if missing:
        failures.append(f"{missing} notifications missing")
    if count_429:
        failures.append(f"{count_429} HTTP 429 from the fake Telegram")
    if any(r.timed_out for r in rounds):
        failures.append("a round timed out before its outbox drained")
    if any(r.wrong_chat or r.failed_sends for r in rounds):
        failures.append("messages to a wrong chat or failed sends")
    if any(code != 0 for code in codes):
        failures.append(f"watcher exit codes {codes}")

    rates = [r.rate for r in rounds if r.rate is not None]
    print(f"\n{'figure':<48}{'measured':<28}{'target'}")
    rows = [
        ("status calls per full cycle (calls/expected)",
         ", ".join(f"{c}/{e} x{n}" for (c, e), n in sorted(full_calls.items(), key=lambda x: (-x[0][1], x[0][0])))
         or "-", f"<= expected ({full_sum} all open)"),
        ("cycles above the expected calls", str(len(over)), "0"),
        ("ids polled twice within a cycle", str(twice), "0"),
        ("keys split between the processes", str(sum(w.split_keys for w in windows)), "(costs calls)"),
        ("seconds between two polls of an order",
         f"median {fmt(quantile(gaps, 0.5))}, max {fmt(max(gaps, default=None))}", f">= {window:g}"),
        ("notifications queued / delivered",
         f"{sum(r.queued for r in rounds[1:]):,} / {sum(r.delivered for r in rounds[1:]):,} "
         f"of {changes_made:,}", "all"),
        ("duplicate notifications (order+status)", str(dups), "0"),
        ("notifications per second (per round)", ", ".join(f"{x:.1f}" for x in rates) or "-", "~30"),
        ("429 from fake Telegram", str(count_429), "0"),
    ]
    for name, value, target in rows:
        print(f"{name:<48}{value:<28}{target}")
    print(f"total run {time.perf_counter() - wall_started:.0f} s")
    for failure in failures:
        print(f"  ! {failure}")
    print("RESULT:", "ok" if not failures else "FAILED")
    return 0 if not failures else 1


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--db", default=DEFAULT_DB,
                        help="PostgreSQL URL; a database is created beside it and dropped (default %(default)s)")
    parser.add_argument("--orders", type=int, default=10_000, help="open orders (default 10,000)")
    parser.add_argument("--keys", type=int, default=50, help="panel keys, one account each (default 50)")
    parser.add_argument("--users", type=int, default=500, help="users the orders belong to (default 500)")
    parser.add_argument("--rounds", type=int, default=2, help="rounds of changes (default 2)")
    parser.add_argument("--batch", type=int, default=2_000, help="orders changed per round (default 2,000)")
    parser.add_argument("--poll", type=float, default=5.0, help="STATUS_POLL_SECONDS (default 5)")
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--budget", type=float, default=290,
                        help="seconds the whole run may take; a round still draining then fails (default 290)")
    parser.add_argument("--windows", action="store_true", help="print every cycle window")
    parser.add_argument("--dump-sends", metavar="FILE",
                        help="write every sendMessage the fake saw (time, HTTP status, chat, first line) to FILE "
                             "and the status requests to FILE.polls")
    parser.add_argument("--shared-loop", action="store_true",
                        help="serve the fake Telegram on this process's loop, beside the sandbox (as the "
                             "multi-process test does), instead of on a thread of its own")
    args = parser.parse_args()
    if args.users < args.keys:
        parser.error("--users must be at least --keys (each key's account has an owner)")
    if not args.db.startswith(("postgres://", "postgresql")):
        parser.error("--db must be a PostgreSQL URL")
    return asyncio.run(run(args))


if __name__ == "__main__":
    sys.exit(main())
