"""A whole bot for scenario tests: the sandbox panel over loopback HTTP, the real PTB
Application with only Telegram's transport faked, and a real database."""

from __future__ import annotations

import os
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from decimal import Decimal
from pathlib import Path
from typing import Any

from telegram.ext import Application

from bot.app import build_application
from bot.config import Settings, load_settings
from bot.domain.limits import RateLimit
from bot.domain.panels import Panels
from bot.playground.fakegram import FakeRequest, FakeTelegram, FakeUser
from bot.playground.sandbox import SandboxPanel
from bot.store import KeyBox, Store
from bot.store.db import make_engine

PG_URL = os.environ.get("TEST_DATABASE_URL")
SECRET = "test secret key for the store"
KEY = "sandbox-key-0123456789abcdef"
TOKEN = "123456:fake-token-for-tests-only"


class World:
    """One bot, one sandbox panel, one fake Telegram; `restart()` makes a new bot
    process on the same database, as a deploy would."""

    def __init__(
        self, sandbox: SandboxPanel, database: tuple[str, str | None], *, catalog_ttl: float = 600.0,
        flood_limits: bool = False, **settings: Any
    ) -> None:
        self.catalog_ttl = catalog_ttl
        self.flood_limits = flood_limits
        self.sandbox = sandbox
        self.db_url, self.schema = database
        self.fake = FakeTelegram(TOKEN)
        self.key = KEY
        self.settings_overrides = settings
        self.app: Application | None = None  # type: ignore[type-arg]
        self.store: Store | None = None
        self.settings: Settings | None = None

    async def start(self) -> None:
        self.settings = load_settings(
            require_token=False,
            telegram_token=TOKEN,
            telegram_api_url="http://127.0.0.1:9/tg",
            panel_url=self.sandbox.url,
            database_url=self.db_url,
            secret_key=SECRET,
            **self.settings_overrides,
        )
        self.store = Store(self.db_url, keybox=KeyBox(SECRET), schema=self.schema, user_cache_seconds=30.0)
        # Short client timeouts so that a hanging panel costs a test about a second.
        panels = Panels(self.sandbox.url, client_options={"timeout": 1.0, "retries": 1, "backoff": 0.05},
                        catalog_ttl=self.catalog_ttl)
        self.app = build_application(
            self.settings, store=self.store, panels=panels,
            request=FakeRequest(self.fake), get_updates_request=FakeRequest(self.fake), rate_limiter=False,
        )
        await self.app.initialize()
        assert self.app.post_init is not None
        await self.app.post_init(self.app)
        if not self.flood_limits:
            # Scenario tests act faster than any person; test_limits.py keeps the real limits.
            deps = self.app.bot_data["deps"]
            deps.updates_limit = RateLimit(rate=1000.0, burst=100_000)
            deps.orders_limit = RateLimit(rate=1000.0, burst=100_000)

    async def stop(self) -> None:
        if self.app is not None:
            assert self.app.post_shutdown is not None
            await self.app.post_shutdown(self.app)
            await self.app.shutdown()
            self.app = None

    async def restart(self) -> None:
        await self.stop()
        await self.start()

    def user(self, user_id: int = 1001, language_code: str | None = "en", first_name: str = "Ann") -> FakeUser:
        return self.fake.user(user_id, first_name=first_name, language_code=language_code)

    async def linked_user(self, user_id: int = 1001, language_code: str | None = "en") -> FakeUser:
        """A user who has linked the sandbox key, as a user would: /start, paste key."""
        user = self.user(user_id, language_code)
        await self.send(user, "/start")
        await self.send(user, self.key)
        assert "✅" in user.last_text, user.last_text
        return user

    async def send(self, user: FakeUser, text: str) -> list[Any]:
        assert self.app is not None
        return await user.send(self.app, text)

    async def press(self, user: FakeUser, label: str) -> list[Any]:
        assert self.app is not None
        return await user.press(self.app, label)


@asynccontextmanager
async def database(kind: str, tmp_path: Path) -> AsyncIterator[tuple[str, str | None]]:
    """A fresh SQLite file, or a fresh schema on the PostgreSQL of TEST_DATABASE_URL."""
    if kind == "sqlite":
        yield f"sqlite+aiosqlite:///{tmp_path / 'bot.db'}", None
        return
    assert PG_URL is not None
    schema = f"test_bot_{uuid.uuid4().hex[:12]}"
    admin = make_engine(PG_URL)
    async with admin.begin() as conn:
        await conn.exec_driver_sql(f'CREATE SCHEMA "{schema}"')
    try:
        yield PG_URL, schema
    finally:
        async with admin.begin() as conn:
            await conn.exec_driver_sql(f'DROP SCHEMA "{schema}" CASCADE')
        await admin.dispose()


@asynccontextmanager
async def world(
    tmp_path: Path, *, db: str = "sqlite", balance: str = "100", speed: float = 0.0, catalog_ttl: float = 600.0,
    flood_limits: bool = False, catalog: str | Path | None = None, dialect: str = "seed", **settings: Any
) -> AsyncIterator[World]:
    """`dialect`: how the sandbox panel answers ("seed", or "smartpanel" for that family)."""
    async with SandboxPanel(catalog, speed=speed, dialect=dialect) as sandbox, database(db, tmp_path) as dbinfo:
        sandbox.add_account(KEY, balance=Decimal(balance))
        bot = World(sandbox, dbinfo, catalog_ttl=catalog_ttl, flood_limits=flood_limits, **settings)
        await bot.start()
        try:
            yield bot
        finally:
            await bot.stop()
