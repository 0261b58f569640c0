"""Shop mode (MODE=shop), ordering: customers pay the shop's prices from a wallet; the
claim of a draft and the hold of its price are one step; placed keeps the hold as the
charge, a refusal gives it back, an unclear outcome keeps it until an admin settles it;
Partial, Canceled and Refunded orders give money back exactly once; the operator's panel
balance guards the shop. Through the real Application, the fake Telegram and the sandbox."""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path

import pytest

from bot.store import DraftState
from bot.store import admin as admin_store
from bot.store.ledger import Movement
from tests.harness import KEY, PG_URL, World, world
from tests.test_watching import cycle, deps

DATABASES = ["sqlite", pytest.param("postgresql", marks=pytest.mark.skipif(not PG_URL, reason="TEST_DATABASE_URL not set"))]
ADMIN = 42
ANN = 1001
# Service 1012 of the sandbox: 2.45 per 1000 on the panel; with the shop's 30 % markup
# 3.185, and 1000 of it costs the customer 3.19 (rounded up to the cent).
SHOP = {"mode": "shop", "panel_key": KEY, "stars_per_unit": "50", "admin_ids": str(ADMIN), "shop_markup": "30"}
PRICE = Decimal("3.19")
COST = Decimal("2.45")


async def top_up(bot: World, user_id: int, amount: str, reference: str = "charge:test") -> None:
    assert bot.store is not None
    await bot.store.book(Movement(user_id, Decimal(amount), "topup", reference))


async def to_confirm(bot: World, user_id: int = ANN, quantity: str = "1000",  # type: ignore[no-untyped-def]
                     link: str = "https://instagram.com/nasa"):
    user = bot.user(user_id)
    await bot.send(user, "/order 1012")
    await bot.press(user, "Order")
    await bot.send(user, link)
    await bot.send(user, quantity)
    while "Check your order" not in user.last_text:
        await bot.press(user, "Skip")
    return user


async def placed(bot: World, funds: str = "10"):  # type: ignore[no-untyped-def]
    """A customer with `funds` in the wallet who ordered 1000 of service 1012: (user, order)."""
    await top_up(bot, ANN, funds)
    ann = await to_confirm(bot)
    await bot.press(ann, "Confirm")
    assert bot.store is not None
    [order] = await bot.store.orders_for(ANN, open_only=True)
    return ann, order


async def wallet(bot: World, user_id: int = ANN) -> Decimal:
    assert bot.store is not None
    return await bot.store.balance(user_id)


@pytest.mark.parametrize("db", DATABASES)
async def test_an_order_is_paid_from_the_wallet_at_the_shops_price(tmp_path: Path, db: str) -> None:
    async with world(tmp_path, db=db, **SHOP) as bot:
        await top_up(bot, ANN, "10")
        ann = await to_confirm(bot)
        screen = ann.last_text
        assert "Price: $3.19" in screen and "Your wallet: $10.00" in screen
        assert "2.45" not in screen  # never the panel's rate
        await bot.press(ann, "Confirm")
        assert "✅ Order" in ann.last_text and "Charge: $3.19" in ann.last_text
        assert await wallet(bot) == Decimal("10") - PRICE
        assert bot.store is not None
        [order] = await bot.store.orders_for(ANN, open_only=True)
        assert order.paid and order.charge == PRICE and order.cost == COST and order.currency == "USD"
        assert bot.sandbox.balance(KEY) == Decimal("100") - COST


async def test_the_catalog_customers_see_carries_the_shops_prices(tmp_path: Path) -> None:
    async with world(tmp_path, **SHOP) as bot:
        ann = bot.user(ANN)
        await bot.send(ann, "/order 1012")
        assert "$3.185" in ann.last_text or "$3.19" in ann.last_text, ann.last_text
        assert "$2.45" not in ann.last_text
        await bot.send(ann, "/start")
        assert "Wallet: $0.00" in ann.last_text


@pytest.mark.parametrize("db", DATABASES)
async def test_a_wallet_short_of_the_price_places_nothing_and_says_how_much_is_missing(tmp_path: Path, db: str) -> None:
    async with world(tmp_path, db=db, **SHOP) as bot:
        await top_up(bot, ANN, "3")
        ann = await to_confirm(bot)
        assert "holds less than the price" in ann.last_text
        await bot.press(ann, "Confirm")
        assert "Your wallet holds $3.00; this order costs $3.19" in ann.last_text
        assert bot.sandbox.count("add") == 0 and await wallet(bot) == Decimal(3)
        await top_up(bot, ANN, "1", reference="charge:second")
        await bot.press(ann, "Confirm")  # the same draft, after a top-up
        assert "✅ Order" in ann.last_text and await wallet(bot) == Decimal("4") - PRICE


async def test_a_refused_order_gives_the_hold_back(tmp_path: Path) -> None:
    async with world(tmp_path, **SHOP) as bot:
        await top_up(bot, ANN, "10")
        ann = await to_confirm(bot)
        bot.sandbox.faults.set("add", error="Link is invalid")
        await bot.press(ann, "Confirm")
        assert "Not placed" in ann.last_text
        assert await wallet(bot) == Decimal(10)
        bot.sandbox.faults.clear()
        await bot.press(ann, "Confirm")
        assert "✅ Order" in ann.last_text and await wallet(bot) == Decimal(10) - PRICE
        assert bot.store is not None
        kinds = sorted(entry.kind for entry in await bot.store.movements(ANN))
        assert kinds == ["hold", "hold", "release", "topup"]


@pytest.mark.parametrize("db", DATABASES)
async def test_an_unclear_outcome_keeps_the_hold_until_an_admin_settles_it(tmp_path: Path, db: str) -> None:
    async with world(tmp_path, db=db, **SHOP) as bot:
        await top_up(bot, ANN, "10")
        ann = await to_confirm(bot)
        bot.sandbox.faults.set("add", http_status=502)
        await bot.press(ann, "Confirm")
        assert "price stays held" in ann.last_text
        assert "on the panel" not in ann.last_text  # a shop's customer has no panel to look at
        assert await wallet(bot) == Decimal(10) - PRICE
        assert bot.store is not None
        [draft] = await admin_store.unknown_drafts(bot.store)
        assert draft.id is not None
        assert await admin_store.mark_failed(bot.store, draft.id, currency="USD")
        assert await wallet(bot) == Decimal(10)
        await deps(bot).sender.send_due(bot.app.bot)
        assert "not to be placed: $3.19 went back to your wallet" in ann.last_text
        assert not await admin_store.mark_failed(bot.store, draft.id)  # settled once
        assert await wallet(bot) == Decimal(10)

        # Another one the panel did take: marked placed, the hold is the order's charge.
        bot.sandbox.faults.clear()
        ann = await to_confirm(bot)
        bot.sandbox.faults.set("add", http_status=502)
        await bot.press(ann, "Confirm")
        bot.sandbox.faults.clear()
        [draft] = await admin_store.unknown_drafts(bot.store)
        assert draft.id is not None
        order = await admin_store.mark_placed(bot.store, draft.id, 777, currency="USD")
        assert order.paid and order.charge == PRICE
        assert await wallet(bot) == Decimal(10) - PRICE


@pytest.mark.parametrize("db", DATABASES)
async def test_a_partial_order_refunds_the_remains_once_and_the_customer_is_told(tmp_path: Path, db: str) -> None:
    async with world(tmp_path, db=db, **SHOP) as bot:
        ann, order = await placed(bot)
        bot.sandbox.set_status(order.panel_order_id, "Partial", remains=300)
        await cycle(bot)
        # 300 of 1000 not delivered: 0.957 of 3.19, rounded up in the customer's favour.
        refund = Decimal("0.96")
        assert await wallet(bot) == Decimal(10) - PRICE + refund
        assert "$0.96 went back to your wallet" in ann.last_text
        assert "Charge: $3.19" in ann.last_text  # the shop's price, not the panel's charge
        await bot.restart()
        await cycle(bot)
        await cycle(bot)
        assert await wallet(bot) == Decimal(10) - PRICE + refund
        stored = await bot.store.get_order(ANN, order.panel_order_id)
        assert stored is not None and stored.refunded == refund and stored.charge == PRICE
        refunds = [e for e in await bot.store.movements(ANN) if e.kind == "refund"]
        assert [e.reference for e in refunds] == [f"order:{order.id}:refund"]


@pytest.mark.parametrize("status", ["Canceled", "Refunded"])
async def test_a_canceled_or_refunded_order_gives_everything_back(tmp_path: Path, status: str) -> None:
    async with world(tmp_path, **SHOP) as bot:
        ann, order = await placed(bot)
        bot.sandbox.set_status(order.panel_order_id, status, remains=1000)
        await cycle(bot)
        assert await wallet(bot) == Decimal(10)
        assert "$3.19 went back to your wallet" in ann.last_text


async def test_a_completed_order_gives_nothing_back(tmp_path: Path) -> None:
    async with world(tmp_path, **SHOP) as bot:
        ann, order = await placed(bot)
        bot.sandbox.set_status(order.panel_order_id, "Completed", remains=0)
        await cycle(bot)
        assert await wallet(bot) == Decimal(10) - PRICE
        assert "went back" not in ann.last_text


async def test_an_order_the_panel_balance_cannot_pay_is_turned_away_and_admins_told_once(tmp_path: Path) -> None:
    async with world(tmp_path, balance="1.00", **SHOP) as bot:
        admin = bot.user(ADMIN)
        await bot.send(admin, "/start")
        await top_up(bot, ANN, "10")
        ann = await to_confirm(bot)
        await bot.press(ann, "Confirm")
        assert "temporarily unavailable" in ann.last_text and "Nothing was charged" in ann.last_text
        assert "panel" not in ann.last_text.lower()
        assert bot.sandbox.count("add") == 0 and await wallet(bot) == Decimal(10)
        await bot.press(ann, "Confirm")
        assert bot.app is not None
        await deps(bot).sender.send_due(bot.app.bot)
        told = [m for m in admin.messages if "turned away" in m.text]
        assert len(told) == 1 and "$1.00" in told[0].text


async def test_a_low_panel_balance_warns_admins_before_orders_are_turned_away(tmp_path: Path) -> None:
    async with world(tmp_path, balance="5.00", shop_low_balance="4", **SHOP) as bot:
        await bot.send(bot.user(ADMIN), "/start")
        await top_up(bot, ANN, "10")
        ann = await to_confirm(bot)
        await bot.press(ann, "Confirm")
        assert "✅ Order" in ann.last_text
        assert bot.app is not None
        await deps(bot).sender.send_due(bot.app.bot)
        assert any("below the warning level" in m.text for m in bot.user(ADMIN).messages)


async def test_a_price_that_rose_since_the_confirm_screen_is_not_charged_silently(tmp_path: Path) -> None:
    async with world(tmp_path, catalog_ttl=0.0, **SHOP) as bot:
        await top_up(bot, ANN, "10")
        ann = await to_confirm(bot)
        bot.sandbox.update_service(1012, rate="4.00")  # the panel's rate rose: 5.20 per 1000 in the shop
        await bot.press(ann, "Confirm")
        assert "price or limits of this service changed" in ann.last_text
        assert "Price: $5.20" in ann.last_text
        assert bot.sandbox.count("add") == 0 and await wallet(bot) == Decimal(10)
        await bot.press(ann, "Confirm")
        assert "✅ Order" in ann.last_text and await wallet(bot) == Decimal("4.80")


async def test_team_and_own_modes_move_no_money(tmp_path: Path) -> None:
    async with world(tmp_path) as bot:
        await bot.linked_user(ANN)
        ann = await to_confirm(bot)
        await bot.press(ann, "Confirm")
        assert "✅ Order" in ann.last_text
        assert bot.store is not None
        assert await bot.store.movements(ANN) == []
        [order] = await bot.store.orders_for(ANN, open_only=True)
        assert not order.paid and order.charge == COST


@pytest.mark.parametrize("db", DATABASES)
async def test_two_quick_confirms_cannot_overdraw_a_wallet(tmp_path: Path, db: str) -> None:
    """Two drafts confirmed at once against a wallet that pays for one."""
    import asyncio

    async with world(tmp_path, db=db, **SHOP) as bot:
        await top_up(bot, ANN, "5")
        ann = await to_confirm(bot)
        first = ann.update_dict_for_press("Confirm")
        ann = await to_confirm(bot)
        second = ann.update_dict_for_press("Confirm")
        assert bot.app is not None
        from telegram import Update

        await asyncio.gather(bot.app.process_update(Update.de_json(first, bot.app.bot)),
                             bot.app.process_update(Update.de_json(second, bot.app.bot)))
        assert bot.sandbox.count("add") == 1
        assert await wallet(bot) == Decimal(5) - PRICE
        assert await wallet(bot) >= 0
        states = sorted(d.state for d in [await bot.store.get_draft(i, ANN) for i in (1, 2)] if d)  # type: ignore[union-attr]
        assert states == [DraftState.DRAFT, DraftState.PLACED]


async def test_prices_raised_by_the_shop_since_the_confirm_screen_are_not_charged_silently(tmp_path: Path) -> None:
    """A raised minimum charge leaves the service's rate as it was: the price the screen
    showed is what Confirm may take, so it shows the new one instead."""
    async with world(tmp_path, **SHOP) as bot:
        await top_up(bot, ANN, "10")
        ann = await to_confirm(bot)
        assert "Price: $3.19" in ann.last_text
        assert bot.store is not None
        await bot.store.set_price_rule(ADMIN, "minimum", "", (None, Decimal("5"), False))
        deps(bot).shop.forget_rules()
        await bot.press(ann, "Confirm")
        assert "price or limits of this service changed" in ann.last_text and "Price: $5.00" in ann.last_text
        assert bot.sandbox.count("add") == 0 and await wallet(bot) == Decimal(10)
        await bot.press(ann, "Confirm")
        assert "✅ Order" in ann.last_text and await wallet(bot) == Decimal(5)


async def test_a_refund_is_told_even_to_a_customer_who_turned_notifications_off(tmp_path: Path) -> None:
    async with world(tmp_path, **SHOP) as bot:
        await top_up(bot, ANN, "10")
        ann = await to_confirm(bot)
        await bot.press(ann, "Confirm")
        assert bot.store is not None
        await bot.store.set_notifications(ANN, "off")
        [order] = await bot.store.orders_for(ANN, open_only=True)
        bot.sandbox.set_status(order.panel_order_id, "Canceled", remains=1000)
        await cycle(bot)
        assert "$3.19 went back to your wallet" in ann.last_text


async def test_a_shop_order_the_panel_no_longer_knows_sends_its_customer_to_the_shop(tmp_path: Path) -> None:
    """A customer of a shop has no panel to check: they are asked to give the order
    number to the shop's support, never to "check it on the panel"."""
    from tests.store_rows import add_order

    async with world(tmp_path, **SHOP) as bot:
        ann, order = await placed(bot)
        assert bot.store is not None
        await add_order(bot.store, panel_order_id=99_999_999, account_id=order.account_id, user_id=ANN,
                        service_id=1012, service_name="Followers", quantity=100, status="Pending", paid=True,
                        charge=Decimal("1.00"), currency="USD")
        for _ in range(5):
            await cycle(bot)
        assert "I stopped following order #99999999" in ann.last_text
        assert "shop's support" in ann.last_text and "Check it on the panel" not in ann.last_text


async def test_the_guard_asks_the_panel_its_balance_once_for_many_confirms(tmp_path: Path) -> None:
    """The operator's balance, known less each order's cost, guards the next Confirms with
    no call to the panel; customers confirming at once share one request."""
    import asyncio

    async with world(tmp_path, **SHOP) as bot:
        await top_up(bot, ANN, "100")
        for n in range(3):
            ann = await to_confirm(bot, link=f"https://instagram.com/nasa{n}")
            await bot.press(ann, "Confirm")
            assert "✅ Order" in ann.last_text
        assert bot.sandbox.count("balance") == 1
        accounts = deps(bot).accounts
        linked = await accounts.linked(ANN)
        assert (await accounts.recent_balance(linked)).amount == Decimal(100) - 3 * COST
        accounts.forget_balance(linked)
        readings = await asyncio.gather(*(accounts.recent_balance(linked) for _ in range(20)))
        assert len({r.amount for r in readings}) == 1 and bot.sandbox.count("balance") == 2


async def test_customers_asking_at_once_share_one_build_of_the_shops_catalog(tmp_path: Path) -> None:
    import asyncio

    async with world(tmp_path, **SHOP) as bot:
        shop = deps(bot).shop
        panel = await deps(bot).panels.catalog(KEY)
        built = await asyncio.gather(*(shop.priced(panel) for _ in range(10)))
        assert all(c is built[0] for c in built) and await shop.priced(panel) is built[0]
        assert built[0].get(1012).rate == Decimal("3.185")
        assert bot.store is not None
        await bot.store.set_price_rule(ADMIN, "service", "1012", (Decimal(50), None, False))
        shop.forget_rules()
        again = await shop.priced(panel)
        assert again is not built[0] and again.get(1012).rate == Decimal("3.675")


async def test_a_subscription_without_a_number_of_posts_asks_for_one_and_holds_nothing(tmp_path: Path) -> None:
    """Its price is per post until the posts are known: a shop cannot hold an open-ended price."""
    from tests.test_ordering import fill_form, service

    async with world(tmp_path, **SHOP) as bot:
        await top_up(bot, ANN, "10")
        ann = bot.user(ANN)
        await bot.send(ann, "/order 1051")
        await bot.press(ann, "Order")
        await fill_form(bot, ann, service(bot, 1051), skip_optional=True)
        assert "per post" in ann.last_text
        await bot.press(ann, "Confirm")
        assert "a subscription needs a number of posts" in ann.last_text
        assert bot.sandbox.count("add") == 0 and await wallet(bot) == Decimal(10)


async def test_the_panel_refusing_for_its_own_funds_is_temporarily_unavailable_and_told_to_admins(
        tmp_path: Path) -> None:
    """The guard's reading of the panel balance was older than the panel's refusal."""
    async with world(tmp_path, **SHOP) as bot:
        await bot.send(bot.user(ADMIN), "/start")
        await top_up(bot, ANN, "10")
        ann = await to_confirm(bot)
        bot.sandbox.faults.set("add", error="Not enough funds on balance")
        await bot.press(ann, "Confirm")
        assert "temporarily unavailable" in ann.last_text and "Nothing was charged" in ann.last_text
        assert "Not enough funds" not in ann.last_text  # the operator's balance, not the customer's business
        assert await wallet(bot) == Decimal(10)
        assert bot.app is not None
        await deps(bot).sender.send_due(bot.app.bot)
        assert any("the panel refused an order for lack of funds" in m.text for m in bot.user(ADMIN).messages)


async def test_a_shop_has_no_key_to_link_and_a_pasted_key_is_deleted(tmp_path: Path) -> None:
    async with world(tmp_path, **SHOP) as bot:
        ann = bot.user(ANN)
        await bot.send(ann, "/connect")
        assert ann.last_text == "There is no key to link here: you pay for orders from your wallet (/balance)."
        await bot.send(ann, "my key is 0123456789abcdef0123456789abcdef")
        assert "never send a panel key" in ann.last_text
        assert "0123456789abcdef0123456789abcdef" not in ann.all_text()
