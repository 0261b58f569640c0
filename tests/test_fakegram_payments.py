"""The fake Telegram's payments (bot/playground/fakegram/payments.py), which shop mode's
tests will stand on: Telegram's rules for invoices in Stars and through a provider, the
10 s answer to a pre-checkout query, one charge per payment, one refund per charge."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import pytest
from telegram import LabeledPrice, Update
from telegram.error import BadRequest
from telegram.ext import Application, CommandHandler, ContextTypes, MessageHandler, PreCheckoutQueryHandler, filters

from bot.playground.fakegram import FakeTelegram
from bot.playground.fakegram.payments import PRE_CHECKOUT_SECONDS

TOKEN = "123456:payments-test-token"


class Shop:
    """A bot that sells 50 Stars of credit and records what it was paid."""

    def __init__(self) -> None:
        self.accept = True
        self.paid: list[tuple[str, int, str]] = []

    async def buy(self, update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        assert update.effective_chat is not None
        await context.bot.send_invoice(update.effective_chat.id, "Top-up", "50 Stars of credit", "topup:1",
                                       "XTR", [LabeledPrice("Credit", 50)])

    async def check(self, update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        query = update.pre_checkout_query
        assert query is not None
        if self.accept:
            await query.answer(ok=True)
        else:
            await query.answer(ok=False, error_message="This top-up has expired.")

    async def record(self, update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        assert update.message is not None and update.message.successful_payment is not None
        paid = update.message.successful_payment
        self.paid.append((paid.currency, paid.total_amount, paid.telegram_payment_charge_id))


@pytest.fixture
async def shop() -> AsyncIterator[tuple[FakeTelegram, Application[Any, Any, Any, Any, Any, Any], Shop]]:
    fake = FakeTelegram(TOKEN)
    app = fake.application_builder(TOKEN).build()
    seller = Shop()
    app.add_handler(CommandHandler("buy", seller.buy))
    app.add_handler(PreCheckoutQueryHandler(seller.check))
    app.add_handler(MessageHandler(filters.SUCCESSFUL_PAYMENT, seller.record))
    await app.initialize()
    try:
        yield fake, app, seller
    finally:
        await app.shutdown()


async def test_a_stars_payment_goes_through_once_and_is_refunded_once(shop: Any) -> None:
    fake, app, seller = shop
    ann = fake.user(1001)
    await ann.send(app, "/buy")
    invoice = ann.last_message
    assert invoice is not None and invoice.invoice is not None
    assert (invoice.invoice["currency"], invoice.invoice["total_amount"]) == ("XTR", 50)
    charge = await ann.pay(app)
    assert charge is not None and seller.paid == [("XTR", 50, charge.id)]
    # The same payment delivered again carries the same charge id: the bot's to dedupe.
    await ann.pay(app, charge_id=charge.id)
    assert [c for *_rest, c in seller.paid] == [charge.id, charge.id] and len(fake.payments.charges) == 1
    assert await app.bot.refund_star_payment(1001, charge.id)
    with pytest.raises(BadRequest, match="(?i)already.refunded"):
        await app.bot.refund_star_payment(1001, charge.id)
    with pytest.raises(BadRequest, match="(?i)charge.not.found"):
        await app.bot.refund_star_payment(2002, charge.id)


async def test_an_answer_after_ten_seconds_is_too_late_and_nothing_is_charged(shop: Any) -> None:
    fake, app, seller = shop
    ann = fake.user(1001)
    await ann.send(app, "/buy")
    with pytest.raises(BadRequest, match="(?i)too old"):
        await ann.pay(app, wait=PRE_CHECKOUT_SECONDS + 1)
    assert seller.paid == [] and fake.payments.charges == {}


async def test_a_refused_pre_checkout_charges_nothing(shop: Any) -> None:
    fake, app, seller = shop
    seller.accept = False
    ann = fake.user(1001)
    await ann.send(app, "/buy")
    assert await ann.pay(app) is None
    (query,) = fake.payments.pre_checkouts.values()
    assert query.ok is False and query.error_message == "This top-up has expired."
    assert seller.paid == []


@pytest.mark.parametrize("currency, prices, token, error", [
    ("XTR", [("Credit", 50)], "provider-token", "PROVIDER_TOKEN_INVALID"),
    ("XTR", [("Credit", 50), ("Fee", 1)], None, "STARS_INVOICE_INVALID"),
    ("XTR", [("Credit", 10_001)], None, "STARS_AMOUNT_INVALID"),
    ("XTR", [("Credit", 0)], None, "CURRENCY_TOTAL_AMOUNT_INVALID"),
    ("USD", [("Credit", 500)], None, "PAYMENT_PROVIDER_INVALID"),
])
async def test_invoices_telegram_refuses_are_refused(shop: Any, currency: str, prices: list[tuple[str, int]],
                                                     token: str | None, error: str) -> None:
    fake, app, _seller = shop
    fake.user(1001)
    with pytest.raises(BadRequest, match="(?i)" + error.replace("_", ".")):
        await app.bot.send_invoice(1001, "Top-up", "Credit", "topup:1", currency,
                                   [LabeledPrice(label, amount) for label, amount in prices],
                                   provider_token=token)


async def test_a_card_invoice_through_a_provider_is_paid_in_its_currency(shop: Any) -> None:
    fake, app, seller = shop
    ann = fake.user(1001)
    await app.bot.send_invoice(1001, "Top-up", "Credit", "topup:2", "USD", [LabeledPrice("Credit", 500)],
                               provider_token="provider-token")
    charge = await ann.pay(app)
    assert charge is not None and seller.paid == [("USD", 500, charge.id)]
    with pytest.raises(BadRequest, match="(?i)charge.not.found"):
        await app.bot.refund_star_payment(1001, charge.id)  # only Stars are refunded this way
