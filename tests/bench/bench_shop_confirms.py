"""Shop mode under a storm of Confirms (issue 13): 1,000 Confirm presses at the same
moment against 100 wallets, through the real PTB Application (the update processor, the
Confirm handler, `place_draft`, the claim and hold in one transaction), the fake
Telegram and the sandbox panel in its own process.

    python tests/bench/bench_shop_confirms.py [--wallets 100] [--drafts 10]
                                              [--db postgresql://postgres@127.0.0.1:5432/test]

Runs on a SQLite file, then on PostgreSQL too when TEST_DATABASE_URL (or --db) is set.

Setup (not timed): each customer sends /start and fills in --drafts orders of 1,000 of
service 1012 (the shop's price $3.19) up to the confirm screen; wallet i is topped up
with enough for a known number of them, 0 to --drafts (and a cent short of one more for
every third wallet, so the last hold meets a wallet that nearly pays).

Timed: every customer presses Confirm on all its drafts at once: wallets x drafts
updates handed in together.

Checks (plain SQL beside the store), printed and asserted:
  - no wallet below zero; each wallet = the sum of its entries = its top-up − the price
    of each order placed;
  - holds booked (and not released) == the orders the wallets could pay, wallet by wallet;
  - every draft either PLACED, with its one hold and an order at that price, or back to
    DRAFT with no ledger entry at all (a claim whose hold did not fit is rolled back with
    it): no draft left SUBMITTING or UNKNOWN, no hold lost;
  - the panel got exactly one `add` per placed order (its balance fell by their costs).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import re
import shutil
import sys
import tempfile
import time
from collections import Counter, defaultdict
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(Path(__file__).resolve().parent))

import bench_bot as bb  # noqa: E402  (the sandbox process, the Bench and its SQL counters)
from bench_shop import KEY, start_shop  # noqa: E402
from benchlib import database, drop_schema, max_rss_mb, percentile, rss_mb  # noqa: E402
from sqlalchemy import text  # noqa: E402
from telegram import Update  # noqa: E402

from bot import runtime  # noqa: E402
from bot.domain.limits import RateLimit  # noqa: E402
from bot.playground.fakegram import FakeUser  # noqa: E402
from bot.playground.sandbox.catalog import builtin_catalog  # noqa: E402
from bot.store.db import make_engine  # noqa: E402
from bot.store.ledger import Movement  # noqa: E402

SERVICE = 1012
QUANTITY = 1000
PRICE = Decimal("3.19")  # 2.45 per 1000 on the panel, + 30 %, rounded up to the cent
FIRST_USER_ID = 700_000


@dataclass
class Draft:
    id: int
    user: FakeUser
    message: dict[str, Any]  # the confirm screen as sent
    data: str  # the Confirm button's callback data


def press(draft: Draft) -> dict[str, Any]:
    """The Confirm press on the draft's confirm screen, as Telegram would deliver it."""
    user, fake = draft.user, draft.user.fake
    query_id = fake.next_query_id()
    fake.callback_queries[query_id] = {"id": query_id, "user_id": user.id, "chat_id": user.id,
                                       "message_id": draft.message["message_id"], "data": draft.data,
                                       "answered": False, "answer": None}
    return {"update_id": fake.next_update_id(),
            "callback_query": {"id": query_id, "from": user.user_dict(), "message": draft.message,
                               "chat_instance": f"{user.id}{fake.bot_id}", "data": draft.data}}


async def fill_in(bench: bb.Bench, user: FakeUser, drafts: int, run: str) -> list[Draft]:
    bot = bench.app.bot
    await bench.handle(user.update_for_text("/start", bot=bot))
    made = []
    for n in range(drafts):
        await bench.handle(user.update_for_text(f"/order {SERVICE}", bot=bot))
        await bench.handle(user.update_for_press("Order", bot=bot))
        await bench.handle(user.update_for_text(f"https://instagram.com/{run}{user.id}n{n}", bot=bot))
        await bench.handle(user.update_for_text(str(QUANTITY), bot=bot))
        while "Check your order" not in user.last_text:
            await bench.handle(user.update_for_press("Skip", bot=bot))
        screen = user.keyboard_message
        assert screen is not None and f"Price: ${PRICE}" in screen.text, user.last_text
        [data] = [b["callback_data"] for row in screen.inline_keyboard for b in row if b.get("text") == "Confirm"]
        made.append(Draft(int(data.split(":")[1]), user, screen.to_api(), data))
    return made


def funding(index: int, drafts: int) -> tuple[int, Decimal]:
    """Wallet `index`: how many orders it pays for, and its top-up."""
    pays = index % (drafts + 1)
    top_up = pays * PRICE + (PRICE - Decimal("0.01") if index % 3 == 0 and pays < drafts else Decimal(0))
    return pays, top_up


async def one_database(args: argparse.Namespace, sandbox: bb.Sandbox, pg_url: str | None, work: Path) -> list[str]:
    db_url, schema, where = await database(pg_url, work, "bench_confirms")
    bench = await start_shop(sandbox.url, db_url, schema, jobs=False)
    try:
        deps = bench.app.bot_data["deps"]
        # A scripted customer presses ten Confirms in a blink: the per-user flood limits
        # would turn most away before any of this is measured.
        deps.updates_limit = RateLimit(rate=1000.0, burst=100_000)
        deps.orders_limit = RateLimit(rate=1000.0, burst=100_000)
        users = [bench.fake.user(FIRST_USER_ID + i, first_name=f"Cust{i}", language_code="en")
                 for i in range(args.wallets)]
        started = time.perf_counter()
        drafts_of = await asyncio.gather(*(fill_in(bench, user, args.drafts, "pg" if pg_url else "lite") for user in users))
        funded: dict[int, tuple[int, Decimal]] = {}
        for i, user in enumerate(users):
            funded[user.id] = funding(i, args.drafts)
            if funded[user.id][1] > 0:
                await bench.store.book(Movement(user.id, funded[user.id][1], "topup", f"topup:confirms:{user.id}"))
        drafts = [d for mine in drafts_of for d in mine]
        can_pay = sum(min(pays, args.drafts) for pays, _ in funded.values())
        print(f"\n{where}: {len(users)} wallets, {len(drafts):,} drafts at {PRICE} each, the wallets pay for "
              f"{can_pay} of them; setup {time.perf_counter() - started:.1f} s")
        bench.trim_fake()

        updates = [Update.de_json(press(d), bench.app.bot) for d in drafts]
        panel_balance = (await bench.panels.client(KEY).balance()).amount
        panel_before = sum(c.calls for c in bench.panels._clients.values())
        db_before = dict(bench.db)
        times, rss_before = os.times(), rss_mb()
        started = time.perf_counter()
        samples = await asyncio.gather(*(bench.handle(update) for update in updates))
        wall = time.perf_counter() - started
        after = os.times()
        cpu = (after.user - times.user) + (after.system - times.system)
        ordered = sorted(samples)
        n = len(updates)
        db = {k: bench.db[k] - db_before[k] for k in db_before}
        panel = sum(c.calls for c in bench.panels._clients.values()) - panel_before
        print(f"{n:,} Confirms at once: {wall:.2f} s -> {n / wall:,.0f} confirms/s; handling ms p50 "
              f"{percentile(ordered, 50):.0f}, p90 {percentile(ordered, 90):.0f}, p99 {percentile(ordered, 99):.0f}, "
              f"max {ordered[-1]:.0f}")
        print(f"  bot CPU {cpu / n * 1000:.2f} ms/confirm ({cpu / wall * 100:.0f}% of a core); per confirm "
              f"{db['tx'] / n:.1f} DB transactions ({db['write tx'] / n:.1f} writing), {db['statements'] / n:.1f} SQL "
              f"statements, {panel / n:.2f} panel requests; RSS {rss_before:.0f} -> {rss_mb():.0f} MB, "
              f"max {max_rss_mb():.0f} MB")
        if bench.write_tx_ms:
            held = sorted(bench.write_tx_ms)
            print(f"  writing transactions, begin to commit: p50 {percentile(held, 50):.1f} ms, "
                  f"p99 {percentile(held, 99):.1f} ms, max {held[-1]:.0f} ms")
        return await check(bench, db_url, schema, users, drafts, funded, args.drafts, can_pay, panel_balance)
    finally:
        await bb.stop_bot(bench)
        if schema is not None and pg_url is not None:
            await drop_schema(pg_url, schema)


async def check(bench: bb.Bench, db_url: str, schema: str | None, users: list[FakeUser], drafts: list[Draft],
                funded: dict[int, tuple[int, Decimal]], per_wallet: int, can_pay: int,
                panel_balance: Decimal) -> list[str]:
    problems: list[str] = []
    if bench.errors:
        problems.append(f"{len(bench.errors)} handler errors, e.g. {bench.errors[0]}")
    engine = make_engine(db_url, schema=schema)
    try:
        async with engine.connect() as conn:
            entries = (await conn.execute(text("SELECT user_id, amount, kind, reference FROM ledger_entries"))).all()
            rows = (await conn.execute(text("SELECT id, state, error FROM drafts"))).all()
            states = {row.id: row.state for row in rows}
            errors = {row.id: row.error for row in rows}
            orders = {row.draft_id: row for row in await conn.execute(text(
                "SELECT draft_id, user_id, paid, charge, cost FROM orders"))}
    finally:
        await engine.dispose()
    sums: dict[int, Decimal] = defaultdict(Decimal)
    by_draft: dict[int, list[tuple[str, Decimal]]] = defaultdict(list)
    for user_id, amount, kind, reference in entries:
        money = Decimal(str(amount))
        sums[user_id] += money
        if match := re.fullmatch(r"draft:(\d+):\d+:(hold|release):\d+", reference):  # draft:{id}:{owner}:...
            by_draft[int(match.group(1))].append((match.group(2), money))
    placed_by: Counter[int] = Counter()
    released: Counter[str] = Counter()  # drafts held, then given back (the panel did not take them): why
    lost = Counter(states[d.id] for d in drafts if states[d.id] not in ("PLACED", "DRAFT"))
    if lost:
        problems.append(f"drafts neither placed nor open: {dict(lost)}")
    for d in drafts:
        moves = by_draft.get(d.id, [])
        if states[d.id] == "PLACED":
            order = orders.get(d.id)
            holds = [m for kind, m in moves if kind == "hold"]
            if moves != [("hold", -PRICE)] or holds != [-PRICE]:
                problems.append(f"placed draft {d.id}: ledger {moves}")
            if order is None or not order.paid or Decimal(str(order.charge)) != PRICE:
                problems.append(f"placed draft {d.id}: order {order}")
            placed_by[d.user.id] += 1
        elif moves:
            released[errors[d.id] or "?"] += 1
    if released:
        problems.append(f"{sum(released.values())} drafts were held and given back, the panel said: "
                        + "; ".join(f"{why!r} x{n}" for why, n in released.most_common(3)))
    held = sum(1 for moves in by_draft.values() if [k for k, _ in moves].count("hold") > [k for k, _ in moves].count("release"))
    for user in users:
        pays, top_up = funded[user.id]
        expected = min(pays, per_wallet)
        wallet = await bench.store.balance(user.id)
        if sums[user.id] < 0 or wallet != sums[user.id]:
            problems.append(f"wallet {user.id}: balance {wallet}, entries add up to {sums[user.id]}")
        if placed_by[user.id] != expected:
            problems.append(f"wallet {user.id} pays for {expected} orders, {placed_by[user.id]} were placed")
        if wallet != top_up - placed_by[user.id] * PRICE:
            problems.append(f"wallet {user.id}: {wallet}, expected {top_up} - {placed_by[user.id]} x {PRICE}")
    placed = sum(placed_by.values())
    balance = await bench.panels.client(KEY).balance()
    cost = sum((Decimal(str(o.cost)) for o in orders.values()), Decimal(0))
    spent = panel_balance - balance.amount
    print(f"  checks: lowest wallet {min(sums[u.id] for u in users).normalize():f}; holds booked {held} == orders the wallets "
          f"could pay {can_pay}: {'yes' if held == can_pay else 'NO'}; placed {placed}, back to DRAFT with nothing "
          f"held {sum(1 for d in drafts if states[d.id] == 'DRAFT' and not by_draft.get(d.id))}, "
          f"lost {sum(lost.values())}; the panel charged {spent} for orders that cost {cost}")
    if held != can_pay:
        problems.append(f"{held} holds booked, the wallets could pay {can_pay}")
    if abs(spent - cost) > Decimal("0.00001") * max(placed, 1):
        problems.append(f"the panel charged {spent}, the placed orders cost {cost}: an `add` too many or too few")
    return problems[:10]


async def run(args: argparse.Namespace) -> int:
    work = Path(tempfile.mkdtemp(prefix="bench_confirms_"))
    catalog = work / "services.json"
    catalog.write_text(json.dumps(builtin_catalog()), encoding="utf-8")
    sandbox = bb.Sandbox(catalog, [KEY])  # one panel for both databases: each run its own orders
    print(f"{os.cpu_count()} CPUs, load average {os.getloadavg()[0]:.1f}; event loop {runtime.event_loop_name()}")
    status = 0
    try:
        for pg_url in [None] + ([args.db] if args.db else []):
            problems = await one_database(args, sandbox, pg_url, work)
            if problems:
                status = 2
                print("  CHECKS FAILED:")
                for problem in problems:
                    print(f"    {problem}")
            else:
                print("  all checks passed")
        return status
    finally:
        sandbox.stop()
        shutil.rmtree(work, ignore_errors=True)


def main() -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n\n")[0])
    parser.add_argument("--wallets", type=int, default=100, help="customers, one wallet each (default 100)")
    parser.add_argument("--drafts", type=int, default=10, help="drafts each customer confirms at once (default 10)")
    parser.add_argument("--db", metavar="URL", default=os.environ.get("TEST_DATABASE_URL"),
                        help="PostgreSQL URL to run on after SQLite (default: TEST_DATABASE_URL, if set)")
    args = parser.parse_args()
    if args.wallets < 1 or args.drafts < 1:
        parser.error("--wallets and --drafts must be >= 1")
    runtime.tune_collector()
    return runtime.run(run(args))


if __name__ == "__main__":
    raise SystemExit(main())
