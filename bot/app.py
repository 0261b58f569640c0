"""The composition root: `build_application(settings, ...)` and `run()` for `python -m bot`."""

from __future__ import annotations

import asyncio
import functools
import itertools
import logging
import signal
import sys
from collections.abc import Awaitable, Callable, Coroutine
from datetime import timedelta
from typing import Any, cast
from urllib.parse import urlsplit

from telegram import Update
from telegram.constants import ParseMode
from telegram.error import BadRequest, InvalidToken, NetworkError
from telegram.ext import (
    AIORateLimiter,
    ApplicationBuilder,
    ContextTypes,
    Defaults,
)
from telegram.request import BaseRequest

from bot.config import ConfigError, Settings, load_settings
from bot.domain.accounts import Accounts
from bot.domain.capabilities import PanelFacts
from bot.domain.panels import Panels
from bot.domain.shop import Shop
from bot.domain.watcher import Watcher
from bot.handlers import register
from bot.handlers.context import BotApp, BotContext, Deps
from bot.handlers.profile import register_profile
from bot.logs import configure_logging, redact_in_logs
from bot.outbox.sender import Sender
from bot.runtime import event_loop_name, settle_long_lived, trim_heap, tune_collector, use_fast_event_loop
from bot.store import KeyBox, Store
from bot.store.schema import SchemaOutOfDate, ensure_schema
from bot.updates import PerUserUpdates

log = logging.getLogger(__name__)

# A demo/test token shape that PTB accepts; never used against the real Telegram.
OFFLINE_TOKEN = "123456:offline-demo-token-not-a-secret"


# How long the process that takes updates keeps a user's row: another process's change
# to it (a watcher marking the user blocked) shows within this time.
USER_CACHE_SECONDS = 30.0


def make_store(settings: Settings, *, database_url: str | None = None, schema: str | None = None) -> Store:
    """The store as the bot runs it (tests and benchmarks build theirs here too)."""
    if not settings.secret_key:
        raise ConfigError("SECRET_KEY: required to encrypt the stored panel keys")
    keybox = KeyBox(settings.secret_key)
    return Store(database_url or settings.database_url, keybox=keybox, schema=schema,
                 user_cache_seconds=USER_CACHE_SECONDS)


def make_panels(settings: Settings) -> Panels:
    """The panel side as the bot runs it: each new catalog is settled out of the garbage
    collector's way (bot/runtime.py)."""
    return Panels(settings.panel_url, on_catalog=settle_long_lived, on_fetched=trim_heap)


def build_application(
    settings: Settings,
    *,
    store: Store | None = None,
    panels: Panels | None = None,
    request: BaseRequest | None = None,
    get_updates_request: BaseRequest | None = None,
    rate_limiter: bool = True,
    watch: bool = True,
    take_updates: bool = False,
    settle: bool = False,
    find_endpoint: bool = False,
) -> BotApp:
    """The bot's PTB `Application`, with the network parts injectable for tests and the demo.
    `settle`: once started, put what is alive out of the garbage collector's way
    (bot/runtime.py; for the bot's own process, not for tests that build many bots).
    `find_endpoint`: at start-up, find which URL the panel's API answers at from
    PANEL_URL (`Panels.find_at_start`: the panel's address, or with /api/v2 or /api/v1)."""
    redact_in_logs(settings.telegram_token)
    redact_in_logs(settings.payment_provider_token)  # sent with each card invoice
    if store is None:
        store = make_store(settings)
    panels = panels or make_panels(settings)
    accounts = Accounts(store, panels, team_key=settings.panel_key)
    watcher = Watcher(store, panels, poll_seconds=settings.status_poll_seconds, admin_ids=settings.admin_ids)
    sender = Sender(store, default_locale=settings.default_locale)
    deps = Deps(settings=settings, store=store, panels=panels, accounts=accounts, watcher=watcher, sender=sender,
                facts=PanelFacts(store, panels.url), shop=Shop(settings, store, accounts) if settings.shop else None)

    async def post_init(application: BotApp) -> None:
        if take_updates and not await store.hold_lock("updates"):
            raise AnotherBotRunning(
                "another bot process already takes this bot's updates from this database. "
                "Run one bot process (conversation state and Telegram's limits live there); "
                "add `python -m bot watcher` processes to share the order watching."
            )
        await ensure_schema(store)
        if find_endpoint:
            # Never stops the start: a panel that does not answer is looked for later. With
            # a dummy key: a real one goes only to the URL that answered as the API.
            await panels.find_at_start()
        # Only the process taking updates places orders, and it holds the lock now (or is
        # alone by construction: tests, the demo), so every SUBMITTING draft was left by a
        # process that died mid-`add`. It may have reached the panel: never resend it;
        # UNKNOWN tells its owner to check the panel and puts it in /admin.
        await store.mark_stale_submitting(timedelta(0))
        await accounts.setup()
        await register_profile(application.bot, settings.kind)
        if watch and application.job_queue is not None:
            application.job_queue.run_repeating(tracked(watch_orders), interval=settings.status_poll_seconds,
                                                first=5.0, name="watch-orders")
            application.job_queue.run_repeating(tracked(send_notifications), interval=1.0, first=1.0,
                                                name="send-notifications")
        if application.job_queue is not None:
            application.job_queue.run_repeating(tracked(prune), interval=PRUNE_SECONDS, first=60.0, name="prune")
        if settle:
            settle_long_lived()

    async def post_shutdown(application: BotApp) -> None:
        await panels.aclose()
        await store.dispose()

    api = settings.telegram_api_url
    builder = (
        ApplicationBuilder()
        .token(settings.telegram_token or OFFLINE_TOKEN)
        .base_url(f"{api}/bot")
        .base_file_url(f"{api}/file/bot")
        .context_types(ContextTypes(context=BotContext))
        .defaults(Defaults(parse_mode=ParseMode.HTML))
        .post_init(post_init)
        .post_shutdown(post_shutdown)
        # Users at once, each user's updates in order (see bot/updates.py).
        .concurrent_updates(PerUserUpdates())
        .application_class(BotApplication)
    )
    if request is not None:
        builder = builder.request(request)
    if get_updates_request is not None:
        builder = builder.get_updates_request(get_updates_request)
    # PTB's builder types its product by the default dicts, not by ContextTypes: it is
    # the BotApp that context_types and application_class above made (its bot's rate
    # limiter aside, which no handler passes arguments to).
    built = builder.rate_limiter(AIORateLimiter(max_retries=3)).build() if rate_limiter else builder.build()
    application = cast(BotApp, built)
    application.bot_data["deps"] = deps
    register(application)
    return application


# SIGTERM to exit within 15 s whatever the panel does: the updates in hand and the
# running jobs get this long to finish, then are cancelled. An `add` cancelled here
# leaves its draft SUBMITTING, which the next start shows as UNKNOWN (never resent).
STOP_GRACE_SECONDS = 8.0


class BotApplication(BotApp):
    """PTB's Application with a bounded stop: PTB waits for every update in hand and
    every running job without limit, so one hung panel call held SIGTERM for its whole
    timeout (and a watch cycle on a hung panel, for all its accounts)."""

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.jobs_in_hand: set[asyncio.Task[object]] = set()

    async def stop(self) -> None:
        if self.running:
            await self._let_work_end(STOP_GRACE_SECONDS)
        await super().stop()

    async def _let_work_end(self, grace: float) -> None:
        deps = self.bot_data.get("deps")
        if isinstance(deps, Deps):
            deps.watcher.request_stop()
        tasks = set(self.jobs_in_hand)
        if isinstance(self.update_processor, PerUserUpdates):
            tasks |= self.update_processor.in_hand
        tasks.discard(asyncio.current_task())
        if not tasks:
            return
        _, pending = await asyncio.wait(tasks, timeout=grace)
        if pending:
            log.warning("stopping: %d updates or jobs still running after %.0fs are cancelled", len(pending), grace)
            for task in pending:
                task.cancel()
            await asyncio.wait(pending, timeout=1.0)


def tracked(callback: Callable[[BotContext], Awaitable[None]]) -> Callable[[BotContext], Coroutine[Any, Any, None]]:
    """A job callback whose running task a bounded stop can wait for, then cancel."""

    @functools.wraps(callback)
    async def run(context: BotContext) -> None:
        application = context.application
        assert isinstance(application, BotApplication)
        task = asyncio.current_task()
        assert task is not None
        application.jobs_in_hand.add(task)
        try:
            await callback(context)
        finally:
            application.jobs_in_hand.discard(task)

    return run


class AnotherBotRunning(RuntimeError):
    """Another process already takes this bot's updates."""


async def watch_orders(context: BotContext) -> None:
    """JobQueue: one watcher cycle, then send what it queued."""
    deps = context.deps
    report = await deps.watcher.run_cycle()
    if report.changes or report.failed_accounts:
        log.info("watch: %d accounts, %d orders, %d changes, %d failed, %.2fs", report.accounts, report.orders,
                 report.changes, len(report.failed_accounts), report.seconds)
    await send_notifications(context)


# The bot process trims what only grows (bot/store/pruning.py `prune`); watchers need not:
# one process doing it is enough, and the deletes are the same whoever runs them.
PRUNE_SECONDS = 6 * 3600.0


async def prune(context: BotContext) -> None:
    """JobQueue: delete old sent notifications, abandoned drafts and strangers' rows."""
    deps = context.deps
    pruned = await deps.store.prune(allowed_users=deps.settings.allowed_users)
    if any(pruned.values()):
        log.info("pruned %d notifications, %d drafts, %d users", pruned["notifications"], pruned["drafts"],
                 pruned["users"])


async def send_notifications(context: BotContext) -> None:
    """JobQueue: deliver due notifications, if this process holds the sender role (one
    sender keeps the whole bot within Telegram's 30 messages a second)."""
    deps = context.deps
    if await deps.store.hold_lock("sender"):
        await deps.sender.send_due(context.bot)


def log_start(settings: Settings) -> None:
    """The start-up line, and a warning when a team bot is deliberately open to everyone."""
    log.info("starting: panel %s, team mode %s, %s, event loop %s", settings.panel_url, settings.team_mode,
             "webhook" if settings.webhook_url else "long polling", event_loop_name())
    if settings.team_mode and settings.public:
        log.warning("ALLOWED_USERS=*: anyone on Telegram can use this bot and order on the team's panel key")


# Pauses between tries to reach the Bot API at start-up: doubling, then at most this.
BOT_API_FIRST_PAUSE = 1.0
BOT_API_MAX_PAUSE = 30.0


async def reach_bot_api(application: BotApp, settings: Settings) -> None:
    """The bot's first call (getMe), tried until the Bot API answers: after a platform
    restart the network may come up after the process. One line per failed try; a
    refused token (InvalidToken) is not a network matter and is raised."""
    pause = BOT_API_FIRST_PAUSE
    host = urlsplit(settings.telegram_api_url).netloc
    for attempt in itertools.count(1):
        try:
            await application.bot.initialize()
            if attempt > 1:
                log.info("Telegram's Bot API (%s) answered on try %d", host, attempt)
            return
        except NetworkError as error:
            if isinstance(error, BadRequest):  # an answer, not an unreachable API
                raise
            log.warning("Telegram's Bot API (%s) is not reachable (try %d: %s); next try in %.0fs",
                        host, attempt, error.message, pause)
        await asyncio.sleep(pause)
        pause = min(pause * 2, BOT_API_MAX_PAUSE)


def wait_for_bot_api(loop: asyncio.AbstractEventLoop, application: BotApp,
                     settings: Settings) -> bool:
    """Run `reach_bot_api` before PTB's start-up (whose initialize is then a no-op);
    False when SIGINT/SIGTERM came first."""
    task = loop.create_task(reach_bot_api(application, settings))
    stop_signals = (signal.SIGINT, signal.SIGTERM)
    for signum in stop_signals:
        loop.add_signal_handler(signum, task.cancel)
    try:
        loop.run_until_complete(task)
    except asyncio.CancelledError:
        log.info("stopped while waiting for the Bot API")
        return False
    finally:
        for signum in stop_signals:
            loop.remove_signal_handler(signum)
    return True


def run(argv: list[str]) -> int:
    """`python -m bot`: take updates (long polling, or a webhook when WEBHOOK_URL is
    set) until SIGINT/SIGTERM."""
    configure_logging()
    try:
        settings = load_settings()
    except ConfigError as error:
        print(f"Configuration error: {error}", file=sys.stderr)
        return 2
    loop = use_fast_event_loop()
    tune_collector()
    application = build_application(settings, take_updates=True, settle=True, find_endpoint=True)
    log_start(settings)
    try:
        if not wait_for_bot_api(loop, application, settings):
            return 0
    except InvalidToken:
        # PTB's own message quotes the token: say it without.
        print("Not starting: TELEGRAM_TOKEN: Telegram refused this token (check it with @BotFather)", file=sys.stderr)
        return 2
    try:
        if settings.webhook_url:
            application.run_webhook(
                listen="0.0.0.0",
                port=settings.port,
                url_path=urlsplit(settings.webhook_url).path.lstrip("/"),
                webhook_url=settings.webhook_url,
                secret_token=settings.webhook_secret,
                allowed_updates=Update.ALL_TYPES,
            )
        else:
            application.run_polling(allowed_updates=Update.ALL_TYPES)
    except (AnotherBotRunning, SchemaOutOfDate) as error:
        print(f"Not starting: {error}", file=sys.stderr)
        return 3
    return 0
