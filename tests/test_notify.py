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
from bot.playground.fakegram import FakeUser
from bot.outbox import sender as notify
from bot.outbox.sender import Sender
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
        with caplog.at_level(logging.WARNING, logger="bot.outbox.sender"):
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
        with caplog.at_level(logging.WARNING, logger="bot.outbox.sender"):
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


# --- what each notice says, and to whom ------------------------------------------------------


async def send_all(bot: World, at: Moment) -> int:
    assert bot.app is not None
    sender = Sender(bot.store, clock=Clock())  # type: ignore[arg-type]
    return await sender.send_due(bot.app.bot, now=at(0))


async def with_setting(bot: World, user_id: int, label: str) -> FakeUser:
    user = await started(bot, user_id)
    await bot.send(user, "/notifications")
    if label != "Every change":  # the default, already ticked
        await bot.press(user, label)
    return user


async def test_every_change_mode_announces_delivery_progress_and_final_only_does_not(tmp_path: Path, at: Moment) -> None:
    async with world(tmp_path) as bot:
        ann = await with_setting(bot, 1001, "Every change")
        bob = await with_setting(bot, 1002, "Final status only")
        progress = final_status(77, status="In progress", final=False) | {"quantity": 2000, "remains": 800, "order_pk": 5}
        for user in (ann, bob):
            await queue(bot, user, notices.KIND_PROGRESS, progress)
            await queue(bot, user, notices.KIND_ORDER, final_status(78, status="In progress", final=False))
        assert await send_all(bot, at) == 1  # ann's second message waits for the chat's pace
        (text,) = received(ann, "📦 Order #77")
        assert text.startswith("📦 Order #77: 1,200 of 2,000 delivered (60%)")
        assert "Service: 1012 · Instagram likes" in text
        assert ann.last_buttons[0] == [("📦 Open order", "O:5")]
        assert [m.text for m in bob.messages if m.text.startswith("📦")] == []  # neither progress nor a status
        await queue(bot, bob, notices.KIND_ORDER, final_status(79))
        assert await send_all(bot, at) >= 1
        assert received(bob, "📦 Order #79: Completed")


async def test_an_order_or_refill_no_longer_followed_is_told_to_its_owner_even_with_notifications_off(
    tmp_path: Path, at: Moment
) -> None:
    async with world(tmp_path) as bot:
        carl = await with_setting(bot, 1003, "Off")
        await queue(bot, carl, notices.KIND_ORDER_LOST, {"order_pk": 5, "order_id": 77, "service_name": "Likes",
                                                         "error": "Incorrect order ID"})
        assert await send_all(bot, at) == 1
        assert carl.last_text == ("⚠️ I stopped following order #77: the panel says “Incorrect order ID”. "
                                  "Check it on the panel.")
        assert carl.last_buttons == [[("📦 Open order", "O:5")]]
        await queue(bot, carl, notices.KIND_REFILL_LOST, {"refill_id": 9, "order_id": 77, "order_pk": 5,
                                                          "service_name": "Likes", "error": "Refill <9> & co"})
        await queue(bot, carl, notices.KIND_ORDER, final_status(80))  # off: not this one
        assert await send_all(bot, at) == 1
        assert carl.last_text == ("⚠️ I stopped following refill #9 of order #77: the panel says “Refill <9> & co”. "
                                  "Check it on the panel.")


async def test_a_saved_key_that_no_longer_decrypts_asks_its_owner_to_link_it_again(tmp_path: Path, at: Moment) -> None:
    async with world(tmp_path) as bot:
        ann = await with_setting(bot, 1001, "Off")
        await queue(bot, ann, notices.KIND_KEY_UNDECRYPTABLE, {"key_hint": "abcd…wxyz"})
        assert await send_all(bot, at) == 1
        assert "I can no longer read your saved API key abcd…wxyz" in ann.last_text
        assert "/connect" in ann.last_text


async def test_admins_are_told_when_an_account_pauses_and_when_it_works_again(tmp_path: Path, at: Moment) -> None:
    async with world(tmp_path) as bot:
        admin = await with_setting(bot, 1009, "Off")
        team = {"account_id": 1, "key_hint": "team…1234", "team": True, "owner": None}
        own = {"account_id": 2, "key_hint": "abcd…wxyz", "team": False, "owner": 1001}
        await queue(bot, admin, notices.KIND_ACCOUNT_PAUSED, team)
        assert await send_all(bot, at) == 1
        text = admin.last_text
        assert "team panel account" in text and "team…1234" in text and "PANEL_KEY" in text
        assert "automatically" in text
        await queue(bot, admin, notices.KIND_ACCOUNT_PAUSED, own)
        assert await send_all(bot, at) == 1
        assert "abcd…wxyz" in admin.last_text and "1001" in admin.last_text and "automatically" in admin.last_text
        await queue(bot, admin, notices.KIND_ACCOUNT_RESUMED, team)
        assert await send_all(bot, at) == 1
        assert "team…1234" in admin.last_text and "again" in admin.last_text
        await queue(bot, admin, notices.KIND_ACCOUNT_RESUMED, own)
        assert await send_all(bot, at) == 1
        assert "abcd…wxyz" in admin.last_text and "1001" in admin.last_text


# --- the panel's currency is text, not HTML ----------------------------------------------------


@pytest.mark.parametrize("currency", ["R&D", '<a href="https://evil.example">$</a>'])
async def test_a_panels_currency_is_shown_literally_in_balance_confirm_and_notifications(
    tmp_path: Path, at: Moment, currency: str
) -> None:
    async with world(tmp_path) as bot:
        key = "rnd-panel-key-0123456789abcdef"
        bot.sandbox.add_account(key, balance="100", currency=currency)
        ann = bot.user(1001)
        await bot.send(ann, "/start")
        await bot.send(ann, key)
        assert ann.last_text.startswith("✅") and f"Balance: {currency}100.00" in ann.last_text
        await bot.send(ann, "/balance")
        assert ann.last_text == f"💰 Balance: {currency}100.00"
        await bot.send(ann, "instagram likes")  # search: services listed in the (HTML) text
        prices = [line.strip() for line in ann.last_text.splitlines() if line.startswith("    ")]
        assert any(line.startswith(f"{currency}0.") for line in prices), prices
        await bot.send(ann, "/order 1012")
        await bot.press(ann, "Order")
        await bot.send(ann, "https://instagram.com/nasa")
        while "Check your order" not in ann.last_text:
            if "✏️ Quantity" in ann.last_text:
                await bot.send(ann, "1000")
            else:
                await bot.press(ann, "Skip")
        assert f"Balance: {currency}100.00" in ann.last_text and f"Price: {currency}" in ann.last_text
        await bot.press(ann, "Confirm")
        assert "placed" in ann.last_text and f"Charge: {currency}" in ann.last_text
        order_id = int(ann.last_text.split("#")[1].split()[0])
        bot.sandbox.set_status(order_id, "Completed", remains=0)
        assert bot.app is not None
        deps = bot.app.bot_data["deps"]
        deps.watcher.clock = lambda: at(120)
        await deps.watcher.run_cycle()
        assert await Sender(bot.store, clock=Clock()).send_due(bot.app.bot, now=at(120)) == 1  # type: ignore[arg-type]
        (text,) = received(ann, f"📦 Order #{order_id}")
        assert f"Charge: {currency}" in text
        # Shown as text: no link came through from the panel.
        assert not any(e["type"] == "text_link" for m in ann.messages for e in m.entities)
