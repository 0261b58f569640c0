"""After placing, in both sandbox dialects: the order is followed, its status is told in
its own words (not started, delivering, a drip-feed parent, a subscription), and a
panel that has no refill or cancel loses those buttons after its first "This action is
Invalid", says so once, and is not asked for refill statuses it cannot give."""

from __future__ import annotations

from datetime import datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import update
from sqlmodel import select
from telegram import Update

from bot.domain.capabilities import NO_CANCEL, NO_REFILL, NO_REFILL_STATUS, PanelFacts
from bot.domain.notices import KIND_REFILL_LOST
from bot.domain.watcher import ERRORS_TO_GIVE_UP
from bot.playground.fakegram import FakeUser
from bot.outbox.sender import Sender
from bot.store import Notification, Order, PanelFact, Refill, Store
from bot.store.models import utcnow
from tests.harness import KEY, PG_URL, World, world
from tests.test_watching import cycle as paced_cycle
from tests.test_watching import deps, place

DIALECTS = ["seed", "smartpanel"]
DATABASES = ["sqlite", pytest.param("postgresql", marks=pytest.mark.skipif(not PG_URL, reason="TEST_DATABASE_URL not set"))]
REFILL = "♻️ Refill"
CANCEL = "✖ Cancel order"
NO_REFILLS = "This panel does not offer refills through its API"
NO_CANCELS = "This panel does not offer cancelling through its API"


async def cycle(bot: World, *, now: datetime | None = None) -> int:
    """One watch cycle and one sending pass (a fresh sender: these tests move faster
    than the one message a second per chat that the sender keeps)."""
    assert bot.store is not None
    return await paced_cycle(bot, sender=Sender(bot.store), now=now)


async def open_card(bot: World, user: FakeUser, order: Order) -> str:
    """The order card, as the user opens it from /orders."""
    await bot.send(user, "/orders")
    await bot.press(user, f"#{order.panel_order_id}")
    assert f"Order #{order.panel_order_id}:" in user.last_text, user.last_text
    return user.last_text


def labels(user: FakeUser) -> list[str]:
    return [text for row in user.last_buttons for text, _ in row]


def notices(user: FakeUser) -> list[str]:
    """The notifications the user got (they carry "Open order"; order cards do not)."""
    return [m.text for m in user.messages if any(text == "📦 Open order" for row in m.buttons for text, _ in row)]


def said(user: FakeUser, words: str) -> int:
    return sum(words in m.text for m in user.messages)


async def place_dripfeed(bot: World, user: FakeUser, runs: str = "3", interval: str = "30") -> Order:
    """Service 1011 (drip-feed offered) in 3 runs of 100, every 30 minutes."""
    await bot.send(user, "/order 1011")
    await bot.press(user, "Order")
    await bot.send(user, "https://instagram.com/drip")
    await bot.send(user, "100")
    await bot.send(user, runs)
    await bot.send(user, interval)
    assert "Check your order" in user.last_text, user.last_text
    await bot.press(user, "Confirm")
    assert bot.store is not None
    (order,) = [o for o in await bot.store.orders_for(user.id, limit=50) if o.service_id == 1011]
    return order


# --- status in its own words ------------------------------------------------------------------


@pytest.mark.parametrize("dialect", DIALECTS)
async def test_an_order_is_followed_and_told_in_its_own_words_in_both_dialects(tmp_path: Path, dialect: str) -> None:
    async with world(tmp_path, dialect=dialect) as bot:
        ann = await bot.linked_user()
        order = await place(bot, ann)  # 1,000 followers
        # Fresh: not started, so no delivery figures (the seed says remains 1000, SmartPanel 0).
        card = await open_card(bot, ann, order)
        assert "Pending" in card and "Not started yet" in card
        assert "Delivered" not in card and "%" not in card and "Start count" not in card
        await bot.send(ann, "/status")
        assert f"#{order.panel_order_id}: Pending · not started yet" in ann.last_text
        assert await cycle(bot) == 0  # Pending, as stored: nothing to say
        # The panel starts it.
        bot.sandbox.set_status(order.panel_order_id, "In progress", remains=600)
        assert await cycle(bot) == 1
        (text,) = notices(ann)
        assert f"Order #{order.panel_order_id}: <b>In progress</b>" in text or f"#{order.panel_order_id}: In progress" in text
        assert "Delivered: 400 · Remains: 600" in text and "Not started" not in text
        await bot.send(ann, "/status")
        assert f"#{order.panel_order_id}: In progress · remains 600" in ann.last_text
        card = await open_card(bot, ann, order)
        assert "Delivered: 400 · Remains: 600" in card and "▓▓▓▓░░░░░░ 40%" in card and "Start count:" in card
        assert "Not started" not in card
        await bot.send(ann, "/orders")
        assert f"#{order.panel_order_id} · In progress · 40% delivered" in ann.last_text
        # And it ends.
        bot.sandbox.set_status(order.panel_order_id, "Completed", remains=0)
        assert await cycle(bot) == 1
        assert f"#{order.panel_order_id}: Completed" in notices(ann)[-1]
        assert "Delivered: 1,000 · Remains: 0" in notices(ann)[-1]
        card = await open_card(bot, ann, order)
        assert "▓▓▓▓▓▓▓▓▓▓ 100%" in card


@pytest.mark.parametrize("dialect", DIALECTS)
async def test_a_pending_order_stored_with_remains_0_is_not_shown_delivered(tmp_path: Path, dialect: str) -> None:
    """Older versions stored SmartPanel's 0 for a fresh Pending order as remains."""
    async with world(tmp_path, dialect=dialect) as bot:
        ann = await bot.linked_user()
        order = await place(bot, ann)
        assert bot.store is not None and order.id is not None
        await bot.store.update_order(order.id, {"remains": 0})
        card = await open_card(bot, ann, order)
        assert "100%" not in card and "Delivered" not in card and "Not started yet" in card
        await bot.send(ann, "/orders")
        assert "delivered" not in ann.last_text


@pytest.mark.parametrize("dialect", DIALECTS)
async def test_a_drip_feed_order_is_shown_as_one_in_both_dialects(tmp_path: Path, dialect: str) -> None:
    async with world(tmp_path, dialect=dialect) as bot:
        ann = await bot.linked_user()
        order = await place_dripfeed(bot, ann)
        card = await open_card(bot, ann, order)
        assert "Drip-feed: 3 runs, every 30 min" in card and "Quantity: 300" in card
        assert "Not started yet" in card and "%" not in card
        if dialect == "smartpanel":
            # Its parent answers {"status": ..., "runs": "3", "orders": []}: no run placed yet.
            assert "No run placed yet" in card
        await bot.send(ann, "/status")
        assert f"#{order.panel_order_id}: Pending · drip-feed, 3 runs · not started yet" in ann.last_text
        await bot.send(ann, "/orders")
        assert f"#{order.panel_order_id} · Pending · drip-feed" in ann.last_text
        bot.sandbox.set_status(order.panel_order_id, "In progress", remains=200)
        assert await cycle(bot) == 1
        (text,) = notices(ann)
        assert "In progress" in text
        if dialect == "seed":
            # The seed reports a drip-feed order like any other: its progress is real.
            assert "Delivered: 100 · Remains: 200" in text
        else:
            # SmartPanel reports the parent's runs and no remains: none is made up.
            assert "Drip-feed: 3 runs" in text and "Remains" not in text and "Delivered" not in text


async def test_an_active_subscription_is_shown_with_its_posts(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """SmartPanel cannot create subscriptions through its API, but one made on the
    panel answers {"status": "Active", "expiry": true, "posts": "5", "orders": []}
    (panel-dumps/smartpanel-replies.txt); here the sandbox answers so for our order."""
    async with world(tmp_path, dialect="smartpanel") as bot:
        ann = await bot.linked_user()
        order = await place(bot, ann)
        dialect = bot.sandbox._smart
        assert dialect is not None
        one = dialect._one

        def subscription(account, raw):  # type: ignore[no-untyped-def]
            if raw.strip() == str(order.panel_order_id):
                return {"status": "Active", "expiry": True, "posts": "5", "orders": []}
            return one(account, raw)

        monkeypatch.setattr(dialect, "_one", subscription)
        assert await cycle(bot) == 1
        (text,) = notices(ann)
        assert "Active" in text and "Subscription: 5 posts so far" in text
        assert "Delivered" not in text and "Drip-feed" not in text and "Not started" not in text
        card = await open_card(bot, ann, order)
        assert "Subscription: 5 posts so far" in card and "Not started" not in card and "%" not in card
        await bot.send(ann, "/status")
        assert f"#{order.panel_order_id}: Active · 5 posts so far" in ann.last_text


async def test_a_subscription_placed_on_the_seed_panel_reads_as_one(tmp_path: Path) -> None:
    async with world(tmp_path) as bot:
        ann = await bot.linked_user()
        await bot.send(ann, "/order 1051")
        await bot.press(ann, "Order")
        answers = {"✏️ Username": "nasa", "✏️ Minimum per new post": "100", "✏️ Maximum per new post": "200"}
        for _ in range(10):
            if "Check your order" in ann.last_text:
                break
            typed = [text for prompt, text in answers.items() if prompt in ann.last_text]
            if typed:
                await bot.send(ann, typed[0])
            else:
                await bot.press(ann, "No delay" if "✏️ Delay" in ann.last_text else "Skip")
        await bot.press(ann, "Confirm")
        assert bot.store is not None
        (order,) = await bot.store.orders_for(ann.id)
        card = await open_card(bot, ann, order)
        assert "Subscription: new posts are served as they appear" in card
        assert "Not started" not in card and "Delivered" not in card and "%" not in card
        await bot.send(ann, "/orders")
        assert f"#{order.panel_order_id} · Pending · subscription" in ann.last_text


# --- actions the panel does not have ----------------------------------------------------------


def flag_refill_and_cancel(bot: World) -> None:
    """SmartPanel's catalog has no refill/cancel flags; forks list them, and still answer
    "This action is Invalid". The seed catalog has them for 1012 already."""
    bot.sandbox.update_service(1012, refill="1", cancel="1")


@pytest.mark.parametrize("db", DATABASES)
async def test_smartpanel_loses_refill_and_cancel_after_its_first_invalid_action_and_says_so_once(
    tmp_path: Path, db: str
) -> None:
    async with world(tmp_path, db=db, dialect="smartpanel") as bot:
        flag_refill_and_cancel(bot)
        ann = await bot.linked_user()
        order = await place(bot, ann)
        await open_card(bot, ann, order)
        assert CANCEL in labels(ann)
        await bot.press(ann, CANCEL)
        await bot.press(ann, "Yes, cancel it")
        assert bot.sandbox.count("cancel") == 1
        assert NO_CANCELS in ann.last_text and "removed the Cancel button" in ann.last_text
        await open_card(bot, ann, order)
        assert CANCEL not in labels(ann)
        # A notification of this panel's orders does not offer it either.
        bot.sandbox.set_status(order.panel_order_id, "In progress", remains=500)
        assert await cycle(bot) == 1
        assert CANCEL not in labels(ann)
        # Refill: the card offers it once the order is complete, until the panel refuses it.
        bot.sandbox.set_status(order.panel_order_id, "Completed", remains=0)
        await cycle(bot)
        card_message = (await bot.press(ann, "📦 Open order"))[-1]
        assert REFILL in labels(ann)
        assert bot.app is not None
        await ann.press(bot.app, REFILL, card_message)
        assert bot.sandbox.count("refill") == 1
        assert NO_REFILLS in ann.last_text and "removed the Refill button" in ann.last_text
        # The card pressed lost its Refill button at once, and every card after it.
        pressed = bot.fake.message(ann.id, card_message.message_id)
        assert pressed is not None and REFILL not in [text for row in pressed.buttons for text, _ in row]
        await open_card(bot, ann, order)
        assert REFILL not in labels(ann) and CANCEL not in labels(ann) and "🔁 Order again" in labels(ann)
        # Told once each, and nothing more was asked of the panel.
        assert said(ann, NO_REFILLS) == 1 and said(ann, NO_CANCELS) == 1
        assert bot.sandbox.count("refill") == 1 and bot.sandbox.count("cancel") == 1
        # Another user of the same panel never sees the buttons.
        bob = await bot.linked_user(2002)
        theirs = await place(bot, bob, link="https://instagram.com/bob")
        await open_card(bot, bob, theirs)
        assert CANCEL not in labels(bob)
        # An older card's button still pressed: told briefly, the panel not asked.
        older = await place(bot, ann, link="https://instagram.com/older")
        await open_card(bot, ann, older)
        stale = ann.keyboard_message
        assert stale is not None
        bot.sandbox.set_status(older.panel_order_id, "Completed", remains=0)
        forged = ann.update_dict_for_press("🔄 Refresh", stale)
        forged["callback_query"]["data"] = f"R:{older.id}"
        await bot.app.process_update(Update.de_json(forged, bot.app.bot))
        assert bot.sandbox.count("refill") == 1 and ann.last_text.startswith(NO_REFILLS)


async def test_seed_refill_and_cancel_still_work_and_a_stale_fact_is_forgotten(tmp_path: Path) -> None:
    async with world(tmp_path) as bot:
        ann = await bot.linked_user()
        order = await place(bot, ann)
        assert bot.store is not None
        facts = PanelFacts(bot.store, bot.sandbox.url, refresh=0.0)
        # Learnt more than a day ago: asked again, and the panel answers.
        await facts.learn(NO_CANCEL, "This action is Invalid")
        await age_facts(bot.store, days=2)
        await open_card(bot, ann, order)
        await bot.press(ann, CANCEL)
        await bot.press(ann, "Yes, cancel it")
        assert "Cancel requested" in ann.last_text and said(ann, NO_CANCELS) == 0
        assert await bot.store.panel_facts(bot.sandbox.url) == []
        bot.sandbox.advance(30)
        await cycle(bot)
        assert any(f"#{order.panel_order_id}: Canceled" in t for t in notices(ann))
        # A fresh fact hides the button without asking the panel.
        second = await place(bot, ann, link="https://instagram.com/second")
        bot.sandbox.set_status(second.panel_order_id, "Completed", remains=0)
        await facts.learn(NO_REFILL, "This action is Invalid")
        deps(bot).facts.refresh = 0.0
        await open_card(bot, ann, second)
        assert REFILL not in labels(ann)


async def age_facts(store: Store, *, days: int) -> None:
    async with store.session() as s:
        await s.exec(update(PanelFact).values(learnt_at=utcnow() - timedelta(days=days)))  # type: ignore[call-overload]


# --- refill statuses the panel cannot give ----------------------------------------------------


@pytest.mark.parametrize("dialect", DIALECTS)
async def test_refill_status_is_polled_only_where_the_panel_has_it(tmp_path: Path, dialect: str) -> None:
    async with world(tmp_path, dialect=dialect) as bot:
        ann = await bot.linked_user()
        order = await place(bot, ann)
        bot.sandbox.set_status(order.panel_order_id, "Completed", remains=0)
        await cycle(bot)
        assert bot.store is not None and order.id is not None
        # A refill made while the panel still had refills (or on its website).
        refill = await bot.store.add_refill(order.id, 7001)
        second = await place(bot, ann, link="https://instagram.com/second")
        bot.sandbox.set_status(second.panel_order_id, "In progress", remains=500)
        assert await cycle(bot) == 1  # the order's change arrives whatever refill_status says
        assert f"#{second.panel_order_id}: In progress" in notices(ann)[-1]
        for _ in range(6):
            await cycle(bot)
        async with bot.store.session() as s:
            lost = (await s.exec(select(Notification).where(Notification.kind == KIND_REFILL_LOST))).all()
            (row,) = (await s.exec(select(Refill).where(Refill.id == refill.id))).all()
        facts = await PanelFacts(bot.store, bot.sandbox.url).abilities()
        if dialect == "smartpanel":
            # Asked once, refused with "This action is Invalid": remembered, never asked again
            # this day, the refill left alone (no errors counted, nobody told it is lost).
            assert bot.sandbox.count("refill_status") == 1
            assert facts.refill_status is False
            assert lost == [] and row.check_errors == 0 and not row.final
        else:
            # Asked every cycle; "Refill not found" for 7001 five times in a row ends its watch.
            assert bot.sandbox.count("refill_status") == ERRORS_TO_GIVE_UP
            assert facts.refill_status is True
            assert len(lost) == 1 and row.final


async def test_a_panel_that_answers_refill_status_again_is_followed_again(tmp_path: Path) -> None:
    async with world(tmp_path) as bot:
        ann = await bot.linked_user()
        order = await place(bot, ann)
        bot.sandbox.set_status(order.panel_order_id, "Completed", remains=0)
        await cycle(bot)
        assert bot.store is not None
        facts = PanelFacts(bot.store, bot.sandbox.url, refresh=0.0)
        await facts.learn(NO_REFILL_STATUS, "This action is Invalid")
        deps(bot).watcher.facts.refresh = 0.0  # another process learnt it: seen at once here
        await open_card(bot, ann, order)
        await bot.press(ann, REFILL)
        (panel_refill,) = bot.sandbox.refills(KEY)
        await cycle(bot)
        assert bot.sandbox.count("refill_status") == 0  # a fresh fact: not asked
        await age_facts(bot.store, days=2)
        bot.sandbox.set_refill_status(panel_refill.id, "Completed")
        # Left alone for a day; then asked again, and it answers.
        later = utcnow() + timedelta(days=1, minutes=5)
        await cycle(bot, now=later)
        assert bot.sandbox.count("refill_status") == 1
        assert any(f"Refill #{panel_refill.id} of order #{order.panel_order_id}: Completed" in t for t in notices(ann))
        assert (await facts.abilities()).refill_status is True
        assert await bot.store.panel_facts(bot.sandbox.url) == []
