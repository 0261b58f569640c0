"""The notification sender: one failing notification never holds back the others, a
send Telegram may have delivered is not repeated at once, and a notification that
keeps failing is given up (logged) after a bounded number of attempts."""

from __future__ import annotations

import logging
import uuid
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlmodel import select
from telegram.error import TelegramError, TimedOut

from bot.domain import notices
from bot.fakegram import FakeUser
from bot.handlers import notify
from bot.handlers.notify import Sender
from bot.store import Notice, Notification
from tests.harness import PG_URL, World, world

DATABASES = ["sqlite", pytest.param("postgresql", marks=pytest.mark.skipif(not PG_URL, reason="TEST_DATABASE_URL not set"))]


class Clock:
    """A hand-moved clock for the sender's pacing."""

    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def final_status(order_id: int = 77, *, status: str = "Completed", final: bool = True) -> dict[str, Any]:
    """An order status notice's payload as the watcher writes it."""
    return {
        "order_pk": None, "order_id": order_id, "service_id": 1012, "service_name": "Instagram likes",
        "status": status, "previous": "Pending", "quantity": 1000, "remains": 0 if final else 600,
        "start_count": 10, "charge": "2.45", "currency": "USD", "final": final,
    }


async def queue(bot: World, user: FakeUser, kind: str, payload: dict[str, Any]) -> None:
    assert bot.store is not None
    assert await bot.store.enqueue_notification(Notice(user.id, kind, f"test:{uuid.uuid4().hex}", payload))


async def outbox(bot: World, user: FakeUser) -> list[Notification]:
    assert bot.store is not None
    async with bot.store.session() as s:
        rows = (await s.exec(select(Notification).where(Notification.user_id == user.id).order_by(Notification.id))).all()  # type: ignore[arg-type]
        return list(rows)


def received(user: FakeUser, start: str) -> list[str]:
    return [m.text for m in user.messages if m.text.startswith(start)]


async def started(bot: World, user_id: int) -> FakeUser:
    user = bot.user(user_id)
    await bot.send(user, "/start")
    return user


Moment = Callable[[float], datetime]


@pytest.fixture
def at() -> Moment:
    """Seconds after the test's start, as the sender's `now` (the outbox's clock)."""
    start = datetime.now(UTC) + timedelta(seconds=5)
    return lambda seconds: start + timedelta(seconds=seconds)


async def test_a_message_telegram_delivered_without_answering_is_not_sent_again_at_once(tmp_path: Path, at: Moment) -> None:
    async with world(tmp_path) as bot:
        ann = await started(bot, 1001)
        await queue(bot, ann, notices.KIND_ORDER, final_status())
        bot.fake.fail_transport("sendMessage", TimedOut(), delivered=True)
        clock = Clock()
        sender = Sender(bot.store, clock=clock)  # type: ignore[arg-type]
        assert bot.app is not None
        assert await sender.send_due(bot.app.bot, now=at(0)) == 0
        assert len(received(ann, "📦 Order #77")) == 1  # it arrived; the bot never heard so
        # The next passes (a network error used to be retried after 15 s) leave it alone.
        for later in (15, 60, 240):
            clock.now += 2
            assert await sender.send_due(bot.app.bot, now=at(later)) == 0
        assert len(received(ann, "📦 Order #77")) == 1
        # One retry after the pause: a final status is worth a late second copy rather
        # than no copy at all (see notify.MAYBE_DELIVERED_PAUSE).
        clock.now += 2
        assert await sender.send_due(bot.app.bot, now=at(notify.MAYBE_DELIVERED_PAUSE.total_seconds() + 1)) == 1
        assert len(received(ann, "📦 Order #77")) == 2
        clock.now += 2
        assert await sender.send_due(bot.app.bot, now=at(86400)) == 0
        assert len(received(ann, "📦 Order #77")) == 2


async def test_a_second_unanswered_send_is_given_up_and_an_intermediate_status_is_never_repeated(
    tmp_path: Path, caplog: pytest.LogCaptureFixture, at: Moment
) -> None:
    async with world(tmp_path) as bot:
        ann = await started(bot, 1001)
        bob = await started(bot, 1002)
        await queue(bot, ann, notices.KIND_ORDER, final_status(77))
        await queue(bot, bob, notices.KIND_ORDER, final_status(88, status="In progress", final=False))
        bot.fake.fail_transport("sendMessage", TimedOut(), delivered=True, count=3)
        clock = Clock()
        sender = Sender(bot.store, clock=clock)  # type: ignore[arg-type]
        assert bot.app is not None
        with caplog.at_level(logging.WARNING, logger="bot.handlers.notify"):
            assert await sender.send_due(bot.app.bot, now=at(0)) == 0
            for hours in (1, 2, 24, 48):
                clock.now += 2
                assert await sender.send_due(bot.app.bot, now=at(hours * 3600)) == 0
        # Ann's final status: sent, retried once after the pause; both timed out: no third.
        assert len(received(ann, "📦 Order #77")) == 2
        (row,) = await outbox(bot, ann)
        assert row.failed_at is not None and row.last_error and "TimedOut" in row.last_error
        # Bob's "In progress": a later change says more than a late copy; not repeated.
        assert len(received(bob, "📦 Order #88")) == 1
        (row,) = await outbox(bot, bob)
        assert row.failed_at is not None
        given_up = [r for r in caplog.records if "given up" in r.getMessage()]
        assert len(given_up) == 2 and all(r.levelno == logging.WARNING for r in given_up)


async def test_a_send_that_never_left_is_retried_soon(tmp_path: Path, at: Moment) -> None:
    async with world(tmp_path) as bot:
        ann = await started(bot, 1001)
        await queue(bot, ann, notices.KIND_ORDER, final_status())
        error = TimedOut()
        error.__cause__ = httpx.ConnectTimeout("no connection")  # as PTB's HTTPXRequest raises it
        bot.fake.fail_transport("sendMessage", error)
        clock = Clock()
        sender = Sender(bot.store, clock=clock)  # type: ignore[arg-type]
        assert bot.app is not None
        assert await sender.send_due(bot.app.bot, now=at(0)) == 0
        assert received(ann, "📦 Order #77") == []
        clock.now += 60
        assert await sender.send_due(bot.app.bot, now=at(60)) == 1
        assert len(received(ann, "📦 Order #77")) == 1


@pytest.mark.parametrize("db", DATABASES)
async def test_an_unexpected_error_on_one_notification_does_not_hold_back_the_others(
    tmp_path: Path, db: str, caplog: pytest.LogCaptureFixture, at: Moment
) -> None:
    async with world(tmp_path, db=db) as bot:
        ann = await started(bot, 1001)
        bob = await started(bot, 1002)
        # A payload this version cannot render (a bug, or written by another version).
        await queue(bot, ann, notices.KIND_ORDER, {"status": "Completed"})
        await queue(bot, bob, notices.KIND_BROADCAST, {"text": "Maintenance tonight"})
        await queue(bot, ann, notices.KIND_BROADCAST, {"text": "New services"})
        clock = Clock()
        sender = Sender(bot.store, clock=clock)  # type: ignore[arg-type]
        assert bot.app is not None
        assert await sender.send_due(bot.app.bot, now=at(0)) == 2  # the rest of the batch went out
        assert received(bob, "Maintenance") and received(ann, "New services")
        broken = (await outbox(bot, ann))[0]
        assert broken.attempts == 1 and broken.sent_at is None and broken.failed_at is None
        assert broken.next_attempt_at.replace(tzinfo=UTC) > at(0)
        assert broken.last_error and "KeyError" in broken.last_error
        # Retried with growing pauses, then given up with one warning; never tried again.
        with caplog.at_level(logging.WARNING, logger="bot.handlers.notify"):
            for day in range(1, notify.MAX_ATTEMPTS + 3):
                clock.now += 2
                await sender.send_due(bot.app.bot, now=at(day * 86400))
        broken = (await outbox(bot, ann))[0]
        assert broken.attempts == notify.MAX_ATTEMPTS and broken.failed_at is not None
        given_up = [r for r in caplog.records if "given up" in r.getMessage()]
        assert len(given_up) == 1 and given_up[0].levelno == logging.WARNING
        assert f"notification {broken.id}" in given_up[0].getMessage()


async def test_an_unexpected_telegram_error_is_retried_after_a_pause_and_delivered_once(tmp_path: Path, at: Moment) -> None:
    async with world(tmp_path) as bot:
        ann = await started(bot, 1001)
        await queue(bot, ann, notices.KIND_ORDER, final_status())
        bot.fake.fail_transport("sendMessage", TelegramError("Something Telegram never said before"))
        clock = Clock()
        sender = Sender(bot.store, clock=clock)  # type: ignore[arg-type]
        assert bot.app is not None
        assert await sender.send_due(bot.app.bot, now=at(0)) == 0
        clock.now += 2
        assert await sender.send_due(bot.app.bot, now=at(1)) == 0  # backing off
        clock.now += 60
        assert await sender.send_due(bot.app.bot, now=at(60)) == 1
        assert len(received(ann, "📦 Order #77")) == 1
