"""What a demo runs: the sandbox panel (or, with --panel-url, a real one), a database, the
fake Telegram and the bot's own Application, started and stopped together."""

from __future__ import annotations

import asyncio
import logging
import secrets
import shutil
import tempfile
from collections.abc import Awaitable
from pathlib import Path
from typing import Any

from telegram.ext import Application

from bot.app import build_application, make_panels
from bot.config import ConfigError, load_settings
from bot.playground.demo.options import Options
from bot.playground.fakegram import FakeRequest, FakeTelegram
from bot.playground.sandbox import SandboxPanel

log = logging.getLogger(__name__)

# The bot's Application as build_application makes it (its context types are the bot's own).
App = Application[Any, Any, Any, Any, Any, Any]

# Status notifications should show up during a demo, not a minute later.
DEMO_STATUS_POLL_SECONDS = 5.0
# Seconds between status checks of the orders placed in the demo, on a real panel.
REAL_STATUS_POLL_SECONDS = 30.0


# --shop: a wallet's unit (USD) costs this many pretend Stars.
SHOP_STARS_PER_UNIT = "50"


class StartupError(Exception):
    """Something the person running the demo can fix; printed as one line."""


class Session:
    """The panel, the database, the fake Telegram with its one user, and the Application;
    `start` brings them up, `stop` undoes whatever `start` got to."""

    def __init__(self, options: Options) -> None:
        self.options = options
        # --panel-url: a real panel (its endpoint in `url`), no sandbox.
        self.real = options.panel_url is not None
        self.typed_url = options.panel_url or ""
        self.sandbox: SandboxPanel | None = None
        self.app: App | None = None
        self.fake = FakeTelegram()
        self.user = self.fake.user(options.user_id, first_name="You", language_code=options.lang)
        self.key = ""  # the sandbox account's key
        self.url = ""  # the panel's API endpoint
        self.db_path: Path | None = None
        self.tmpdir: str | None = None  # holds a database deleted at exit
        self._initialized = False
        self._post_init_done = False

    @property
    def application(self) -> App:
        """The Application, once `start` built it."""
        if self.app is None:
            raise RuntimeError("the demo has not started")
        return self.app

    async def start(self) -> None:
        try:
            await self._start()
        except StartupError:
            raise
        except Exception as exc:
            # Say what broke in one line; -v also logs the traceback.
            log.info("demo start-up failed", exc_info=True)
            first_line = (str(exc).splitlines() or [""])[0]
            raise StartupError(f"the demo could not start: {type(exc).__name__}: {first_line}") from exc

    async def _start(self) -> None:
        options = self.options
        if self.real:
            panel_url = self.typed_url
        else:
            await self._start_sandbox()
            panel_url = self.url

        if options.db is not None:
            self.db_path = options.db
            if not self.db_path.parent.is_dir():
                raise StartupError(f"--db: no such directory: {self.db_path.parent}")
        else:
            self.tmpdir = tempfile.mkdtemp(prefix="smm-bot-demo-")
            self.db_path = Path(self.tmpdir) / "demo.db"
        try:
            # Every setting given explicitly (and no .env file), so an operator's real
            # configuration (a PANEL_KEY, ALLOWED_USERS...) cannot leak into the demo.
            # --shop: the sandbox account is the shop's, and you are its customer and admin.
            shop = {"mode": "shop", "panel_key": self.key, "stars_per_unit": SHOP_STARS_PER_UNIT,
                    "shop_markup": "30", "referral_percent": "5"} if options.shop else {"panel_key": None}
            settings = load_settings(
                require_token=False,
                _env_file=None,
                telegram_token=None,
                panel_url=panel_url,
                allowed_users=frozenset(),
                admin_ids=frozenset({options.user_id}) if options.shop else frozenset(),
                **shop,
                database_url=f"sqlite+aiosqlite:///{self.db_path.as_posix()}",
                secret_key=secrets.token_urlsafe(32),
                status_poll_seconds=REAL_STATUS_POLL_SECONDS if self.real else DEMO_STATUS_POLL_SECONDS,
                default_locale="en",
                webhook_url=None,
                webhook_secret=None,
            )
        except ConfigError as exc:
            raise StartupError(f"configuration: {exc}".replace("PANEL_URL:", "--panel-url:")) from None

        # The panel side as the bot runs it; on a real panel, its API found from the URL
        # typed (as the bot's start-up does), or the demo ends saying what was tried.
        panels = make_panels(settings)
        if self.real:
            found = await panels.find_endpoint(None)
            if found.endpoint is None:
                await panels.aclose()
                raise StartupError(found.line())
            self.url = found.endpoint

        # One FakeRequest per slot: PTB shuts each down separately.
        app: App = build_application(
            settings,
            panels=panels,
            request=FakeRequest(self.fake),
            get_updates_request=FakeRequest(self.fake),
            rate_limiter=False,
        )
        self.app = app
        # The confirm screen says an order here is a real one, paid with real money.
        app.bot_data["real_panel"] = self.real
        await app.initialize()
        self._initialized = True
        if app.post_init is not None:
            await app.post_init(app)
        self._post_init_done = True
        if app.job_queue is not None:
            # start() runs the JobQueue and an idle update fetcher; no updater polls, and
            # we hand updates to process_update ourselves, which needs no running fetcher.
            await app.start()

    async def _start_sandbox(self) -> None:
        options = self.options
        try:
            self.sandbox = SandboxPanel(options.catalog, speed=options.speed, seed=0)
        except (OSError, ValueError) as exc:
            raise StartupError(f"--catalog: cannot use {options.catalog}: {exc}") from None
        self.key = self.sandbox.add_account(None, options.balance)
        try:
            self.url = await self.sandbox.start("127.0.0.1", 0)
        except OSError as exc:
            raise StartupError(f"cannot start the sandbox panel on 127.0.0.1: {exc}") from None

    async def stop(self) -> None:
        """Undo whatever `start` got to, each step on its own so one failure skips none."""
        app = self.app
        if app is not None:
            if app.running:
                await _quietly("stopping the application", app.stop())
            if self._initialized:
                await _quietly("shutting the application down", app.shutdown())
            if self._post_init_done and app.post_shutdown is not None:
                await _quietly("closing the store and panels", app.post_shutdown(app))
        if self.sandbox is not None:
            await _quietly("stopping the sandbox", self.sandbox.stop())
        if self.tmpdir is not None:
            shutil.rmtree(self.tmpdir, ignore_errors=True)


async def _quietly(what: str, work: Awaitable[Any]) -> None:
    try:
        await asyncio.wait_for(work, timeout=10)
    except Exception:  # noqa: BLE001 - cleanup goes on
        log.warning("demo: %s failed", what, exc_info=True)
