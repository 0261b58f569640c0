"""Scale benchmark of the watcher on PostgreSQL with two `python -m bot watcher` processes:
100,000 open orders over 1,000 keys, a tenth placed in the last hour, the rest older.

    python tests/bench/bench_watch_scale_pg.py [--db postgresql://postgres@127.0.0.1:5432/test]
                                               [--orders 100000] [--keys 1000] [--poll 10]
                                               [--seconds 120]

Setup (untimed): a database of its own (`bench_watchers_pg.fresh_database`), the sandbox
panel in this process (speed 0: nothing changes by itself), --keys accounts, --orders
orders in the sandbox's books and stored as the panel shows them. Ages: a tenth placed in
the last hour; of the rest, half between an hour and a week old, half between a week and
90 days. The older ones are stored as a running watcher leaves them: their next check
spread over the next 10 minutes (up to a week old) or the next hour (older), so the run
starts in the steady state rather than with one cycle over all 100,000.

Then two watcher processes (STATUS_POLL_SECONDS=--poll) run for --seconds. Measured from
the sandbox's request log, cut in windows of 0.9 x --poll:
  - status calls per window against the floor: sum over each watcher's cycle and key of
    ceil(ids that cycle polled for the key / 100); "split" counts keys both watchers
    polled in one window (orders of a key falling due between the two processes' cycles:
    each cycle still pays only the floor for what it found due);
  - ids polled twice in one window (must be 0), and any id polled twice less than
    0.9 x --poll apart;
  - the watchers' own cycle times (their log lines) and each process's peak RSS.
Exit 0 when every window is at the floor, no id was polled twice, every cycle < 10 s and
each watcher < 200 MB.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import random
import shutil
import sys
import tempfile
import time
from collections import Counter, defaultdict
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

from bot.playground.fakegram import FakeTelegram  # noqa: E402
from bot.playground.sandbox import SandboxPanel  # noqa: E402
from bot.store import KeyBox, Order, Store, migrate  # noqa: E402
from tests.bench.bench_watchers_pg import (  # noqa: E402
    DEFAULT_DB,
    QUANTITY,
    SECRET,
    SERVICE_ID,
    TAG_FIELD,
    TOKEN,
    FakeApiThread,
    WatcherProcess,
    ceil_calls,
    fresh_database,
)

USER_BASE = 7_200_000_000


def peak_rss_mb(pid: int) -> float:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    except OSError:
        pass
    return float("nan")


async def setup(store: Store, sandbox: SandboxPanel, keys: list[str], orders: int, seed: int) -> dict[int, int]:
    """Orders in the sandbox and the database; returns panel id -> key index."""
    rng = random.Random(seed)
    now = datetime.now(UTC)
    account_ids = []
    for k, key in enumerate(keys):
        await store.ensure_user(USER_BASE + k, "en")
        account = await store.link_account(USER_BASE + k, sandbox.url, key, "USD")
        assert account.id is not None
        account_ids.append(account.id)
    key_of: dict[int, int] = {}
    rows = []
    for i in range(orders):
        k = i % len(keys)
        panel_id = sandbox.state.add_order(sandbox.state.accounts[keys[k]], {
            "service": str(SERVICE_ID), "link": f"https://example.com/s/{k}/{i}", "quantity": str(QUANTITY)})
        key_of[panel_id] = k
        seen = sandbox.order(panel_id)
        share = (i // len(keys)) % 10  # every key has orders of every age
        if share == 0:
            created, next_check = now - timedelta(minutes=rng.uniform(0, 55)), now
        elif share <= 5:
            created = now - timedelta(hours=rng.uniform(1.1, 24 * 7 - 1))
            next_check = now + timedelta(seconds=rng.uniform(0, 600))
        else:
            created = now - timedelta(days=rng.uniform(7.1, 90))
            next_check = now + timedelta(seconds=rng.uniform(0, 3600))
        rows.append(Order(
            panel_order_id=panel_id, account_id=account_ids[k], user_id=USER_BASE + k, service_id=SERVICE_ID,
            service_name="Followers", service_type="Default", link=seen.link, quantity=seen.quantity,
            charge=seen.charge, currency=seen.currency, status=seen.status, start_count=seen.start_count,
            remains=seen.remains, created_at=created, next_check_at=next_check,
        ))
    for start in range(0, len(rows), 5000):
        async with store.session() as s:
            s.add_all(rows[start:start + 5000])
    return key_of


async def run(args: argparse.Namespace) -> int:
    keys = [f"scale-key-{k:05d}-0123456789" for k in range(args.keys)]
    work = Path(tempfile.mkdtemp(prefix="bench_watch_scale_"))
    watchers = [WatcherProcess("A"), WatcherProcess("B")]
    peaks: dict[str, float] = {}
    async with SandboxPanel(speed=0) as sandbox, fresh_database(args.db) as db_url:
        for key in keys:
            sandbox.add_account(key, balance=Decimal(100_000_000))
        api = FakeApiThread(FakeTelegram(TOKEN))
        api_url = await api.start()
        store = Store(db_url, keybox=KeyBox(SECRET))
        try:
            started = time.perf_counter()
            await migrate.upgrade(store.engine)
            key_of = await setup(store, sandbox, keys, args.orders, args.seed)
            print(f"setup: {args.orders:,} orders over {args.keys:,} keys in {time.perf_counter() - started:.1f} s")
            env = {**os.environ, "PYTHONPATH": str(ROOT), "TELEGRAM_TOKEN": TOKEN, "TELEGRAM_API_URL": api_url,
                   "DATABASE_URL": db_url, "SECRET_KEY": SECRET, "STATUS_POLL_SECONDS": f"{args.poll:g}"}
            for name in ("PANEL_KEY", "ALLOWED_USERS", "ADMIN_IDS", "WEBHOOK_URL", "WEBHOOK_SECRET"):
                env.pop(name, None)
            log_start = len(sandbox.requests)
            for w in watchers:
                await w.start({**env, "PANEL_URL": f"{sandbox.url}?{TAG_FIELD}={w.tag}"}, work)
            end = time.monotonic() + args.seconds
            while time.monotonic() < end and not any(w.exited for w in watchers):
                for w in watchers:
                    if w.process is not None:
                        peaks[w.tag] = max(peaks.get(w.tag, 0.0), peak_rss_mb(w.process.pid))
                await asyncio.sleep(1)
        finally:
            for w in watchers:
                if w.process is not None and w.process.returncode is None:
                    peaks[w.tag] = max(peaks.get(w.tag, 0.0), peak_rss_mb(w.process.pid))
                await w.stop()
            await store.dispose()
            await api.stop()
            shutil.rmtree(work, ignore_errors=True)
        requests = [r for r in sandbox.requests[log_start:] if r.action == "status"]

    # Windows of 0.9 poll intervals, each from the first request after the previous one.
    length = args.poll * 0.9
    windows: list[list[tuple[float, int, list[int], str]]] = []
    starts: list[float] = []
    last_seen: dict[int, float] = {}
    close_repolls = 0
    for record in requests:
        ids = [int(i) for i in record.fields.get("orders", "").split(",") if i.strip()]
        k = key_of[ids[0]]
        if not starts or record.time >= starts[-1] + length:
            starts.append(record.time)
            windows.append([])
        windows[-1].append((record.time, k, ids, record.fields.get(TAG_FIELD, "?")))
        for i in ids:
            if i in last_seen and record.time - last_seen[i] < length:
                close_repolls += 1
            last_seen[i] = record.time
    ok = True
    print(f"{'window':>6} {'calls':>6} {'floor':>6} {'ids':>7} {'twice':>6} {'split':>6}")
    for n, window in enumerate(windows):
        # The floor is per cycle: each watcher's cycle pays ceil(due / 100) per key it took.
        per_cycle_key: Counter[tuple[str, int]] = Counter()
        tags_of_key: dict[int, set[str]] = defaultdict(set)
        seen: Counter[int] = Counter()
        for _, k, ids, tag in window:
            per_cycle_key[tag, k] += len(ids)
            tags_of_key[k].add(tag)
            seen.update(ids)
        floor = sum(ceil_calls(v) for v in per_cycle_key.values())
        twice = sum(c - 1 for c in seen.values() if c > 1)
        split = sum(1 for tags in tags_of_key.values() if len(tags) > 1)
        ok = ok and len(window) == floor and twice == 0
        print(f"{n:>6} {len(window):>6} {floor:>6} {len(seen):>7,} {twice:>6} {split:>6}")
    cycles = [c for w in watchers for c in w.cycles]
    longest = max((c.seconds for c in cycles), default=float("nan"))
    per_cycle_ids = sorted(c.orders for c in cycles)
    problems = [line for w in watchers for line in w.problems()]
    print(f"cycles: {len(cycles)} over both watchers; longest {longest:.2f} s; orders per cycle "
          f"min {per_cycle_ids[0] if per_cycle_ids else 0:,} max {per_cycle_ids[-1] if per_cycle_ids else 0:,}")
    print(f"status calls: {len(requests):,} in {len(windows)} windows; ids polled twice < 0.9 poll apart: "
          f"{close_repolls}")
    print("peak RSS: " + ", ".join(f"watcher {tag} {mb:.0f} MB" for tag, mb in sorted(peaks.items())))
    if problems:
        print(f"{len(problems)} warning/error lines, first: {problems[0][:200]}")
    ok = ok and close_repolls == 0 and longest < 10 and all(mb < 200 for mb in peaks.values())
    print("OK" if ok else "FAILED")
    return 0 if ok else 1


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--db", default=DEFAULT_DB)
    parser.add_argument("--orders", type=int, default=100_000)
    parser.add_argument("--keys", type=int, default=1_000)
    parser.add_argument("--poll", type=float, default=10.0)
    parser.add_argument("--seconds", type=float, default=120.0)
    parser.add_argument("--seed", type=int, default=11)
    return asyncio.run(run(parser.parse_args()))


if __name__ == "__main__":
    raise SystemExit(main())
