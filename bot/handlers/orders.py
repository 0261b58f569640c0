"""Orders after placing: the order card, /orders, refill, cancel and /notifications."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from typing import Any

from telegram import InlineKeyboardButton, Update

from bot.domain.watcher import order_changes
from bot.handlers.account import panel_down, require_account
from bot.handlers.context import BotContext
from bot.handlers.texts import refusal, status_name
from bot.handlers.ui import (
    button,
    clip,
    drop_keyboard,
    esc,
    keyboard,
    nav_row,
    page_slice,
    show,
)
from bot.i18n import I18n
from bot.panel.client import PanelClient
from bot.panel.errors import OutcomeUnknown, PanelRefusal, PanelUnavailable
from bot.panel.models import COMPLETED, PARTIAL, OrderStatus
from bot.store import NOTIFICATION_MODES, Order

DEADLINE = 8.0
BAR_WIDTH = 10
FILTERS = {"a": None, "o": True, "f": False}


def progress_bar(delivered: int, quantity: int) -> str:
    share = 0.0 if quantity <= 0 else min(1.0, max(0.0, delivered / quantity))
    filled = round(share * BAR_WIDTH)
    return "▓" * filled + "░" * (BAR_WIDTH - filled) + f" {round(share * 100)}%"


def can_refill(order: Any) -> bool:
    return order.refill and order.final and order.status in (COMPLETED, PARTIAL)


def can_cancel(order: Any) -> bool:
    return order.cancel and not order.final


def order_card(t: I18n, order: Order) -> str:
    lines = [
        t._("📦 Order #{order_id}: <b>{status}</b>", order_id=order.panel_order_id, status=esc(status_name(t, order.status))),
        t._("Service: {id} · {name}", id=order.service_id, name=esc(clip(order.service_name, 200))),
    ]
    if order.link:
        lines.append(t._("Link: {link}", link=esc(clip(order.link, 300))))
    if order.quantity is not None:
        lines.append(t._("Quantity: {count}", count=t.number(order.quantity)))
        if order.remains is not None:
            delivered = max(0, order.quantity - order.remains)
            lines.append(t._("Delivered: {delivered} · Remains: {remains}", delivered=t.number(delivered), remains=t.number(order.remains)))
            lines.append(progress_bar(delivered, order.quantity))
    if order.start_count is not None:
        lines.append(t._("Start count: {count}", count=t.number(order.start_count)))
    if order.charge is not None:
        lines.append(t._("Charge: {charge}", charge=t.money(order.charge, order.currency)))
    lines.append(t._("Placed: {time}", time=t.datetime(order.created_at)))
    return "\n".join(lines)


def card_buttons(t: I18n, order: Any) -> list[list[InlineKeyboardButton]]:
    """Refresh; Refill and Cancel only where allowed; Order again. `order` is an `Order`
    or anything with its id, refill, cancel, final, status and draft_id."""
    rows = [[button(t._("🔄 Refresh"), f"r:{order.id}")]]
    actions = []
    if can_refill(order):
        actions.append(button(t._("♻️ Refill"), f"R:{order.id}"))
    if can_cancel(order):
        actions.append(button(t._("✖ Cancel order"), f"C:{order.id}"))
    if actions:
        rows.append(actions)
    if order.draft_id is not None:
        rows.append([button(t._("🔁 Order again"), f"a:{order.draft_id}")])
    return rows


async def owned_order(update: Update, context: BotContext, pk: int) -> Order | None:
    """The pressing user's own order, or a polite refusal."""
    order = await context.deps.store.order_by_id(pk)
    if order is None or order.user_id != context.user.telegram_id:
        await show(update, context, context.i18n._("This button is not for you or is no longer valid."), edit=False)
        return None
    return order


async def refresh_order(context: BotContext, order: Order) -> tuple[Order, str | None]:
    """Ask the panel for the order's live status and store what changed. Returns the
    order and a problem to show, if the panel could not answer."""
    linked = await context.deps.accounts.linked(context.user.telegram_id)
    if linked is None:
        return order, None
    try:
        status: OrderStatus = await asyncio.wait_for(linked.client.status(order.panel_order_id), DEADLINE)
    except (PanelUnavailable, TimeoutError):
        return order, panel_down(context.i18n)
    except PanelRefusal as refused:
        return order, refusal(context.i18n, refused.refusal)
    changes = order_changes(order, status)
    if changes and order.id is not None:
        # The user sees this change now, so the watcher has nothing left to announce.
        await context.deps.store.update_order(order.id, {**changes, "last_checked_at": datetime.now(UTC)})
        order = order.model_copy(update=changes)
    return order, None


async def open_order(update: Update, context: BotContext, pk: int, *, edit: bool) -> None:
    t = context.i18n
    order = await owned_order(update, context, pk)
    if order is None:
        return
    order, problem = await refresh_order(context, order)
    text = order_card(t, order)
    text += "\n" + t._("Checked at {time}", time=t.datetime(datetime.now(UTC)))
    if problem:
        text += "\n\n" + problem
    await show(update, context, text, keyboard(card_buttons(t, order)), edit=edit)


async def orders_command(update: Update, context: BotContext) -> None:
    """/orders: the user's orders placed through the bot, newest first."""
    await orders_page(update, context, "a", 0, edit=False)


async def orders_page(update: Update, context: BotContext, flt: str, page: int, *, edit: bool = True) -> None:
    t = context.i18n
    store = context.deps.store
    user_id = context.user.telegram_id
    open_only = FILTERS.get(flt)
    total = await store.count_orders(user_id, open_only=open_only)
    start, _end, page = page_slice(total, page)
    orders = await store.orders_for(user_id, open_only=open_only, limit=8, offset=start)
    titles = {"a": t._("All"), "o": t._("Open"), "f": t._("Finished")}
    heading = t._("<b>Your orders</b> ({count})", count=t.number(total))
    if not orders:
        text = heading + "\n" + t._("No orders here yet. Start one with /order.")
    else:
        lines = [heading]
        for order in orders:
            lines.append(t._("#{order_id} · {status} · {service}", order_id=order.panel_order_id,
                             status=esc(status_name(t, order.status)), service=esc(clip(order.service_name, 60))))
        text = "\n".join(lines)
    rows = [[button(f"#{o.panel_order_id}", f"O:{o.id}") for o in orders[i : i + 4]] for i in range(0, len(orders), 4)]
    rows.append(nav_row(t, total, page, f"L:{flt}:"))
    rows.append([button(("• " if key == flt else "") + title, f"L:{key}:0") for key, title in titles.items()])
    await show(update, context, text, keyboard(rows), edit=edit)


async def _one_request(
    update: Update,
    context: BotContext,
    pk: int,
    *,
    allowed: Callable[[Order], bool],
    not_now: str,
    call: Callable[[PanelClient, int], Awaitable[Any]],
    unknown: str,
    refused: Callable[[PanelRefusal], str],
) -> tuple[Order, Any] | None:
    """What refill and cancel share: the user's own order, allowed now, claimed so that
    one press sends one request; the panel's answer, or None once the user is told why."""
    store = context.deps.store
    order = await owned_order(update, context, pk)
    if order is None or order.id is None:
        return None
    if not allowed(order):
        await show(update, context, not_now, edit=False)
        return None
    if not await store.claim_order_action(order.id, context.user.telegram_id):
        await show(update, context, context.i18n._("A request for this order is already on its way."), edit=False)
        return None
    linked = await require_account(update, context)
    if linked is None:
        await store.release_order_action(order.id)
        return None
    try:
        result = await call(linked.client, order.panel_order_id)
    except OutcomeUnknown:
        # It may have been created: the claim stays until it expires, so no quick resend.
        await show(update, context, unknown, edit=False)
        return None
    except PanelRefusal as refusal_:
        await store.release_order_action(order.id)
        await show(update, context, refused(refusal_), edit=False)
        return None
    except PanelUnavailable:
        await store.release_order_action(order.id)
        await show(update, context, panel_down(context.i18n), edit=False)
        return None
    return order, result


async def refill(update: Update, context: BotContext, pk: int) -> None:
    """One press, one `refill` call; the refill is then watched like an order."""
    t = context.i18n
    done = await _one_request(
        update, context, pk,
        allowed=can_refill,
        not_now=t._("This order cannot be refilled now."),
        call=lambda client, order_id: client.refill(order_id),
        unknown=t._("The panel did not confirm the refill; it may have been created. Check the order on the panel before asking again."),
        refused=lambda r: t._("❌ No refill: {reason}", reason=refusal(t, r.refusal)) + "\n"
        + t._("The panel said: «{text}»", text=esc(clip(r.text, 300))),
    )
    if done is None:
        return
    order, refill_id = done
    assert order.id is not None
    await context.deps.store.add_refill(order.id, refill_id)
    await show(update, context, t._("♻️ Refill #{refill_id} requested for order #{order_id}. I will tell you when it changes.",
                                    refill_id=refill_id, order_id=order.panel_order_id), edit=False)


async def ask_cancel(update: Update, context: BotContext, pk: int) -> None:
    t = context.i18n
    order = await owned_order(update, context, pk)
    if order is None:
        return
    if not can_cancel(order):
        await show(update, context, t._("This order cannot be cancelled now."), edit=False)
        return
    markup = keyboard([[button(t._("Yes, cancel it"), f"Y:{order.id}"), button(t._("No, keep it"), f"r:{order.id}")]])
    await show(update, context, t._("Cancel order #{order_id}? The panel decides whether it can still be stopped; any refund follows its rules.",
                                    order_id=order.panel_order_id), markup, edit=False)


async def cancel(update: Update, context: BotContext, pk: int) -> None:
    """Request a cancel once; its real outcome arrives through the watcher."""
    t = context.i18n
    await drop_keyboard(update)
    done = await _one_request(
        update, context, pk,
        allowed=can_cancel,
        not_now=t._("This order cannot be cancelled now."),
        call=lambda client, order_id: client.cancel(order_id),
        unknown=t._("The panel did not confirm the cancel request. I will tell you if the order's status changes."),
        refused=lambda r: t._("❌ The panel refused to cancel: «{text}»", text=esc(clip(r.text, 300))),
    )
    if done is not None:
        await show(update, context, t._("Cancel requested for order #{order_id}. I will tell you the outcome.",
                                        order_id=done[0].panel_order_id), edit=False)


async def notifications(update: Update, context: BotContext) -> None:
    """/notifications: every change, final statuses only, or off."""
    t = context.i18n
    current = context.user.notifications
    labels = {"all": t._("Every change"), "final": t._("Final status only"), "off": t._("Off")}
    rows = [[button(("✅ " if mode == current else "") + labels[mode], f"M:{mode}")] for mode in ("all", "final", "off")]
    await show(update, context, t._("Which order updates should I send you?"), keyboard(rows),
               edit=update.callback_query is not None)


async def set_notifications(update: Update, context: BotContext, mode: str) -> None:
    if mode not in NOTIFICATION_MODES:
        return
    await context.deps.store.set_notifications(context.user.telegram_id, mode)
    context.user.notifications = mode
    await notifications(update, context)


async def on_orders_callback(update: Update, context: BotContext) -> None:
    """O:order (card), r:order (refresh), R:order (refill), C/Y:order (cancel), L:filter:page, M:mode."""
    query = update.callback_query
    assert query is not None and query.data is not None
    await query.answer()
    kind, *parts = query.data.split(":")
    if kind == "L":
        await orders_page(update, context, parts[0], int(parts[1]))
    elif kind == "M":
        await set_notifications(update, context, parts[0])
    elif kind == "O":
        await open_order(update, context, int(parts[0]), edit=False)
    elif kind == "r":
        await open_order(update, context, int(parts[0]), edit=True)
    elif kind == "R":
        await refill(update, context, int(parts[0]))
    elif kind == "C":
        await ask_cancel(update, context, int(parts[0]))
    elif kind == "Y":
        await cancel(update, context, int(parts[0]))


ORDERS_PATTERN = r"^([OrRCY]:[0-9]{1,18}|L:[aof]:[0-9]{1,18}|M:(all|final|off))$"
