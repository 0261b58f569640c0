"""An order as the user sees it: its card, its status lines and progress, its list line
and its buttons (Refresh, Refill and Cancel where allowed, Order again)."""

from __future__ import annotations

from collections.abc import Sequence
from decimal import Decimal
from typing import Any, Protocol

from telegram import InlineKeyboardButton

from bot.domain.capabilities import Abilities
from bot.domain.order_actions import ASSUMED, Actionable, can_cancel, can_refill
from bot.i18n import I18n
from bot.panel.fields import service_type
from bot.panel.status import FINAL_ORDER_STATUSES, OrderStatus
from bot.panel.values import to_int, type_key
from bot.store import Order
from bot.views.callback_data import AskCancelOrder, OpenOrder, OrderAgain, RefillOrder, RefreshOrder
from bot.views.markup import button, clip, esc
from bot.views.texts import field_line, status_name

BAR_WIDTH = 10
# Child order ids of a drip-feed parent shown at most.
RUN_IDS_SHOWN = 10
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
    if order.refunded:
        lines.append(t._("💳 {amount} went back to your wallet.", amount=t.money(order.refunded, order.currency or currency)))
    lines.append(t._("Placed: {time}", time=t.datetime(order.created_at)))
    return "\n".join(lines)


class CardOrder(Actionable, Protocol):
    """What the card's buttons need: a stored `Order`, or the same fields carried by a
    notification."""

    @property
    def id(self) -> int | None: ...
    @property
    def draft_id(self) -> int | None: ...


def card_buttons(t: I18n, order: CardOrder, abilities: Abilities = ASSUMED) -> list[list[InlineKeyboardButton]]:
    """Refresh; Refill and Cancel only where allowed (and the panel has them); Order again."""
    assert order.id is not None  # a stored order
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


def order_buttons(orders: Sequence[Order]) -> list[list[InlineKeyboardButton]]:
    """A "#123" button per order, four to a row, each opening that order's card."""
    buttons = []
    for order in orders:
        assert order.id is not None  # a stored row
        buttons.append(button(f"#{order.panel_order_id}", OpenOrder(order.id)))
    return [buttons[i : i + 4] for i in range(0, len(buttons), 4)]


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
