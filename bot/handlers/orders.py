"""Orders after placing: the order card, /orders, the Refill and Cancel buttons and
/notifications (what each does: bot/domain/order_actions.py; how it looks: bot/views/orders.py)."""

from __future__ import annotations

import contextlib
from collections.abc import Callable
from datetime import UTC, datetime

from telegram import Update
from telegram.error import BadRequest

from bot.domain.order_actions import Asked, Request, can_cancel, refresh, request_cancel, request_refill
from bot.handlers.account import prices_currency, require_account
from bot.handlers.context import BotContext
from bot.handlers.ui import drop_keyboard, show
from bot.panel.errors import PanelRefusal
from bot.store import NOTIFICATION_MODES, Order
from bot.views.callback_data import (
    AskCancelOrder,
    CancelOrder,
    NotificationMode,
    OpenOrder,
    OrdersPage,
    OrdersShown,
    RefillOrder,
    RefreshOrder,
    SetNotifications,
    answer,
)
from bot.views.markup import button, clip, esc, keyboard, nav_row, page_slice
from bot.views.orders import card_buttons, lacking, order_buttons, order_card, order_state
from bot.views.texts import panel_down, panel_problem, refusal

FILTERS = {"a": None, "o": True, "f": False}


async def owned_order(update: Update, context: BotContext, pk: int) -> Order | None:
    """The pressing user's own order, or a polite refusal."""
    order = await context.deps.store.order_by_id(pk)
    if order is None or order.user_id != context.user.telegram_id:
        await show(update, context, context.i18n._("This button is not for you or is no longer valid."), edit=False)
        return None
    return order


async def account_currency(context: BotContext, order: Order) -> str | None:
    """The currency of the account an order was placed with, for an order stored without
    one (placed before the panel ever named it, and not named in its status replies)."""
    if order.currency or order.charge is None:
        return order.currency
    linked = await context.deps.accounts.linked(context.user.telegram_id)
    if linked is None or linked.account.id != order.account_id:
        return None
    return await prices_currency(context, linked)


async def open_order(update: Update, context: BotContext, pk: int, *, edit: bool) -> None:
    t = context.i18n
    order = await owned_order(update, context, pk)
    if order is None:
        return
    refreshed = await refresh(context.deps.store, context.deps.accounts, context.user.telegram_id, order)
    order = refreshed.order
    text = order_card(t, order, refreshed.live, await account_currency(context, order))
    text += "\n" + t._("Checked at {time}", time=t.datetime(datetime.now(UTC)))
    if refreshed.problem is not None:
        text += "\n\n" + panel_problem(t, refreshed.problem)
    abilities = await context.deps.facts.abilities()
    await show(update, context, text, keyboard(card_buttons(t, order, abilities)), edit=edit)


async def orders_command(update: Update, context: BotContext) -> None:
    """/orders: the user's orders placed through the bot, newest first."""
    await orders_page(update, context, "a", 0, edit=False)


async def orders_page(update: Update, context: BotContext, flt: OrdersShown, page: int, *, edit: bool = True) -> None:
    t = context.i18n
    store = context.deps.store
    user_id = context.user.telegram_id
    open_only = FILTERS.get(flt)
    total = await store.count_orders(user_id, open_only=open_only)
    start, _end, page = page_slice(total, page)
    orders = await store.orders_for(user_id, open_only=open_only, limit=8, offset=start)
    titles: dict[OrdersShown, str] = {"a": t._("All"), "o": t._("Open"), "f": t._("Finished")}
    heading = t._("<b>Your orders</b> ({count})", count=t.number(total))
    if not orders:
        text = heading + "\n" + t._("No orders here yet. Start one with /order.")
    else:
        lines = [heading]
        for order in orders:
            lines.append(t._("#{order_id} · {status} · {service}", order_id=order.panel_order_id,
                             status=esc(order_state(t, order)), service=esc(clip(order.service_name, 60))))
        text = "\n".join(lines)
    rows = order_buttons(orders)
    rows.append(nav_row(t, total, page, lambda p: OrdersPage(flt, p)))
    rows.append([button(("• " if key == flt else "") + title, OrdersPage(key, 0)) for key, title in titles.items()])
    await show(update, context, text, keyboard(rows), edit=edit)


async def tell_request(update: Update, context: BotContext, request: Request, *, action: str, not_now: str,
                       unclear: str, refused: Callable[[PanelRefusal], str]) -> bool:
    """Say what became of a refill or cancel request, unless it was sent (True then)."""
    t = context.i18n
    match request.outcome:
        case Asked.SENT:
            return True
        case Asked.NOT_OFFERED:
            if request.refusal is not None:
                await _redraw_buttons(update, context, request.order)
            await show(update, context, lacking(t, action, news=request.news), edit=False)
        case Asked.NOT_NOW:
            await show(update, context, not_now, edit=False)
        case Asked.BUSY:
            await show(update, context, t._("A request for this order is already on its way."), edit=False)
        case Asked.NO_ACCOUNT:
            await require_account(update, context)
        case Asked.UNCLEAR:
            await show(update, context, unclear, edit=False)
        case Asked.REFUSED:
            assert request.refusal is not None
            await show(update, context, refused(request.refusal), edit=False)
        case Asked.UNAVAILABLE:
            await show(update, context, panel_down(t), edit=False)
    return False


async def _redraw_buttons(update: Update, context: BotContext, order: Order) -> None:
    """The pressed order card without the buttons the panel turned out not to have."""
    query = update.callback_query
    if query is None or query.message is None or RefillOrder.decode(query.data) is None:
        return
    abilities = await context.deps.facts.abilities()
    with contextlib.suppress(BadRequest):  # gone, or nothing changed
        await query.edit_message_reply_markup(keyboard(card_buttons(context.i18n, order, abilities)))


async def refill(update: Update, context: BotContext, pk: int) -> None:
    """One press, one `refill` call; the refill is then watched like an order."""
    t = context.i18n
    deps = context.deps
    order = await owned_order(update, context, pk)
    if order is None:
        return
    request = await request_refill(deps.store, deps.accounts, deps.facts, context.user.telegram_id, order)
    if await tell_request(
        update, context, request, action="refill",
        not_now=t._("This order cannot be refilled now."),
        unclear=t._("The panel did not confirm the refill; it may have been created. Check the order on the panel before asking again."),
        refused=lambda r: t._("❌ No refill: {reason}", reason=refusal(t, r.refusal)) + "\n"
        + t._("The panel said: «{text}»", text=esc(clip(r.text, 300))),
    ):
        await show(update, context, t._("♻️ Refill #{refill_id} requested for order #{order_id}. I will tell you when it changes.",
                                        refill_id=request.refill_id, order_id=order.panel_order_id), edit=False)


async def ask_cancel(update: Update, context: BotContext, pk: int) -> None:
    t = context.i18n
    order = await owned_order(update, context, pk)
    if order is None or order.id is None:
        return
    abilities = await context.deps.facts.abilities()
    if not abilities.cancel:
        await show(update, context, lacking(t, "cancel", news=False), edit=False)
        return
    if not can_cancel(order):
        await show(update, context, t._("This order cannot be cancelled now."), edit=False)
        return
    markup = keyboard([[button(t._("Yes, cancel it"), CancelOrder(order.id)), button(t._("No, keep it"), RefreshOrder(order.id))]])
    await show(update, context, t._("Cancel order #{order_id}? The panel decides whether it can still be stopped; any refund follows its rules.",
                                    order_id=order.panel_order_id), markup, edit=False)


async def cancel(update: Update, context: BotContext, pk: int) -> None:
    """Request a cancel once; its real outcome arrives through the watcher."""
    t = context.i18n
    deps = context.deps
    await drop_keyboard(update)
    order = await owned_order(update, context, pk)
    if order is None:
        return
    request = await request_cancel(deps.store, deps.accounts, deps.facts, context.user.telegram_id, order)
    if await tell_request(
        update, context, request, action="cancel",
        not_now=t._("This order cannot be cancelled now."),
        unclear=t._("The panel did not confirm the cancel request. I will tell you if the order's status changes."),
        refused=lambda r: t._("❌ The panel refused to cancel: «{text}»", text=esc(clip(r.text, 300))),
    ):
        await show(update, context, t._("Cancel requested for order #{order_id}. I will tell you the outcome.",
                                        order_id=order.panel_order_id), edit=False)


async def notifications(update: Update, context: BotContext) -> None:
    """/notifications: every change, final statuses only, or off."""
    t = context.i18n
    current = context.user.notifications
    labels = {"all": t._("Every change"), "final": t._("Final status only"), "off": t._("Off")}
    modes: tuple[NotificationMode, ...] = ("all", "final", "off")
    rows = [[button(("✅ " if mode == current else "") + labels[mode], SetNotifications(mode))] for mode in modes]
    await show(update, context, t._("Which order updates should I send you?"), keyboard(rows),
               edit=update.callback_query is not None)


async def set_notifications(update: Update, context: BotContext, mode: str) -> None:
    if mode not in NOTIFICATION_MODES:
        return
    await context.deps.store.set_notifications(context.user.telegram_id, mode)
    context.user.notifications = mode
    await notifications(update, context)


async def on_open_order(update: Update, context: BotContext) -> None:
    """#123 in a list, or 📦 Open order under a notification: the card, as a new message."""
    pressed = await answer(update, OpenOrder)
    await open_order(update, context, pressed.order, edit=False)


async def on_refresh_order(update: Update, context: BotContext) -> None:
    """🔄 Refresh on an order card, or "No, keep it": the card, redrawn in place."""
    pressed = await answer(update, RefreshOrder)
    await open_order(update, context, pressed.order, edit=True)


async def on_refill_order(update: Update, context: BotContext) -> None:
    """♻️ Refill on an order card."""
    pressed = await answer(update, RefillOrder)
    await refill(update, context, pressed.order)


async def on_ask_cancel_order(update: Update, context: BotContext) -> None:
    """✖ Cancel order on an order card: asks first."""
    pressed = await answer(update, AskCancelOrder)
    await ask_cancel(update, context, pressed.order)


async def on_cancel_order(update: Update, context: BotContext) -> None:
    """Yes, cancel it."""
    pressed = await answer(update, CancelOrder)
    await cancel(update, context, pressed.order)


async def on_orders_page(update: Update, context: BotContext) -> None:
    """All / Open / Finished or paging in /orders."""
    pressed = await answer(update, OrdersPage)
    await orders_page(update, context, pressed.shown, pressed.page)


async def on_set_notifications(update: Update, context: BotContext) -> None:
    """A choice in /notifications."""
    pressed = await answer(update, SetNotifications)
    await set_notifications(update, context, pressed.mode)
