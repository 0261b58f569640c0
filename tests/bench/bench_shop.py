"""Load benchmark of shop mode (issue 13): N customers each ordering at the same time
through the real PTB Application, with Telegram's transport faked in-process and the
sandbox panel in a separate process; every order is paid from the customer's wallet
(the claim of the draft and the hold of its price in one transaction, the operator's
panel balance checked before the panel is asked).

    python tests/bench/bench_shop.py [--users 200] [--services 10000] [--rounds 3]
                                     [--rate 300] [--seconds 10]
                                     [--db postgresql://postgres@127.0.0.1:5432/test]

The same rounds as tests/bench/bench_bot.py (its machinery is used as it is: the
sandbox process, the update processor, capacity rounds then a steady load of --rate
updates/s, the figures), with a shop's setup instead of linking keys:
  - the bot runs with MODE=shop on the operator's one panel key, 30 % markup;
  - setup: every customer sends /start and gets a top-up (a ledger entry, as a paid
    invoice books it) that pays for all the orders it will place;
  - each order: `/order <id>` -> "Order" -> link -> quantity -> "Confirm" (the confirm
    screen shows the shop's price and the wallet; Confirm holds the price).
Checks afterwards: every step got its expected reply, no handler or Bot API error, one
stored order per customer and order, each paid at the shop's price with the panel's
cost kept apart, every wallet = its top-up − the prices of its orders (never below
zero, the sum of its entries), and the panel's balance fell by exactly the stored costs
(so no duplicate `add` reached it).

Targets (README): >= 300 updates/s, p99 < 50 ms per update, RSS < 150 MB; judged as
bench_bot judges them (updates/s on capacity rounds 2..N, p99 under the steady load).
"""

from __future__ import annotations

import argparse
import gc
import math
import os
import shutil
import sys
import tempfile
import time
from collections import defaultdict
from collections.abc import Awaitable
from decimal import Decimal
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(Path(__file__).resolve().parent))

import bench_bot as bb  # noqa: E402  (the bot benchmark's rounds, figures and sandbox process)
from benchlib import database, drop_schema, max_rss_mb, rss_mb  # noqa: E402
from sqlalchemy import text  # noqa: E402

from bot import runtime  # noqa: E402
from bot.app import build_application, make_panels, make_store  # noqa: E402
from bot.config import load_settings  # noqa: E402
from bot.playground.fakegram import FakeRequest, FakeTelegram, FakeUser  # noqa: E402
from bot.store.db import make_engine  # noqa: E402
from bot.store.ledger import Movement  # noqa: E402

KEY = "bench-shop-key-0123456789abcdef"
TOP_UP = Decimal(10_000_000)  # each customer's wallet: pays for every order of the run (some cost $50,000)
ADMIN = 42


async def start_shop(panel_url: str, db_url: str, schema: str | None, *, jobs: bool) -> bb.Bench:
    settings = load_settings(
        require_token=False, telegram_token=bb.TOKEN, telegram_api_url="http://127.0.0.1:9/tg",
        panel_url=panel_url, database_url=db_url, secret_key=bb.SECRET,
        mode="shop", panel_key=KEY, stars_per_unit="50", shop_markup="30", admin_ids=str(ADMIN),
    )
    store = make_store(settings, schema=schema)  # as production builds it (caches included)
    panels = make_panels(settings)
    fake = FakeTelegram(bb.TOKEN)
    app = build_application(
        settings, store=store, panels=panels,
        request=FakeRequest(fake), get_updates_request=FakeRequest(fake), rate_limiter=False, settle=True,
    )
    bench = bb.Bench(app, store, panels, fake)
    bench.count_sql()

    async def record_error(update: object, context: Any) -> None:
        bench.errors.append(f"{type(context.error).__name__}: {context.error}")

    app.add_error_handler(record_error)
    await app.initialize()
    assert app.post_init is not None
    await app.post_init(app)
    if jobs:
        await app.start()
    return bench


async def open_shop_account(bench: bb.Bench, user: FakeUser, samples: list[float]) -> None:
    """/start (a shop's customer links nothing), then a top-up booked as a paid invoice books it."""
    samples.append(await bench.handle(user.update_for_text("/start", bot=bench.app.bot)))
    bb.expect(user, "Wallet", "/start")
    await bench.store.book(Movement(user.id, TOP_UP, "topup", f"topup:bench:{user.id}"))


async def verify_shop(bench: bb.Bench, users: list[FakeUser], db_url: str, schema: str | None) -> list[str]:
    problems: list[str] = []
    if bench.errors:
        problems.append(f"{len(bench.errors)} handler errors, e.g. {bench.errors[0]}")
    bench.trim_fake()
    if bench.bad_calls:
        problems.append(f"{len(bench.bad_calls)} Bot API calls failed, e.g. {bench.bad_calls[0]}")
    panel_ids: set[int] = set()
    cost = Decimal(0)
    for user in users:
        orders = await bench.store.orders_for(user.id, limit=bench.placed[user.id] + 5)
        if len(orders) != bench.placed[user.id]:
            problems.append(f"user {user.id} has {len(orders)} stored orders, expected {bench.placed[user.id]}")
        prices = Decimal(0)
        for order in orders:
            panel_ids.add(order.panel_order_id)
            if not order.paid or order.charge is None or order.cost is None or order.charge <= order.cost:
                problems.append(f"order {order.id}: paid {order.paid}, price {order.charge}, cost {order.cost}")
                continue
            prices += order.charge
            cost += order.cost
        wallet = await bench.store.balance(user.id)
        if wallet != TOP_UP - prices or wallet < 0:
            problems.append(f"user {user.id}: wallet {wallet}, expected {TOP_UP} - {prices}")
    expected = sum(bench.placed.values())
    if len(panel_ids) != expected:
        problems.append(f"{len(panel_ids)} distinct panel ids, expected {expected}")
    # The wallets from the raw entries: the store's balance is their sum.
    engine = make_engine(db_url, schema=schema)  # a plain SQL read beside the store
    try:
        async with engine.connect() as conn:
            rows = (await conn.execute(text("SELECT user_id, amount FROM ledger_entries"))).all()
    finally:
        await engine.dispose()
    sums: dict[int, Decimal] = defaultdict(Decimal)
    for user_id, amount in rows:
        sums[user_id] += Decimal(str(amount))
    for user in users:
        if sums[user.id] != await bench.store.balance(user.id):
            problems.append(f"user {user.id}: entries add up to {sums[user.id]}, the balance says otherwise")
    balance = await bench.panels.client(KEY).balance()
    spent = bb.BALANCE - balance.amount
    if abs(spent - cost) > Decimal("0.00001") * expected:
        problems.append(f"the panel charged {spent}, the stored orders cost {cost}")
    return problems[:10]


async def run(args: argparse.Namespace) -> int:
    rss_start = rss_mb()
    work = Path(tempfile.mkdtemp(prefix="bench_shop_"))
    sandbox: bb.Sandbox | None = None
    schema: str | None = None
    bench: bb.Bench | None = None
    status = 0
    try:
        catalog_file = work / "services.json"
        choices = bb.write_catalog(catalog_file, args.services)
        sandbox = bb.Sandbox(catalog_file, [KEY])
        db_url, schema, where = await database(args.db, work, "bench_shop")
        print(f"shop mode: customers {args.users}, catalog {sandbox.services:,} services, rounds {args.rounds}; "
              f"{where}; {os.cpu_count()} CPUs, load average {os.getloadavg()[0]:.1f}; "
              f"event loop {runtime.event_loop_name()}")
        print(f"targets: >= {bb.TARGET_UPDATES_PER_SECOND:.0f} updates/s, p99 < {bb.TARGET_P99_MS:.0f} ms, "
              f"RSS < {bb.TARGET_RSS_MB:.0f} MB (judged on rounds 2..N, p99 under the steady load, RSS on the whole run)")
        bench = await start_shop(sandbox.url, db_url, schema, jobs=args.jobs)
        rss_app = rss_mb()
        steady = math.ceil((args.paced_seconds + 2.0) * args.rate / args.users / len(bb.STEPS)) + 2 if args.rate else 0
        raised = bb.allow_rounds(bench.app, args.rounds + steady)
        if raised:
            print(f"per-user flood limits raised for the bench's scripted users: {raised}")
        users = [bench.fake.user(bb.FIRST_USER_ID + i, first_name=f"User{i}", language_code="en")
                 for i in range(args.users)]

        setup = await bb.timed_round(
            "setup (/start + top-up)", bench, sandbox,
            lambda by_step: [open_shop_account(bench, u, by_step["/start"]) for u in users],
        )
        setup.print()
        if setup.failures:
            return 2
        started = time.perf_counter()
        catalog = await bench.panels.catalog(KEY)
        shop = bench.app.bot_data["deps"].shop
        priced = await shop.priced(catalog)
        warm = time.perf_counter() - started
        bench.trim_fake()
        gc.collect()
        rss_catalog = rss_mb()
        print(f"catalog warm: {len(catalog):,} services on the panel, {len(priced):,} in the shop at its prices; "
              f"{warm:.2f} s; RSS {rss_catalog:.0f} MB")

        async def play(label: str, number: int) -> bb.Round:
            rng = __import__("random").Random(number)

            def jobs(by_step: dict[str, list[float]]) -> list[Awaitable[None]]:
                for name in bb.STEPS:
                    by_step[name] = []
                return [bb.order_once(bench, user, *rng.choice(choices), f"https://instagram.com/p/shop{number}u{user.id}",
                                      by_step, lambda: 0.0) for user in users]

            current = await bb.timed_round(label, bench, sandbox, jobs)
            bench.trim_fake()
            return current

        rounds: list[bb.Round] = []
        for number in range(1, args.rounds + 1):
            label = f"round {number}" + (" (first: pools and caches warm up)" if number == 1 and args.rounds > 1 else "")
            current = await play(label, number)
            current.print()
            rounds.append(current)
            if current.failures:
                status = 2
                break
        warm_rounds = rounds[1:] if len(rounds) > 1 else rounds
        first = len(rounds) - len(warm_rounds) + 1
        judged = bb.combined(f"round {first}" if first == len(rounds) else f"rounds {first}-{len(rounds)} together",
                             warm_rounds)
        if len(warm_rounds) > 1:
            judged.print()

        paced: bb.Round | None = None
        if args.rate > 0 and status == 0:
            paced = await bb.steady_load(bench, sandbox, users, choices, rate=args.rate, seconds=args.paced_seconds)
            paced.print()
            if paced.failures:
                status = 2

        problems = await verify_shop(bench, users, db_url, schema)
        gc.collect()
        print(f"memory: RSS {rss_start:.0f} MB at start (imports), {rss_app:.0f} MB with the app, "
              f"{rss_catalog:.0f} MB after setup + catalog, {rss_mb():.0f} MB now; max RSS {max_rss_mb():.0f} MB")
        if problems:
            status = 2
            print("CHECKS FAILED:")
            for problem in problems:
                print(f"  {problem}")
        else:
            print(f"checks: {sum(bench.placed.values()):,} orders placed once each, paid at the shop's price "
                  f"(wallets = top-up − prices, = the sum of their entries; the panel's balance fell by the costs); "
                  f"no handler or Bot API errors")
        if status == 0:
            latency = paced if paced is not None else judged
            met = {
                "updates/s": judged.rate >= bb.TARGET_UPDATES_PER_SECOND,
                "p99": latency.p99 < bb.TARGET_P99_MS,
                "RSS": max_rss_mb() < bb.TARGET_RSS_MB,
            }
            for name, ok in met.items():
                print(f"  {name}: {'met' if ok else 'MISSED'}")
            missed = [name for name, ok in met.items() if not ok]
            print(f"verdict: {judged.rate:,.0f} updates/s ({judged.label.split(' (')[0]}), p99 {latency.p99:.1f} ms "
                  f"({latency.label.split(' (')[0]}, {latency.rate:,.0f} updates/s), max RSS {max_rss_mb():.0f} MB -> "
                  + ("all targets met" if not missed else f"TARGET MISSED: {', '.join(missed)}"))
            status = 0 if not missed else 1
        return status
    finally:
        if bench is not None:
            await bb.stop_bot(bench)
        if sandbox is not None:
            sandbox.stop()
        if schema is not None:
            await drop_schema(args.db, schema)
        shutil.rmtree(work, ignore_errors=True)


def main() -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n\n")[0])
    parser.add_argument("--users", type=int, default=200, help="concurrent customers (default 200)")
    parser.add_argument("--services", type=int, default=10_000, help="catalog size (default 10,000)")
    parser.add_argument("--rounds", type=int, default=3,
                        help="capacity rounds, one order per customer each (default 3; the first warms up)")
    parser.add_argument("--db", metavar="URL", help="PostgreSQL URL (a fresh schema is made and dropped); "
                        "default: a SQLite file in a temporary folder")
    parser.add_argument("--rate", type=float, default=bb.TARGET_UPDATES_PER_SECOND, metavar="R",
                        help="after the capacity rounds, a steady load of about R updates/s, where the p99 is "
                        "judged (default %(default)g; 0: none)")
    parser.add_argument("--seconds", dest="paced_seconds", type=float, default=10.0, metavar="S",
                        help="how long the steady load is measured, after 2 s of warm-up (default %(default)g)")
    parser.add_argument("--jobs", action="store_true", help="start the Application so its JobQueue (watcher, "
                        "notification sender) runs during the rounds")
    args = parser.parse_args()
    if args.users < 1 or args.rounds < 1 or args.services < 100 or args.rate < 0 or args.paced_seconds <= 0:
        parser.error("--users and --rounds must be >= 1, --services >= 100, --rate >= 0, --seconds > 0")
    runtime.tune_collector()  # as `python -m bot` runs
    return runtime.run(run(args))


if __name__ == "__main__":
    raise SystemExit(main())
