"""/admin for the numeric ids in `ADMIN_IDS`: an overview, UNKNOWN drafts reconciled by
hand (placed with the panel's order id, or failed), and a broadcast through the outbox.

Everyone else gets the unknown-command reply for /admin, and a refusal for any admin
button, so that the command's existence is not revealed. Every callback re-checks the id.
"""

from __future__ import annotations

import logging
from typing import Any

from telegram import InlineKeyboardButton, Update

from bot.domain.placing import service_of
from bot.handlers import common
from bot.handlers.context import BotContext
from bot.handlers.states import ADMIN_STATES, AwaitingOrderId, ReviewingBroadcast, WritingBroadcast, current, enter
from bot.handlers.ui import drop_keyboard, parse_number, show
from bot.i18n import I18n
from bot.panel.fields import total_quantity
from bot.store import Draft, DraftState, DraftStateError
from bot.store import admin as admin_store
from bot.views.callback_data import (
    AdminOverview,
    AskBroadcast,
    LeaveAdminStep,
    MarkFailed,
    MarkPlaced,
    SendBroadcast,
    ShopFigures,
    ShopPrices,
    UnknownDrafts,
    decode_any,
)
from bot.views.markup import PAGE_SIZE, button, clip, esc, keyboard, nav_row, page_slice
from bot.views.texts import status_name

log = logging.getLogger(__name__)

MAX_ORDER_ID = 2**63 - 1
PREVIEW_CHARS = 3000


def is_admin(context: BotContext) -> bool:
    """Only the numeric Telegram ids listed in ADMIN_IDS."""
    return context.user.telegram_id in context.deps.settings.admin_ids


def _recipient_filter(context: BotContext) -> frozenset[int] | None:
    """With ALLOWED_USERS set, nobody else may use the bot, so nobody else gets broadcasts."""
    allowed = context.deps.settings.allowed_users
    return frozenset(allowed) if allowed else None


def overview_button(t: I18n) -> InlineKeyboardButton:
    return button(t._("◀ Overview"), AdminOverview())


# --- overview ----------------------------------------------------------------------------


async def admin_command(update: Update, context: BotContext) -> None:
    """/admin: the overview for admins; for anyone else, exactly the unknown-command reply."""
    if not is_admin(context):
        await common.unknown_command(update, context)
        return
    await show_overview(update, context, edit=False)


async def show_overview(update: Update, context: BotContext, *, edit: bool) -> None:
    """Users, orders per status (open and final), UNKNOWN drafts; the admin's buttons."""
    t = context.i18n
    data = await admin_store.overview(context.deps.store)
    lines = [
        t._("<b>Admin overview</b>"),
        t._("Users: {count} ({blocked} blocked the bot)", count=t.number(data.users), blocked=t.number(data.blocked)),
        "",
        t._("Orders: {open} open, {final} final", open=t.number(data.open_orders), final=t.number(data.final_orders)),
    ]
    for status, _final, count in data.orders:
        lines.append(f"• {esc(status_name(t, status))}: {t.number(count)}")
    lines += ["", t._("Unknown drafts to reconcile: {count}", count=t.number(data.unknown_drafts))]
    shop_row = [button(t._("💲 Prices"), ShopPrices()), button(t._("📊 Figures"), ShopFigures())]
    markup = keyboard([
        [button(t._("Unknown drafts"), UnknownDrafts(0)), button(t._("📣 Broadcast"), AskBroadcast())],
        shop_row if context.deps.settings.shop else [],
        [button(t._("🔄 Refresh"), AdminOverview())],
    ])
    await show(update, context, "\n".join(lines), markup, edit=edit)


# --- unknown drafts ----------------------------------------------------------------------


def describe_draft(t: I18n, draft: Draft) -> list[str]:
    """Who, which service, when, the link and the error of one UNKNOWN draft."""
    service = draft.service or {}
    values = draft.values or {}
    lines = [
        t._("<b>Draft #{draft_id}</b> · user {user_id} · {time}", draft_id=draft.id, user_id=draft.user_id,
            time=t.datetime(draft.created_at)),
        t._("Service: {id} · {name}", id=service.get("service", draft.service_id),
            name=esc(clip(str(service.get("name") or ""), 120))),
    ]
    link = values.get("link") or values.get("username")
    if link:
        lines.append(t._("Link: {link}", link=esc(clip(str(link), 200))))
    if draft.error:
        lines.append(t._("Error: {error}", error=esc(clip(draft.error, 200))))
    if draft.order_id:
        lines.append(t._("The panel answered with order #{order_id}, but it was not recorded.", order_id=draft.order_id))
    return lines


async def show_unknown(update: Update, context: BotContext, page: int, *, edit: bool, note: str | None = None) -> None:
    """The UNKNOWN drafts, 8 a page, each with "Mark placed" and "Mark failed"."""
    t = context.i18n
    store = context.deps.store
    count = await admin_store.count_unknown_drafts(store)
    start, _end, page = page_slice(count, page, PAGE_SIZE)
    drafts = await admin_store.unknown_drafts(store, offset=start, limit=PAGE_SIZE)
    lines = [note, ""] if note else []
    lines.append(t._("<b>Drafts to reconcile</b>"))
    rows: list[list[InlineKeyboardButton]] = []
    if not drafts:
        lines.append(t._("No unknown drafts: nothing to reconcile."))
    else:
        lines.append(t._(
            "The panel may or may not have placed these orders. Look each one up on the panel, "
            "then mark it placed (with the panel's order id) or failed."
        ))
        for draft in drafts:
            assert draft.id is not None  # a stored row
            lines += ["", *describe_draft(t, draft)]
            rows.append([
                button(t._("Mark #{draft_id} placed", draft_id=draft.id), MarkPlaced(draft.id)),
                button(t._("Mark #{draft_id} failed", draft_id=draft.id), MarkFailed(draft.id, page)),
            ])
    rows.append(nav_row(t, count, page, UnknownDrafts))
    rows.append([overview_button(t)])
    await show(update, context, "\n".join(lines), keyboard(rows), edit=edit)


async def not_unknown(update: Update, context: BotContext, draft: Draft | None, draft_id: int) -> None:
    """A draft someone already reconciled (or that never was UNKNOWN)."""
    t = context.i18n
    if draft is not None and draft.state == DraftState.PLACED and draft.order_id:
        text = t._("Draft #{draft_id} is already recorded as order #{order_id}.", draft_id=draft_id, order_id=draft.order_id)
    else:
        text = t._("Draft #{draft_id} is no longer waiting to be reconciled: nothing was changed.", draft_id=draft_id)
    await show(update, context, text, keyboard([[button(t._("Unknown drafts"), UnknownDrafts(0)), overview_button(t)]]), edit=False)


async def ask_order_id(update: Update, context: BotContext, draft_id: int) -> None:
    """Mark placed: ask for the panel's order id as the admin's next message."""
    t = context.i18n
    store = context.deps.store
    draft = await admin_store.draft_by_id(store, draft_id)
    if draft is None or draft.state != DraftState.UNKNOWN:
        await not_unknown(update, context, draft, draft_id)
        return
    await enter(context, AwaitingOrderId(draft_id))
    lines = describe_draft(t, draft)
    lines += ["", t._("Send the panel's order id for draft #{draft_id} as a number, or /cancel.", draft_id=draft_id)]
    await show(update, context, "\n".join(lines), keyboard([[button(t._("✖ Cancel"), LeaveAdminStep())]]), edit=False)


async def record_order_id(update: Update, context: BotContext, draft_id: int, text: str) -> None:
    """The admin's answer to "Mark placed": the draft becomes PLACED with an order row,
    which then shows in the owner's /orders and is watched like any other order."""
    t = context.i18n
    store = context.deps.store
    admin_id = context.user.telegram_id
    order_id = parse_number(text)
    if order_id is None or not 0 < order_id <= MAX_ORDER_ID:
        await show(update, context, t._("That is not an order id. Send the panel's order id as a number, or /cancel."), edit=False)
        return
    draft = await admin_store.draft_by_id(store, draft_id)
    if draft is None or draft.state != DraftState.UNKNOWN:
        await enter(context, None)
        await not_unknown(update, context, draft, draft_id)
        return
    extra: dict[str, Any] = {}
    values = {str(k): str(v) for k, v in (draft.values or {}).items()}
    if values.get("link") or values.get("username"):
        extra["link"] = values.get("link") or values.get("username")
    try:
        extra["quantity"] = total_quantity(service_of(draft.service or {}), values)
    except (ValueError, KeyError):
        pass
    if context.deps.shop is not None:
        extra["currency"] = context.deps.shop.currency  # the hold, now the charge, is in the shop's currency
    try:
        order = await admin_store.mark_placed(store, draft_id, order_id, **extra)
    except DraftStateError:
        await enter(context, None)
        await not_unknown(update, context, await admin_store.draft_by_id(store, draft_id), draft_id)
        return
    except admin_store.DuplicateOrder:
        await show(update, context, t._(
            "Order #{order_id} is already recorded for this panel account. Check the id and send it again, or /cancel.",
            order_id=order_id), edit=False)
        return
    await enter(context, None)
    log.info("admin %s recorded draft %s as order %s", admin_id, draft_id, order_id)
    text = t._("✅ Draft #{draft_id} recorded as order #{order_id}. It is in the user's /orders now, and I watch its status.",
               draft_id=draft_id, order_id=order.panel_order_id)
    await show(update, context, text, keyboard([[button(t._("Unknown drafts"), UnknownDrafts(0)), overview_button(t)]]), edit=False)


async def fail_draft(update: Update, context: BotContext, draft_id: int, page: int) -> None:
    """Mark failed: UNKNOWN -> FAILED in one conditional update, then the list again."""
    t = context.i18n
    store = context.deps.store
    shop = context.deps.shop
    if not await admin_store.mark_failed(store, draft_id, currency=shop.currency if shop is not None else None):
        await not_unknown(update, context, await admin_store.draft_by_id(store, draft_id), draft_id)
        return
    if await current(context) == AwaitingOrderId(draft_id):
        await enter(context, None)
    log.info("admin %s marked draft %s failed", context.user.telegram_id, draft_id)
    note = t._("Draft #{draft_id} marked failed: no order was recorded.", draft_id=draft_id)
    await show_unknown(update, context, page, edit=True, note=note)


# --- broadcast ---------------------------------------------------------------------------


async def ask_broadcast(update: Update, context: BotContext) -> None:
    """Broadcast: ask for the text as the admin's next message."""
    t = context.i18n
    await enter(context, WritingBroadcast())
    text = t._("Send the message to broadcast to every user. It goes out as plain text (formatting is not kept); "
               "you will see a preview first. /cancel to stop.")
    await show(update, context, text, keyboard([[button(t._("✖ Cancel"), LeaveAdminStep())]]), edit=False)


async def preview_broadcast(update: Update, context: BotContext, text: str) -> None:
    """The text as users will see it, the number of recipients, "Send" and "Cancel"."""
    t = context.i18n
    store = context.deps.store
    message = update.effective_message
    assert message is not None
    text = text.strip()
    if not text:
        await show(update, context, t._("The message is empty. Send the text to broadcast, or /cancel."), edit=False)
        return
    # Named after the admin's message: a re-delivered update makes the same broadcast.
    send = SendBroadcast(context.user.telegram_id, message.message_id)
    await enter(context, ReviewingBroadcast(send.broadcast_id, text))
    count = await admin_store.broadcast_recipients(store, only=_recipient_filter(context))
    lines = [
        t._("<b>Broadcast preview</b>"),
        t.ngettext("It will go to {n} user who has not blocked the bot.",
                   "It will go to {n} users who have not blocked the bot.", count),
        "",
        esc(clip(text, PREVIEW_CHARS)),
    ]
    markup = keyboard([[button(t._("📣 Send"), send), button(t._("✖ Cancel"), LeaveAdminStep())]])
    await show(update, context, "\n".join(lines), markup, edit=False)


async def send_broadcast(update: Update, context: BotContext, broadcast_id: str) -> None:
    """Send: one outbox notification per recipient; the sender paces them within
    Telegram's limits, and a restart neither loses nor repeats one."""
    t = context.i18n
    store = context.deps.store
    await drop_keyboard(update)
    state = await current(context)
    if not isinstance(state, ReviewingBroadcast) or state.broadcast != broadcast_id:
        await show(update, context, t._("This broadcast was already sent or cancelled."), edit=False)
        return
    queued = await admin_store.enqueue_broadcast(store, broadcast_id, state.text, only=_recipient_filter(context))
    await enter(context, None)
    log.info("admin %s queued broadcast %s for %d users", context.user.telegram_id, broadcast_id, queued)
    reply = t.ngettext("Queued for {n} user; it goes out at Telegram's pace.",
                       "Queued for {n} users; they go out at Telegram's pace.", queued)
    await show(update, context, reply, keyboard([[overview_button(t)]]), edit=False)


async def leave_step(update: Update, context: BotContext) -> None:
    """Cancel on an admin prompt or preview: clear the admin step, send nothing."""
    t = context.i18n
    await drop_keyboard(update)
    if isinstance(await current(context), ADMIN_STATES):
        await enter(context, None)
    await show(update, context, t._("Cancelled: nothing was changed or sent."), keyboard([[overview_button(t)]]), edit=False)


# --- buttons -----------------------------------------------------------------------------


async def on_admin_callback(update: Update, context: BotContext) -> None:
    """Every admin button; the id is checked again, whatever the data says."""
    query = update.callback_query
    assert query is not None and query.data is not None
    await query.answer()
    if not is_admin(context):
        log.warning("admin button %r pressed by non-admin %s", query.data, context.user.telegram_id)
        await show(update, context, context.i18n._("This button is not for you or is no longer valid."), edit=False)
        return
    match decode_any(query.data):
        case AdminOverview():
            await show_overview(update, context, edit=True)
        case UnknownDrafts(page):
            await show_unknown(update, context, page, edit=True)
        case MarkPlaced(draft):
            await ask_order_id(update, context, draft)
        case MarkFailed(draft, page):
            await fail_draft(update, context, draft, page)
        case AskBroadcast():
            await ask_broadcast(update, context)
        case SendBroadcast() as send:
            await send_broadcast(update, context, send.broadcast_id)
        case LeaveAdminStep():
            await leave_step(update, context)

