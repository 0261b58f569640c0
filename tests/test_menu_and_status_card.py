"""Helper N (issue 11): `/status` with one id answers with that order's card and its
buttons; charges carry the account's currency on the card and in notifications (team
mode too); `/start` for a linked user is the main menu with the balance and the count of
open orders, in one message, even when the panel is down."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from bot.playground.fakegram import FakeUser
from bot.outbox.sender import Sender
from bot.i18n import I18n
from bot.store import Order
from tests.harness import KEY, PG_URL, World, world
from tests.test_watching import cycle as paced_cycle

DIALECTS = ["seed", "smartpanel"]
DATABASES = ["sqlite", pytest.param("postgresql", marks=pytest.mark.skipif(not PG_URL, reason="TEST_DATABASE_URL not set"))]


def labels(user: FakeUser) -> list[str]:
    return [text for row in user.last_buttons for text, _ in row]


async def cycle(bot: World) -> int:
    assert bot.store is not None
    return await paced_cycle(bot, sender=Sender(bot.store))


async def place(bot: World, user: FakeUser, service_id: int = 1012, link: str = "https://instagram.com/nasa",
                quantity: str = "1000") -> Order:
    """An order of 1,000 as a user places it, in whatever language they read: Order,
    the link, the quantity, optional fields skipped, Confirm."""
    assert bot.store is not None
    t = I18n(user.language_code or "en")
    before = {o.id for o in await bot.store.orders_for(user.id, limit=100)}
    await bot.send(user, f"/order {service_id}")
    await bot.press(user, user.last_buttons[0][0][0])  # Order
    await bot.send(user, link)
    for _ in range(10):
        if t._("Confirm") in labels(user):
            break
        skip = [label for label in labels(user) if t._("Skip") in label]
        if skip:
            await bot.press(user, skip[0])
        else:
            await bot.send(user, quantity)
    await bot.press(user, t._("Confirm"))
    (order,) = [o for o in await bot.store.orders_for(user.id, limit=100) if o.id not in before]
    return order


# --- /status with one id ------------------------------------------------------------------------


@pytest.mark.parametrize("dialect", DIALECTS)
async def test_status_with_one_id_answers_with_that_orders_card_and_buttons(tmp_path: Path, dialect: str) -> None:
    async with world(tmp_path, dialect=dialect) as bot:
        ann = await bot.linked_user()
        order = await place(bot, ann)
        sent = len(ann.messages)
        await bot.send(ann, f"/status {order.panel_order_id}")
        assert len(ann.messages) == sent + 1  # one message: the card itself, no list to tap through
        card = ann.last_text
        assert f"📦 Order #{order.panel_order_id}: Pending" in card, card
        assert "Service: 1012 ·" in card and "Link: https://instagram.com/nasa" in card
        assert "Not started yet" in card and "Checked at" in card
        assert "Your orders" not in card
        assert "🔄 Refresh" in labels(ann) and "🔁 Order again" in labels(ann)
        # Refresh on it is the card again.
        bot.sandbox.set_status(order.panel_order_id, "In progress", remains=600)
        await bot.press(ann, "🔄 Refresh")
        assert "Delivered: 400 · Remains: 600" in ann.last_text


async def test_status_with_one_id_offers_cancel_and_refill_where_allowed(tmp_path: Path) -> None:
    async with world(tmp_path) as bot:
        ann = await bot.linked_user()
        order = await place(bot, ann)
        await bot.send(ann, f"/status {order.panel_order_id}")
        assert ("✖ Cancel order" in labels(ann)) == order.cancel
        assert "♻️ Refill" not in labels(ann)  # not before it is completed
        bot.sandbox.set_status(order.panel_order_id, "Completed", remains=0)
        await bot.send(ann, f"/status {order.panel_order_id}")
        assert f"Order #{order.panel_order_id}: Completed" in ann.last_text
        assert ("♻️ Refill" in labels(ann)) == order.refill
        assert "✖ Cancel order" not in labels(ann)


async def test_status_with_several_ids_keeps_the_list(tmp_path: Path) -> None:
    async with world(tmp_path) as bot:
        ann = await bot.linked_user()
        first = await place(bot, ann)
        second = await place(bot, ann, link="https://instagram.com/second")
        await bot.send(ann, f"/status {first.panel_order_id} {second.panel_order_id}")
        assert "Your orders" in ann.last_text
        assert f"#{first.panel_order_id}: Pending" in ann.last_text
        assert f"#{second.panel_order_id}: Pending" in ann.last_text
        assert labels(ann) == [f"#{first.panel_order_id}", f"#{second.panel_order_id}"]


async def test_status_with_one_id_not_placed_through_the_bot_lists_the_panels_answer(tmp_path: Path) -> None:
    async with world(tmp_path) as bot:
        ann = await bot.linked_user()
        await bot.send(ann, "/status 999999")
        assert "#999999: The panel does not know this order for your account." in ann.last_text
        assert not ann.last_buttons


async def test_status_with_one_id_in_russian(tmp_path: Path) -> None:
    async with world(tmp_path) as bot:
        ivan = await bot.linked_user(1002, language_code="ru")
        order = await place(bot, ivan)
        await bot.send(ivan, f"/status {order.panel_order_id}")
        assert f"📦 Заказ #{order.panel_order_id}: В ожидании" in ivan.last_text, ivan.last_text
        assert "🔄 Обновить" in labels(ivan) and "🔁 Повторить заказ" in labels(ivan)


# --- currency on the card and in notifications ----------------------------------------------------


async def test_team_mode_order_card_and_notifications_carry_the_currency(tmp_path: Path) -> None:
    async with world(tmp_path, panel_key=KEY, allowed_users="1001,1002") as bot:
        ann = bot.user(1001)
        await bot.send(ann, "/start")
        order = await place(bot, ann)
        await bot.send(ann, f"/status {order.panel_order_id}")
        assert "Charge: $2.45" in ann.last_text, ann.last_text
        bot.sandbox.set_status(order.panel_order_id, "Completed", remains=0)
        assert await cycle(bot) == 1
        notice = ann.messages[-1].text
        assert f"Order #{order.panel_order_id}: Completed" in notice and "Charge: $2.45" in notice, notice
        # In Russian the amount is written the Russian way, with its sign.
        ivan = bot.user(1002, language_code="ru")
        await bot.send(ivan, "/start")
        theirs = await place(bot, ivan)
        await bot.send(ivan, f"/status {theirs.panel_order_id}")
        assert "Списано: 2,45\xa0$" in ivan.last_text, ivan.last_text


async def test_a_charge_stored_without_currency_shows_the_accounts(tmp_path: Path) -> None:
    """An order kept without a currency (placed before the panel named one), opened
    while the panel does not answer: the card shows the account's currency."""
    async with world(tmp_path, panel_key=KEY, allowed_users="1001") as bot:
        ann = bot.user(1001)
        await bot.send(ann, "/start")
        order = await place(bot, ann)
        assert bot.store is not None and order.id is not None
        await bot.store.update_order(order.id, {"currency": None})
        bot.sandbox.faults.set("status", http_status=502)
        await bot.send(ann, "/orders")
        await bot.press(ann, f"#{order.panel_order_id}")
        assert "Charge: $2.45" in ann.last_text, ann.last_text
        assert "not answering" in ann.last_text


# --- /start: the main menu -------------------------------------------------------------------------


@pytest.mark.parametrize("db", DATABASES)
async def test_start_for_a_linked_user_is_the_main_menu_with_balance_and_open_orders(tmp_path: Path, db: str) -> None:
    async with world(tmp_path, db=db) as bot:
        ann = await bot.linked_user()
        sent = len(ann.messages)
        await bot.send(ann, "/start")
        assert len(ann.messages) == sent + 1
        assert "💰 Balance: $100.00" in ann.last_text, ann.last_text
        assert "📋 Open orders: 0" in ann.last_text
        assert labels(ann) == ["🛒 New order", "💰 Balance", "📋 Orders"]
        await place(bot, ann)
        await place(bot, ann, link="https://instagram.com/second")
        await bot.send(ann, "/start")
        assert "📋 Open orders: 2" in ann.last_text
        assert "💰 Balance: $95.10" in ann.last_text, ann.last_text  # two orders of $2.45 paid from it
        await bot.press(ann, "📋 Orders")
        assert "Your orders" in ann.last_text


async def test_start_main_menu_in_russian(tmp_path: Path) -> None:
    async with world(tmp_path) as bot:
        ivan = await bot.linked_user(1002, language_code="ru")
        await bot.send(ivan, "/start")
        assert "💰 Баланс: 100,00\xa0$" in ivan.last_text, ivan.last_text
        # A new line, in the words of the Russian catalog (tests/test_i18n.py checks that
        # every msgid has its translation there).
        assert I18n("ru")._("📋 Open orders: {count}", count="0") in ivan.last_text, ivan.last_text
        assert labels(ivan) == ["🛒 Новый заказ", "💰 Баланс", "📋 Заказы"]


async def test_start_does_not_wait_for_a_panel_that_does_not_answer(tmp_path: Path) -> None:
    async with world(tmp_path) as bot:
        ann = await bot.linked_user()
        await place(bot, ann)  # the balance is asked again after an order
        bot.sandbox.faults.set("balance", hang=True)
        began = time.monotonic()
        await bot.send(ann, "/start")
        assert time.monotonic() - began < 6.0
        assert "💰 Balance: not available right now (the panel is not answering)" in ann.last_text, ann.last_text
        assert "📋 Open orders: 1" in ann.last_text
        assert labels(ann) == ["🛒 New order", "💰 Balance", "📋 Orders"]


async def test_start_for_a_team_member_shows_the_team_balance(tmp_path: Path) -> None:
    async with world(tmp_path, panel_key=KEY, allowed_users="1001") as bot:
        ann = bot.user(1001)
        await bot.send(ann, "/start")
        assert "💰 Balance: $100.00" in ann.last_text, ann.last_text
        assert "📋 Open orders: 0" in ann.last_text


async def test_start_for_an_unlinked_user_still_asks_for_a_key(tmp_path: Path) -> None:
    async with world(tmp_path) as bot:
        bob = bot.user(1002)
        await bot.send(bob, "/start")
        assert "👋 Hello! I place orders on your SMM panel from this chat." in bob.last_text
        assert "API key" in bob.last_text
        assert "Balance" not in bob.last_text and "Open orders" not in bob.last_text


async def test_start_with_a_key_the_panel_refuses_says_what_to_do(tmp_path: Path) -> None:
    async with world(tmp_path) as bot:
        ann = await bot.linked_user()
        await place(bot, ann)  # the balance is asked again after an order
        bot.sandbox.faults.set("balance", error="Invalid API key")
        await bot.send(ann, "/start")
        assert "💰 The panel does not accept this API key. Link a valid key with /connect." in ann.last_text, ann.last_text
        assert "📋 Open orders: 1" in ann.last_text


# --- the order's details on the card, by their labels ---------------------------------------------


async def place_subscription(bot: World, user: FakeUser) -> Order:
    """Service 1051 (Subscriptions): username nasa, 100 to 200 per new post, no delay."""
    assert bot.store is not None
    t = I18n(user.language_code or "en")
    answers = {t._("Username"): "nasa", t._("Minimum per new post"): "100", t._("Maximum per new post"): "200"}
    await bot.send(user, "/order 1051")
    await bot.press(user, user.last_buttons[0][0][0])  # Order
    for _ in range(12):
        if t._("Confirm") in labels(user):
            break
        prompt = user.last_text.split("\n")[1] if "\n" in user.last_text else user.last_text
        typed = [text for name, text in answers.items() if name in prompt]
        if typed:
            await bot.send(user, typed[0])
        elif t._("No delay") in labels(user):
            await bot.press(user, t._("No delay"))
        else:
            await bot.press(user, next(label for label in labels(user) if t._("Skip") in label))
    await bot.press(user, t._("Confirm"))
    (order,) = await bot.store.orders_for(user.id, limit=5)
    return order


async def test_the_card_names_an_orders_details_by_their_labels(tmp_path: Path) -> None:
    async with world(tmp_path) as bot:
        ann = await bot.linked_user()
        order = await place_subscription(bot, ann)
        await bot.send(ann, f"/status {order.panel_order_id}")
        card = ann.last_text
        assert "Username: nasa" in card, card
        assert "Minimum per new post: 100" in card and "Maximum per new post: 200" in card
        assert "Delay: No delay" in card
        for api_name in ("username:", "min:", "max:", "delay:", "old_posts", "posts:"):
            assert api_name not in card, card


async def test_the_card_names_an_orders_details_by_their_labels_in_russian(tmp_path: Path) -> None:
    async with world(tmp_path) as bot:
        ivan = await bot.linked_user(1002, language_code="ru")
        order = await place_subscription(bot, ivan)
        await bot.send(ivan, f"/status {order.panel_order_id}")
        t = I18n("ru")
        card = ivan.last_text
        for name, value in (("Username", "nasa"), ("Minimum per new post", "100"), ("Maximum per new post", "200")):
            assert t._("{field}: {value}", field=t._(name), value=value) in card, card
        assert "min" not in card and "username" not in card


async def test_the_card_shows_a_list_fields_first_lines(tmp_path: Path) -> None:
    async with world(tmp_path) as bot:
        ann = await bot.linked_user()
        await bot.send(ann, "/order 1031")
        await bot.press(ann, ann.last_buttons[0][0][0])  # Order
        await bot.send(ann, "https://instagram.com/p/1")
        await bot.send(ann, "\n".join(f"Nice post {i}" for i in range(1, 7)))
        await bot.press(ann, "Confirm")
        assert bot.store is not None
        (order,) = await bot.store.orders_for(ann.id, limit=5)
        await bot.send(ann, f"/status {order.panel_order_id}")
        card = ann.last_text
        assert "Comments: 6 lines\n  Nice post 1\n  Nice post 2\n  Nice post 3\n  … and 3 more" in card, card
        assert "comments:" not in card
