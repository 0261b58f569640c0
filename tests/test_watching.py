"""After placing: the watcher sees every change, the outbox delivers each exactly once
within Telegram's limits, and the order card offers refill and cancel where allowed."""

from __future__ import annotations

import re
from datetime import datetime, timedelta, timezone
from decimal import Decimal
from pathlib import Path

import httpx
import pytest

from bot.playground.fakegram import FakeUser
from bot.outbox.sender import Sender
from bot.panel.client import PanelClient
from bot.store import Order
from tests.harness import KEY, PG_URL, World, world
from tests.store_rows import add_order

DATABASES = ["sqlite", pytest.param("postgresql", marks=pytest.mark.skipif(not PG_URL, reason="TEST_DATABASE_URL not set"))]


class Clock:
    """A hand-moved clock for the sender's pacing."""

    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def deps(bot: World):  # type: ignore[no-untyped-def]
    assert bot.app is not None
    return bot.app.bot_data["deps"]


async def cycle(bot: World, *, sender: Sender | None = None, now: datetime | None = None) -> int:
    """One watcher cycle and one sending pass, as the JobQueue job does; each call is
    one poll interval after the previous one unless `now` is given."""
    d = deps(bot)
    if now is None:
        bot.cycles = getattr(bot, "cycles", 0) + 1
        now = datetime.now(timezone.utc) + timedelta(seconds=d.watcher.poll_seconds * bot.cycles)
    d.watcher.clock = lambda: now
    await d.watcher.run_cycle()
    assert bot.app is not None
    return await (sender or d.sender).send_due(bot.app.bot, now=now)


async def place(bot: World, user: FakeUser, service_id: int = 1012, link: str = "https://instagram.com/nasa", quantity: str = "1000") -> Order:
    await bot.send(user, f"/order {service_id}")
    await bot.press(user, "Order")
    await bot.send(user, link)
    while "Check your order" not in user.last_text:
        if "✏️ Quantity" in user.last_text:
            await bot.send(user, quantity)
        else:
            await bot.press(user, "Skip")
    await bot.press(user, "Confirm")
    match = re.search(r"Order #(\d+) placed", user.last_text)
    assert match, user.last_text
    assert bot.store is not None
    order = await bot.store.get_order(user.id, int(match.group(1)))
    assert order is not None
    return order


def notices(user: FakeUser) -> list[str]:
    return [m.text for m in user.messages if m.text.startswith(("📦 Order #", "♻️ Refill #", "🔑"))]


# --- notifications ---------------------------------------------------------------------------


@pytest.mark.parametrize("db", DATABASES)
async def test_a_status_change_is_notified_exactly_once(tmp_path: Path, db: str) -> None:
    async with world(tmp_path, db=db) as bot:
        ann = await bot.linked_user()
        order = await place(bot, ann)
        assert await cycle(bot) == 0  # Pending, as stored: nothing to say
        bot.sandbox.set_status(order.panel_order_id, "In progress", remains=600)
        assert await cycle(bot) == 1
        (text,) = notices(ann)
        assert f"Order #{order.panel_order_id}: In progress" in text
        assert "Delivered: 400 · Remains: 600" in text and "Charge: $2.45" in text
        # The notification carries the order card's buttons: this service allows
        # cancel (not final yet) and refill (not until it finishes).
        assert ann.last_buttons == [
            [("📦 Open order", f"O:{order.id}")],
            [("✖ Cancel order", f"C:{order.id}")],
            [("🔁 Order again", f"a:{order.draft_id}")],
        ]
        assert await cycle(bot) == 0 and await cycle(bot) == 0
        assert len(notices(ann)) == 1


async def test_final_status_ends_the_watch(tmp_path: Path) -> None:
    async with world(tmp_path) as bot:
        ann = await bot.linked_user()
        order = await place(bot, ann)
        bot.sandbox.set_status(order.panel_order_id, "Completed", remains=0)
        await cycle(bot)
        calls = bot.sandbox.count("status")
        await cycle(bot)
        assert bot.sandbox.count("status") == calls  # nothing open: no call at all
        assert bot.store is not None
        stored = await bot.store.order_by_id(order.id or 0)
        assert stored is not None and stored.final and stored.status == "Completed"


async def test_two_changes_in_one_cycle_are_two_messages_paced_per_chat(tmp_path: Path) -> None:
    async with world(tmp_path) as bot:
        ann = await bot.linked_user()
        first = await place(bot, ann, link="https://instagram.com/a")
        second = await place(bot, ann, link="https://instagram.com/b")
        bot.sandbox.set_status(first.panel_order_id, "Completed", remains=0)
        bot.sandbox.set_status(second.panel_order_id, "Partial", remains=100)
        clock = Clock()
        sender = Sender(bot.store, clock=clock)  # type: ignore[arg-type]
        assert await cycle(bot, sender=sender) == 1  # one a second per chat
        assert await cycle(bot, sender=sender) == 0
        clock.now += 1.1
        assert await cycle(bot, sender=sender) == 1
        texts = notices(ann)
        assert len(texts) == 2
        assert any(f"#{first.panel_order_id}: Completed" in t for t in texts)
        assert any(f"#{second.panel_order_id}: Partial" in t for t in texts)


@pytest.mark.parametrize("db", DATABASES)
async def test_a_restart_between_storing_and_sending_delivers_once(tmp_path: Path, db: str) -> None:
    async with world(tmp_path, db=db) as bot:
        ann = await bot.linked_user()
        order = await place(bot, ann)
        bot.sandbox.set_status(order.panel_order_id, "In progress", remains=900)
        await deps(bot).watcher.run_cycle()  # stored and queued, not sent
        assert notices(ann) == []
        await bot.restart()
        assert bot.app is not None
        assert await deps(bot).sender.send_due(bot.app.bot) == 1
        assert await cycle(bot) == 0
        assert len(notices(ann)) == 1


async def test_a_user_who_blocked_the_bot_is_skipped_until_they_come_back(tmp_path: Path) -> None:
    async with world(tmp_path) as bot:
        ann = await bot.linked_user()
        order = await place(bot, ann)
        bot.fake.block(ann.id)
        bot.sandbox.set_status(order.panel_order_id, "Completed", remains=0)
        assert await cycle(bot) == 0
        assert bot.store is not None
        user = await bot.store.get_user(ann.id)
        assert user is not None and user.blocked
        assert await cycle(bot) == 0  # skipped, no attempt
        bot.fake.unblock(ann.id)
        await bot.send(ann, "/help")  # they are back
        assert bot.app is not None
        assert await deps(bot).sender.send_due(bot.app.bot) == 1
        assert len(notices(ann)) == 1


async def test_telegrams_retry_after_delays_a_notification_and_never_drops_it(tmp_path: Path) -> None:
    async with world(tmp_path) as bot:
        ann = await bot.linked_user()
        order = await place(bot, ann)
        bot.sandbox.set_status(order.panel_order_id, "Completed", remains=0)
        bot.fake.fail_next("sendMessage", retry_after=3)
        clock = Clock()
        sender = Sender(bot.store, clock=clock)  # type: ignore[arg-type]
        now = datetime.now(timezone.utc) + timedelta(seconds=1)
        assert await cycle(bot, sender=sender, now=now) == 0
        assert bot.fake.count_429 == 1
        assert bot.app is not None
        assert await sender.send_due(bot.app.bot, now=now + timedelta(seconds=1)) == 0  # still waiting
        clock.now += 3.5
        assert await sender.send_due(bot.app.bot, now=now + timedelta(seconds=4)) == 1
        assert len(notices(ann)) == 1


async def test_a_panel_outage_backs_off_quietly_and_recovery_notifies(tmp_path: Path) -> None:
    async with world(tmp_path, status_poll_seconds=60) as bot:
        ann = await bot.linked_user()
        order = await place(bot, ann)
        bot.sandbox.set_status(order.panel_order_id, "Completed", remains=0)
        bot.sandbox.faults.set("status", http_status=502)
        now = datetime.now(timezone.utc) + timedelta(seconds=1)
        texts_before = len(ann.messages)
        assert await cycle(bot, now=now) == 0
        calls = bot.sandbox.count("status")
        assert await cycle(bot, now=now + timedelta(seconds=10)) == 0
        assert bot.sandbox.count("status") == calls  # backing off: not asked again yet
        assert len(ann.messages) == texts_before  # and nobody was messaged
        bot.sandbox.faults.clear()
        assert await cycle(bot, now=now + timedelta(minutes=5)) == 1
        assert "Completed" in notices(ann)[0]


async def test_an_invalid_key_is_told_once_and_its_watch_pauses(tmp_path: Path) -> None:
    async with world(tmp_path) as bot:
        ann = await bot.linked_user()
        await place(bot, ann)
        # Confirmed: `balance` refuses the key too (one refused status alone does not pause).
        bot.sandbox.faults.set("*", error="Invalid API key")
        assert await cycle(bot) == 1
        assert await cycle(bot) == 0
        (text,) = notices(ann)
        assert "no longer accepts your API key sand…cdef" in text and "/connect" in text
        calls = bot.sandbox.count("status")
        await cycle(bot)
        assert bot.sandbox.count("status") == calls
        # Linking a key again lifts the pause.
        bot.sandbox.faults.clear()
        await bot.send(ann, f"/connect {KEY}")
        await cycle(bot)
        assert bot.sandbox.count("status") == calls + 1


async def test_250_open_orders_on_each_of_three_keys_cost_three_status_calls_per_key(tmp_path: Path) -> None:
    async with world(tmp_path) as bot:
        assert bot.store is not None
        async with httpx.AsyncClient() as http:
            for n in range(3):
                key = f"bulk-key-{n}-0123456789"
                bot.sandbox.add_account(key, balance=Decimal(100000))
                account = await bot.store.link_account(5000 + n, bot.sandbox.url, key, "USD")
                await bot.store.ensure_user(5000 + n, "en")
                client = PanelClient(bot.sandbox.url, key, http=http)
                for i in range(250):
                    order_id = await client.add({"service": "1012", "link": f"https://x.com/{n}/{i}", "quantity": "100"})
                    await add_order(bot.store, panel_order_id=order_id, account_id=account.id, user_id=5000 + n,
                                    service_id=1012, service_name="S", quantity=100, status="Pending")
        before = bot.sandbox.count("status")
        await deps(bot).watcher.run_cycle()
        sizes = sorted(len(r.fields["orders"].split(",")) for r in bot.sandbox.calls("status")[before:])
        assert sizes == [50, 50, 50, 100, 100, 100, 100, 100, 100]


async def test_notifications_setting_final_only_and_off(tmp_path: Path) -> None:
    async with world(tmp_path) as bot:
        ann = await bot.linked_user()
        order = await place(bot, ann)
        await bot.send(ann, "/notifications")
        await bot.press(ann, "Final status only")
        assert "✅ Final status only" in [row[0][0] for row in ann.last_buttons]
        bot.sandbox.set_status(order.panel_order_id, "In progress", remains=500)
        assert await cycle(bot) == 0
        bot.sandbox.set_status(order.panel_order_id, "Completed", remains=0)
        assert await cycle(bot) == 1
        assert "Completed" in notices(ann)[0]
        second = await place(bot, ann, link="https://instagram.com/other")
        await bot.send(ann, "/notifications")
        await bot.press(ann, "Off")
        bot.sandbox.set_status(second.panel_order_id, "Completed", remains=0)
        assert await cycle(bot) == 0
        assert len(notices(ann)) == 1


# --- the order card, refill and cancel ------------------------------------------------------------


async def test_the_order_card_shows_progress_and_only_the_allowed_buttons(tmp_path: Path) -> None:
    async with world(tmp_path) as bot:
        ann = await bot.linked_user()
        order = await place(bot, ann, service_id=1012)  # refill and cancel service
        bot.sandbox.set_status(order.panel_order_id, "In progress", remains=250)
        await bot.press(ann, "🔄 Refresh")
        card = ann.last_text
        assert "In progress" in card and "Quantity: 1,000" in card and "Delivered: 750 · Remains: 250" in card
        assert "▓▓▓▓▓▓▓▓░░ 75%" in card and "Link: https://instagram.com/nasa" in card
        labels = [b[0] for row in ann.last_buttons for b in row]
        assert "✖ Cancel order" in labels and "♻️ Refill" not in labels and "🔁 Order again" in labels
        bot.sandbox.set_status(order.panel_order_id, "Completed", remains=0)
        await bot.press(ann, "🔄 Refresh")
        labels = [b[0] for row in ann.last_buttons for b in row]
        assert "♻️ Refill" in labels and "✖ Cancel order" not in labels
        # A service without refill or cancel never shows them.
        plain = await place(bot, ann, service_id=1024, link="https://instagram.com/p/x", quantity="100")
        assert plain.refill is False
        await bot.press(ann, "🔄 Refresh")
        labels = [b[0] for row in ann.last_buttons for b in row]
        assert "♻️ Refill" not in labels and "✖ Cancel order" not in labels


async def test_refill_is_one_call_per_press_and_is_watched(tmp_path: Path) -> None:
    async with world(tmp_path) as bot:
        ann = await bot.linked_user()
        order = await place(bot, ann)
        bot.sandbox.set_status(order.panel_order_id, "Completed", remains=0)
        await bot.press(ann, "🔄 Refresh")
        assert bot.app is not None
        tap = ann.update_for_press("♻️ Refill", bot=bot.app.bot)
        again = ann.update_for_press("♻️ Refill", bot=bot.app.bot)
        await bot.app.process_update(tap)
        await bot.app.process_update(again)
        assert bot.sandbox.count("refill") == 1
        assert "requested for order" in ann.all_text() and "already on its way" in ann.all_text()
        (refill,) = bot.sandbox.refills(KEY)
        bot.sandbox.set_refill_status(refill.id, "Completed")
        await cycle(bot)
        assert any(f"Refill #{refill.id} of order #{order.panel_order_id}: Completed" in t for t in notices(ann))


async def test_a_refused_refill_is_explained(tmp_path: Path) -> None:
    async with world(tmp_path) as bot:
        ann = await bot.linked_user()
        order = await place(bot, ann)
        bot.sandbox.set_status(order.panel_order_id, "Completed", remains=0)
        bot.sandbox.faults.set("refill", error="The refill task is not completed for this order")
        await bot.press(ann, "🔄 Refresh")
        await bot.press(ann, "♻️ Refill")
        assert "previous refill of this order is not completed" in ann.last_text


async def test_cancel_asks_first_then_the_outcome_arrives_through_the_watcher(tmp_path: Path) -> None:
    async with world(tmp_path) as bot:
        ann = await bot.linked_user()
        order = await place(bot, ann)
        await bot.press(ann, "🔄 Refresh")
        await bot.press(ann, "✖ Cancel order")
        assert "Cancel order #" in ann.last_text
        await bot.press(ann, "Yes, cancel it")
        assert "Cancel requested" in ann.last_text
        assert bot.sandbox.count("cancel") == 1
        bot.sandbox.advance(30)
        await cycle(bot)
        assert any(f"#{order.panel_order_id}: Canceled" in t for t in notices(ann))


# --- looking at orders -------------------------------------------------------------------------------


async def test_status_lists_open_orders_and_refuses_a_foreign_id_per_id(tmp_path: Path) -> None:
    async with world(tmp_path) as bot:
        ann = await bot.linked_user()
        mine = await place(bot, ann)
        other_key = bot.sandbox.add_account("other-key-0123456789", balance=Decimal(100))
        async with httpx.AsyncClient() as http:
            foreign = await PanelClient(bot.sandbox.url, other_key, http=http).add(
                {"service": "1012", "link": "https://x.com/foreign", "quantity": "100"})
        await bot.send(ann, "/status")
        assert f"#{mine.panel_order_id}: Pending" in ann.last_text
        await bot.send(ann, f"/status {mine.panel_order_id},{foreign}")
        assert f"#{foreign}: The panel does not know this order" in ann.last_text
        # Opening another user's order card by forged data is refused.
        bob = await bot.linked_user(2002)
        forged = bob.update_dict_for_press("💰 Balance")
        forged["callback_query"]["data"] = f"O:{mine.id}"
        from telegram import Update

        await bot.app.process_update(Update.de_json(forged, bot.app.bot))  # type: ignore[union-attr]
        assert "not for you" in bob.last_text


async def test_orders_history_is_paged_newest_first_and_filtered(tmp_path: Path) -> None:
    async with world(tmp_path, balance="1000") as bot:
        ann = await bot.linked_user()
        placed = [await place(bot, ann, link=f"https://instagram.com/u{i}") for i in range(10)]
        bot.sandbox.set_status(placed[0].panel_order_id, "Completed", remains=0)
        await cycle(bot)
        await bot.send(ann, "/orders")
        assert "(10)" in ann.last_text
        assert ann.last_text.index(f"#{placed[-1].panel_order_id}") < ann.last_text.index(f"#{placed[-2].panel_order_id}")
        await bot.press(ann, "Next ▶")
        assert f"#{placed[0].panel_order_id}" in ann.last_text
        await bot.press(ann, "Finished")
        assert "(1)" in ann.last_text and f"#{placed[0].panel_order_id}" in ann.last_text
        await bot.press(ann, "Open")
        assert "(9)" in ann.last_text


async def test_an_outage_backs_off_longer_each_time_with_jitter_and_a_cap(tmp_path: Path) -> None:
    async with world(tmp_path, status_poll_seconds=60) as bot:
        ann = await bot.linked_user()
        order = await place(bot, ann)
        bot.sandbox.faults.set("status", http_status=503)
        watcher = deps(bot).watcher
        watcher.max_backoff = 200
        assert bot.store is not None
        now = datetime.now(timezone.utc) + timedelta(seconds=1)
        delays = []
        for _ in range(4):
            watcher.clock = lambda: now
            await watcher.run_cycle()
            stored = await bot.store.order_by_id(order.id or 0)
            assert stored is not None and stored.next_check_at is not None
            delays.append((stored.next_check_at - now).total_seconds())
            now = stored.next_check_at + timedelta(seconds=1)
        assert 45 <= delays[0] <= 75 and 90 <= delays[1] <= 150
        assert all(d <= 250 for d in delays[2:])
