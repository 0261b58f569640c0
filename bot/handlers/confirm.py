"""The confirm screen's buttons: placing the order exactly once and saying what became
of it, Back, Cancel and "Order again" (the screen itself: bot/handlers/review.py)."""

from __future__ import annotations

import logging
from decimal import Decimal

from telegram import InlineKeyboardButton, Update

from bot.domain.placing import Outcome, PlaceResult, place_draft
from bot.handlers.account import load_catalog, load_panel_catalog, main_menu, require_account
from bot.views.texts import panel_down
from bot.views.callback_data import (
    BackToConfirm,
    CancelDraft,
    ConfirmOrder,
    EditField,
    EditOrder,
    OrderAgain,
    PlatformPage,
    answer,
)
from bot.handlers.context import BotContext
from bot.handlers.form import ask_next, field_index, prompt, resume
from bot.views.orders import card_buttons
from bot.handlers.states import Confirming, current, enter
from bot.views.texts import field_name, label, problem, refusal
from bot.handlers.ui import drop_keyboard, show
from bot.views.markup import button, clip, esc, keyboard
from bot.panel.errors import Refusal, RefusalKind
from bot.panel.fields import FieldSpec, form_fields
from bot.panel.models import Service
from bot.store import Draft, DraftState

log = logging.getLogger(__name__)



async def confirm(update: Update, context: BotContext, draft_id: int) -> None:
    """Confirm: remove the keyboard, claim the draft, send `add` once, say what happened."""
    t = context.i18n
    user_id = context.user.telegram_id
    store = context.deps.store
    await drop_keyboard(update)
    draft = await store.get_draft(draft_id, user_id)
    if draft is None:
        await show(update, context, t._("This button is not for you or is no longer valid."), edit=False)
        return
    if draft.state != DraftState.DRAFT:
        await already(update, context, draft)
        return
    linked = await require_account(update, context)
    if linked is None:
        return
    if not context.deps.orders_limit.allow(user_id):
        await retry_buttons(update, context, draft_id, t._(
            "You placed several orders in a short time. Wait {seconds} seconds, then press Confirm again.",
            seconds=context.deps.orders_limit.wait_seconds(user_id)))
        return
    panel = await load_panel_catalog(update, context, linked)
    if panel is None:
        await retry_buttons(update, context, draft_id, panel_down(t))
        return
    shop = context.deps.shop
    if shop is None:
        result = await place_draft(
            store, linked.client, panel, draft_id, user_id, currency=linked.account.currency, flow_when_placed=None,
            facts=context.deps.facts,
        )
    else:
        state = await current(context)
        shown = Decimal(state.price) if isinstance(state, Confirming) and state.draft == draft_id and state.price \
            else None
        result = await place_draft(
            store, linked.client, await shop.priced(panel), draft_id, user_id, flow_when_placed=None,
            facts=context.deps.facts, sale=await shop.sale(panel), funds=lambda cost: shop.funds(linked, cost),
            shown=shown,
        )
    outcome = result.outcome
    if outcome is Outcome.PLACED and shop is not None and result.order is not None and result.order.cost is not None:
        # The guard reads the shop's panel balance on every Confirm: known less the cost,
        # not asked of the panel again.
        context.deps.accounts.spend(linked, result.order.cost)
    elif outcome in (Outcome.PLACED, Outcome.UNKNOWN, Outcome.REFUSED, Outcome.UNRECORDED, Outcome.NOT_OFFERED):
        context.deps.accounts.forget_balance(linked)
    if outcome in (Outcome.PLACED, Outcome.UNKNOWN, Outcome.UNRECORDED):
        # The panel may have the order: a failure now must not reach the generic "please
        # try again" answer, an invitation to order it a second time.
        try:
            await _tell_sent(update, context, result, shop.currency if shop is not None else linked.account.currency)
        except Exception:
            log.exception("draft %s: could not tell user %s what became of the order (%s)", draft_id, user_id,
                          outcome.value)
        return
    await _tell_not_sent(update, context, result, draft_id, draft)


async def _tell_sent(update: Update, context: BotContext, result: PlaceResult, currency: str | None) -> None:
    t = context.i18n
    outcome = result.outcome
    if outcome is Outcome.PLACED:
        assert result.order is not None
        order = result.order
        text = t._("✅ Order <b>#{order_id}</b> placed.", order_id=order.panel_order_id)
        if order.charge is not None:
            text += "\n" + t._("Charge: {charge}", charge=t.money(order.charge, currency))
        text += "\n" + t._("I will tell you when its status changes.")
        # The card's buttons at once: who ordered the wrong thing sees Cancel right here.
        markup = keyboard(card_buttons(t, order, await context.deps.facts.abilities()))
        await show(update, context, text, markup, edit=False)
        return
    if context.deps.shop is not None and outcome in (Outcome.UNRECORDED, Outcome.UNKNOWN):
        # Customers of a shop have no panel to look at: the shop settles it, and the price
        # stays held until then.
        text = t._("⚠️ I sent this order, but no clear answer came back. Its price stays held, not lost: the shop "
                   "checks the order and either confirms it or gives the money back to your wallet. "
                   "Do not order it again meanwhile.")
    elif outcome is Outcome.UNRECORDED:
        text = t._(
            "⚠️ The panel accepted this order as <b>#{order_id}</b>, but I could not save it on my side. "
            "It is placed: do not order it again. Check it on the panel.", order_id=result.panel_order_id)
    else:
        text = t._(
            "⚠️ The panel did not confirm this order, and it may have been placed anyway. "
            "Check your orders on the panel before ordering again: I will not send it a second time.")
    try:
        await enter(context, None)
    except Exception:
        log.exception("could not clear user %s's flow", context.user.telegram_id)
    await show(update, context, text, main_menu(t), edit=False)


async def _tell_not_sent(update: Update, context: BotContext, result: PlaceResult, draft_id: int, draft: Draft) -> None:
    t = context.i18n
    store = context.deps.store
    user_id = context.user.telegram_id
    outcome = result.outcome
    if outcome is Outcome.ALREADY:
        fresh = await store.get_draft(draft_id, user_id)
        if fresh is not None:
            await already(update, context, fresh)
    elif outcome is Outcome.REFUSED:
        assert result.refusal is not None and result.service is not None
        await _tell_refused(update, context, draft, result.service, result.refusal)
    elif outcome is Outcome.NOT_OFFERED:
        await enter(context, None)
        text = t._("❌ Not placed: this panel does not accept subscriptions through its API. Nothing was ordered; "
                   "choose another service.")
        if result.refusal is not None:
            text += "\n" + t._("The panel said: «{text}»", text=esc(clip(result.refusal.text, 300)))
        await show(update, context, text, main_menu(t), edit=False)
    elif outcome is Outcome.UNAVAILABLE:
        await retry_buttons(update, context, draft_id, panel_down(t))
    elif outcome is Outcome.SHORT:
        await _tell_short(update, context, result, draft_id)
    elif outcome is Outcome.SOLD_OUT:
        await retry_buttons(update, context, draft_id, t._(
            "⏳ This service is temporarily unavailable. Nothing was charged; try again later."))
    elif outcome is Outcome.UNPRICED:
        await resume(update, context, draft_id, note=t._(
            "⚠️ In this shop a subscription needs a number of posts, so that its price is known. Set it, then confirm."))
    elif outcome is Outcome.CHANGED:
        await resume(update, context, draft_id, note=t._("⚠️ The price or limits of this service changed on the panel. Check the order again."))
    elif outcome is Outcome.INVALID:
        assert result.invalid is not None and result.service is not None
        spec = next((f for f in form_fields(result.service, draft.values) if f.name == result.invalid.field), None)
        if spec is None:
            await resume(update, context, draft_id)
        else:
            await prompt(update, context, draft, result.service, spec, error=problem(t, result.invalid), returning=True)
    elif outcome is Outcome.GONE:
        await enter(context, None)
        await show(update, context, t._("This service is no longer offered by the panel. Nothing was ordered."), main_menu(t), edit=False)


async def _tell_short(update: Update, context: BotContext, result: PlaceResult, draft_id: int) -> None:
    """The wallet holds less than the price: how much is missing, and a way to top up."""
    t = context.i18n
    shop = context.deps.shop
    assert shop is not None and result.price is not None
    balance = await context.deps.store.balance(context.user.telegram_id)
    text = t._("💳 Your wallet holds {balance}; this order costs {price}. Top up with /topup, then press Confirm again. "
               "Nothing was charged.", balance=t.money(balance, shop.currency), price=t.money(result.price, shop.currency))
    await retry_buttons(update, context, draft_id, text)


def refused_field(service: Service, values: dict[str, str], refused: Refusal) -> FieldSpec | None:
    """The form field a refusal is about, when the form has it. A quantity refusal of a
    type whose lines are the quantity (custom comments) is about those lines."""
    fields = form_fields(service, values)
    spec = next((f for f in fields if f.name == refused.field), None)
    if spec is None and refused.field == "quantity":
        spec = next((f for f in fields if f.lines_are_quantity), None)
    return spec


async def _tell_refused(update: Update, context: BotContext, draft: Draft, service: Service, refused: Refusal) -> None:
    """The panel said no: what it said, and what the user can do about it with this form."""
    t = context.i18n
    assert draft.id is not None
    if context.deps.shop is not None and refused.kind is RefusalKind.NOT_ENOUGH_FUNDS:
        # The operator's panel balance, not the customer's: admins hear of it.
        await context.deps.shop.panel_refused_funds()
        await retry_buttons(update, context, draft.id, t._(
            "⏳ This service is temporarily unavailable. Nothing was charged; try again later."))
        return
    said = t._("The panel said: «{text}»", text=esc(clip(refused.text, 300)))
    spec = refused_field(service, dict(draft.values), refused) if refused.field else None
    if refused.field and spec is None:
        # "Edit the link" for a subscription (no link) or "the quantity" for a package (no
        # quantity) would send the user round in circles.
        await enter(context, None)
        text = t._("❌ Not placed. The panel said: «{text}»", text=esc(clip(refused.text, 300))) + "\n" + t._(
            "This service's form has no {field}, so editing the order will not help. "
            "Choose another service, or contact the panel's support.", field=field_name(t, refused.field))
        markup = keyboard([[button(t._("🛒 Another service"), PlatformPage(0)), button(t._("✖ Cancel"), CancelDraft(draft.id))]])
        await show(update, context, text, markup, edit=False)
        return
    text = t._("❌ Not placed: {reason}", reason=refusal(t, refused)) + "\n" + said
    extra = None
    if spec is not None:
        extra = [button(t._("✏️ Change {field}", field=label(t, spec)), EditField(draft.id, field_index(service, spec.name)))]
    await retry_buttons(update, context, draft.id, text, extra=extra)


async def retry_buttons(update: Update, context: BotContext, draft_id: int, text: str,
                        *, extra: list[InlineKeyboardButton] | None = None) -> None:
    t = context.i18n
    state = await current(context)
    # The price the confirm screen showed still stands (shop mode).
    shown = state.price if isinstance(state, Confirming) and state.draft == draft_id else None
    await enter(context, Confirming(draft_id, price=shown))
    markup = keyboard([
        extra or [],
        [button(t._("Confirm"), ConfirmOrder(draft_id))],
        [button(t._("✏️ Edit"), EditOrder(draft_id)), button(t._("✖ Cancel"), CancelDraft(draft_id))],
    ])
    await show(update, context, text, markup, edit=False)


async def already(update: Update, context: BotContext, draft: Draft) -> None:
    t = context.i18n
    if draft.state == DraftState.PLACED and draft.order_id:
        text = t._("This order was already placed as #{order_id}.", order_id=draft.order_id)
    elif draft.state == DraftState.SUBMITTING:
        text = t._("This order is already being placed. Wait a moment.")
    elif draft.state == DraftState.UNKNOWN:
        text = t._("This order was sent to the panel without a clear answer. Check your orders on the panel before ordering again.")
    else:
        text = t._("This order was cancelled. Start a new one with /order.")
    await show(update, context, text, edit=False)


async def cancel_draft(update: Update, context: BotContext, draft_id: int) -> None:
    t = context.i18n
    store = context.deps.store
    draft = await store.get_draft(draft_id, context.user.telegram_id)
    if draft is None:
        await show(update, context, t._("This button is not for you or is no longer valid."), edit=False)
        return
    if draft.state != DraftState.DRAFT:
        await already(update, context, draft)
        return
    await store.abandon_draft(draft_id, context.user.telegram_id)
    await enter(context, None)
    await show(update, context, t._("Cancelled. Nothing was ordered."), main_menu(t))


async def order_again(update: Update, context: BotContext, draft_id: int) -> None:
    """A new draft with the same service and fields, straight to the confirm screen."""
    store = context.deps.store
    old = await store.get_draft(draft_id, context.user.telegram_id)
    if old is None:
        await show(update, context, context.i18n._("This button is not for you or is no longer valid."), edit=False)
        return
    linked = await require_account(update, context)
    if linked is None:
        return
    catalog = await load_catalog(update, context, linked)
    if catalog is None:
        return
    service = catalog.get(int(old.service_id))
    if service is None:
        await show(update, context, context.i18n._("This service is no longer offered by the panel. Nothing was ordered."), edit=False)
        return
    assert linked.account.id is not None
    draft = await store.create_draft(context.user.telegram_id, linked.account.id, service.to_dict(), dict(old.values))
    await ask_next(update, context, draft, service)


async def on_confirm_order(update: Update, context: BotContext) -> None:
    """Confirm on the confirm screen: place the order."""
    pressed = await answer(update, ConfirmOrder)
    await confirm(update, context, pressed.draft)


async def on_back_to_confirm(update: Update, context: BotContext) -> None:
    """◀ Back in the edit menu: the confirm screen again."""
    pressed = await answer(update, BackToConfirm)
    await resume(update, context, pressed.draft, edit=True)


async def on_cancel_draft(update: Update, context: BotContext) -> None:
    """✖ Cancel on a prompt or the confirm screen."""
    pressed = await answer(update, CancelDraft)
    await cancel_draft(update, context, pressed.draft)


async def on_order_again(update: Update, context: BotContext) -> None:
    """🔁 Order again, on an order card or the catalog's first page."""
    pressed = await answer(update, OrderAgain)
    await order_again(update, context, pressed.draft)
