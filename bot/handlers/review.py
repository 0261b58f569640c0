"""The confirm screen: the order as it will be sent (every field, total, price and the
balance beside it) with Confirm, Edit and Cancel."""

from __future__ import annotations

import asyncio

from telegram import Update

from bot.domain.accounts import Linked
from bot.handlers.account import prices_currency, require_account
from bot.handlers.context import BotContext
from bot.handlers.states import Confirming, enter
from bot.handlers.ui import show
from bot.i18n import I18n
from bot.panel.errors import PanelRefusal, PanelUnavailable
from bot.panel.fields import (
    FieldKind,
    Quote,
    form_fields,
    quote,
    split_lines,
    total_quantity,
)
from bot.panel.models import Service
from bot.store import Draft
from bot.views.callback_data import CancelDraft, ConfirmOrder, EditOrder
from bot.views.markup import button, clip, esc, keyboard
from bot.views.texts import field_line

# A long list (comments, usernames) shows this many lines on the confirm screen.
LIST_PREVIEW = 5
# The balance beside the price waits this long for the panel, then says it did not answer.
BALANCE_DEADLINE = 6.0


def describe_values(t: I18n, service: Service, values: dict[str, str]) -> list[str]:
    """One line per entered field, by its label, long lists shortened to their first
    lines; skipped optional fields are left off."""
    lines = []
    for spec in form_fields(service, values):
        value = values.get(spec.name, "")
        if value == "":
            continue
        lines.append(field_line(t, spec, value, preview=LIST_PREVIEW))
    return lines


async def order_price(context: BotContext, service: Service, values: dict[str, str]) -> Quote:
    """What the order costs: the panel's quote, or in shop mode the shop's price (the
    service comes from the shop's catalog, at its rate)."""
    shop = context.deps.shop
    if shop is None:
        return quote(service, values)
    return shop.price(await shop.rules(), service, values)


def shown_price(context: BotContext, price: Quote) -> str | None:
    """In a shop, the price the confirm screen shows: the most Confirm may take from the
    wallet (kept in the Confirming state)."""
    return str(price.high) if context.deps.shop is not None and not price.per_post else None


def price_text(t: I18n, price: Quote, currency: str | None) -> str:
    if price.per_post:
        return t._("from {low} to {high} per post", low=t.money(price.low, currency), high=t.money(price.high, currency))
    if price.low != price.high:
        return t._("from {low} to {high}", low=t.money(price.low, currency), high=t.money(price.high, currency))
    return t.money(price.high, currency)


def comma_warning(t: I18n, service: Service, values: dict[str, str]) -> list[str]:
    """Comments with commas: some panels (the SmartPanel family) split them there too and
    charge per piece, so say so and what count the price assumes."""
    lines: list[str] = []
    for spec in form_fields(service, values):
        if spec.name != "comments" or spec.kind is not FieldKind.LINES:
            continue
        items = split_lines(values.get(spec.name, ""))
        if not any("," in item for item in items):
            continue
        lines += ["", t._("⚠️ Some comments contain commas: some panels split comments at commas as well as "
                          "at line breaks, and charge for each piece.")]
        if spec.lines_are_quantity:
            lines.append(t._("The price assumes one comment per line: {count} in all.", count=t.number(len(items))))
    return lines


async def _panel_balance_lines(context: BotContext, linked: Linked, price: Quote) -> list[str]:
    """The panel balance beside the price, and a warning when it is lower."""
    t = context.i18n
    try:
        balance = await asyncio.wait_for(context.deps.accounts.recent_balance(linked), BALANCE_DEADLINE)
    except (PanelUnavailable, PanelRefusal, TimeoutError):
        return [t._("Balance: the panel did not answer.")]
    lines = [t._("Balance: {balance}", balance=t.money(balance.amount, balance.currency))]
    if price.high > balance.amount:
        lines.append(t._("⚠️ Your balance is lower than the price: the panel will likely refuse the order."))
    return lines


async def show_confirm(update: Update, context: BotContext, draft: Draft, service: Service,
                       *, edit: bool = False, note: str | None = None) -> None:
    """Service, every field, total, price and balance, with Confirm / Edit / Cancel
    (for a draft whose form is complete: bot/handlers/form.py decides that)."""
    t = context.i18n
    assert draft.id is not None  # a stored row
    linked = await require_account(update, context)
    if linked is None:
        return
    currency = await prices_currency(context, linked)
    price = await order_price(context, service, draft.values)
    await enter(context, Confirming(draft.id, price=shown_price(context, price)))
    lines = []
    if note:
        lines += [note, ""]
    lines += [t._("<b>Check your order</b>"), t._("Service: {id} · {name}", id=service.id, name=esc(service.name))]
    lines += describe_values(t, service, draft.values)
    total = total_quantity(service, draft.values)
    if total is not None and "runs" in draft.values and draft.values["runs"]:
        lines.append(t._("Total quantity: {total}", total=t.number(total)))
    lines.append(t._("Price: <b>{price}</b>", price=price_text(t, price, currency)))
    if context.deps.shop is not None:
        wallet = await context.deps.store.balance(context.user.telegram_id)
        lines.append(t._("Your wallet: {balance}", balance=t.money(wallet, currency)))
        if price.high > wallet:
            lines.append(t._("⚠️ Your wallet holds less than the price: top up with /topup first."))
    else:
        lines += await _panel_balance_lines(context, linked, price)
    lines += comma_warning(t, service, draft.values)
    if context.application.bot_data.get("real_panel"):
        lines += ["", t._("⚠️ This is a real order on your panel: confirming spends real money.")]
    if draft.error:
        lines += ["", t._("Last attempt: {error}", error=esc(clip(draft.error, 300)))]
    markup = keyboard([
        [button(t._("Confirm"), ConfirmOrder(draft.id))],
        [button(t._("✏️ Edit"), EditOrder(draft.id)), button(t._("✖ Cancel"), CancelDraft(draft.id))],
    ])
    await show(update, context, "\n".join(lines), markup, edit=edit)
