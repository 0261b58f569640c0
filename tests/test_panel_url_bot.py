"""PANEL_URL as operators type it, through the real Application: the bot finds the
panel's API at start-up and on /connect, says in one log line which URL it uses (or
what it tried), keeps working when the panel is down at start-up, and says "check
PANEL_URL" when the address answers web pages.

Which URL keys what: PANEL_URL *as configured* names the panel in the database (stored
accounts, panel facts) and in the catalog cache; the endpoint found is only where the
requests go. So a deployment keeps its linked accounts whatever the search finds at a
start, even when it finds nothing."""

from __future__ import annotations

import asyncio
import logging
import socket
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from aiohttp import web

from bot.app import build_application
from bot.config import load_settings
from bot.domain import panels as panels_module
from bot.domain.capabilities import NO_REFILL
from bot.domain.panels import Panels
from bot.playground.fakegram import FakeRequest
from bot.playground.sandbox import SandboxPanel
from bot.store import KeyBox, Store
from tests.harness import KEY, PG_URL, SECRET, TOKEN, World, database

DIALECTS = ["seed", "smartpanel"]
DATABASES = ["sqlite", pytest.param("postgresql", marks=pytest.mark.skipif(not PG_URL, reason="TEST_DATABASE_URL not set"))]


class TypedWorld(World):
    """The harness's bot, with PANEL_URL as an operator typed it and the start-up
    search for the endpoint on (as `python -m bot` runs it)."""

    def __init__(self, sandbox: SandboxPanel, dbinfo: tuple[str, str | None], typed: str, **settings: Any) -> None:
        super().__init__(sandbox, dbinfo, **settings)
        self.typed = typed
        self.find = True

    async def start(self) -> None:
        self.settings = load_settings(
            require_token=False, telegram_token=TOKEN, telegram_api_url="http://127.0.0.1:9/tg",
            panel_url=self.typed, database_url=self.db_url, secret_key=SECRET, _env_file=None,
            **self.settings_overrides,
        )
        self.store = Store(self.db_url, keybox=KeyBox(SECRET), schema=self.schema, user_cache_seconds=30.0)
        panels = Panels(self.settings.panel_url, client_options={"timeout": 1.0, "retries": 1, "backoff": 0.05})
        self.app = build_application(
            self.settings, store=self.store, panels=panels, find_endpoint=self.find,
            request=FakeRequest(self.fake), get_updates_request=FakeRequest(self.fake), rate_limiter=False,
        )
        await self.app.initialize()
        assert self.app.post_init is not None
        await self.app.post_init(self.app)

    @property
    def panels(self) -> Panels:
        assert self.app is not None
        panels: Panels = self.app.bot_data["deps"].panels
        return panels


@asynccontextmanager
async def typed_world(tmp_path: Path, typed: str | None = None, *, dialect: str = "seed", db: str = "sqlite",
                      find: bool = True, **settings: Any) -> AsyncIterator[TypedWorld]:
    """A bot on a started sandbox; `typed`: PANEL_URL, "{base}" standing for the
    sandbox's address (default: its API URL)."""
    async with SandboxPanel(speed=0, dialect=dialect) as sandbox, database(db, tmp_path) as dbinfo:
        sandbox.add_account(KEY, balance=Decimal(100))
        url = (typed or sandbox.url).replace("{base}", sandbox.base_url)
        bot = TypedWorld(sandbox, dbinfo, url, **settings)
        bot.find = find
        await bot.start()
        try:
            yield bot
        finally:
            await bot.stop()


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def lines_from(caplog: pytest.LogCaptureFixture, name: str) -> list[str]:
    return [r.getMessage() for r in caplog.records if r.name == name]


# --- found at start-up ---------------------------------------------------------------------


@pytest.mark.parametrize("dialect", DIALECTS)
@pytest.mark.parametrize("typed", ["{base}", "{base}/api/v2", "{base}/api/v1"])
async def test_the_bot_finds_the_api_from_what_the_operator_typed_and_says_which_url_it_uses(
    tmp_path: Path, dialect: str, typed: str, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.INFO):
        async with typed_world(tmp_path, typed, dialect=dialect) as bot:
            said = lines_from(caplog, "bot.domain.panels")
            assert len(said) == 1 and said[0].startswith(f"Panel API at {bot.sandbox.url}"), said
            assert bot.panels.endpoint == bot.sandbox.url and not bot.panels.unresolved

            ann = await bot.linked_user()
            await bot.send(ann, "/balance")
            assert "$100.00" in ann.last_text
            await bot.send(ann, "/order")
            assert ann.last_buttons, ann.last_text  # the catalog, from the panel found

            # The panel is named by PANEL_URL as typed: the account row and the facts.
            assert bot.store is not None
            account = await bot.store.account_for(1001, bot.typed)
            assert account is not None and account.key_fingerprint == KeyBox.fingerprint(bot.typed, KEY)
            assert bot.app is not None
            assert bot.app.bot_data["deps"].facts.panel_url == bot.typed
            assert KEY not in caplog.text


@pytest.mark.parametrize("db", DATABASES)
@pytest.mark.parametrize("dialect", DIALECTS)
async def test_a_deployment_whose_panel_url_names_the_api_keeps_its_linked_accounts(
    tmp_path: Path, dialect: str, db: str
) -> None:
    """Linked by a bot that did not search (as every bot before this change); the next
    start searches, and nobody is asked to link again, also when the search finds nothing."""
    async with typed_world(tmp_path, dialect=dialect, db=db, find=False) as bot:
        ann = await bot.linked_user()
        assert bot.store is not None
        before = await bot.store.account_for(1001, bot.sandbox.url)
        assert before is not None and bot.panels.endpoint == bot.sandbox.url
        await bot.store.learn_panel_fact(bot.sandbox.url, NO_REFILL)

        bot.find = True
        await bot.restart()
        assert bot.panels.endpoint == bot.sandbox.url
        await bot.send(ann, "/balance")
        assert "$100.00" in ann.last_text
        after = await bot.store.account_for(1001, bot.sandbox.url)
        assert after is not None and after.id == before.id
        assert bot.app is not None
        assert NO_REFILL in {f.name for f in await bot.store.panel_facts(bot.app.bot_data["deps"].facts.panel_url)}

        # A start while the panel is down: same accounts, told the panel is not answering.
        await bot.sandbox.stop()
        await bot.restart()
        await bot.send(ann, "/balance")
        assert "not answering" in ann.last_text and "link" not in ann.last_text.lower()


# --- down at start-up ------------------------------------------------------------------------


@pytest.mark.parametrize("db", DATABASES)
@pytest.mark.parametrize("dialect", DIALECTS)
async def test_a_panel_down_at_start_up_does_not_stop_the_bot_and_is_found_when_it_is_back(
    tmp_path: Path, dialect: str, db: str, caplog: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(panels_module, "FIND_AGAIN_FIRST", 0.2)
    async with typed_world(tmp_path, "{base}", dialect=dialect, db=db) as bot:
        ann = await bot.linked_user()  # linked while the bot ran on the API URL found
        port = int(bot.sandbox.base_url.rsplit(":", 1)[1])
        await bot.sandbox.stop()
        caplog.clear()
        with caplog.at_level(logging.INFO):
            await bot.restart()  # does not raise, does not wait for ever
            said = lines_from(caplog, "bot.domain.panels")
            assert len(said) == 1, said
            assert said[0].startswith(f"The panel is not reachable at {bot.typed}: tried ")
            assert "using PANEL_URL as given" in said[0]
            assert bot.panels.unresolved and bot.panels.endpoint == bot.typed

            await bot.send(ann, "/balance")
            assert "not answering" in ann.last_text  # still linked: the panel is named by PANEL_URL
            bob = bot.user(1002)
            await bot.send(bob, "/connect " + KEY)
            assert "not answering" in bob.last_text and "not stored" in bob.last_text

            await bot.sandbox.start("127.0.0.1", port)
            for _ in range(100):
                if not bot.panels.unresolved:
                    break
                await asyncio.sleep(0.05)
            assert bot.panels.endpoint == bot.sandbox.url
            said = lines_from(caplog, "bot.domain.panels")
            assert len(said) == 2 and said[1].startswith(f"Panel API at {bot.sandbox.url}"), said
            assert "from now on" in said[1]
            await bot.send(ann, "/balance")
            assert "$100.00" in ann.last_text


async def test_connect_looks_for_the_api_when_start_up_found_none(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    async with typed_world(tmp_path, "{base}", dialect="smartpanel") as bot:
        port = int(bot.sandbox.base_url.rsplit(":", 1)[1])
        await bot.sandbox.stop()
        await bot.restart()
        assert bot.panels.unresolved
        await bot.sandbox.start("127.0.0.1", port)
        with caplog.at_level(logging.INFO):
            ann = await bot.linked_user()  # /start, key: the search runs with the key first
        assert bot.panels.endpoint == bot.sandbox.url and not bot.panels.unresolved
        assert any(line.startswith(f"Panel API at {bot.sandbox.url}") for line in lines_from(caplog, "bot.domain.accounts"))
        assert KEY not in caplog.text
        await bot.send(ann, "/balance")
        assert "$100.00" in ann.last_text


# --- web pages ------------------------------------------------------------------------------


@asynccontextmanager
async def website(status: int = 403) -> AsyncIterator[str]:
    """A site that answers every request with an HTML page and `status`."""

    async def page(request: web.Request) -> web.Response:
        return web.Response(status=status, text="<!DOCTYPE html><html><h1>Forbidden</h1></html>",
                            content_type="text/html")

    app = web.Application()
    app.router.add_route("*", "/{tail:.*}", page)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    host, port = runner.addresses[0][:2]
    try:
        yield f"http://{host}:{port}"
    finally:
        await runner.cleanup()


async def test_an_address_that_answers_web_pages_is_check_panel_url_in_the_log_and_on_connect(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    async with website() as site, SandboxPanel(speed=0) as sandbox, database("sqlite", tmp_path) as dbinfo:
        bot = TypedWorld(sandbox, dbinfo, site)
        with caplog.at_level(logging.INFO):
            await bot.start()
            try:
                said = lines_from(caplog, "bot.domain.panels")
                assert len(said) == 1 and said[0].startswith(f"The panel answered a web page, check PANEL_URL ({site})")
                assert f"{site}/api/v2 (web page, HTTP 403)" in said[0]

                ann = bot.user(1001)
                await bot.send(ann, "/start")
                await bot.send(ann, KEY)
                reply = ann.last_text
                assert "web page" in reply and "PANEL_URL" in reply, reply
                assert "try again" not in reply and "not stored" in reply
                await bot.send(ann, "/connect " + KEY)
                assert "PANEL_URL" in ann.last_text and "try again" not in ann.last_text
                assert bot.store is not None and await bot.store.account_for(1001, site) is None
                assert any("check PANEL_URL" in line for line in lines_from(caplog, "bot.domain.accounts"))
                assert KEY not in caplog.text
            finally:
                await bot.stop()


async def test_a_linked_user_whose_panel_now_answers_web_pages_is_told_to_check_panel_url(tmp_path: Path) -> None:
    async with website() as site, SandboxPanel(speed=0) as sandbox, database("sqlite", tmp_path) as dbinfo:
        sandbox.add_account(KEY, balance=Decimal(100))
        bot = TypedWorld(sandbox, dbinfo, sandbox.url)
        await bot.start()
        try:
            ann = await bot.linked_user()
            bot.panels.use_endpoint(site + "/api/v2")  # the panel's API moved away, say
            await bot.send(ann, "/balance")
            assert "PANEL_URL" in ann.last_text and "try again" not in ann.last_text
            await bot.send(ann, "/order")
            assert "PANEL_URL" in ann.last_text
        finally:
            await bot.stop()
