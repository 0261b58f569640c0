"""`python -m bot` and `python -m bot watcher` as deployed, with PANEL_URL typed as the
panel's address: each process finds the API, says which URL it uses in one line, and
works there (the watcher polls the orders of accounts stored under PANEL_URL)."""

from __future__ import annotations

import asyncio
import os
import signal
import sys
from decimal import Decimal
from pathlib import Path

import pytest

from bot.playground.fakegram import FakeTelegram
from bot.playground.fakegram.http import FakeBotApiServer
from bot.playground.sandbox import SandboxPanel
from bot.store import KeyBox, Store, migrate
from tests.harness import TOKEN
from tests.store_rows import add_order

ROOT = Path(__file__).resolve().parent.parent
SETTINGS = ("TELEGRAM_TOKEN", "TELEGRAM_API_URL", "PANEL_URL", "PANEL_KEY", "ALLOWED_USERS", "ADMIN_IDS",
            "DATABASE_URL", "SECRET_KEY", "STATUS_POLL_SECONDS", "DEFAULT_LOCALE", "WEBHOOK_URL", "WEBHOOK_SECRET", "PORT")
SECRET = "process secret"
USER_KEY = "process-user-key-0123456789"


async def read_until(process: asyncio.subprocess.Process, wanted: str, seconds: float = 60.0) -> str:
    """stderr until a line contains `wanted` (or the process ends, or time is up)."""
    assert process.stderr is not None
    seen = ""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + seconds
    while wanted not in seen:
        left = deadline - loop.time()
        if left <= 0:
            break
        try:
            line = await asyncio.wait_for(process.stderr.readline(), left)
        except TimeoutError:
            break
        if not line:
            break
        seen += line.decode("utf-8", "replace")
    return seen


async def end(process: asyncio.subprocess.Process) -> str:
    if process.returncode is None:
        process.send_signal(signal.SIGTERM)
        try:
            await asyncio.wait_for(process.wait(), 30)
        finally:
            if process.returncode is None:
                process.kill()
                await process.wait()
    assert process.stderr is not None
    return (await process.stderr.read()).decode("utf-8", "replace")


@pytest.mark.parametrize("command", [[], ["watcher"]])
async def test_each_process_finds_the_api_from_the_panel_address_and_says_so(tmp_path: Path,
                                                                            command: list[str]) -> None:
    async with SandboxPanel(speed=0, dialect="smartpanel") as sandbox:
        typed = sandbox.base_url
        db_path = tmp_path / "bot.db"
        store = Store(str(db_path), keybox=KeyBox(SECRET))
        await migrate.upgrade(store.engine)
        key = sandbox.add_account(USER_KEY, balance=Decimal(100))
        await store.ensure_user(5001, "en")
        account = await store.link_account(5001, typed, key, "USD")  # stored under PANEL_URL as typed
        order_id = await sandbox_order(sandbox, key)
        await add_order(store, panel_order_id=order_id, account_id=account.id, user_id=5001, service_id=1012,
                        service_name="Followers", quantity=100, status="Pending")
        await store.dispose()

        api = FakeBotApiServer(FakeTelegram(TOKEN))
        env = {k: v for k, v in os.environ.items() if k not in SETTINGS}
        env.update(PYTHONPATH=str(ROOT), TELEGRAM_TOKEN=TOKEN, SECRET_KEY=SECRET, TELEGRAM_API_URL=await api.start(),
                   DATABASE_URL=str(db_path), PANEL_URL=typed, STATUS_POLL_SECONDS="1")
        process = await asyncio.create_subprocess_exec(sys.executable, "-m", "bot", *command, cwd=tmp_path, env=env,
                                                       stdout=asyncio.subprocess.DEVNULL,
                                                       stderr=asyncio.subprocess.PIPE)
        try:
            seen = await read_until(process, "Panel API at")
            polled = False
            for _ in range(300):  # the watch job's first cycle is a few seconds after start
                if sandbox.count("status"):
                    polled = True
                    break
                await asyncio.sleep(0.05)
        finally:
            log = seen + await end(process)
            await api.stop()
        lines = [line for line in log.splitlines() if "Panel API at" in line]
        assert len(lines) == 1, log
        assert f"Panel API at {sandbox.url} (PANEL_URL {typed}; tried {typed}/api/v2 (web page, HTTP 403)" in lines[0]
        assert polled, log  # at the endpoint found, for an account stored under PANEL_URL
        assert "Traceback" not in log and USER_KEY not in log and TOKEN not in log


async def sandbox_order(sandbox: SandboxPanel, key: str) -> int:
    from bot.panel.client import PanelClient

    async with PanelClient(sandbox.url, key) as client:
        return await client.add({"service": "1012", "link": "https://instagram.com/nasa", "quantity": "100"})
