"""Deployment shapes: webhook mode refuses requests without the secret token, one
process takes updates, and a second one stops with a clear reason."""

from __future__ import annotations

import asyncio
import json
import os
import re
import signal
import socket
import sys
import uuid
from collections import Counter
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from decimal import Decimal
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import text

from bot.app import AnotherBotRunning
from bot.playground.fakegram import FakeTelegram
from bot.playground.fakegram.http import FakeBotApiServer
from bot.panel.client import PanelClient
from bot.playground.sandbox import SandboxPanel
from bot.store import KeyBox, Store, migrate
from bot.store.db import make_engine
from tests.harness import TOKEN, World, world
from tests.store_rows import add_order

SECRET = "hook-Secret_123"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


async def test_webhook_mode_processes_updates_only_with_the_secret_token(tmp_path: Path) -> None:
    async with world(tmp_path) as bot:
        assert bot.app is not None and bot.app.updater is not None
        port = free_port()
        await bot.app.updater.start_webhook(listen="127.0.0.1", port=port, url_path="telegram",
                                            webhook_url="https://bot.example.com/telegram", secret_token=SECRET)
        await bot.app.start()
        try:
            assert bot.fake.webhook_url == "https://bot.example.com/telegram"
            ann = bot.user()
            update = json.dumps(ann.update_dict_for_text("/help"))
            url = f"http://127.0.0.1:{port}/telegram"
            headers = {"Content-Type": "application/json"}
            async with httpx.AsyncClient() as http:
                missing = await http.post(url, content=update, headers=headers)
                wrong = await http.post(url, content=update, headers={**headers, "X-Telegram-Bot-Api-Secret-Token": "nope"})
                assert (missing.status_code, wrong.status_code) == (403, 403)
                await asyncio.sleep(0.2)
                assert ann.messages == []
                right = await http.post(url, content=update, headers={**headers, "X-Telegram-Bot-Api-Secret-Token": SECRET})
                assert right.status_code == 200
            for _ in range(50):
                if ann.messages:
                    break
                await asyncio.sleep(0.05)
            assert "What I can do" in ann.last_text
        finally:
            await bot.app.updater.stop()
            await bot.app.stop()


@pytest.mark.parametrize(
    "db", ["sqlite", pytest.param("postgresql", marks=pytest.mark.skipif(not os.environ.get("TEST_DATABASE_URL"), reason="TEST_DATABASE_URL not set"))]
)
async def test_a_second_process_taking_updates_stops_with_a_clear_reason(tmp_path: Path, db: str) -> None:
    async with world(tmp_path, db=db) as bot:
        holder = Store(bot.db_url, keybox=KeyBox("x"), schema=bot.schema)
        assert await holder.hold_lock("updates")
        try:
            second = World(bot.sandbox, (bot.db_url, bot.schema))
            second_app_error = None
            try:
                await start_taking_updates(second)
            except AnotherBotRunning as error:
                second_app_error = str(error)
            assert second_app_error is not None and "another bot process already takes" in second_app_error
        finally:
            await holder.dispose()
        # Once the first process is gone, the role is free again.
        third = World(bot.sandbox, (bot.db_url, bot.schema))
        await start_taking_updates(third)
        await third.stop()


async def start_taking_updates(world_: World) -> None:
    from bot.app import build_application
    from bot.config import load_settings
    from bot.domain.panels import Panels
    from bot.playground.fakegram import FakeRequest

    settings = load_settings(require_token=False, telegram_token=TOKEN, panel_url=world_.sandbox.url,
                             database_url=world_.db_url, secret_key="s")
    store = Store(world_.db_url, keybox=KeyBox("s"), schema=world_.schema)
    app = build_application(settings, store=store, panels=Panels(world_.sandbox.url), request=FakeRequest(world_.fake),
                            get_updates_request=FakeRequest(world_.fake), rate_limiter=False, take_updates=True)
    await app.initialize()
    try:
        assert app.post_init is not None
        await app.post_init(app)
    except BaseException:
        assert app.post_shutdown is not None
        await app.post_shutdown(app)
        await app.shutdown()
        raise
    world_.app = app


PG_URL = os.environ.get("TEST_DATABASE_URL")
ROOT = Path(__file__).resolve().parent.parent


@asynccontextmanager
async def fresh_pg_database() -> AsyncIterator[str]:
    """A database of its own (separate processes cannot share a test's schema setting)."""
    assert PG_URL is not None
    name = f"smm_mp_{uuid.uuid4().hex[:10]}"
    admin = make_engine(PG_URL).execution_options(isolation_level="AUTOCOMMIT")
    async with admin.connect() as conn:
        await conn.exec_driver_sql(f'CREATE DATABASE "{name}"')
    url = PG_URL.rsplit("/", 1)[0] + "/" + name
    try:
        yield url
    finally:
        async with admin.connect() as conn:
            await conn.exec_driver_sql(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        await admin.dispose()


@pytest.mark.skipif(not PG_URL, reason="TEST_DATABASE_URL not set")
async def test_two_watcher_processes_notify_every_change_exactly_once(tmp_path: Path) -> None:
    users, per_user = 500, 2  # 1,000 open orders
    async with SandboxPanel(speed=0) as sandbox, fresh_pg_database() as db_url:
        key = sandbox.add_account("mp-key-0123456789", balance=Decimal(10_000_000))
        fake = FakeTelegram(TOKEN)
        api = FakeBotApiServer(fake)
        api_url = await api.start()
        store = Store(db_url, keybox=KeyBox("mp secret"))
        await migrate.upgrade(store.engine)
        async with httpx.AsyncClient() as http:
            client = PanelClient(sandbox.url, key, http=http)
            semaphore = asyncio.Semaphore(20)

            async def add(i: int) -> int:
                async with semaphore:
                    return await client.add({"service": "1012", "link": f"https://x.com/mp/{i}", "quantity": "100"})

            order_ids = await asyncio.gather(*(add(i) for i in range(users * per_user)))
        accounts = {}
        for u in range(users):
            uid = 7_000_000_000 + u
            fake.user(uid)
            await store.ensure_user(uid, "en")
            accounts[uid] = await store.link_account(uid, sandbox.url, key, "USD")
        for i, order_id in enumerate(order_ids):
            uid = 7_000_000_000 + i // per_user
            await add_order(store, panel_order_id=order_id, account_id=accounts[uid].id, user_id=uid, service_id=1012,
                            service_name="Followers", quantity=100, status="Pending")
        for order_id in order_ids:
            sandbox.set_status(order_id, "Completed", remains=0)
        env = {**os.environ, "PYTHONPATH": str(ROOT), "TELEGRAM_TOKEN": TOKEN, "TELEGRAM_API_URL": api_url,
               "DATABASE_URL": db_url, "SECRET_KEY": "mp secret", "PANEL_URL": sandbox.url, "STATUS_POLL_SECONDS": "3"}
        env.pop("PANEL_KEY", None)
        env.pop("ALLOWED_USERS", None)
        watchers = [
            await asyncio.create_subprocess_exec(sys.executable, "-m", "bot", "watcher", cwd=tmp_path, env=env,
                                                 stdout=asyncio.subprocess.DEVNULL, stderr=asyncio.subprocess.PIPE)
            for _ in range(2)
        ]
        try:
            deadline = asyncio.get_running_loop().time() + 150
            while asyncio.get_running_loop().time() < deadline:
                async with store.session() as s:
                    unsent = (await s.exec(text("SELECT count(*) FROM notifications WHERE sent_at IS NULL"))).one()[0]  # type: ignore[call-overload]
                    queued = (await s.exec(text("SELECT count(*) FROM notifications"))).one()[0]  # type: ignore[call-overload]
                if queued == users * per_user and unsent == 0:
                    break
                await asyncio.sleep(0.5)
        finally:
            for process in watchers:
                process.send_signal(signal.SIGTERM)
            codes = [await asyncio.wait_for(p.wait(), 15) for p in watchers]
            errors = [(await p.stderr.read()).decode() for p in watchers if p.stderr is not None]
            await store.dispose()
            await api.stop()
        assert codes == [0, 0], errors
        assert queued == users * per_user and unsent == 0
        announced = [m.text for chat in fake.chats for m in fake.messages(chat) if m.text.startswith("📦 Order #")]
        per_order = Counter(int(re.search(r"#(\d+)", t).group(1)) for t in announced)  # type: ignore[union-attr]
        assert set(per_order) == set(order_ids) and set(per_order.values()) == {1}
        # No order was polled twice: each id went to the panel in one status call only.
        polled = Counter(i for r in sandbox.calls("status") for i in r.fields["orders"].split(","))
        assert set(polled.values()) == {1} and len(polled) == users * per_user
        assert fake.count_429 == 0


async def test_a_bot_on_an_old_schema_says_so_and_stops(tmp_path: Path) -> None:
    from bot.store.schema import SchemaOutOfDate

    async with world(tmp_path) as bot:
        # The database is now at head; pretend it was left at an older revision.
        assert bot.store is not None
        async with bot.store.session() as s:
            await s.exec(text("UPDATE alembic_version SET version_num = 'old0'"))  # type: ignore[call-overload]
        with pytest.raises(SchemaOutOfDate, match="python -m bot migrate|revision"):
            await bot.restart()
        bot.app = None


async def test_a_bot_that_telegram_answers_with_conflict_stops_polling(
    tmp_path: Path, caplog: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Another process elsewhere (another database) polls with the same token.
    async with world(tmp_path) as bot:
        assert bot.app is not None and bot.app.updater is not None
        stopped = asyncio.Event()
        monkeypatch.setattr(bot.app, "stop_running", stopped.set)
        bot.fake.inject_error("getUpdates", 409, "Conflict: terminated by other getUpdates request; "
                              "make sure that only one bot instance is running", count=100)
        app = bot.app
        await app.start()
        # As run_polling wires it: polling errors go to the application's error handler.
        await app.updater.start_polling(
            poll_interval=0, timeout=1,
            error_callback=lambda exc: app.create_task(app.process_error(error=exc, update=None)) and None,
        )
        try:
            await asyncio.wait_for(stopped.wait(), 10)
        finally:
            await bot.app.updater.stop()
            await bot.app.stop()
        assert "another process takes this bot's updates" in caplog.text


async def test_the_bot_process_takes_updates_by_long_polling_and_stops_cleanly(tmp_path: Path) -> None:
    """`python -m bot` as deployed (the Procfile's worker): its own event loop, update
    processor and collector settings, talking to a Bot API over HTTP. Two users write at
    once, one of them two messages in a row; both are answered, in order, and SIGTERM
    ends the process with status 0."""
    async with SandboxPanel(speed=0) as sandbox:
        key = sandbox.add_account("proc-key-0123456789", balance=Decimal(100))
        fake = FakeTelegram(TOKEN)
        api = FakeBotApiServer(fake)
        api_url = await api.start()
        env = {**os.environ, "PYTHONPATH": str(ROOT), "TELEGRAM_TOKEN": TOKEN, "TELEGRAM_API_URL": api_url,
               "DATABASE_URL": str(tmp_path / "bot.db"), "SECRET_KEY": "proc secret", "PANEL_URL": sandbox.url}
        for name in ("PANEL_KEY", "ALLOWED_USERS", "WEBHOOK_URL", "ADMIN_IDS"):
            env.pop(name, None)
        process = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "bot", cwd=tmp_path, env=env,
            stdout=asyncio.subprocess.DEVNULL, stderr=asyncio.subprocess.PIPE,
        )
        ann, bob = fake.user(3001), fake.user(3002)
        try:
            ann.push_text("/start")
            bob.push_text("/start")
            await ann.wait_for_reply(timeout=60)  # start-up: migrations, command menus
            await _until(lambda: "API key" in bob.last_text and "API key" in ann.last_text)
            ann.push_text(key)
            ann.push_text("/balance")
            await _until(lambda: "Balance" in ann.last_text or "balance" in ann.last_text.lower())
        finally:
            process.send_signal(signal.SIGTERM)
            code = await asyncio.wait_for(process.wait(), 30)
            log = (await process.stderr.read()).decode() if process.stderr is not None else ""
            await api.stop()
        assert code == 0, log
        texts = [m.text for m in ann.messages]
        linked = next(i for i, t in enumerate(texts) if "✅ Linked" in t)
        assert any("100" in t for t in texts[linked + 1:]), texts  # /balance, answered after the key
        assert "event loop uvloop" in log
        assert TOKEN not in log


async def _until(condition: Any, timeout: float = 20.0) -> None:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while not condition():
        if loop.time() > deadline:
            raise AssertionError("timed out")
        await asyncio.sleep(0.05)
