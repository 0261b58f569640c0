"""`python -m bot watcher`: watch orders and send notifications without taking updates,
so that more processes can share the watching on one PostgreSQL."""

from __future__ import annotations

import asyncio
import logging
import signal
import sys

from telegram import Bot
from telegram.ext import AIORateLimiter, ExtBot

from bot import runtime
from bot.config import ConfigError, Settings, load_settings
from bot.domain.panels import Panels
from bot.domain.watcher import Watcher
from bot.logs import configure_logging, redact_in_logs
from bot.outbox.sender import Sender
from bot.store import KeyBox, Store
from bot.store.schema import SchemaOutOfDate, ensure_schema

log = logging.getLogger(__name__)

SEND_EVERY = 1.0


async def watch(settings: Settings, *, stop: asyncio.Event, bot: Bot | None = None,
                store: Store | None = None, panels: Panels | None = None) -> None:
    """Cycles every STATUS_POLL_SECONDS; between them, the outbox is sent each second
    by whichever process holds the sender role."""
    redact_in_logs(settings.telegram_token)
    store = store or Store(settings.database_url, keybox=KeyBox(settings.secret_key or ""))
    find_endpoint = panels is None
    panels = panels or Panels(settings.panel_url)
    if bot is None:
        api = settings.telegram_api_url
        bot = ExtBot(settings.telegram_token or "", base_url=f"{api}/bot", base_file_url=f"{api}/file/bot",
                     rate_limiter=AIORateLimiter(max_retries=3))
    await ensure_schema(store)
    if find_endpoint:  # which URL the panel's API answers at (a panel down now is looked for later)
        await panels.find_at_start()
    watcher = Watcher(store, panels, poll_seconds=settings.status_poll_seconds, admin_ids=settings.admin_ids)
    sender = Sender(store, default_locale=settings.default_locale)
    await bot.initialize()
    log.info("watcher %s started: every %.0fs", watcher.owner, settings.status_poll_seconds)
    loop = asyncio.get_running_loop()

    async def pause(seconds: float) -> None:
        try:
            await asyncio.wait_for(stop.wait(), max(0.0, seconds))
        except TimeoutError:
            pass

    async def watch_loop() -> None:
        while not stop.is_set():
            started = loop.time()
            try:
                report = await watcher.run_cycle()
            except Exception:  # e.g. the database away for a moment: the next cycle tries again
                log.exception("watch cycle failed; next one in %.0fs", settings.status_poll_seconds)
            else:
                log.info("cycle: %d accounts, %d orders, %d changes, %d failed, %.2fs", report.accounts,
                         report.orders, report.changes, len(report.failed_accounts), report.seconds)
            await pause(settings.status_poll_seconds - (loop.time() - started))

    async def stop_watcher() -> None:
        # SIGTERM: the cycle in progress returns at once, leaving the rest to its leases.
        await stop.wait()
        watcher.request_stop()

    async def send_loop() -> None:
        # Its own task: a backlog of notifications must not delay the next cycle.
        while not stop.is_set():
            if await store.hold_lock("sender"):
                await sender.send_due(bot)
            await pause(SEND_EVERY)

    try:
        await asyncio.gather(watch_loop(), send_loop(), stop_watcher())
    finally:
        await bot.shutdown()
        await panels.aclose()
        await store.dispose()


def main(argv: list[str]) -> int:
    configure_logging()
    try:
        settings = load_settings()
    except ConfigError as error:
        print(f"Configuration error: {error}", file=sys.stderr)
        return 2

    async def run() -> None:
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for signum in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(signum, stop.set)
        await watch(settings, stop=stop)

    try:
        runtime.tune_collector()
        runtime.run(run())
    except SchemaOutOfDate as error:
        print(f"Not starting: {error}", file=sys.stderr)
        return 3
    return 0
