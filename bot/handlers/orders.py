"""Orders after placing: the order card, /orders, refill, cancel and /notifications."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Awaitable, Callable, Sequence
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

from telegram import InlineKeyboardButton, Update
from telegram.error import BadRequest

from bot.domain.capabilities import ACTION_FACTS, Abilities
from bot.domain.watcher import order_changes
from bot.handlers.account import panel_down, require_account
from bot.handlers.callback_data import (
    AskCancelOrder,
    CancelOrder,
    NotificationMode,
    OpenOrder,
    OrderAgain,
    OrdersPage,
    OrdersShown,
    RefillOrder,
    RefreshOrder,
    SetNotifications,
    answer,
)
from bot.handlers.context import BotContext
from bot.handlers.texts import field_line, refusal, status_name
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
from bot.panel.errors import OutcomeUnknown, PanelRefusal, PanelUnavailable, RefusalKind
from bot.panel.fields import service_type
from bot.panel.status import COMPLETED, FINAL_ORDER_STATUSES, PARTIAL, OrderStatus
from bot.panel.values import to_int, type_key
from bot.store import NOTIFICATION_MODES, Order

DEADLINE = 8.0
BAR_WIDTH = 10
FILTERS = {"a": None, "o": True, "f": False}
# Child order ids of a drip-feed parent shown at most.
RUN_IDS_SHOWN = 10
# Everything assumed until a panel shows otherwise.
ASSUMED = Abilities()
# Fields the card shows in lines of their own (Link, Quantity, Drip-feed).
OWN_LINES = frozenset({"link", "quantity", "runs", "interval"})
# Lines of a list field (comments, usernames) shown on the card.
LIST_PREVIEW = 3


def progress_bar(delivered: int, quantity: int) -> str:
    share = 0.0 if quantity <= 0 else min(1.0, max(0.0, delivered / quantity))
    filled = round(share * BAR_WIDTH)
    return "▓" * filled + "░" * (BAR_WIDTH - filled) + f" {round(share * 100)}%"


def has_started(status: str | None, start_count: int | None) -> bool:
    """Delivery has begun (a start count, or a status past Pending): only then does
    `remains` say how much was delivered (a fresh Pending order's 0 is not 100 %)."""
    return OrderStatus(0, status=status, start_count=start_count).started


def is_subscription(service_type: str | None, posts: int | None = None, expiry: object = None) -> bool:
    return type_key(service_type or "") == "subscriptions" or posts is not None or expiry is not None


def can_refill(order: Any, abilities: Abilities = ASSUMED) -> bool:
    return bool(order.refill and abilities.refill and order.final and order.status in (COMPLETED, PARTIAL))


def can_cancel(order: Any, abilities: Abilities = ASSUMED) -> bool:
    return bool(order.cancel and abilities.cancel and not order.final)


def status_details(
    t: I18n,
    *,
    status: str | None,
    quantity: int | None,
    remains: int | None,
    start_count: int | None,
    service_type: str | None = None,
    fields: dict[str, Any] | None = None,
    runs: int | None = None,
    run_orders: list[int] | tuple[int, ...] | None = None,
    posts: int | None = None,
    expiry: object = None,
    card: bool = True,
) -> list[str]:
    """The lines under an order's status, in the words of what the order is: a
    subscription (posts, expiry), a drip-feed parent (runs and the orders it placed),
    or an order with a quantity whose progress shows once delivery has begun. Not
    `card` (a notification): without quantity, bar and start count."""
    fields = fields or {}
    lines: list[str] = []
    final = status in FINAL_ORDER_STATUSES
    if is_subscription(service_type, posts, expiry):
        if posts is not None:
            lines.append(t._("Subscription: {count} posts so far", count=t.number(posts)))
        else:
            lines.append(t._("Subscription: new posts are served as they appear"))
        if isinstance(expiry, str) and expiry:
            lines.append(t._("Ends: {date}", date=esc(clip(expiry, 40))))
        return lines
    runs = to_int(fields.get("runs")) or runs
    interval = to_int(fields.get("interval"))
    if run_orders is not None or (runs is not None and runs > 1):
        if runs and interval is not None:
            lines.append(t._("Drip-feed: {runs} runs, every {minutes} min", runs=t.number(runs),
                             minutes=t.number(interval)))
        elif runs:
            lines.append(t._("Drip-feed: {runs} runs", runs=t.number(runs)))
        if run_orders:
            ids = ", ".join(f"#{i}" for i in run_orders[:RUN_IDS_SHOWN])
            if len(run_orders) > RUN_IDS_SHOWN:
                ids += ", …"
            lines.append(t._("Runs placed so far: {count} ({ids})", count=t.number(len(run_orders)), ids=ids))
        elif run_orders is not None and not final:
            lines.append(t._("No run placed yet"))
    if quantity is not None and card:
        lines.append(t._("Quantity: {count}", count=t.number(quantity)))
    started = has_started(status, start_count)
    if started and quantity is not None and remains is not None:
        delivered = min(quantity, max(0, quantity - remains))
        lines.append(t._("Delivered: {delivered} · Remains: {remains}", delivered=t.number(delivered),
                         remains=t.number(remains)))
        if card:
            lines.append(progress_bar(delivered, quantity))
    elif started and remains is not None:
        lines.append(t._("Remains: {count}", count=t.number(remains)))
    if started and start_count is not None and card:
        lines.append(t._("Start count: {count}", count=t.number(start_count)))
    elif not started and not final:
        lines.append(t._("Not started yet"))
    return lines


def order_state(t: I18n, order: Order) -> str:
    """The status of a list line, with what kind of order it is when that is not a
    plain one: "Active · subscription", "In progress · drip-feed", "In progress · 40%"."""
    name = status_name(t, order.status)
    if is_subscription(order.service_type):
        return t._("{status} · subscription", status=name)
    runs = to_int((order.fields or {}).get("runs"))
    if runs is not None and runs > 1:
        return t._("{status} · drip-feed", status=name)
    if (not order.final and order.quantity and order.remains is not None
            and has_started(order.status, order.start_count)):
        delivered = min(order.quantity, max(0, order.quantity - order.remains))
        return t._("{status} · {percent} delivered", status=name,
                   percent=t.percent(Decimal(delivered) / order.quantity))
    return name


def field_lines(t: I18n, order: Order, live: OrderStatus | None = None) -> list[str]:
    """The order's other details as ordered (a subscription's username and per-post
    range, a poll answer, comments...), each by its label, never by its API name."""
    values = order.fields or {}
    lines: list[str] = []
    for spec in service_type(order.service_type).fields:
        value = values.get(spec.name)
        if spec.name in OWN_LINES or value is None or str(value) == "":
            continue
        if spec.name == "expiry" and live is not None and live.expiry:
            continue  # the panel's own "Ends:" line says it
        lines.append(field_line(t, spec, str(value), preview=LIST_PREVIEW))
    return lines


def order_card(t: I18n, order: Order, live: OrderStatus | None = None, currency: str | None = None) -> str:
    """The order as stored (just refreshed), with what only the panel's latest answer
    `live` carries: a drip-feed parent's runs, a subscription's posts. Its charge is in
    the order's currency, else the account's (`currency`)."""
    lines = [
        t._("📦 Order #{order_id}: <b>{status}</b>", order_id=order.panel_order_id, status=esc(status_name(t, order.status))),
        t._("Service: {id} · {name}", id=order.service_id, name=esc(clip(order.service_name, 200))),
    ]
    if order.link:
        lines.append(t._("Link: {link}", link=esc(clip(order.link, 300))))
    lines += field_lines(t, order, live)
    lines += status_details(
        t, status=order.status, quantity=order.quantity, remains=order.remains, start_count=order.start_count,
        service_type=order.service_type, fields=order.fields,
        runs=live.runs if live else None, run_orders=live.orders if live else None,
        posts=live.posts if live else None, expiry=live.expiry if live else None,
    )
    if order.charge is not None:
        lines.append(t._("Charge: {charge}", charge=t.money(order.charge, order.currency or currency)))
    lines.append(t._("Placed: {time}", time=t.datetime(order.created_at)))
    return "\n".join(lines)


def card_buttons(t: I18n, order: Any, abilities: Abilities = ASSUMED) -> list[list[InlineKeyboardButton]]:
    """Refresh; Refill and Cancel only where allowed (and the panel has them); Order
    again. `order` is an `Order` or anything with its id, refill, cancel, final, status
    and draft_id."""
    rows = [[button(t._("🔄 Refresh"), RefreshOrder(order.id))]]
    actions = []
    if can_refill(order, abilities):
        actions.append(button(t._("♻️ Refill"), RefillOrder(order.id)))
    if can_cancel(order, abilities):
        actions.append(button(t._("✖ Cancel order"), AskCancelOrder(order.id)))
    if actions:
        rows.append(actions)
    if order.draft_id is not None:
        rows.append([button(t._("🔁 Order again"), OrderAgain(order.draft_id))])
    return rows


async def owned_order(update: Update, context: BotContext, pk: int) -> Order | None:
    """The pressing user's own order, or a polite refusal."""
    order = await context.deps.store.order_by_id(pk)
    if order is None or order.user_id != context.user.telegram_id:
        await show(update, context, context.i18n._("This button is not for you or is no longer valid."), edit=False)
        return None
    return order


async def refresh_order(context: BotContext, order: Order) -> tuple[Order, str | None, OrderStatus | None]:
    """Ask the panel for the order's live status and store what changed. Returns the
    order, a problem to show if the panel could not answer, and its answer."""
    linked = await context.deps.accounts.linked(context.user.telegram_id)
    if linked is None:
        return order, None, None
    try:
        status: OrderStatus = await asyncio.wait_for(linked.client.status(order.panel_order_id), DEADLINE)
    except (PanelUnavailable, TimeoutError):
        return order, panel_down(context.i18n), None
    except PanelRefusal as refused:
        return order, refusal(context.i18n, refused.refusal), None
    changes = order_changes(order, status)
    if changes and order.id is not None:
        # The user sees this change now, so the watcher has nothing left to announce.
        await context.deps.store.update_order(order.id, {**changes, "last_checked_at": datetime.now(UTC)})
        order = order.model_copy(update=changes)
    return order, None, status


async def account_currency(context: BotContext, order: Order) -> str | None:
    """The currency of the account an order was placed with, for an order stored without
    one (placed before the panel ever named it, and not named in its status replies)."""
    if order.currency or order.charge is None:
        return order.currency
    linked = await context.deps.accounts.linked(context.user.telegram_id)
    if linked is None or linked.account.id != order.account_id:
        return None
    return await context.deps.accounts.currency(linked)


async def open_order(update: Update, context: BotContext, pk: int, *, edit: bool) -> None:
    t = context.i18n
    order = await owned_order(update, context, pk)
    if order is None:
        return
    order, problem, live = await refresh_order(context, order)
    text = order_card(t, order, live, await account_currency(context, order))
    text += "\n" + t._("Checked at {time}", time=t.datetime(datetime.now(UTC)))
    if problem:
        text += "\n\n" + problem
    abilities = await context.deps.facts.abilities()
    await show(update, context, text, keyboard(card_buttons(t, order, abilities)), edit=edit)


async def orders_command(update: Update, context: BotContext) -> None:
    """/orders: the user's orders placed through the bot, newest first."""
    await orders_page(update, context, "a", 0, edit=False)


def order_buttons(orders: Sequence[Order]) -> list[list[InlineKeyboardButton]]:
    """A "#123" button per order, four to a row, each opening that order's card."""
    buttons = []
    for order in orders:
        assert order.id is not None  # a stored row
        buttons.append(button(f"#{order.panel_order_id}", OpenOrder(order.id)))
    return [buttons[i : i + 4] for i in range(0, len(buttons), 4)]


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


def lacking(t: I18n, action: str, *, news: bool) -> str:
    """That the panel has no such action: in full the first time (its buttons are gone
    from now on), briefly for a press on an older message."""
    if action == "refill":
        if news:
            return t._("ℹ️ This panel does not offer refills through its API, so I cannot request one. "
                       "I have removed the Refill button from its orders; ask the panel's support for a refill.")
        return t._("This panel does not offer refills through its API; ask the panel's support for a refill.")
    if news:
        return t._("ℹ️ This panel does not offer cancelling through its API, so I cannot cancel this order. "
                   "I have removed the Cancel button from its orders; ask the panel's support to cancel it.")
    return t._("This panel does not offer cancelling through its API; ask the panel's support to cancel it.")


async def _one_request(
    update: Update,
    context: BotContext,
    pk: int,
    *,
    action: str,
    allowed: Callable[[Order, Abilities], bool],
    not_now: str,
    call: Callable[[PanelClient, int], Awaitable[Any]],
    unknown: str,
    refused: Callable[[PanelRefusal], str],
) -> tuple[Order, Any] | None:
    """What refill and cancel share: the user's own order, allowed now, claimed so that
    one press sends one request; the panel's answer, or None once the user is told why.
    A panel that answers that it has no such `action` is remembered (its buttons go)."""
    store = context.deps.store
    facts = context.deps.facts
    t = context.i18n
    order = await owned_order(update, context, pk)
    if order is None or order.id is None:
        return None
    abilities = await facts.abilities()
    if not getattr(abilities, action):
        await show(update, context, lacking(t, action, news=False), edit=False)
        return None
    if not allowed(order, abilities):
        await show(update, context, not_now, edit=False)
        return None
    if not await store.claim_order_action(order.id, context.user.telegram_id):
        await show(update, context, t._("A request for this order is already on its way."), edit=False)
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
        if refusal_.kind is RefusalKind.UNSUPPORTED_ACTION:
            news = await facts.learn(ACTION_FACTS[action], refusal_.text[:500])
            await _redraw_buttons(update, context, order)
            await show(update, context, lacking(t, action, news=news), edit=False)
            return None
        await show(update, context, refused(refusal_), edit=False)
        return None
    except PanelUnavailable:
        await store.release_order_action(order.id)
        await show(update, context, panel_down(t), edit=False)
        return None
    # It answered: whatever was learnt about it lacking this action no longer holds.
    await facts.forget(ACTION_FACTS[action])
    return order, result


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
    done = await _one_request(
        update, context, pk,
        action="refill",
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
    await drop_keyboard(update)
    done = await _one_request(
        update, context, pk,
        action="cancel",
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
