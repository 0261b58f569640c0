"""Shop mode's wallet (issue 13) as customers and admins meet it, through the real
Application, the fake Telegram's payments and the sandbox panel, on SQLite and PostgreSQL:
top-ups in Stars or by card credited exactly once, the pre-checkout check, a typed amount,
referral bonuses, an admin's credit, debit and Stars refund, and /wallet."""

from __future__ import annotations

import asyncio
import itertools
import time
from datetime import timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select
from telegram import LabeledPrice, Update

from bot.domain.notices import KIND_WALLET
from bot.handlers.context import Deps
from bot.outbox.sender import Sender
from bot.playground.fakegram import FakeUser
from bot.store import Store
from bot.store import topups as topups_store
from bot.store.ledger import Booked, Movement
from bot.store.models import utcnow
from bot.store.outbox import NOTIFICATIONS
from tests.harness import KEY, World, world
from tests.test_watching import DATABASES

ANN, BOB, CARL, ADMIN = 1001, 1002, 1003, 42
SHOP = {"mode": "shop", "panel_key": KEY, "stars_per_unit": "50", "admin_ids": str(ADMIN)}


def shop(tmp_path: Path, db: str = "sqlite", **settings: Any) -> Any:
    return world(tmp_path, db=db, **{**SHOP, **settings})


def store(bot: World) -> Store:
    assert bot.store is not None
    return bot.store


def labels(user: FakeUser) -> list[str]:
    return [label for row in user.last_buttons for label, _data in row]


def invoice_of(user: FakeUser) -> dict[str, Any]:
    invoice = user.last_message.invoice if user.last_message is not None else None
    assert invoice is not None, user.transcript()
    return invoice


async def top_up(bot: World, user: FakeUser, label: str = "$10.00 for 500 ⭐") -> Any:
    """/topup, an amount, Pay: the charge."""
    await bot.send(user, "/topup")
    await bot.press(user, label)
    assert bot.app is not None
    charge = await user.pay(bot.app)
    assert charge is not None, user.transcript()
    return charge


async def deliver_again(bot: World, user: FakeUser, charge: Any) -> None:
    """Telegram delivers the message of a payment again (the bot restarted before
    acknowledging it): the same charge id, no new pre-checkout query."""
    assert bot.app is not None
    query = next(q for q in bot.fake.payments.pre_checkouts.values()
                 if q.ok and q.message.invoice is not None and q.message.invoice["payload"] == charge.payload)
    _charge, update = bot.fake.payments.payment_update(query, charge_id=charge.id)
    update["update_id"] = bot.fake.next_update_id()
    await bot.app.process_update(Update.de_json(update, bot.app.bot))


async def notices_sent(bot: World, *, after: float = 0.0) -> int:
    """One pass of the outbox as the sending process makes it, `after` seconds from now."""
    assert bot.app is not None
    ticks = itertools.count(0, 10)
    sender = Sender(store(bot), clock=lambda: float(next(ticks)))
    return await sender.send_due(bot.app.bot, now=utcnow() + timedelta(seconds=after))


def deps(bot: World) -> Deps:
    assert bot.app is not None
    found = bot.app.bot_data["deps"]
    assert isinstance(found, Deps)
    return found


def test_the_store_and_the_domain_name_the_wallet_notice_alike() -> None:
    assert topups_store.KIND_WALLET == KIND_WALLET


# --- top-ups in Stars -----------------------------------------------------------------------


@pytest.mark.parametrize("db", DATABASES)
async def test_a_stars_top_up_is_credited_once_even_when_telegram_delivers_the_payment_again(
        tmp_path: Path, db: str) -> None:
    async with shop(tmp_path, db) as bot:
        ann = bot.user(ANN)
        await bot.send(ann, "/topup")
        assert labels(ann) == ["$5.00 for 250 ⭐", "$10.00 for 500 ⭐", "$25.00 for 1,250 ⭐", "$50.00 for 2,500 ⭐",
                               "✏️ Other amount"]
        await bot.press(ann, "$10.00 for 500 ⭐")
        invoice = invoice_of(ann)
        assert (invoice["currency"], invoice["total_amount"]) == ("XTR", 500)
        assert invoice["payload"].startswith("topup:")
        assert bot.app is not None
        charge = await ann.pay(bot.app)
        assert charge is not None
        assert ann.last_text == "✅ $10.00 added to your wallet. Your wallet: $10.00."
        # Telegram delivers the same payment again (a restart before it heard back).
        await deliver_again(bot, ann, charge)
        assert ann.last_text == "This payment was credited already. Your wallet: $10.00."
        assert await store(bot).balance(ANN) == Decimal("10")
        assert [(m.kind, m.amount) for m in await store(bot).movements(ANN)] == [("topup", Decimal("10"))]
        # The reply was the receipt: no second message about the same money later.
        before = len(ann.messages)
        assert await notices_sent(bot, after=topups_store.RECEIPT_SECONDS + 5) == 0
        assert len(ann.messages) == before


async def test_a_payment_whose_reply_was_lost_is_announced_by_the_outbox(tmp_path: Path) -> None:
    async with shop(tmp_path) as bot:
        ann = bot.user(ANN)
        await bot.send(ann, "/topup")
        await bot.press(ann, "$5.00 for 250 ⭐")
        bot.fake.inject_error("sendMessage", 500, "Internal Server Error", count=2)
        assert bot.app is not None
        with pytest.raises(Exception, match="Internal Server Error"):
            await ann.pay(bot.app)
        assert await store(bot).balance(ANN) == Decimal("5")  # credited before the reply failed
        assert await notices_sent(bot) == 0  # not yet: the reply may still come
        assert await notices_sent(bot, after=topups_store.RECEIPT_SECONDS + 5) == 1
        assert ann.last_text == "💰 $5.00 added to your wallet. Thank you!"


async def test_a_payment_delivered_again_after_a_lost_reply_is_answered_once(tmp_path: Path) -> None:
    async with shop(tmp_path) as bot:
        ann = bot.user(ANN)
        await bot.send(ann, "/topup")
        await bot.press(ann, "$5.00 for 250 ⭐")
        bot.fake.inject_error("sendMessage", 500, "Internal Server Error", count=2)
        assert bot.app is not None
        with pytest.raises(Exception, match="Internal Server Error"):
            await ann.pay(bot.app)
        (charge,) = bot.fake.payments.charges.values()
        await deliver_again(bot, ann, charge)  # the process died before Telegram heard back
        assert ann.last_text == "This payment was credited already. Your wallet: $5.00."
        assert await notices_sent(bot, after=topups_store.RECEIPT_SECONDS + 5) == 0
        assert await store(bot).balance(ANN) == Decimal("5")


async def test_a_payment_is_credited_for_a_customer_over_the_rate_limit_or_with_a_form_left_for_days(
        tmp_path: Path) -> None:
    """The money is taken when the payment arrives: neither the flood limit nor the closing
    of an abandoned order form may swallow it."""
    async with shop(tmp_path, flood_limits=True) as bot:
        assert bot.app is not None
        ann = bot.user(ANN)
        await bot.send(ann, "/topup")
        await bot.press(ann, "$5.00 for 250 ⭐")
        for _ in range(30):
            await bot.send(ann, "hello?")
        assert await ann.pay(bot.app) is not None
        assert await store(bot).balance(ANN) == Decimal("5")
    async with shop(tmp_path / "form") as bot:
        assert bot.app is not None
        ann = bot.user(ANN)
        await bot.send(ann, "/topup")
        await bot.press(ann, "$5.00 for 250 ⭐")
        two_days_ago = int(time.time()) - 2 * 86400
        await store(bot).set_flow(ANN, {"step": "field", "draft": 1, "field": "link", "at": two_days_ago})
        assert await ann.pay(bot.app) is not None
        assert await store(bot).balance(ANN) == Decimal("5")
        assert ann.last_text == "✅ $5.00 added to your wallet. Your wallet: $5.00."


@pytest.mark.parametrize("db", DATABASES)
async def test_pay_is_refused_in_time_for_invoices_that_name_no_payable_top_up(tmp_path: Path, db: str) -> None:
    async with shop(tmp_path, db) as bot:
        assert bot.app is not None
        ann, bob = bot.user(ANN), bot.user(BOB)
        await bot.send(bob, "/topup")
        await bot.press(bob, "$5.00 for 250 ⭐")
        bobs = invoice_of(bob)
        await bot.send(ann, "/topup")
        await bot.press(ann, "$5.00 for 250 ⭐")
        anns = invoice_of(ann)

        async def pay_invoice(payload: str, stars: int) -> str:
            await bot.app.bot.send_invoice(ANN, "Top-up", "Credit", payload, "XTR", [LabeledPrice("Credit", stars)],
                                           provider_token="")
            assert await ann.pay(bot.app) is None  # nothing charged
            query = list(bot.fake.payments.pre_checkouts.values())[-1]
            assert query.ok is False  # answered (within Telegram's 10 s: the fake refuses later answers)
            assert query.error_message is not None
            return str(query.error_message)

        assert await pay_invoice("topup:999999", 250) == "This invoice is not valid. Start a new top-up with /topup."
        assert await pay_invoice("something else", 250) == "This invoice is not valid. Start a new top-up with /topup."
        assert await pay_invoice(bobs["payload"], 250) == "This invoice is not valid. Start a new top-up with /topup."
        assert await pay_invoice(anns["payload"], 1) == \
            "This invoice does not match its top-up. Start a new one with /topup."
        # Ann's own invoice, as the bot sent it, goes through once; then it is spent.
        await bot.send(ann, "/topup")
        await bot.press(ann, "$5.00 for 250 ⭐")
        paid = invoice_of(ann)
        assert await ann.pay(bot.app) is not None
        assert await pay_invoice(paid["payload"], 250) == \
            "This invoice was paid already. Start a new top-up with /topup."
        assert await store(bot).balance(ANN) == Decimal("5") and await store(bot).balance(BOB) == 0


@pytest.mark.parametrize("db", DATABASES)
async def test_two_processes_taking_in_the_same_payment_credit_it_once(tmp_path: Path, db: str) -> None:
    async with shop(tmp_path, db, referral_percent="10") as bot:
        await bot.send(bot.user(ANN), "/start")
        await bot.send(bot.user(BOB), "/start ref_1001")
        topup = await store(bot).create_topup(BOB, Decimal("10"), "XTR", 500)
        assert topup.id is not None
        other = Store(bot.db_url, schema=bot.schema)
        try:
            payments = [(store(bot) if i % 2 else other).pay_topup(
                topup.id, BOB, "stx-same", None, "XTR", 500, shop_currency="USD", referral_percent=Decimal(10),
                digits=2) for i in range(10)]
            results = await asyncio.gather(*payments)
        finally:
            await other.dispose()
        assert sorted(r.booked.value for r in results if r.booked) == ["booked"] + ["duplicate"] * 9
        assert await store(bot).balance(BOB) == Decimal("10") and await store(bot).balance(ANN) == Decimal("1")
        async with store(bot).engine.connect() as conn:
            rows = (await conn.execute(select(NOTIFICATIONS.c.user_id, NOTIFICATIONS.c.dedupe_key))).all()
        assert sorted(rows) == [(ANN, "wallet:referral:stx-same"), (BOB, "wallet:topup:stx-same")]


async def test_an_invoice_paid_twice_is_two_top_ups(tmp_path: Path) -> None:
    """Pay pressed twice on one invoice, both answered yes: Telegram took the money twice."""
    async with shop(tmp_path) as bot:
        topup = await store(bot).create_topup(ANN, Decimal("5"), "XTR", 250)
        assert topup.id is not None
        first, second = [await store(bot).pay_topup(topup.id, ANN, charge, None, "XTR", 250, shop_currency="USD",
                                                    referral_percent=Decimal(0), digits=2)
                         for charge in ("stx-1", "stx-2")]
        assert (first.topup_id, first.booked, second.booked) == (topup.id, Booked.BOOKED, Booked.BOOKED)
        assert second.topup_id != topup.id and await store(bot).balance(ANN) == Decimal("10")
        assert [t.charge_id for t in await store(bot).topups_of(ANN)] == ["stx-2", "stx-1"]


async def test_an_invoice_left_for_more_than_a_day_is_refused_at_pay(tmp_path: Path) -> None:
    async with shop(tmp_path) as bot:
        ann = bot.user(ANN)
        await bot.send(ann, "/topup")
        await bot.press(ann, "$5.00 for 250 ⭐")
        topup_id = int(invoice_of(ann)["payload"].split(":")[1])
        topups = topups_store.TOPUPS
        async with store(bot).engine.begin() as conn:
            await conn.execute(topups.update().where(topups.c.id == topup_id)
                               .values(created_at=utcnow() - timedelta(days=2)))
        assert bot.app is not None
        assert await ann.pay(bot.app) is None
        query = list(bot.fake.payments.pre_checkouts.values())[-1]
        assert query.error_message == "This invoice has expired. Start a new top-up with /topup."


@pytest.mark.parametrize("db", DATABASES)
async def test_a_card_top_up_through_a_provider_is_invoiced_in_its_currency(tmp_path: Path, db: str) -> None:
    async with shop(tmp_path, db, stars_per_unit=None, payment_provider_token="284685063:TEST:provider",
                    payment_currency="USD") as bot:
        ann = bot.user(ANN)
        await bot.send(ann, "/topup")
        assert labels(ann) == ["$5.00", "$10.00", "$25.00", "$50.00", "✏️ Other amount"]
        await bot.press(ann, "$25.00")
        invoice = invoice_of(ann)
        assert (invoice["currency"], invoice["total_amount"]) == ("USD", 2500)
        assert bot.app is not None
        assert await ann.pay(bot.app) is not None
        assert ann.last_text == "✅ $25.00 added to your wallet. Your wallet: $25.00."
        assert "284685063:TEST:provider" not in ann.transcript()
        # An amount Telegram refuses for the provider: said, and nothing to pay.
        bot.fake.inject_error("sendInvoice", 400, "Bad Request: CURRENCY_TOTAL_AMOUNT_INVALID")
        await bot.send(ann, "/topup")
        await bot.press(ann, "$50.00")
        assert ann.last_text == "Telegram refused an invoice for $50.00. Try another amount."


async def test_other_amount_answers_bad_input_and_stays_until_an_amount_comes(tmp_path: Path) -> None:
    async with shop(tmp_path) as bot:
        ann = bot.user(ANN)
        await bot.send(ann, "/topup")
        await bot.press(ann, "✏️ Other amount")
        assert ann.last_text == "Send the amount to add, in USD, e.g. 12.50. /cancel to stop."
        replies = {
            "twelve": "That is not an amount. Send a number such as 12.50, or /cancel.",
            "-3": "That is not an amount. Send a number such as 12.50, or /cancel.",
            "0": "The amount must be more than zero.",
            "1.234": "USD amounts have at most 2 decimals.",
            "500": "A top-up is paid in Telegram Stars, 1 to 10,000 Stars at a time: between $0.02 and $200.00.",
        }
        for text, reply in replies.items():
            await bot.send(ann, text)
            assert ann.last_text == reply, text
            assert ann.last_message is not None and ann.last_message.invoice is None
        await bot.send(ann, "12,35")
        invoice = invoice_of(ann)
        assert (invoice["currency"], invoice["total_amount"]) == ("XTR", 618)  # 617.5 Stars, rounded up
        # The prompt is closed: a number now opens a service, as anywhere else.
        await bot.send(ann, "1")
        assert ann.last_message is not None and ann.last_message.invoice is None
        assert await store(bot).get_flow(ANN) != {"step": "topup"}


async def test_presets_out_of_telegrams_range_are_not_offered_and_a_forged_one_is_refused(tmp_path: Path) -> None:
    async with shop(tmp_path, stars_per_unit="1000", topup_amounts="5,10,25") as bot:
        ann = bot.user(ANN)
        await bot.send(ann, "/topup")
        assert labels(ann) == ["$5.00 for 5,000 ⭐", "$10.00 for 10,000 ⭐", "✏️ Other amount"]
        assert bot.app is not None
        update = ann.update_dict_for_press("$5.00 for 5,000 ⭐")
        update["callback_query"]["data"] = "Wa:2500"  # $25, 25,000 Stars: over Telegram's limit
        await bot.app.process_update(Update.de_json(update, bot.app.bot))
        assert ann.last_text.startswith("A top-up is paid in Telegram Stars, 1 to 10,000 Stars at a time")
        update = ann.update_dict_for_press("✏️ Other amount")
        update["callback_query"]["data"] = "Wa:999999999999999999"
        await bot.app.process_update(Update.de_json(update, bot.app.bot))
        assert ann.last_text == "That amount is too large for one top-up."


# --- referrals ------------------------------------------------------------------------------


@pytest.mark.parametrize("db", DATABASES)
async def test_an_inviter_earns_a_share_of_each_top_up_once_and_only_for_new_customers(
        tmp_path: Path, db: str) -> None:
    async with shop(tmp_path, db, referral_percent="10") as bot:
        assert bot.app is not None
        ann, bob, carl = bot.user(ANN), bot.user(BOB), bot.user(CARL)
        await bot.send(ann, "/start")
        await bot.send(ann, "/wallet")
        assert "Your link: https://t.me/fakegram_bot?start=ref_1001" in ann.last_text
        await bot.send(bob, "/start ref_1001")
        assert "🎁 Welcome! You joined through a friend's invitation." in bob.all_text()
        charge = await top_up(bot, bob, "$5.00 for 250 ⭐")
        await deliver_again(bot, bob, charge)  # delivered again: no second bonus
        await bot.send(bob, "/topup")
        await bot.press(bob, "✏️ Other amount")
        await bot.send(bob, "12.35")
        assert await bob.pay(bot.app) is not None
        assert await store(bot).balance(BOB) == Decimal("17.35")
        # 10 % of 5.00 and of 12.35, each rounded down to the cent (the shop's favour): 0.50 + 1.23.
        assert [(m.kind, m.amount) for m in await store(bot).movements(ANN)] == \
            [("referral", Decimal("1.23")), ("referral", Decimal("0.50"))]
        assert await notices_sent(bot) == 2
        assert "🎁 Referral bonus: $1.23 added to your wallet for a top-up by someone you invited." in ann.all_text()
        await bot.send(ann, "/wallet")
        assert "1 customer joined through it; you earned $1.73." in ann.last_text
        # Carl paid before he used the link: an existing customer is nobody's referral.
        await top_up(bot, carl, "$5.00 for 250 ⭐")
        await bot.send(carl, "/start ref_1001")
        assert "Welcome! You joined" not in carl.all_text()
        await top_up(bot, carl, "$5.00 for 250 ⭐")
        # Ann cannot invite herself, nor be invited back by Bob.
        await bot.send(ann, "/start ref_1001")
        await bot.send(ann, "/start ref_1002")
        assert "Welcome! You joined" not in ann.all_text()
        assert await store(bot).balance(ANN) == Decimal("1.73")
        assert await store(bot).link_referral(ANN, BOB) is topups_store.Linked.CIRCLE


async def test_without_a_referral_percent_there_is_no_link_and_no_bonus(tmp_path: Path) -> None:
    async with shop(tmp_path) as bot:
        ann, bob = bot.user(ANN), bot.user(BOB)
        await bot.send(ann, "/start")
        await bot.send(bob, "/start ref_1001")
        await top_up(bot, bob)
        await bot.send(ann, "/wallet")
        assert "start=ref_" not in ann.last_text
        assert await store(bot).balance(ANN) == 0


# --- admins ---------------------------------------------------------------------------------


@pytest.mark.parametrize("db", DATABASES)
async def test_an_admin_credits_and_debits_with_a_reason_never_below_zero(tmp_path: Path, db: str) -> None:
    async with shop(tmp_path, db) as bot:
        assert bot.app is not None
        ann, admin = bot.user(ANN), bot.user(ADMIN)
        await bot.send(ann, "/start")
        await bot.send(admin, "/credit 1001 5 sorry for the slow order")
        assert admin.last_text == ("✅ Credited $5.00 to user 1001 (sorry for the slow order). Their wallet: $5.00. "
                                   "They were told.")
        # The same message delivered again by Telegram books nothing twice.
        again = admin.update_dict_for_text("/credit 1001 5 sorry for the slow order")
        await bot.app.process_update(Update.de_json(again, bot.app.bot))
        await bot.app.process_update(Update.de_json(again, bot.app.bot))
        assert admin.last_text.startswith("This command was booked already")
        assert await store(bot).balance(ANN) == Decimal("10")  # the first command, and this one once
        await bot.send(admin, "/debit 1001 10.01 chargeback")
        assert admin.last_text == ("❌ Not debited: the wallet of user 1001 holds $10.00, less than $10.01. "
                                   "A wallet never goes below zero.")
        await bot.send(admin, "/debit 1001 2.50 chargeback")
        assert admin.last_text.startswith("✅ Debited $2.50 from user 1001 (chargeback). Their wallet: $7.50.")
        entries = await store(bot).movements(ANN)
        assert [(e.kind, e.amount, e.actor, e.note) for e in entries] == [
            ("debit", Decimal("-2.5"), ADMIN, "chargeback"),
            ("credit", Decimal("5"), ADMIN, "sorry for the slow order"),
            ("credit", Decimal("5"), ADMIN, "sorry for the slow order"),
        ]
        assert await notices_sent(bot) >= 1
        for _ in range(3):
            await notices_sent(bot)
        assert "💰 The shop added $5.00 to your wallet: sorry for the slow order" in ann.all_text()
        assert "💸 The shop took $2.50 from your wallet: chargeback" in ann.all_text()
        for wrong, reply in [("/credit", "Usage: /credit USER_ID AMOUNT REASON"),
                             ("/credit 1001 5", "Usage: /credit USER_ID AMOUNT REASON"),
                             ("/debit 1001 lots why", "Usage: /debit USER_ID AMOUNT REASON"),
                             ("/credit 1001 0 nothing", "The amount must be more than zero, with at most 2 decimals."),
                             ("/credit 5555 5 who", "User 5555 has never used this bot: nothing was booked.")]:
            await bot.send(admin, wrong)
            assert admin.last_text.startswith(reply), wrong
        # Anyone else: the command does not exist.
        await bot.send(ann, "/credit 1001 100 me")
        assert ann.last_text == "I do not know that command. /help lists what I can do."
        assert await store(bot).balance(ANN) == Decimal("7.5")


@pytest.mark.parametrize("db", DATABASES)
async def test_a_stars_refund_only_while_the_wallet_holds_it_and_telegram_refunds_once(
        tmp_path: Path, db: str) -> None:
    async with shop(tmp_path, db) as bot:
        ann, admin = bot.user(ANN), bot.user(ADMIN)
        first = await top_up(bot, ann)
        second = await top_up(bot, ann, "$5.00 for 250 ⭐")
        await bot.send(admin, "/topups 1001")
        first_id, second_id = (int(p.split(":")[1]) for p in (first.payload, second.payload))
        assert f"#{first_id} · $10.00 · 500 ⭐ · paid" in admin.last_text
        assert f"#{second_id} · $5.00 · 250 ⭐ · paid" in admin.last_text
        await bot.send(admin, f"/refund_topup {first_id}")
        assert admin.last_text == (f"✅ Top-up #{first_id} refunded: 500 Stars went back to user 1001, and $10.00 "
                                   "left their wallet. They were told.")
        assert bot.fake.payments.charges[first.id].refunded
        assert await store(bot).balance(ANN) == Decimal("5")
        await bot.send(admin, f"/refund_topup {first_id}")
        assert admin.last_text == f"Top-up #{first_id} was refunded already: 500 Stars went back to user 1001."
        # Ann spends $3 of the second top-up: $5 can no longer go back.
        await store(bot).book(Movement(ANN, Decimal("-3"), "hold", "draft:1:hold:1"))
        await bot.send(admin, f"/refund_topup {second_id}")
        assert admin.last_text == ("❌ Not refunded: the wallet of user 1001 holds $2.00, less than the top-up's "
                                   "$5.00 (it was spent). Nothing was changed.")
        assert not bot.fake.payments.charges[second.id].refunded
        assert (await store(bot).topup(second_id)).state == "paid"  # type: ignore[union-attr]
        await notices_sent(bot)
        assert "↩️ Your top-up of $10.00 was refunded" in ann.all_text()
        assert ann.all_text().count("↩️ Your top-up") == 1
        await bot.send(ann, f"/refund_topup {second_id}")
        assert ann.last_text == "I do not know that command. /help lists what I can do."


async def test_a_refund_telegram_refuses_gives_the_money_back_to_the_wallet(tmp_path: Path) -> None:
    async with shop(tmp_path) as bot:
        ann, admin = bot.user(ANN), bot.user(ADMIN)
        charge = await top_up(bot, ann)
        topup_id = int(charge.payload.split(":")[1])
        bot.fake.inject_error("refundStarPayment", 400, "Bad Request: CHARGE_NOT_FOUND")
        await bot.send(admin, f"/refund_topup {topup_id}")
        assert admin.last_text.startswith(f"❌ Telegram refused to refund top-up #{topup_id}")
        assert "The amount is back in the wallet" in admin.last_text
        assert await store(bot).balance(ANN) == Decimal("10")
        # Asked again, it goes through: a new attempt, booked under its own reference.
        await bot.send(admin, f"/refund_topup {topup_id}")
        assert admin.last_text.startswith(f"✅ Top-up #{topup_id} refunded")
        assert await store(bot).balance(ANN) == 0
        kinds = [(m.kind, m.reference.rsplit(":", 2)[-2:]) for m in await store(bot).movements(ANN)]
        assert [k for k, _ in kinds] == ["topup_refund", "topup_refund_undo", "topup_refund", "topup"]


async def test_a_refund_interrupted_before_telegram_heard_of_it_is_finished_by_asking_again(tmp_path: Path) -> None:
    async with shop(tmp_path) as bot:
        ann, admin = bot.user(ANN), bot.user(ADMIN)
        charge = await top_up(bot, ann)
        topup_id = int(charge.payload.split(":")[1])
        # The store's half committed, then the process died before calling Telegram.
        refund = await store(bot).refund_topup(topup_id, shop_currency="USD")
        assert refund.outcome is topups_store.Refunding.DEBITED
        assert not bot.fake.payments.charges[charge.id].refunded
        await bot.send(admin, f"/refund_topup {topup_id}")
        assert admin.last_text.startswith(f"✅ Top-up #{topup_id} refunded")
        assert bot.fake.payments.charges[charge.id].refunded
        assert await store(bot).balance(ANN) == 0


# --- /wallet --------------------------------------------------------------------------------


@pytest.mark.parametrize("db", DATABASES)
async def test_the_wallet_lists_the_last_movements_and_balance_shows_it_in_shop_mode(
        tmp_path: Path, db: str) -> None:
    async with shop(tmp_path, db) as bot:
        ann, admin = bot.user(ANN), bot.user(ADMIN)
        await bot.send(ann, "/wallet")
        assert ann.last_text.startswith("👛 Your wallet: $0.00")
        assert "No movements yet" in ann.last_text
        await top_up(bot, ann)
        await bot.send(admin, "/credit 1001 1.50 welcome gift")
        await bot.send(admin, "/debit 1001 0.25 fee")
        await bot.send(ann, "/wallet")
        lines = ann.last_text.splitlines()
        assert lines[0] == "👛 Your wallet: $11.25"
        assert lines[2] == "Last movements:"
        assert lines[3].startswith("−$0.25 · Debit by the shop · ") and lines[3].endswith(" UTC · fee")
        assert lines[4].startswith("+$1.50 · Credit from the shop · ") and lines[4].endswith("welcome gift")
        assert lines[5].startswith("+$10.00 · Top-up · ")
        assert labels(ann) == ["💳 Top up"]
        await bot.press(ann, "💳 Top up")
        assert "✏️ Other amount" in labels(ann)
        await bot.send(ann, "/balance")
        assert ann.last_text.startswith("👛 Your wallet: $11.25")


async def test_wallet_commands_are_unknown_outside_shop_mode(tmp_path: Path) -> None:
    async with world(tmp_path, panel_key=KEY, allowed_users="1001", admin_ids="1001") as bot:
        ann = bot.user(ANN)
        for command in ("/wallet", "/topup", "/credit 1001 5 x", "/refund_topup 1"):
            await bot.send(ann, command)
            assert ann.last_text == "I do not know that command. /help lists what I can do.", command
        assert deps(bot).shop is None
