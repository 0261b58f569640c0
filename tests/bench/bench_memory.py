"""Memory benchmark of own-key mode: N users, each with their own key on one panel that
serves a real 7,230-service catalog, browse (/order, a platform, a service) while their
catalogs expire and are fetched again; reuses bench_bot's machinery (the real
Application, fake Telegram in-process, the sandbox panel in its own process).

    python tests/bench/bench_memory.py [--users 1000] [--ttl 10] [--rate 100] [--seconds 30]
                                       [--catalog tests/data/smmwiz-services.json] [--db URL]

What happens:
  1. `python -m bot sandbox` serves the catalog file in a child process, with one account
     per user (each user has their own key).
  2. The bot is built as `python -m bot` builds it (bench_bot.start_bot), with the
     catalog TTL set to --ttl seconds so that catalogs expire during the measured window.
  3. Setup: every user sends /start and pastes their key; then each browses once (the
     first catalog fetch per key).
  4. Measured window: every user keeps browsing (`/order`, the Instagram button,
     `/order <id>`), pausing a random 0..6*Z s before each browse (Z = users / rate),
     for --seconds after 2 s of warm-up; every browse after the TTL fetches that key's
     catalog again (a 2 MB reply) while the others' updates are handled. With the
     defaults that is ~50 fetches a second (100 MB/s), against ~1.7 a second for 1,000
     users browsing all the time with the real 10-minute TTL.

Figures: catalog memory held (the catalog cache walked object by object: entries,
shared catalogs), distinct catalogs held, bot RSS (now and max), handling time of the
updates in the window (p50/p99/max), catalog fetches in the window.
Targets (issue 9): catalog memory < 40 MB, RSS < 250 MB, p99 < 50 ms.
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import os
import random
import shutil
import sys
import tempfile
import time
import types
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

from bench_bot import (
    ROOT,
    Bench,
    Sandbox,
    allow_rounds,
    expect,
    link_user,
    start_bot,
    stop_bot,
)
from benchlib import database, drop_schema, max_rss_mb, percentile, rss_mb

from bot import runtime
from bot.playground.fakegram import FakeUser

TARGET_CATALOG_MB = 40.0
TARGET_RSS_MB = 250.0
TARGET_P99_MS = 50.0
FIRST_USER_ID = 700_000
_SKIP = (type, types.ModuleType, types.FunctionType, types.BuiltinFunctionType, types.MethodType)


def deep_size(root: object) -> int:
    """Bytes of everything reachable from `root`, each object once (classes, modules and
    functions left out: they are the program's, not the cache's)."""
    seen: set[int] = set()
    stack = [root]
    total = 0
    while stack:
        obj = stack.pop()
        if id(obj) in seen or isinstance(obj, _SKIP):
            continue
        seen.add(id(obj))
        total += sys.getsizeof(obj)
        stack.extend(gc.get_referents(obj))
    return total


async def browse(bench: Bench, user: FakeUser, service_id: int, samples: list[float] | None) -> None:
    bot = bench.app.bot

    def instagram() -> Any:
        label = next(text for row in user.last_buttons for text, _ in row if "Instagram" in text)
        return user.update_for_press(label, bot=bot)

    steps = [
        (lambda: user.update_for_text("/order", bot=bot), "platform"),
        (instagram, ""),
        (lambda: user.update_for_text(f"/order {service_id}", bot=bot), f"Service: {service_id}"),
    ]
    for make, needle in steps:
        took = await bench.handle(make())
        if samples is not None:
            samples.append(took)
        if needle:
            expect(user, needle, needle)


async def run(args: argparse.Namespace) -> int:
    work = Path(tempfile.mkdtemp(prefix="bench_memory_"))
    keys = [f"bench-own-key-{i:05d}-0123456789abcdef" for i in range(args.users)]
    sandbox = Sandbox(Path(args.catalog), keys)
    schema: str | None = None
    bench: Bench | None = None
    try:
        db_url, schema, where = await database(args.db, work, "bench_memory")
        print(f"users {args.users} (one key each), catalog {sandbox.services:,} services ({Path(args.catalog).name}, "
              f"{Path(args.catalog).stat().st_size / 1e6:.1f} MB), catalog TTL {args.ttl:g} s; {where}; "
              f"{os.cpu_count()} CPUs, event loop {runtime.event_loop_name()}")
        bench = await start_bot(sandbox.url, db_url, schema, jobs=False)
        bench.panels.catalogs._ttl = args.ttl  # the bench's short TTL: refreshes inside the window
        allow_rounds(bench.app, 10_000)
        users = [bench.fake.user(FIRST_USER_ID + i, first_name=f"U{i}", language_code="en") for i in range(args.users)]
        rss_app = rss_mb()

        started = time.perf_counter()
        samples: list[float] = []
        for chunk in range(0, len(users), 200):
            await asyncio.gather(*(link_user(bench, u, keys[FIRST_USER_ID + i - FIRST_USER_ID + chunk], samples)
                                   for i, u in enumerate(users[chunk:chunk + 200])))
        print(f"setup: {len(users)} users linked in {time.perf_counter() - started:.1f} s; RSS {rss_app:.0f} MB "
              f"with the app, {rss_mb():.0f} MB now (max {max_rss_mb():.0f})")
        catalog = await bench.panels.catalog(keys[0])  # user 0's first fetch, for the services to open
        service_ids = [service.id for category in catalog.categories_of("Instagram")[:10]
                       for service in catalog.in_category(category)][:50]
        print(f"first catalog parsed: RSS {rss_mb():.0f} MB (max {max_rss_mb():.0f})")
        started = time.perf_counter()
        for chunk in range(0, len(users), 100):
            await asyncio.gather(*(browse(bench, u, service_ids[i % len(service_ids)], None)
                                   for i, u in enumerate(users[chunk:chunk + 100])))
        bench.trim_fake()
        gc.collect()
        print(f"first browse by every user in {time.perf_counter() - started:.1f} s; "
              f"RSS {rss_mb():.0f} MB (max {max_rss_mb():.0f}), catalogs held {bench.panels.catalogs.catalogs_held()}")

        fetches_before = sandbox_services_calls(bench)
        window: list[float] = []
        rng = random.Random(9)
        think = args.users / args.rate
        opens = time.perf_counter() + 2.0
        closes = opens + args.seconds
        peak_catalog = 0

        async def keep_browsing(index: int, user: FakeUser) -> None:
            while time.perf_counter() < closes:
                await asyncio.sleep(rng.uniform(0, 2 * think) * 3)
                record = window if time.perf_counter() >= opens else None
                await browse(bench, user, service_ids[index % len(service_ids)], record)

        async def watch_memory() -> None:
            nonlocal peak_catalog
            while time.perf_counter() < closes:
                await asyncio.sleep(2.0)
                bench.trim_fake()
                peak_catalog = max(peak_catalog, deep_size(bench.panels.catalogs))

        results = await asyncio.gather(watch_memory(), *(keep_browsing(i, u) for i, u in enumerate(users)),
                                       return_exceptions=True)
        failures = [r for r in results if isinstance(r, BaseException)]
        fetches = sandbox_services_calls(bench) - fetches_before
        gc.collect()
        held = deep_size(bench.panels.catalogs)
        peak_catalog = max(peak_catalog, held)
        ordered = sorted(window)
        p99 = percentile(ordered, 99)
        print(f"window {args.seconds:g} s: {len(window):,} updates ({len(window) / args.seconds:.0f}/s), "
              f"{fetches:,} catalog fetches (2 MB each) in all; handling ms p50 {percentile(ordered, 50):.1f} "
              f"p90 {percentile(ordered, 90):.1f} p99 {p99:.1f} max {ordered[-1] if ordered else float('nan'):.1f}")
        print(f"catalog memory held: {held / 1e6:.1f} MB now, {peak_catalog / 1e6:.1f} MB at most "
              f"({bench.panels.catalogs.catalogs_held()} distinct catalog(s) for {len(bench.panels.catalogs)} keys); "
              f"PanelClients {len(bench.panels._clients)}; RSS {rss_mb():.0f} MB now, max {max_rss_mb():.0f} MB")
        if failures or bench.errors:
            example = failures[0] if failures else bench.errors[0]
            print(f"FAILED: {len(failures)} users, {len(bench.errors)} handler errors, e.g. {example}")
            return 2
        met = {"catalog memory": peak_catalog / 1e6 < TARGET_CATALOG_MB, "RSS": max_rss_mb() < TARGET_RSS_MB,
               "p99": p99 < TARGET_P99_MS}
        missed = [name for name, ok in met.items() if not ok]
        print("verdict: " + ("all targets met" if not missed else f"TARGET MISSED: {', '.join(missed)}")
              + f" (catalog < {TARGET_CATALOG_MB:.0f} MB, RSS < {TARGET_RSS_MB:.0f} MB, p99 < {TARGET_P99_MS:.0f} ms)")
        return 0 if not missed else 1
    finally:
        if bench is not None:
            await stop_bot(bench)
        sandbox.stop()
        if schema is not None:
            await drop_schema(args.db, schema)
        shutil.rmtree(work, ignore_errors=True)


def sandbox_services_calls(bench: Bench) -> int:
    """`services` calls the bot made (the clients' counters hold every call; here the
    only calls after setup are `services`)."""
    return sum(client.calls for client in bench.panels._clients.values())


def main() -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n\n")[0])
    parser.add_argument("--users", type=int, default=1000)
    parser.add_argument("--ttl", type=float, default=10.0, help="catalog TTL in seconds (default 10)")
    parser.add_argument("--rate", type=float, default=100.0, help="pace of the browsing (the updates/s that "
                        "arrived are printed)")
    parser.add_argument("--seconds", type=float, default=30.0)
    parser.add_argument("--catalog", default=str(ROOT / "tests/data/smmwiz-services.json"))
    parser.add_argument("--db", metavar="URL", help="PostgreSQL URL (a fresh schema); default SQLite")
    args = parser.parse_args()
    runtime.tune_collector()
    return runtime.run(run(args))


if __name__ == "__main__":
    raise SystemExit(main())
