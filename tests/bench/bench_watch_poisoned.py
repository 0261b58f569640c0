"""A watch cycle with poisoned accounts among 50: the others' changes stored and notified in
that same cycle.

    python tests/bench/bench_watch_poisoned.py [--accounts 50] [--orders 20] [--db URL]

50 own-key accounts on the sandbox panel, --orders open orders each, all turned Completed
in the panel; then one cycle of the real Watcher on a real database (SQLite file, or the
PostgreSQL of --db) with three poisons: account 1's stored key no longer decrypts (another
SECRET_KEY), account 2's panel answers remains = 10^20 (fits no BIGINT column) for one
order, and account 3's write is refused by the database (a wrapper raising on its rows,
standing for any value the database refuses). Printed: accounts whose changes were stored
in that cycle, notifications queued, the accounts set aside, and the cycle's time.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import tempfile
import time
from decimal import Decimal
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

from sqlalchemy import text  # noqa: E402

from bot.domain.panels import Panels  # noqa: E402
from bot.domain.watcher import Watcher  # noqa: E402
from bot.playground.sandbox import SandboxPanel  # noqa: E402
from bot.store import KeyBox, Store, migrate  # noqa: E402
from tests.bench.benchlib import database  # noqa: E402
from tests.store_rows import add_order  # noqa: E402

SECRET = "bench poisoned secret"


async def run(args: argparse.Namespace) -> int:
    work = Path(tempfile.mkdtemp(prefix="bench_poisoned_"))
    url, schema, kind = await database(args.db, work, "bench_poisoned")
    async with SandboxPanel(speed=0) as sandbox:
        store = Store(url, keybox=KeyBox(SECRET), schema=schema)
        lost = Store(url, keybox=KeyBox("a replaced secret"), schema=schema)
        await migrate.upgrade(store.engine)
        orders: dict[int, list[Any]] = {}
        for n in range(args.accounts):
            key = sandbox.add_account(f"poison-key-{n:03d}-0123456789", balance=Decimal(10_000))
            user_id = 8_000 + n
            await store.ensure_user(user_id, "en")
            account = await (lost if n == 1 else store).link_account(user_id, sandbox.url, key, "USD")
            orders[n] = []
            for i in range(args.orders):
                panel_id = sandbox.state.add_order(sandbox.state.accounts[key], {
                    "service": "1012", "link": f"https://example.com/{n}/{i}", "quantity": "100"})
                orders[n].append(await add_order(
                    store, panel_order_id=panel_id, account_id=account.id, user_id=user_id, service_id=1012,
                    service_name="Followers", quantity=100, status="Pending"))
                sandbox.set_status(panel_id, "Completed", remains=0)
        await lost.dispose()
        sandbox.set_status(orders[2][0].panel_order_id, "In progress", remains=10**20)
        refused = {o.id for o in orders[3]}
        real_apply = store.apply_checks

        async def apply(owner: str, changes: Any, *rest: Any, **kw: Any) -> int:
            if any(entry[0] in refused for entry in changes):
                raise OverflowError("numeric field overflow")
            return await real_apply(owner, changes, *rest, **kw)

        store.apply_checks = apply  # type: ignore[method-assign]
        panels = Panels(sandbox.url)
        watcher = Watcher(store, panels, poll_seconds=60)
        started = time.perf_counter()
        report = await watcher.run_cycle()
        took = time.perf_counter() - started
        async with store.session() as s:
            async def count(sql: str) -> int:
                return int((await s.exec(text(sql))).one()[0])  # type: ignore[call-overload]

            stored = await count("SELECT count(DISTINCT account_id) FROM orders WHERE final")
            told = await count("SELECT count(DISTINCT user_id) FROM notifications WHERE kind = 'order_status'")
            queued = await count("SELECT count(*) FROM notifications")
        await panels.aclose()
        await store.dispose()
    print(f"database: {kind}; {args.accounts} accounts x {args.orders} orders, 3 poisoned "
          "(undecryptable key, remains 10^20, a write the database refuses)")
    print(f"one cycle: {took:.2f} s; accounts with their changes stored: {stored} (expected {args.accounts - 2}); "
          f"owners told: {told}; notifications queued: {queued}")
    print(f"set aside: {sorted(report.failed_accounts)}; paused: {sorted(report.paused_accounts)}")
    ok = stored == args.accounts - 2 and told == args.accounts - 2
    print("OK" if ok else "FAILED")
    return 0 if ok else 1


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--accounts", type=int, default=50)
    parser.add_argument("--orders", type=int, default=20)
    parser.add_argument("--db", default=None, help="PostgreSQL URL (default: a SQLite file)")
    return asyncio.run(run(parser.parse_args()))


if __name__ == "__main__":
    raise SystemExit(main())
