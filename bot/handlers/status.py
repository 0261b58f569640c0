"""/status: live statuses of the user's orders, with per-id errors shown per id."""

from __future__ import annotations

import re

from telegram import Update

from bot.handlers.account import require_account
from bot.handlers.context import BotContext
from bot.handlers.orders import open_order
from bot.handlers.ui import from_panel, parse_number, show
from bot.i18n import I18n
from bot.panel.status import PARTIAL, OrderStatus
from bot.panel.values import to_int
from bot.store import Order
from bot.views.markup import esc, keyboard
from bot.views.orders import is_subscription, order_buttons
from bot.views.texts import refusal, status_name

MAX_IDS = 100
RECENT_FINISHED = 5
MAX_BUTTONS = 40
DEADLINE = 10.0


def _words(args: list[str]) -> list[str]:
    return [p for p in re.split(r"[\s,;]+", " ".join(args)) if p]


def parse_ids(args: list[str]) -> list[int]:
    return list(dict.fromkeys(n for n in map(parse_number, _words(args)) if n is not None))


def status_line(t: I18n, item: OrderStatus, order: Order | None) -> str:
    """One order's live status in its own words: how far a started order is, that a
    fresh one has not started, a drip-feed parent's runs, a subscription's posts."""
    line = t._("#{order_id}: {status}", order_id=item.order_id, status=esc(status_name(t, item.status)))
    runs = to_int((order.fields or {}).get("runs")) if order is not None else None
    if is_subscription(order.service_type if order else None, item.posts, item.expiry):
        if item.posts is not None:
            line += " · " + t._("{count} posts so far", count=t.number(item.posts))
        return line
    if item.is_dripfeed_parent or (runs is not None and runs > 1):
        runs = runs or item.runs
        line += " · " + (t._("drip-feed, {runs} runs", runs=t.number(runs)) if runs else t._("drip-feed"))
        if item.orders:
            line += " · " + t._("{count} placed so far", count=t.number(len(item.orders)))
    if not item.started:
        if not item.is_final:
            line += " · " + t._("not started yet")
    elif item.remains is not None and (not item.is_final or item.status == PARTIAL):
        line += " · " + t._("remains {count}", count=t.number(item.remains))
    return line


async def status_command(update: Update, context: BotContext) -> None:
    """`/status` (recent orders), `/status 58210` (that order's card) or `/status 1 2 3` /
    `1,2,3` (up to 100 ids)."""
    t = context.i18n
    ids = parse_ids(context.args or [])
    ignored = [p for p in _words(context.args or []) if parse_number(p) is None]
    if ignored and ids:
        await show(update, context, t._("Not order numbers, skipped: {items}", items=esc(", ".join(ignored)[:200])), edit=False)
    if context.args and not ids:
        await show(update, context, t._("Send order numbers after /status, for example /status 23501 23502."), edit=False)
        return
    if len(ids) > MAX_IDS:
        await show(update, context, t._("At most {count} orders at once, please.", count=MAX_IDS), edit=False)
        return
    if len(ids) == 1 and await one_card(update, context, ids[0]):
        return
    await statuses(update, context, ids)


async def one_card(update: Update, context: BotContext, order_id: int) -> bool:
    """`/status 58210`: one of the user's orders placed through the bot answers with its
    card and buttons at once (False for any other id: the list says what it is)."""
    order = await context.deps.store.get_order(context.user.telegram_id, order_id)
    if order is None or order.id is None:
        return False
    if await require_account(update, context) is None:
        return True
    await open_order(update, context, order.id, edit=False)
    return True


async def recent_orders(update: Update, context: BotContext) -> None:
    if update.callback_query is not None:
        await update.callback_query.answer()
    await statuses(update, context, [])


async def statuses(update: Update, context: BotContext, ids: list[int]) -> None:
    """Live statuses in batch calls; without ids, the user's open orders and the last
    finished ones."""
    t = context.i18n
    linked = await require_account(update, context)
    if linked is None:
        return
    store = context.deps.store
    user_id = context.user.telegram_id
    if not ids:
        known = await store.orders_for(user_id, open_only=True, limit=MAX_IDS)
        known += await store.orders_for(user_id, open_only=False, limit=RECENT_FINISHED)
        if not known:
            await show(update, context, t._("You have no orders placed through me yet. Start one with /order."), edit=False)
            return
        ids = [o.panel_order_id for o in known]
    else:
        known = [o for o in [await store.get_order(user_id, i) for i in ids] if o is not None]
    by_id = {o.panel_order_id: o for o in known}
    # The team's shared key sees every member's orders: a member sees their own
    # (admins see all). With an own key, every order on it is the user's.
    shown = ids
    if context.deps.accounts.team_mode and user_id not in context.deps.settings.admin_ids:
        shown = [i for i in ids if i in by_id]
    result = await from_panel(update, context, linked.client.statuses(shown), DEADLINE) if shown else {}
    if result is None:
        return
    lines = [t._("<b>Your orders</b>")]
    for order_id in ids:
        if order_id not in result:
            lines.append(t._("#{order_id}: not one of your orders placed through me", order_id=order_id))
            continue
        item = result[order_id]
        if item.error is not None:
            lines.append(t._("#{order_id}: {problem}", order_id=order_id, problem=esc(refusal(t, item.error))))
            continue
        lines.append(status_line(t, item, by_id.get(order_id)))
    cards = [o for o in (by_id.get(i) for i in ids) if o is not None][:MAX_BUTTONS]
    await show(update, context, "\n".join(lines), keyboard(order_buttons(cards)), edit=False)
