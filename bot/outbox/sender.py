"""Sending the notification outbox: paced within Telegram's limits, RetryAfter delays
and never drops, a blocked user is marked and skipped until they come back, and a
notification that fails is retried on its own and given up after MAX_ATTEMPTS (a send
Telegram may have delivered is repeated at most once, later: see Sender._unanswered)."""

from __future__ import annotations

import asyncio
import logging
import os
import socket
import time
import uuid
from collections import deque
from collections.abc import Callable
from datetime import UTC, datetime, timedelta

import httpx
from telegram import Bot
from telegram.error import (
    BadRequest,
    Forbidden,
    NetworkError,
    RetryAfter,
    TelegramError,
    TimedOut,
)

from bot.domain import notices
from bot.domain.notices import (
    KIND_PROGRESS,
)
from bot.i18n import I18n, best_locale
from bot.store import Notification, Store, User
from bot.views.notices import render

log = logging.getLogger(__name__)

GLOBAL_PER_SECOND = 30.0  # Telegram: about 30 messages a second in all
PER_CHAT_SECONDS = 1.0  # and about one a second per private chat
WINDOW = 1.1  # one second, and a margin: sends stamped here arrive a little bunched
BLOCKED_RETRY = timedelta(days=1)
# A failed send is retried after 15 s, then twice as long each time up to an hour, and
# given up at the tenth attempt: about two hours, so a Telegram or network outage of an
# hour loses nothing, while a notification nobody can send stops after a while.
NETWORK_RETRY = timedelta(seconds=15)
FAILURE_BACKOFF_CAP = timedelta(hours=1)
MAX_ATTEMPTS = 10
# A send Telegram may have delivered (no answer) is tried once more, this much later:
# see Sender._unanswered.
MAYBE_DELIVERED_PAUSE = timedelta(minutes=5)
MAYBE_DELIVERED = "no answer"


def utcnow() -> datetime:
    return datetime.now(UTC)


def _retry_seconds(error: RetryAfter) -> float:
    value = error.retry_after
    return value.total_seconds() if isinstance(value, timedelta) else float(value)


def wanted(user: User, notification: Notification) -> bool:
    """The user's /notifications choice: every change (statuses and delivery progress),
    final statuses only, or off; notices about their account or from the operator, and
    a shop order's refund, are always sent."""
    if notification.kind in notices.ALWAYS_SENT:
        return True
    if notification.payload.get("refund"):
        return True  # money back to a shop's wallet is always said, whatever the choice
    if user.notifications == "off":
        return False
    if notification.kind == KIND_PROGRESS:
        return user.notifications == "all"
    if user.notifications == "final":
        return bool(notification.payload.get("final"))
    return True


class Sender:
    """Delivers due notifications in order, at most ~30/s overall and ~1/s per chat."""

    def __init__(
        self,
        store: Store,
        *,
        default_locale: str = "en",
        per_second: float = GLOBAL_PER_SECOND,
        per_chat_seconds: float = PER_CHAT_SECONDS,
        clock: Callable[[], float] = time.monotonic,
        owner: str | None = None,
    ) -> None:
        self.store = store
        self.default_locale = default_locale
        self.per_second = max(1, int(per_second))
        self.per_chat_seconds = per_chat_seconds
        self.clock = clock
        # Send times of the last `per_second` messages: a sliding one-second window keeps
        # the rate at the ceiling without the drift of fixed intervals.
        self._recent: deque[float] = deque(maxlen=self.per_second)
        self._chat_ready: dict[int, float] = {}
        self._paused_until = 0.0
        self._lock = asyncio.Lock()
        self.sent = 0
        self.owner = owner or f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"

    async def send_due(self, bot: Bot, *, limit: int = 500, now: datetime | None = None) -> int:
        """One pass over the due outbox; returns how many messages went out. A notification
        that fails is counted and retried later on its own: it never holds back the rest."""
        if self._lock.locked():
            return 0  # a pass is running; it will pick these up
        async with self._lock:
            if self.clock() < self._paused_until:
                return 0
            now = now or utcnow()
            # Claimed, not just read: another sending process skips these.
            due = await self.store.claim_notifications(self.owner, now=now, limit=limit)
            users = await self.store.get_users(sorted({n.user_id for n in due}))
            sent = 0
            untouched: list[int] = []
            for index, notification in enumerate(due):
                assert notification.id is not None
                user = users.get(notification.user_id)
                if user is None or not wanted(user, notification):
                    await self.store.mark_notification_sent(notification.id)
                    continue
                if user.blocked:
                    await self.store.retry_notification(notification.id, now + BLOCKED_RETRY, counted=False)
                    continue
                if self.clock() < self._chat_ready.get(user.telegram_id, 0.0):
                    untouched.append(notification.id)  # this chat had a message within the last second
                    continue
                outcome = await self._send_one(bot, user, notification, now)
                if outcome == "paused":
                    untouched += [n.id for n in due[index + 1 :] if n.id is not None]
                    break
                sent += outcome == "sent"
            await self.store.release_notifications(self.owner, untouched)
            self.sent += sent
            return sent

    async def _send_one(self, bot: Bot, user: User, notification: Notification, now: datetime) -> str:
        assert notification.id is not None
        if len(self._recent) == self.per_second:
            wait = self._recent[0] + WINDOW - self.clock()
            if wait > 0:
                await asyncio.sleep(wait)
        try:
            t = I18n(best_locale(user.locale, user.telegram_language, default=self.default_locale))
            text, markup = render(t, await self._with_currency(notification))
            await bot.send_message(user.telegram_id, text, reply_markup=markup, disable_web_page_preview=True)
        except RetryAfter as error:
            self._recent.append(self.clock())
            seconds = _retry_seconds(error)
            # Telegram's flood limit is per bot: hold every send, then retry this one.
            self._paused_until = self.clock() + seconds
            await self.store.retry_notification(notification.id, now + timedelta(seconds=seconds), counted=False)
            log.warning("Telegram asked to wait %.0fs; notifications paused", seconds)
            return "paused"
        except Forbidden:
            await self.store.set_blocked(user.telegram_id, True)
            await self.store.retry_notification(notification.id, now + BLOCKED_RETRY, counted=False)
            log.info("user %s blocked the bot; their notifications wait", user.telegram_id)
            return "blocked"
        except BadRequest as error:
            # Not deliverable as written (chat gone, bad markup): retrying cannot help.
            await self._give_up(bot, notification, error)
            return "failed"
        except NetworkError as error:
            if _maybe_delivered(error):
                # It may be on the user's screen: pace this chat as if it were.
                self._stamp(user)
                return await self._unanswered(bot, notification, error, now)
            # It never left: Telegram or the network is down for every chat, not this one.
            self._recent.append(self.clock())
            self._paused_until = self.clock() + NETWORK_RETRY.total_seconds()
            await self._failed(bot, notification, error, now)
            return "paused"
        except Exception as error:  # noqa: BLE001 - a bug or an error nobody foresaw: this notification's alone
            return await self._failed(bot, notification, error, now)
        self._stamp(user)
        await self.store.mark_notification_sent(notification.id)
        return "sent"

    async def _with_currency(self, notification: Notification) -> Notification:
        """A charge the watcher could not name a currency for (neither the order nor the
        panel's status said one) in the currency of the order's account, when known by now."""
        data = notification.payload
        if data.get("charge") is None or data.get("currency") or not isinstance(data.get("order_pk"), int):
            return notification
        order = await self.store.order_by_id(data["order_pk"])
        currency = order.currency if order is not None else None
        if order is not None and not currency:
            account = await self.store.get_account(order.account_id)
            currency = account.currency if account is not None else None
        if not currency:
            return notification
        return notification.model_copy(update={"payload": {**data, "currency": currency}})

    def _stamp(self, user: User) -> None:
        # Stamped when Telegram answered, not when we asked: a send delayed on its way (or
        # retried by PTB's rate limiter) must not let the next thirty go out at once.
        self._recent.append(self.clock())
        self._chat_ready[user.telegram_id] = self.clock() + self.per_chat_seconds

    async def _failed(self, bot: Bot, notification: Notification, error: Exception, now: datetime) -> str:
        """A counted failure: retried later with a growing pause, given up after MAX_ATTEMPTS."""
        assert notification.id is not None
        attempts = notification.attempts + 1
        if attempts >= MAX_ATTEMPTS:
            await self._give_up(bot, notification, error)
            return "failed"
        pause = min(FAILURE_BACKOFF_CAP, NETWORK_RETRY * 2 ** (attempts - 1))
        await self.store.retry_notification(notification.id, now + pause, error=_describe(bot, error))
        log.warning("notification %s (attempt %d of %d) failed: %s; retrying in %.0fs", notification.id,
                    attempts, MAX_ATTEMPTS, _describe(bot, error), pause.total_seconds(),
                    exc_info=not isinstance(error, TelegramError))
        return "retry"

    async def _unanswered(self, bot: Bot, notification: Notification, error: NetworkError, now: datetime) -> str:
        """Telegram took the message but its answer never came: it may have been delivered.

        Sending again at once is what doubled messages: a TimedOut usually means Telegram
        was slow, not that the message was lost. So: one more try, only after
        MAYBE_DELIVERED_PAUSE, and only for a message whose loss would matter (a final
        status, a notice about the account, a broadcast); then give up. The trade-off: a
        message that did arrive is doubled (minutes apart, never twice in a row); one that
        did not arrive is lost only if Telegram leaves us without an answer twice. An
        intermediate status or progress is not repeated at all: the next change (or the
        order card) tells the user more than a late copy, and a double of it is noise.
        """
        assert notification.id is not None
        described = f"{MAYBE_DELIVERED}: {_describe(bot, error)}"
        repeated = (notification.last_error or "").startswith(MAYBE_DELIVERED)
        if repeated or not worth_repeating(notification) or notification.attempts + 1 >= MAX_ATTEMPTS:
            await self._give_up(bot, notification, described)
            return "failed"
        await self.store.retry_notification(notification.id, now + MAYBE_DELIVERED_PAUSE, error=described)
        log.warning("notification %s: no answer from Telegram (%s); it may have arrived, so it is tried once "
                    "more in %.0f min", notification.id, type(error).__name__,
                    MAYBE_DELIVERED_PAUSE.total_seconds() / 60)
        return "retry"

    async def _give_up(self, bot: Bot, notification: Notification, error: Exception | str) -> None:
        assert notification.id is not None
        described = error if isinstance(error, str) else _describe(bot, error)
        await self.store.give_up_notification(notification.id, described)
        log.warning("notification %s (%s to user %s) given up after %d attempts: %s", notification.id,
                    notification.kind, notification.user_id, notification.attempts + 1, described)


def worth_repeating(notification: Notification) -> bool:
    """Whether a second copy of this notification beats none (see Sender._unanswered)."""
    if notification.kind == notices.KIND_PROGRESS:
        return False
    if notification.kind in (notices.KIND_ORDER, notices.KIND_REFILL):
        return bool(notification.payload.get("final"))
    return True


def _maybe_delivered(error: NetworkError) -> bool:
    """Could Telegram have delivered the message although we have no answer? Not when
    the request never left (no connection, no free connection in our pool) or when
    Telegram answered with an error; yes when the answer timed out or the connection
    broke after the request was sent."""
    cause = error.__cause__
    if isinstance(cause, (httpx.ConnectError, httpx.ConnectTimeout, httpx.PoolTimeout)):
        return False
    if isinstance(error, TimedOut):
        return "Pool timeout" not in error.message
    return isinstance(cause, (httpx.ReadError, httpx.RemoteProtocolError))


def _describe(bot: Bot, error: Exception) -> str:
    """The error for the log and `notifications.last_error`, without the bot's token
    (an HTTP library's message may carry the URL)."""
    text = f"{type(error).__name__}: {error}"[:500]
    return text.replace(bot.token, "<redacted>") if bot.token else text
