"""The screens around one order, as a person meets them: `/status 58210` answers with
that order's card and its buttons at once (several ids keep the list), prices on the card
carry the account's currency in team mode too, and `/start` for a linked user is one
main-menu message with the balance and the open orders count."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from bot.domain.notices import KIND_ORDER
from bot.playground.fakegram import FakeUser
from bot.store import Notice
from tests.harness import KEY, World, world
from tests.test_watching import DATABASES, cycle, place

DIALECTS = ["seed", "smartpanel"]


def labels(user: FakeUser) -> list[str]:
    return [label for row in user.last_buttons for label, _data in row]


def callbacks(user: FakeUser) -> list[str]:
    return [data for row in user.last_buttons for _label, data in row]


async def sent_by(bot: World, user: FakeUser, text: str) -> int:
    """How many messages the bot sent (or edited) answering `text`."""
    before = len(user.messages)
    await bot.send(user, text)
    return len(user.messages) - before


# --- /status with one id: the order's card at once ------------------------------------------------


@pytest.mark.parametrize("db", DATABASES)
@pytest.mark.parametrize("dialect", DIALECTS)
async def test_status_with_one_id_answers_with_that_orders_card_and_its_buttons(
    tmp_path: Path, dialect: str, db: str
) -> None:
    async with world(tmp_path, dialect=dialect, db=db) as bot:
        ann = await bot.linked_user()
        order = await place(bot, ann)
        checks = bot.sandbox.count("status")
        assert await sent_by(bot, ann, f"/status {order.panel_order_id}") == 1
        card = ann.last_text
        assert card.startswith(f"📦 Order #{order.panel_order_id}: Pending"), card
        assert f"Service: 1012 · {order.service_name}" in card
        assert "Link: https://instagram.com/nasa" in card and "Quantity: 1,000" in card
        assert "Charge: $" in card and "Checked at " in card
        assert bot.sandbox.count("status") == checks + 1  # asked live, once
        assert labels(ann)[0] == "🔄 Refresh" and labels(ann)[-1] == "🔁 Order again"
        # Cancel where the service allows it (the seed's 1012 does, the SmartPanel's does not);
        # no Refill before the order is completed.
        assert ("✖ Cancel order" in labels(ann)) == (dialect == "seed")
        assert "♻️ Refill" not in labels(ann)
        # The buttons work from here: Refresh redraws the card in place.
        bot.sandbox.set_status(order.panel_order_id, "In progress", remains=400)
        await bot.press(ann, "🔄 Refresh")
        assert ann.last_text.startswith(f"📦 Order #{order.panel_order_id}: In progress")
        assert "Delivered: 600 · Remains: 400" in ann.last_text


async def test_status_card_offers_refill_once_completed_and_not_when_the_panel_has_no_refills(tmp_path: Path) -> None:
    async with world(tmp_path) as bot:
        ann = await bot.linked_user()
        order = await place(bot, ann)
        bot.sandbox.set_status(order.panel_order_id, "Completed", remains=0)
        await bot.send(ann, f"/status {order.panel_order_id}")
        assert ann.last_text.startswith(f"📦 Order #{order.panel_order_id}: Completed")
        assert labels(ann) == ["🔄 Refresh", "♻️ Refill", "🔁 Order again"]
        bot.sandbox.faults.set("refill", error="This action is Invalid")
        await bot.press(ann, "♻️ Refill")
        assert "does not offer refills" in ann.last_text
        await bot.send(ann, f"/status {order.panel_order_id}")
        assert labels(ann) == ["🔄 Refresh", "🔁 Order again"]


async def test_several_ids_keep_the_list_and_an_unknown_id_keeps_its_answer(tmp_path: Path) -> None:
    async with world(tmp_path) as bot:
        ann = await bot.linked_user()
        first = await place(bot, ann)
        second = await place(bot, ann, link="https://instagram.com/esa")
        await bot.send(ann, f"/status {first.panel_order_id} {second.panel_order_id}")
        assert ann.last_text.splitlines() == [
            "Your orders",
            f"#{first.panel_order_id}: Pending · not started yet",
            f"#{second.panel_order_id}: Pending · not started yet",
        ]
        assert labels(ann) == [f"#{first.panel_order_id}", f"#{second.panel_order_id}"]
        await bot.send(ann, "/status 99999")
        assert ann.last_text.splitlines() == ["Your orders", "#99999: The panel does not know this order for your account."]
        assert not ann.last_buttons


async def test_status_with_one_id_in_team_mode_shows_no_card_of_another_members_order(tmp_path: Path) -> None:
    async with world(tmp_path, panel_key=KEY, allowed_users="1001,1002") as bot:
        ann, bob = bot.user(1001), bot.user(1002, first_name="Bob")
        order = await place(bot, ann)
        await bot.send(bob, f"/status {order.panel_order_id}")
        assert "not one of your orders" in bob.last_text and "📦" not in bob.last_text
        assert not bob.last_buttons
        await bot.send(ann, f"/status {order.panel_order_id}")
        assert ann.last_text.startswith(f"📦 Order #{order.panel_order_id}: ")


async def test_status_with_one_id_in_russian_is_the_card_with_its_buttons(tmp_path: Path) -> None:
    async with world(tmp_path) as bot:
        ann = await bot.linked_user(language_code="ru")
        order = await place_ru(bot, ann)
        await bot.send(ann, f"/status {order}")
        assert ann.last_text.startswith("📦 ") and f"#{order}" in ann.last_text.splitlines()[0]
        assert "Your orders" not in ann.last_text
        assert [d.split(":")[0] for d in callbacks(ann)] == ["r", "C", "a"]


def label_of(user: FakeUser, prefix: str) -> str:
    """The label of the last message's button whose callback data starts with `prefix`."""
    return next(label for row in user.last_buttons for label, data in row if data.startswith(prefix))


async def place_ru(bot: World, user: FakeUser) -> int:
    """An order placed by a Russian-speaking user: the same steps, buttons found by what they do."""
    await bot.send(user, "/order 1012")
    await bot.press(user, label_of(user, "n:"))
    await bot.send(user, "https://instagram.com/nasa")
    await bot.send(user, "1000")
    await bot.press(user, label_of(user, "y:"))
    assert bot.store is not None
    (order,) = await bot.store.orders_for(user.id, open_only=True, limit=5)
    return order.panel_order_id


# --- prices carry the account's currency ------------------------------------------------------------


@pytest.mark.parametrize("db", DATABASES)
async def test_team_mode_order_card_and_notifications_carry_the_currency(tmp_path: Path, db: str) -> None:
    async with world(tmp_path, panel_key=KEY, allowed_users="1001", db=db) as bot:
        ann = bot.user(1001)
        # The panel did not say its currency while the order was placed: it is stored without one.
        bot.sandbox.faults.set("balance", http_status=502)
        await bot.send(ann, "/start")
        order = await place(bot, ann)
        assert order.currency is None and order.charge is not None
        bot.sandbox.faults.clear()
        # The card asked while the panel cannot give the order's status: the stored charge,
        # in the account's currency (learnt from one balance call), not a bare number.
        bot.sandbox.faults.set("status", http_status=502)
        await bot.send(ann, "/orders")
        await bot.press(ann, f"#{order.panel_order_id}")
        assert f"Charge: ${order.charge:.2f}" in ann.last_text, ann.last_text
        assert "not answering" in ann.last_text
        bot.sandbox.faults.clear()
        bot.sandbox.set_status(order.panel_order_id, "Completed", remains=0)
        assert await cycle(bot) == 1
        notice = next(m.text for m in reversed(ann.messages) if m.text.startswith(f"📦 Order #{order.panel_order_id}"))
        assert f"Charge: ${order.charge:.2f}" in notice, notice


# --- /start: the main menu in one message -----------------------------------------------------------


@pytest.mark.parametrize("db", DATABASES)
@pytest.mark.parametrize("dialect", DIALECTS)
async def test_start_for_a_linked_user_is_the_main_menu_with_balance_and_open_orders(
    tmp_path: Path, dialect: str, db: str
) -> None:
    async with world(tmp_path, dialect=dialect, db=db) as bot:
        ann = await bot.linked_user()
        await place(bot, ann)
        await place(bot, ann, link="https://instagram.com/esa")
        assert await sent_by(bot, ann, "/start") == 1
        lines = ann.last_text.splitlines()
        assert lines[0].startswith("👋 Hello! Choose a service")
        balance = bot.sandbox.balance(KEY)
        assert f"💰 Balance: ${balance:,.2f}" in lines
        assert "📋 Open orders: 2" in lines
        assert labels(ann) == ["🛒 New order", "💰 Balance", "📋 Orders"]
        await bot.press(ann, "📋 Orders")
        assert "Your orders" in ann.last_text


async def test_start_with_no_orders_says_none_are_open(tmp_path: Path) -> None:
    async with world(tmp_path) as bot:
        ann = await bot.linked_user()
        await bot.send(ann, "/start")
        assert "💰 Balance: $100.00" in ann.last_text.splitlines()
        assert "📋 Open orders: 0" in ann.last_text.splitlines()


async def test_start_shows_the_recent_balance_while_the_panel_is_slow_and_says_when_it_has_none(tmp_path: Path) -> None:
    async with world(tmp_path) as bot:
        ann = await bot.linked_user()
        await place(bot, ann)
        await bot.send(ann, "/start")  # the balance is known now
        bot.sandbox.faults.set("balance", hang=True)
        began = time.monotonic()
        assert await sent_by(bot, ann, "/start") == 1
        assert time.monotonic() - began < 2.0
        assert f"💰 Balance: ${bot.sandbox.balance(KEY):,.2f}" in ann.last_text
        assert "📋 Open orders: 1" in ann.last_text
        await bot.restart()  # nothing known any more: the menu does not wait for the panel
        began = time.monotonic()
        assert await sent_by(bot, ann, "/start") == 1
        assert time.monotonic() - began < 4.0
        lines = ann.last_text.splitlines()
        assert "💰 Balance: not available right now (the panel is not answering)" in lines
        assert "📋 Open orders: 1" in lines
        assert labels(ann) == ["🛒 New order", "💰 Balance", "📋 Orders"]
        bot.sandbox.faults.clear()


async def test_start_for_an_unlinked_user_still_asks_for_the_key(tmp_path: Path) -> None:
    async with world(tmp_path) as bot:
        ann = bot.user(1001)
        await bot.send(ann, "/start")
        assert ann.last_text.startswith("👋 Hello! I place orders on your SMM panel from this chat.")
        assert "link your panel account" in ann.last_text
        assert "Balance" not in ann.last_text and not ann.last_buttons
        await bot.send(ann, KEY)
        assert ann.last_text.startswith("✅")


async def test_start_in_russian_is_the_same_one_message_menu(tmp_path: Path) -> None:
    async with world(tmp_path) as bot:
        ivan = await bot.linked_user(language_code="ru")
        assert await sent_by(bot, ivan, "/start") == 1
        lines = ivan.last_text.splitlines()
        assert lines[0].startswith("👋") and lines[1] == ""
        money = next(line for line in lines if line.startswith("💰"))
        assert "100,00" in money and "$" in money  # ru number format
        assert next(line for line in lines if line.startswith("📋")).endswith(" 0")
        assert callbacks(ivan) == ["p:0", "m:b", "m:o"]


async def test_a_notification_of_an_order_stored_without_currency_carries_the_accounts(tmp_path: Path) -> None:
    """Neither the order nor the panel's status reply named a currency (the panel did
    not answer `balance` while it was placed, and says none in its status): the
    notification's charge is in the currency the account has learnt since."""
    async with world(tmp_path, panel_key=KEY, allowed_users="1001") as bot:
        ann = bot.user(1001)
        bot.sandbox.faults.set("balance", http_status=502)
        await bot.send(ann, "/start")
        order = await place(bot, ann)
        assert order.currency is None and order.charge is not None
        bot.sandbox.faults.clear()
        await bot.send(ann, "/balance")
        assert ann.last_text.startswith("💰 Balance: $")
        assert bot.store is not None
        payload = {
            "order_pk": order.id, "order_id": order.panel_order_id, "service_id": 1012,
            "service_name": order.service_name, "status": "Completed", "previous": "Pending", "quantity": 1000,
            "remains": 0, "start_count": 10, "charge": str(order.charge), "currency": None, "final": True,
        }
        assert await bot.store.enqueue_notification(Notice(ann.id, KIND_ORDER, "test:no-currency", payload))
        assert await cycle(bot) == 1
        notice = next(m.text for m in reversed(ann.messages) if m.text.startswith(f"📦 Order #{order.panel_order_id}"))
        assert f"Charge: ${order.charge:.2f}" in notice, notice
