"""Shop mode's wallet (MODE=shop): `/wallet` (and `/balance`), `/topup` with Telegram Stars or
a payment provider (the invoice, the pre-checkout check, the payment credited once),
`/start ref_<code>`, and the admins' `/credit`, `/debit` and `/refund_topup`.

The money moves in bot/store/topups.py, which says in which order and why. A referral
code is the inviter's Telegram id (`ref_1001`): guessing one gains nothing (the bonus goes
to the inviter, and a cheat's own second accounts know his code anyway), and a code
derived from a secret would stop working when SECRET_KEY rotates.
"""

from __future__ import annotations

import asyncio
import logging
import math
import re
from datetime import UTC, timedelta
from decimal import ROUND_DOWN, ROUND_UP, Decimal

from telegram import LabeledPrice, Update
from telegram.error import BadRequest, TelegramError

from bot.config import Settings
from bot.domain.shop import currency_digits
from bot.handlers.context import BotContext
from bot.handlers.states import EnteringTopup, current, enter
from bot.handlers.ui import parse_number, show
from bot.i18n import I18n
from bot.store.ledger import Booked
from bot.store.models import TopupState, utcnow
from bot.store.topups import Linked, Refunding
from bot.views.callback_data import TopupAmount, answer
from bot.views.markup import clip, esc
from bot.views.wallet import Option, Referrals, topup_screen, wallet_screen

log = logging.getLogger(__name__)

STARS = "XTR"
MAX_STARS = 10_000  # Telegram's limit per invoice in Stars
# Telegram gives the bot 10 s to answer a pre-checkout query; the check takes at most this.
PRE_CHECKOUT_DEADLINE = 5.0
# An invoice older than this is refused at Pay: its price in Stars may be out of date.
TOPUP_VALID = timedelta(days=1)
MOVEMENTS_SHOWN = 10
PAYLOAD = re.compile(r"topup:([1-9][0-9]{0,17})\Z")
AMOUNT = re.compile(r"([0-9]{1,12})(?:[.,]([0-9]{1,12}))?\Z")
REFERRAL = re.compile(r"ref_([1-9][0-9]{0,17})\Z")
MAX_REASON = 200
# A sanity bound far above any top-up (and far inside the ledger's Numeric(24, 8)); card
# payments meet the provider's own limits first (Telegram refuses the invoice).
MAX_AMOUNT = Decimal(10) ** 9


async def not_here(update: Update, context: BotContext) -> None:
    """A shop command outside shop mode, or an admin's for anyone else: exactly the
    unknown-command reply (bot/handlers/common.py, which imports this module's importers)."""
    await show(update, context, context.i18n._("I do not know that command. /help lists what I can do."), edit=False)


# --- what a top-up costs -------------------------------------------------------------------


class Unpriced(Exception):
    """An amount that cannot be a top-up; the message says why, in the user's language."""


def parse_amount(text: str) -> Decimal | None:
    """An amount the user typed ("12.50", "12,50", "12"), or None for anything else."""
    found = AMOUNT.fullmatch(text.strip())
    if found is None:
        return None
    return Decimal(found[1] + ("." + found[2] if found[2] else ""))


def price_of(t: I18n, settings: Settings, amount: Decimal) -> tuple[str, int]:
    """The invoice's (currency, total in its smallest units) for `amount` of the shop's
    currency: Stars rounded up (`ceil(amount * STARS_PER_UNIT)`), or the provider's
    currency's minor units; Unpriced with the reason when it cannot be."""
    shop = settings.shop_currency
    digits = currency_digits(shop)
    if amount <= 0:
        raise Unpriced(t._("The amount must be more than zero."))
    if amount >= MAX_AMOUNT:
        raise Unpriced(t._("That amount is too large for one top-up."))
    if amount != amount.quantize(Decimal(1).scaleb(-digits)):
        raise Unpriced(t.ngettext("{currency} amounts have at most {n} decimal.",
                                  "{currency} amounts have at most {n} decimals.", digits, currency=shop))
    if settings.payment_provider_token:
        currency = settings.topup_currency
        if currency != shop:
            # No exchange rate is configured: the operator must make the two the same.
            log.error("top-ups: PAYMENT_CURRENCY %s differs from SHOP_CURRENCY %s", currency, shop)
            raise Unpriced(t._("Top-ups are not available right now. Please tell the bot's operator."))
        return currency, int(amount.scaleb(currency_digits(currency)))
    assert settings.stars_per_unit is not None  # the settings require it without a provider
    stars = math.ceil(amount * settings.stars_per_unit)
    if not 1 <= stars <= MAX_STARS:
        low = (1 / settings.stars_per_unit).quantize(Decimal(1).scaleb(-digits), rounding=ROUND_UP)
        high = (MAX_STARS / settings.stars_per_unit).quantize(Decimal(1).scaleb(-digits), rounding=ROUND_DOWN)
        raise Unpriced(t._("A top-up is paid in Telegram Stars, 1 to {most} Stars at a time: "
                           "between {low} and {high}.", most=t.number(MAX_STARS),
                           low=t.money(low, shop), high=t.money(high, shop)))
    return STARS, stars


def options(settings: Settings) -> list[Option]:
    """The preset amounts (TOPUP_AMOUNTS) that can be paid, with their Stars."""
    digits = currency_digits(settings.shop_currency)
    found = []
    for amount in settings.topup_amounts:
        try:
            currency, total = price_of(I18n(settings.default_locale), settings, amount)
        except Unpriced:
            continue  # out of Telegram's range at this STARS_PER_UNIT: not offered
        found.append(Option(amount, int(amount.scaleb(digits)), total if currency == STARS else None))
    return found


# --- /wallet -------------------------------------------------------------------------------


async def wallet_command(update: Update, context: BotContext) -> None:
    """/wallet (and /balance in shop mode): the wallet, its last movements, the referral link."""
    if context.deps.shop is None:
        await not_here(update, context)
        return
    if update.callback_query is not None:
        await update.callback_query.answer()
    await show_wallet(update, context)


async def show_wallet(update: Update, context: BotContext) -> None:
    """The balance, the last movements and (with REFERRAL_PERCENT) the referral link."""
    t = context.i18n
    settings = context.deps.settings
    store = context.deps.store
    user_id = context.user.telegram_id
    balance = await store.balance(user_id)
    movements = await store.movements(user_id, limit=MOVEMENTS_SHOWN)
    referrals = None
    if settings.referral_percent > 0:
        invited, earned = await store.referral_earnings(user_id)
        link = f"https://t.me/{context.bot.username}?start=ref_{user_id}"
        referrals = Referrals(link, settings.referral_percent, invited, earned)
    text, markup = wallet_screen(t, balance, settings.shop_currency, movements, referrals)
    await show(update, context, text, markup, edit=False)


# --- /topup --------------------------------------------------------------------------------


async def topup_command(update: Update, context: BotContext) -> None:
    """/topup (and 💳 Top up): the preset amounts and "Other amount"."""
    if context.deps.shop is None:
        await not_here(update, context)
        return
    if update.callback_query is not None:
        await update.callback_query.answer()
    if isinstance(await current(context), EnteringTopup):
        await enter(context, None)
    settings = context.deps.settings
    text, markup = topup_screen(context.i18n, settings.shop_currency, options(settings))
    await show(update, context, text, markup, edit=False)


async def on_topup_amount(update: Update, context: BotContext) -> None:
    """A preset amount under /topup: its invoice."""
    pressed = await answer(update, TopupAmount)
    if context.deps.shop is None:
        return
    digits = currency_digits(context.deps.settings.shop_currency)
    await send_invoice(update, context, Decimal(pressed.minor).scaleb(-digits))


async def on_topup_other(update: Update, context: BotContext) -> None:
    """✏️ Other amount under /topup: ask for the amount."""
    if update.callback_query is not None:
        await update.callback_query.answer()
    if context.deps.shop is None:
        return
    t = context.i18n
    await enter(context, EnteringTopup())
    await show(update, context, t._("Send the amount to add, in {currency}, e.g. 12.50. /cancel to stop.",
                                    currency=context.deps.settings.shop_currency), edit=False)


async def answer_topup_amount(update: Update, context: BotContext, text: str) -> None:
    """The amount typed after "Other amount": its invoice, or why not (the prompt stays)."""
    t = context.i18n
    amount = parse_amount(text)
    if amount is None:
        await show(update, context, t._("That is not an amount. Send a number such as 12.50, or /cancel."), edit=False)
        return
    if await send_invoice(update, context, amount):
        await enter(context, None)


async def send_invoice(update: Update, context: BotContext, amount: Decimal) -> bool:
    """A pending top-up of `amount` and its invoice (payload `topup:<id>`); False with the
    reason told when the amount cannot be paid."""
    t = context.i18n
    settings = context.deps.settings
    try:
        currency, total = price_of(t, settings, amount)
    except Unpriced as why:
        await show(update, context, str(why), edit=False)
        return False
    chat = update.effective_chat
    assert chat is not None
    topup = await context.deps.store.create_topup(context.user.telegram_id, amount, currency, total)
    label = t.money(amount, settings.shop_currency, html=False)
    try:
        await context.bot.send_invoice(
            chat.id, clip(t._("Wallet top-up"), 32),
            clip(t._("{amount} for your wallet in this bot.", amount=label), 255),
            f"topup:{topup.id}", currency, [LabeledPrice(clip(t._("Top-up {amount}", amount=label), 64), total)],
            provider_token=settings.payment_provider_token or "",
        )
    except BadRequest as error:
        # E.g. a card amount outside the provider's limits; the pending top-up is never paid.
        log.warning("sendInvoice refused for top-up %s: %s", topup.id, error.message[:200])
        await show(update, context, t._("Telegram refused an invoice for {amount}. Try another amount.",
                                        amount=t.money(amount, settings.shop_currency)), edit=False)
        return False
    return True


# --- paying --------------------------------------------------------------------------------


async def pre_checkout(update: Update, context: BotContext) -> None:
    """Pay pressed on an invoice: yes only for a pending top-up of this user with the same
    currency and total, answered within Telegram's 10 s whatever the database does."""
    query = update.pre_checkout_query
    assert query is not None
    t = context.i18n
    try:
        why = await asyncio.wait_for(refusal(context, query.from_user.id, query.invoice_payload, query.currency,
                                             query.total_amount), PRE_CHECKOUT_DEADLINE)
    except TimeoutError:
        why = t._("I could not check this payment in time. Nothing was charged; please press Pay again.")
    if why is None:
        await query.answer(ok=True)
    else:
        log.info("pre-checkout refused for user %s, payload %r", query.from_user.id, query.invoice_payload[:40])
        await query.answer(ok=False, error_message=why)


async def refusal(context: BotContext, user_id: int, payload: str, currency: str, total: int) -> str | None:
    """Why this payment must not go through; None when it names a payable top-up."""
    t = context.i18n
    found = PAYLOAD.fullmatch(payload)
    topup = await context.deps.store.topup(int(found[1])) if found and context.deps.shop is not None else None
    if topup is None or topup.user_id != user_id:
        return t._("This invoice is not valid. Start a new top-up with /topup.")
    if topup.state != TopupState.PENDING.value:
        return t._("This invoice was paid already. Start a new top-up with /topup.")
    if topup.currency != currency or topup.total != total:
        return t._("This invoice does not match its top-up. Start a new one with /topup.")
    created = topup.created_at if topup.created_at.tzinfo else topup.created_at.replace(tzinfo=UTC)
    if utcnow() - created > TOPUP_VALID:
        return t._("This invoice has expired. Start a new top-up with /topup.")
    return None


async def successful_payment(update: Update, context: BotContext) -> None:
    """Telegram took the money: credit the wallet once (a re-delivered payment is not
    credited again) and say the new balance."""
    message = update.effective_message
    assert message is not None and message.successful_payment is not None
    paid = message.successful_payment
    t = context.i18n
    store = context.deps.store
    settings = context.deps.settings
    user_id = context.user.telegram_id
    found = PAYLOAD.fullmatch(paid.invoice_payload)
    payment = None
    if found is not None:
        payment = await store.pay_topup(
            int(found[1]), user_id, paid.telegram_payment_charge_id, paid.provider_payment_charge_id or None,
            paid.currency, paid.total_amount, shop_currency=settings.shop_currency,
            referral_percent=settings.referral_percent, digits=currency_digits(settings.shop_currency))
    if payment is None or payment.booked is None:
        # Telegram's checks make this all but impossible; the charge id lets an admin settle it.
        log.error("a payment matches no top-up: user %s, payload %r, charge %s", user_id, paid.invoice_payload[:40],
                  paid.telegram_payment_charge_id)
        await show(update, context, t._(
            "I received your payment but could not match it to a top-up. Please send this to the bot's "
            "operator: {charge}", charge=esc(paid.telegram_payment_charge_id)), edit=False)
        return
    currency = settings.shop_currency
    if payment.booked is Booked.DUPLICATE:
        text = t._("This payment was credited already. Your wallet: {balance}.",
                   balance=t.money(payment.balance, currency))
    else:
        log.info("top-up %s paid by user %s", payment.topup_id, user_id)
        text = t._("✅ {amount} added to your wallet. Your wallet: {balance}.",
                   amount=t.money(payment.amount, currency), balance=t.money(payment.balance, currency))
    await show(update, context, text, edit=False)
    if payment.receipt is not None:
        await store.settle_receipt(payment.receipt)


# --- referrals -----------------------------------------------------------------------------


async def accept_referral(update: Update, context: BotContext, argument: str) -> None:
    """`/start ref_<code>`: a new customer becomes the inviter's referral (said only when
    it worked; an existing customer is not told anything that could puzzle them)."""
    settings = context.deps.settings
    found = REFERRAL.fullmatch(argument)
    if context.deps.shop is None or settings.referral_percent <= 0 or found is None:
        return
    linked = await context.deps.store.link_referral(context.user.telegram_id, int(found[1]))
    log.info("referral of user %s: %s", context.user.telegram_id, linked.value)
    if linked is Linked.LINKED:
        await show(update, context, context.i18n._("🎁 Welcome! You joined through a friend's invitation."),
                   edit=False)


# --- admins --------------------------------------------------------------------------------


def _admin(context: BotContext) -> bool:
    return context.deps.shop is not None and context.user.telegram_id in context.deps.settings.admin_ids


async def credit_command(update: Update, context: BotContext) -> None:
    """/credit <user id> <amount> <reason>: money into a customer's wallet (admins)."""
    await adjust(update, context, credit=True)


async def debit_command(update: Update, context: BotContext) -> None:
    """/debit <user id> <amount> <reason>: money out of a customer's wallet, never below zero (admins)."""
    await adjust(update, context, credit=False)


async def adjust(update: Update, context: BotContext, *, credit: bool) -> None:
    """A credit or a debit with its reason; named after the admin's message, so that
    Telegram delivering it again books nothing twice."""
    if not _admin(context):
        await not_here(update, context)
        return
    t = context.i18n
    store = context.deps.store
    currency = context.deps.settings.shop_currency
    message = update.effective_message
    assert message is not None
    args = context.args or []
    user_id = parse_number(args[0]) if args else None
    amount = parse_amount(args[1]) if len(args) > 1 else None
    reason = " ".join(args[2:]).strip()
    usage = t._("Usage: /credit USER_ID AMOUNT REASON") if credit else t._("Usage: /debit USER_ID AMOUNT REASON")
    if user_id is None or amount is None or not reason:
        await show(update, context, usage + "\n" + t._("For example: {example}", example=esc(
            "/credit 123456789 5.00 refund for order 42" if credit else "/debit 123456789 5.00 chargeback")),
            edit=False)
        return
    digits = currency_digits(currency)
    if amount <= 0 or amount != amount.quantize(Decimal(1).scaleb(-digits)):
        await show(update, context, t.ngettext(
            "The amount must be more than zero, with at most {n} decimal.",
            "The amount must be more than zero, with at most {n} decimals.", digits), edit=False)
        return
    if await store.get_user(user_id) is None:
        await show(update, context, t._("User {user_id} has never used this bot: nothing was booked.",
                                        user_id=user_id), edit=False)
        return
    admin_id = context.user.telegram_id
    kind = "credit" if credit else "debit"
    reference = f"{kind}:{admin_id}:{message.message_id}"
    booking = await store.adjust_wallet(admin_id, user_id, amount if credit else -amount, clip(reason, MAX_REASON),
                                        reference, shop_currency=currency)
    money, balance = t.money(amount, currency), t.money(booking.balance, currency)
    if booking.booked is Booked.SHORT:
        text = t._("❌ Not debited: the wallet of user {user_id} holds {balance}, less than {amount}. "
                   "A wallet never goes below zero.", user_id=user_id, balance=balance, amount=money)
    elif booking.booked is Booked.DUPLICATE:
        text = t._("This command was booked already (Telegram delivered it again): nothing was booked twice. "
                   "The wallet of user {user_id} holds {balance}.", user_id=user_id, balance=balance)
    elif credit:
        log.info("admin %s credited %s to user %s", admin_id, amount, user_id)
        text = t._("✅ Credited {amount} to user {user_id} ({reason}). Their wallet: {balance}. They were told.",
                   amount=money, user_id=user_id, reason=esc(clip(reason, MAX_REASON)), balance=balance)
    else:
        log.info("admin %s debited %s from user %s", admin_id, amount, user_id)
        text = t._("✅ Debited {amount} from user {user_id} ({reason}). Their wallet: {balance}. They were told.",
                   amount=money, user_id=user_id, reason=esc(clip(reason, MAX_REASON)), balance=balance)
    await show(update, context, text, edit=False)


async def refund_topup_command(update: Update, context: BotContext) -> None:
    """/refund_topup <top-up id>: the Stars back to the customer, only while their wallet
    still holds the amount (admins)."""
    if not _admin(context):
        await not_here(update, context)
        return
    t = context.i18n
    store = context.deps.store
    currency = context.deps.settings.shop_currency
    topup_id = parse_number(context.args[0]) if context.args else None
    if topup_id is None:
        await show(update, context, t._("Usage: /refund_topup TOPUP_ID (its number in /topups USER_ID)."),
                   edit=False)
        return
    refund = await store.refund_topup(topup_id, shop_currency=currency)
    topup = refund.topup
    match refund.outcome:
        case Refunding.UNKNOWN:
            text = t._("There is no top-up #{topup_id}.", topup_id=topup_id)
        case Refunding.NOT_PAID:
            text = t._("Top-up #{topup_id} was never paid: there is nothing to refund.", topup_id=topup_id)
        case Refunding.NOT_STARS:
            text = t._("Top-up #{topup_id} was paid by card: refund it through the payment provider, "
                       "then take it out of the wallet with /debit.", topup_id=topup_id)
        case Refunding.SHORT:
            assert topup is not None
            text = t._("❌ Not refunded: the wallet of user {user_id} holds {balance}, less than the top-up's "
                       "{amount} (it was spent). Nothing was changed.", user_id=topup.user_id,
                       balance=t.money(refund.balance, currency), amount=t.money(topup.amount, currency))
        case Refunding.DEBITED | Refunding.REFUNDED:
            assert topup is not None
            text = await send_stars_back(context, topup_id, refund.attempt if refund.outcome is Refunding.DEBITED
                                         else None)
    await show(update, context, text, edit=False)


async def send_stars_back(context: BotContext, topup_id: int, attempt: int | None) -> str:
    """Telegram's half of a refund whose wallet half is booked (`attempt`), or was booked
    before (None: a refund asked again, perhaps interrupted before Telegram heard of it)."""
    t = context.i18n
    store = context.deps.store
    currency = context.deps.settings.shop_currency
    topup = await store.topup(topup_id)
    assert topup is not None and topup.charge_id is not None
    amount = t.money(topup.amount, currency)
    try:
        await context.bot.refund_star_payment(topup.user_id, topup.charge_id)
    except BadRequest as error:
        if "already_refunded" in str(error).lower().replace(" ", "_"):
            await store.refund_sent(topup, currency)  # the notice, in case the first time stopped short
            return t._("Top-up #{topup_id} was refunded already: {stars} Stars went back to user {user_id}.",
                       topup_id=topup_id, stars=t.number(topup.total), user_id=topup.user_id)
        return await refused_refund(context, topup_id, attempt, str(error))
    except TelegramError as error:
        # No clear answer: Telegram may have refunded. Asking again is safe (once per charge).
        log.warning("refundStarPayment for top-up %s: %s", topup_id, type(error).__name__)
        return t._("Telegram did not answer about top-up #{topup_id}. Its amount stays out of the wallet; "
                   "send /refund_topup {topup_id} again to finish the refund.", topup_id=topup_id)
    await store.refund_sent(topup, currency)
    log.info("admin %s refunded top-up %s", context.user.telegram_id, topup_id)
    return t._("✅ Top-up #{topup_id} refunded: {stars} Stars went back to user {user_id}, and {amount} left "
               "their wallet. They were told.", topup_id=topup_id, stars=t.number(topup.total),
               user_id=topup.user_id, amount=amount)


async def refused_refund(context: BotContext, topup_id: int, attempt: int | None, error: str) -> str:
    """Telegram refused to send the Stars back: the wallet gets the amount again."""
    t = context.i18n
    log.warning("refundStarPayment refused for top-up %s: %s", topup_id, error[:200])
    if attempt is None:
        # A refund asked again: find the attempt that took the money out (the last one).
        attempt = await context.deps.store.last_refund_attempt(topup_id)
    undone = attempt is not None and await context.deps.store.undo_refund(topup_id, attempt)
    if undone:
        return t._("❌ Telegram refused to refund top-up #{topup_id} (it said: {error}). The amount is back "
                   "in the wallet; nothing was refunded.", topup_id=topup_id, error=esc(clip(error, 200)))
    return t._("❌ Telegram refused to refund top-up #{topup_id} (it said: {error}).", topup_id=topup_id,
               error=esc(clip(error, 200)))


async def topups_command(update: Update, context: BotContext) -> None:
    """/topups <user id>: a customer's paid top-ups with their ids, for /refund_topup (admins)."""
    if not _admin(context):
        await not_here(update, context)
        return
    t = context.i18n
    currency = context.deps.settings.shop_currency
    user_id = parse_number(context.args[0]) if context.args else None
    if user_id is None:
        await show(update, context, t._("Usage: /topups USER_ID"), edit=False)
        return
    topups = await context.deps.store.topups_of(user_id)
    balance = await context.deps.store.balance(user_id)
    lines = [t._("<b>Top-ups of user {user_id}</b> · wallet {balance}", user_id=user_id,
                 balance=t.money(balance, currency))]
    if not topups:
        lines.append(t._("No paid top-ups."))
    for topup in topups:
        paid = t.number(topup.total) + " ⭐" if topup.currency == STARS else \
            t.money(Decimal(topup.total).scaleb(-currency_digits(topup.currency)), topup.currency)
        state = t._("refunded") if topup.state == TopupState.REFUNDED.value else t._("paid")
        lines.append(f"#{topup.id} · {t.money(topup.amount, currency)} · {paid} · {state} · "
                     f"{t.datetime(topup.paid_at or topup.created_at)}")
    await show(update, context, "\n".join(lines), edit=False)
