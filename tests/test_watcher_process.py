"""`python -m bot watcher` as deployed: SIGTERM ends it within 15 seconds even with the
panel hung in the middle of a cycle over 50 accounts; the next start takes the orders
again once the leases expire."""

from __future__ import annotations

import asyncio
import os
import signal
import sys
from decimal import Decimal
from pathlib import Path

from bot.playground.fakegram import FakeTelegram
from bot.playground.fakegram.http import FakeBotApiServer
from bot.playground.sandbox import SandboxPanel
from bot.store import KeyBox, Store, migrate
from tests.harness import TOKEN
from tests.store_rows import add_order

ROOT = Path(__file__).resolve().parent.parent
SETTINGS = ("TELEGRAM_TOKEN", "TELEGRAM_API_URL", "PANEL_URL", "PANEL_KEY", "ALLOWED_USERS", "ADMIN_IDS",
            "DATABASE_URL", "SECRET_KEY", "STATUS_POLL_SECONDS", "DEFAULT_LOCALE", "WEBHOOK_URL", "WEBHOOK_SECRET", "PORT")
STOP_SECONDS = 15.0


async def test_sigterm_ends_the_watcher_within_15_seconds_during_a_cycle_on_a_hung_panel_with_50_accounts(
    tmp_path: Path
) -> None:
    async with SandboxPanel(speed=0) as sandbox:
        db_path = tmp_path / "bot.db"
        store = Store(str(db_path), keybox=KeyBox("process secret"))
        await migrate.upgrade(store.engine)
        for n in range(50):
            key = sandbox.add_account(f"watch-key-{n:04d}-0123456789", balance=Decimal(100))
            user_id = 5_000 + n
            await store.ensure_user(user_id, "en")
            account = await store.link_account(user_id, sandbox.url, key, "USD")
            await add_order(store, panel_order_id=10_000 + n, account_id=account.id, user_id=user_id,
                            service_id=1012, service_name="Followers", quantity=100, status="Pending")
        await store.dispose()
        sandbox.faults.set("status", hang=True)
        api = FakeBotApiServer(FakeTelegram(TOKEN))
        env = {k: v for k, v in os.environ.items() if k not in SETTINGS}
        env.update(PYTHONPATH=str(ROOT), TELEGRAM_TOKEN=TOKEN, SECRET_KEY="process secret",
                   TELEGRAM_API_URL=await api.start(), DATABASE_URL=str(db_path), PANEL_URL=sandbox.url,
                   STATUS_POLL_SECONDS="60")
        process = await asyncio.create_subprocess_exec(sys.executable, "-m", "bot", "watcher", cwd=tmp_path, env=env,
                                                       stdout=asyncio.subprocess.DEVNULL,
                                                       stderr=asyncio.subprocess.PIPE)
        loop = asyncio.get_running_loop()
        try:
            deadline = loop.time() + 60
            while sandbox.count("status") < 8:  # the cycle is under way, every connection hung
                assert process.returncode is None and loop.time() < deadline
                await asyncio.sleep(0.05)
            await asyncio.sleep(0.5)
        finally:
            started = loop.time()
            process.send_signal(signal.SIGTERM)
            try:
                code = await asyncio.wait_for(process.wait(), 60)
            finally:
                if process.returncode is None:
                    process.kill()
                    await process.wait()
                await api.stop()
            took = loop.time() - started
        log = (await process.stderr.read()).decode() if process.stderr is not None else ""
        print(f"watcher exit after SIGTERM: {took:.2f}s (hung panel, 50 accounts due)")
        assert took < STOP_SECONDS, (took, log)
        assert code == 0, log
        assert "Traceback" not in log, log
        assert TOKEN not in log and "watch-key-" not in log
