"""The processes as deployed, started when something they need is not there yet or goes
away: an unreachable database stops them with one line, an unreachable Bot API is waited
for, and SIGTERM ends the bot within 15 seconds whatever the panel does."""

from __future__ import annotations

import asyncio
import os
import signal
import socket
import sys
from collections.abc import Callable
from decimal import Decimal
from pathlib import Path
from typing import Any

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


def closed_port() -> int:
    """A port nothing listens on (bound, then released)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def environment(**settings: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in SETTINGS}
    env.update(PYTHONPATH=str(ROOT), TELEGRAM_TOKEN=TOKEN, SECRET_KEY="process secret", **settings)
    return env


async def run_to_exit(args: list[str], env: dict[str, str], cwd: Path, timeout: float = 60) -> tuple[int, str]:
    process = await asyncio.create_subprocess_exec(sys.executable, "-m", "bot", *args, cwd=cwd, env=env,
                                                   stdout=asyncio.subprocess.DEVNULL, stderr=asyncio.subprocess.PIPE)
    try:
        _, stderr = await asyncio.wait_for(process.communicate(), timeout)
    except TimeoutError:
        process.kill()
        await process.wait()
        raise
    assert process.returncode is not None
    return process.returncode, stderr.decode()


UNREACHABLE = {
    "closed-port": (f"postgresql://postgres@127.0.0.1:{closed_port()}/bot", "connection refused"),
    "unwritable-sqlite": ("sqlite+aiosqlite:////proc/bot.db", "unable to open database file"),
}


@pytest.mark.parametrize("command", [[], ["watcher"], ["migrate"]], ids=["bot", "watcher", "migrate"])
@pytest.mark.parametrize("database", UNREACHABLE.keys())
async def test_an_unreachable_database_stops_start_up_with_one_line_naming_database_url(
    tmp_path: Path, command: list[str], database: str
) -> None:
    url, reason = UNREACHABLE[database]
    # The Bot API is unreachable too: the database is checked first, so this ends at once.
    env = environment(DATABASE_URL=url, TELEGRAM_API_URL=f"http://127.0.0.1:{closed_port()}")
    code, log = await run_to_exit(command, env, tmp_path)
    assert code != 0, log
    assert "Traceback" not in log, log
    last = log.strip().splitlines()[-1]
    assert "DATABASE_URL" in last and reason in last.lower(), log
    assert "process secret" not in log and TOKEN not in log


async def until(condition: Callable[[], bool], timeout: float = 30.0) -> None:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while not condition():
        if loop.time() > deadline:
            raise AssertionError("timed out")
        await asyncio.sleep(0.05)


async def stop(process: asyncio.subprocess.Process, timeout: float = 30.0) -> tuple[int, str, float]:
    """SIGTERM, then the exit code, the log and how long it took to exit."""
    loop = asyncio.get_running_loop()
    started = loop.time()
    if process.returncode is None:
        process.send_signal(signal.SIGTERM)
    try:
        code = await asyncio.wait_for(process.wait(), timeout)
    except TimeoutError:
        process.kill()
        await process.wait()
        raise
    took = loop.time() - started
    log = (await process.stderr.read()).decode() if process.stderr is not None else ""
    return code, log, took


async def test_the_bot_waits_for_a_bot_api_not_up_yet_with_one_line_per_try(tmp_path: Path) -> None:
    """After a platform restart the network may come up after the bot: it keeps trying
    (with growing pauses) instead of exiting with a traceback, then serves as usual."""
    async with SandboxPanel(speed=0) as sandbox:
        fake = FakeTelegram(TOKEN)
        port = closed_port()
        env = environment(TELEGRAM_API_URL=f"http://127.0.0.1:{port}", DATABASE_URL=str(tmp_path / "bot.db"),
                          PANEL_URL=sandbox.url)
        process = await asyncio.create_subprocess_exec(sys.executable, "-m", "bot", cwd=tmp_path, env=env,
                                                       stdout=asyncio.subprocess.DEVNULL, stderr=asyncio.subprocess.PIPE)
        api = FakeBotApiServer(fake)
        try:
            await asyncio.sleep(4)
            assert process.returncode is None  # still waiting, not exited
            await api.start(port=port)
            ann = fake.user(3001)
            ann.push_text("/start")
            await ann.wait_for_reply(timeout=60)
            await until(lambda: "API key" in ann.last_text)
        finally:
            code, log, _ = await stop(process)
            await api.stop()
        assert code == 0, log
        assert "Traceback" not in log, log
        tries = [line for line in log.splitlines() if "Bot API" in line and "not reachable" in line]
        assert len(tries) >= 2, log
        assert TOKEN not in log and TOKEN.split(":")[1] not in log


async def test_a_token_telegram_refuses_stops_start_up_with_one_line_without_the_token(tmp_path: Path) -> None:
    api = FakeBotApiServer(FakeTelegram("999999:another-bots-token"))
    api_url = await api.start()
    try:
        env = environment(TELEGRAM_API_URL=api_url, DATABASE_URL=str(tmp_path / "bot.db"))
        code, log = await run_to_exit([], env, tmp_path)
    finally:
        await api.stop()
    assert code == 2, log
    assert "Traceback" not in log and "TELEGRAM_TOKEN" in log.strip().splitlines()[-1]
    assert TOKEN not in log and TOKEN.split(":")[1] not in log


def start_bot(env: dict[str, str], cwd: Path) -> Any:
    return asyncio.create_subprocess_exec(sys.executable, "-m", "bot", cwd=cwd, env=env,
                                          stdout=asyncio.subprocess.DEVNULL, stderr=asyncio.subprocess.PIPE)


STOP_SECONDS = 15.0


async def test_sigterm_ends_the_bot_within_15_seconds_with_an_add_hanging_on_the_panel(tmp_path: Path) -> None:
    async with SandboxPanel(speed=0) as sandbox:
        key = sandbox.add_account("stop-key-0123456789", balance=Decimal(100))
        fake = FakeTelegram(TOKEN)
        api = FakeBotApiServer(fake)
        env = environment(TELEGRAM_API_URL=await api.start(), DATABASE_URL=str(tmp_path / "bot.db"), PANEL_URL=sandbox.url)
        process = await start_bot(env, tmp_path)
        ann = fake.user(3001)
        try:
            ann.push_text("/start")
            await ann.wait_for_reply(timeout=60)
            ann.push_text(key)
            await until(lambda: "✅ Linked" in ann.last_text)
            ann.push_text("/order 1012")
            await until(lambda: "Order" in [label for row in ann.last_buttons for label, _ in row])
            ann.push_press("Order")
            await until(lambda: "link" in ann.last_text.lower() and ann.last_text != "")
            ann.push_text("https://instagram.com/nasa")
            await until(lambda: "quantity" in ann.last_text.lower())
            ann.push_text("1000")
            while "Check your order" not in ann.last_text:
                await until(lambda: "Check your order" in ann.last_text or "Skip" in str(ann.last_buttons))
                if "Check your order" not in ann.last_text:
                    ann.push_press("Skip")
                    await asyncio.sleep(0.3)
            sandbox.faults.set("add", hang=True)
            ann.push_press("Confirm")
            await until(lambda: sandbox.count("add") == 1)  # the add is in flight, the panel silent
            await asyncio.sleep(0.5)
        finally:
            code, log, took = await stop(process)
            await api.stop()
        assert took < STOP_SECONDS, (took, log)
        assert code == 0, log
        assert TOKEN not in log


async def test_sigterm_ends_the_bot_within_15_seconds_during_a_watch_cycle_on_a_hung_panel_with_50_accounts(
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
        fake = FakeTelegram(TOKEN)
        api = FakeBotApiServer(fake)
        env = environment(TELEGRAM_API_URL=await api.start(), DATABASE_URL=str(db_path), PANEL_URL=sandbox.url,
                          STATUS_POLL_SECONDS="60")
        process = await start_bot(env, tmp_path)
        try:
            await until(lambda: sandbox.count("status") >= 1, timeout=60)  # the first cycle is under way
            await asyncio.sleep(0.5)
        finally:
            code, log, took = await stop(process)
            await api.stop()
        assert took < STOP_SECONDS, (took, log)
        assert code == 0, log
