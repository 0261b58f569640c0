"""The conversation in one place: which callback answers a text in each state, the
commands that leave a state, and the timeout that closes an abandoned order form.

    state (bot/handlers/states.py)  a text is answered by         entered by
    ------------------------------  ----------------------------  --------------------------------
    none, Browsing                  search_or_open                /order, /search, /start
    AwaitingKey                     account.link_key              /start, /connect, a missing key
    FillingField                    form.answer_field             "Order" on a service, Edit, a refusal
    Confirming                      remind_to_confirm             the last field answered, Back
    AwaitingOrderId (admins)        admin.record_order_id         /admin → Unknown drafts → Mark placed
    WritingBroadcast (admins)       admin.preview_broadcast       /admin → Broadcast
    ReviewingBroadcast (admins)     admin.preview_broadcast       a broadcast text sent
    EnteringTopup (shop mode)       wallet.answer_topup_amount    /topup → Other amount
    EnteringPrice (admins, shop)    shop_admin.answer_price       /admin → Prices → Markup, a card's Percent...
    FindingService (admins, shop)   shop_admin.answer_price       /admin → Prices → Service by id

Fallbacks: /cancel (here) leaves any state and drops a half-filled order; /start shows
the menu; a button from an older screen is checked against the draft it names (never
against the state), so a stale or forged press cannot advance a form.

Why the state lives in the database and not in PTB's `ConversationHandler`: its states
reach a `BasePersistence` only from `Application.update_persistence()`, run every
`update_interval` (60 s by default), after the callback and in a write of its own
(tests/test_conversation.py measures it). The order form stores each answer in the draft;
a crash between the two writes would resume a user on a prompt whose answer is already
stored, or past one that is not. Here the state is written in the same transaction as the
draft value (bot/store), so a restart resumes every user exactly where they were.
"""

from __future__ import annotations

from telegram import Update
from telegram.ext import ApplicationHandlerStop

from bot.handlers import account, admin, browse, form, shop_admin, wallet
from bot.handlers.account import main_menu
from bot.handlers.context import BotContext
from bot.handlers.states import (
    AwaitingKey,
    AwaitingOrderId,
    Browsing,
    Confirming,
    EnteringPrice,
    EnteringTopup,
    FillingField,
    FindingService,
    ReviewingBroadcast,
    WritingBroadcast,
    current,
    draft_of,
    enter,
    expired,
)
from bot.handlers.ui import parse_number, show


async def on_text(update: Update, context: BotContext) -> None:
    """Plain text: the answer to the current state's prompt (the table above)."""
    message = update.effective_message
    if message is None or not message.text:
        return
    state = await current(context)
    match state:
        case AwaitingKey():
            await account.link_key(update, context, message.text)
        case FillingField():
            await form.answer_field(update, context, state)
        case Confirming():
            await remind_to_confirm(update, context)
        case AwaitingOrderId(target=draft_id) if admin.is_admin(context):
            await admin.record_order_id(update, context, draft_id, message.text)
        case WritingBroadcast() | ReviewingBroadcast() if admin.is_admin(context):
            # A new text while a preview is shown replaces it; the old preview's Send is void.
            await admin.preview_broadcast(update, context, message.text)
        case EnteringPrice() | FindingService() if admin.is_admin(context):
            await shop_admin.answer_price(update, context, state, message.text)
        case AwaitingOrderId() | WritingBroadcast() | ReviewingBroadcast() | EnteringPrice() | FindingService():
            # No longer an admin (ADMIN_IDS changed): the prompt is void.
            await enter(context, None)
            await search_or_open(update, context, message.text)
        case Browsing() | None:
            await search_or_open(update, context, message.text)
        case EnteringTopup():
            await wallet.answer_topup_amount(update, context, message.text)


async def search_or_open(update: Update, context: BotContext, text: str) -> None:
    """Text outside any prompt: a number opens that service, words search the catalog."""
    text = text.strip()
    number = parse_number(text)
    if number is not None:
        await browse.open_service(update, context, number)
    else:
        await browse.search(update, context, text)


async def remind_to_confirm(update: Update, context: BotContext) -> None:
    """Text while the confirm screen waits for a button."""
    await show(update, context, context.i18n._("Press Confirm, Edit or Cancel on the order above, or /cancel."), edit=False)


async def cancel(update: Update, context: BotContext) -> None:
    """/cancel: leave whatever state the user is in; a half-filled order is dropped."""
    t = context.i18n
    state = await current(context)
    draft_id = draft_of(state)
    if draft_id is not None:
        await context.deps.store.abandon_draft(draft_id, context.user.telegram_id)
    await enter(context, None)
    text = t._("Cancelled. Nothing was ordered.") if state is not None else t._("There is nothing to cancel.")
    await show(update, context, text, main_menu(t), edit=False)


async def close_abandoned_form(update: Update, context: BotContext) -> None:
    """Runs after the gate: an order form left unanswered longer than FORM_TIMEOUT is
    closed (its draft dropped) and its owner told once. A command goes on as usual; a
    text or a button, meant for the old form, stops here."""
    if update.pre_checkout_query is not None or (update.message and update.message.successful_payment):
        return  # a payment is answered and credited whatever form was left open
    state = await current(context)
    draft_id = draft_of(state)
    if draft_id is None or not expired(state):
        return
    await context.deps.store.abandon_draft(draft_id, context.user.telegram_id)
    await enter(context, None)
    t = context.i18n
    if update.callback_query is not None:
        await update.callback_query.answer()
    await show(update, context, t._(
        "⌛ The order form you left was closed after a day without an answer; nothing was ordered. "
        "Start again with /order."), main_menu(t), edit=False)
    message = update.effective_message
    if update.callback_query is not None or message is None or not (message.text or "").startswith("/"):
        raise ApplicationHandlerStop
