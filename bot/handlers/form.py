"""The order form: one prompt per field of the service's type, from the field table.

A value is checked when it arrives; a bad one gets a specific reply and the same prompt,
and everything entered so far stays in the stored draft.
"""

from __future__ import annotations

from datetime import date, datetime

from telegram import InlineKeyboardButton, Update

from bot.domain.placing import is_subscription, service_of
from bot.handlers.account import load_catalog, require_account
from bot.views.callback_data import (
    BackToConfirm,
    CancelDraft,
    ChooseValue,
    EditField,
    EditOrder,
    SkipField,
    StartOrder,
    decode_any,
)
from bot.handlers.context import BotContext
from bot.handlers.review import order_price, show_confirm, shown_price
from bot.handlers.states import Confirming, FillingField, State, answered_before, current, encode, enter
from bot.views.texts import choice_label, day, days_from_now, field_hint, label, problem
from bot.handlers.ui import show
from bot.views.markup import button, esc, keyboard
from bot.i18n import I18n
from bot.panel.fields import (
    FieldInvalid,
    FieldKind,
    FieldSpec,
    check_together,
    clean_value,
    date_picks,
    form_fields,
    service_type,
)
from bot.panel.models import Service
from bot.store import Draft, DraftState

CHOICES_PER_ROW = 4


def field_index(service: Service, name: str) -> int:
    for i, spec in enumerate(service_type(service.type).fields):
        if spec.name == name:
            return i
    raise KeyError(name)


def field_by_index(service: Service, index: int) -> FieldSpec | None:
    fields = service_type(service.type).fields
    return fields[index] if 0 <= index < len(fields) else None


def next_field(service: Service, values: dict[str, str]) -> FieldSpec | None:
    """The first field of the form not answered yet (a skipped field holds "")."""
    for spec in form_fields(service, values):
        if spec.name not in values:
            return spec
    return None


def state_after(draft_id: int, service: Service, values: dict[str, str], *, after: int | None = None,
                price: str | None = None) -> State:
    """The conversation state once `values` are stored: the next field's prompt, or the
    confirm screen. Written together with the values (one transaction), so that the
    prompt that follows has nothing left to store. `after`: the message that answered;
    `price`: the shop's price the confirm screen will show."""
    spec = next_field(service, values)
    if spec is None:
        return Confirming(draft_id, after=after, price=price)
    return FillingField(draft_id, spec.name, after=after)


async def orderable(context: BotContext, service: Service) -> bool:
    """False for a subscription on a panel that showed it cannot create them: its form
    would collect fields that cannot be used."""
    return not is_subscription(service) or (await context.deps.facts.abilities()).subscriptions


def not_offered(t: I18n) -> str:
    return t._("🚫 This panel does not accept subscriptions through its API, so this service cannot be ordered here.")


async def start_draft(update: Update, context: BotContext, service_id: int) -> None:
    """"Order" on a service card: a new draft, then its first field."""
    query = update.callback_query
    if query is not None:
        await query.answer()
    linked = await require_account(update, context)
    if linked is None:
        return
    catalog = await load_catalog(update, context, linked)
    if catalog is None:
        return
    service = catalog.get(service_id)
    if service is None:
        await show(update, context, context.i18n._("There is no service {id} on this panel. Check the number, or browse with /order.", id=service_id), edit=False)
        return
    if not await orderable(context, service):
        await show(update, context, not_offered(context.i18n), edit=False)
        return
    assert linked.account.id is not None
    # The store writes the new draft's id into the state (draft 0 here) in the same transaction.
    draft = await context.deps.store.create_draft(
        context.user.telegram_id, linked.account.id, service.to_dict(), {}, flow=encode(state_after(0, service, {}))
    )
    await ask_next(update, context, draft, service)


async def ask_next(update: Update, context: BotContext, draft: Draft, service: Service, *, edit: bool = False,
                   note: str | None = None) -> None:
    """Prompt for the next missing field, or show the confirm screen when none is left."""
    assert draft.id is not None  # a stored row
    spec = next_field(service, dict(draft.values))
    if spec is None:
        await show_confirm(update, context, draft, service, edit=edit, note=note)
        return
    await prompt(update, context, draft, service, spec, edit=edit)


async def resume(update: Update, context: BotContext, draft_id: int, *, edit: bool = False,
                 note: str | None = None) -> None:
    """Back to a draft of the user's own: its next missing field, or its confirm screen."""
    draft = await context.deps.store.get_draft(draft_id, context.user.telegram_id)
    if draft is None:
        return
    service = service_of(draft.service)
    # A missing field's prompt comes as a new message; the confirm screen may replace this one.
    complete = next_field(service, dict(draft.values)) is None
    await ask_next(update, context, draft, service, edit=edit and complete, note=note)


def offered(spec: FieldSpec, today: date | None = None) -> tuple[str, ...]:
    """The values a field's buttons stand for: its choices or presets, or for a date the
    quick picks counted from `today`."""
    if spec.kind is FieldKind.DATE:
        return date_picks(today or datetime.now().date())
    return spec.buttons


def prompt_text(t: I18n, service: Service, spec: FieldSpec, current: str | None = None,
                error: str | None = None) -> str:
    """The prompt for one field: the service, the field's label (never its API name),
    what to send, and the value entered so far."""
    lines = []
    if error:
        lines += [f"⚠️ {error}", ""]
    lines.append(t._("<b>{service}</b>", service=esc(service.name)))
    lines.append(f"✏️ <b>{esc(label(t, spec))}</b>" + (" " + t._("(optional)") if not spec.required else ""))
    hint = field_hint(t, spec, service)
    if hint:
        lines.append(esc(hint))
    if current:
        shown = day(t, current) if spec.kind is FieldKind.DATE else current
        lines.append(t._("Now: {value}", value=esc(shown if len(shown) < 200 else shown[:200] + "…")))
    return "\n".join(lines)


def button_label(t: I18n, spec: FieldSpec, value: str, today: date) -> str:
    if spec.kind is FieldKind.DATE:
        return days_from_now(t, value, today)
    return choice_label(t, spec, value)


async def prompt(
    update: Update, context: BotContext, draft: Draft, service: Service, spec: FieldSpec,
    *, edit: bool = False, error: str | None = None, returning: bool = False,
) -> None:
    t = context.i18n
    assert draft.id is not None  # a stored row
    await enter(context, FillingField(draft.id, spec.name, returning))
    index = field_index(service, spec.name)
    text = prompt_text(t, service, spec, draft.values.get(spec.name), error)
    rows: list[list[InlineKeyboardButton]] = []
    today = datetime.now().date()
    values = offered(spec, today)
    if values:
        choice_buttons = [
            button(button_label(t, spec, value, today), ChooseValue(draft.id, index, i)) for i, value in enumerate(values)
        ]
        rows += [choice_buttons[i : i + CHOICES_PER_ROW] for i in range(0, len(choice_buttons), CHOICES_PER_ROW)]
    if not spec.required:
        rows.append([button(t._("Skip"), SkipField(draft.id, index))])
    rows.append([button(t._("✖ Cancel"), CancelDraft(draft.id))])
    await show(update, context, text, keyboard(rows), edit=edit)


async def _owned_draft(update: Update, context: BotContext, draft_id: int) -> tuple[Draft, Service] | None:
    """The user's own editable draft, or a polite reply (forged or stale buttons)."""
    draft = await context.deps.store.get_draft(draft_id, context.user.telegram_id)
    if draft is None:
        await show(update, context, context.i18n._("This button is not for you or is no longer valid."), edit=False)
        return None
    if draft.state != DraftState.DRAFT:
        await show(update, context, context.i18n._("This order can no longer be changed: it was already sent to the panel or cancelled."), edit=False)
        return None
    return draft, service_of(draft.service)


async def accept(
    update: Update, context: BotContext, draft: Draft, service: Service, spec: FieldSpec, raw: str, *, returning: bool
) -> None:
    """Store a value that passed its check and move on; else the same prompt again."""
    message = update.message
    answer = message.message_id if message is not None else None
    t = context.i18n
    assert draft.id is not None  # a stored row
    values = dict(draft.values)
    try:
        value = clean_value(spec, raw, service) if raw != "" else ""
        trial = {k: v for k, v in {**values, spec.name: value}.items() if v != ""}
        if spec.name in ("min", "max") and "min" in trial and "max" in trial:
            check_together(service, {k: trial[k] for k in ("min", "max")})
    except FieldInvalid as invalid:
        await prompt(update, context, draft, service, spec, error=problem(t, invalid), returning=returning)
        return
    values[spec.name] = value
    if spec.name == "runs" and value == "":
        values["interval"] = ""  # no drip-feed: the interval has nothing to space out
    # A changed choice can make other fields apply or not (web traffic's keyword/referrer).
    allowed = {f.name for f in form_fields(service, values)}
    values = {k: v for k, v in values.items() if k in allowed}
    # The shop's price goes into the state now: the confirm screen then has nothing to store.
    price = shown_price(context, await order_price(context, service, values)) \
        if context.deps.shop is not None and next_field(service, values) is None else None
    if not await context.deps.store.update_draft_values(
        draft.id, context.user.telegram_id, values,
        flow=encode(state_after(draft.id, service, values, after=answer, price=price)),
    ):
        await show(update, context, t._("This order can no longer be changed: it was already sent to the panel or cancelled."), edit=False)
        return
    draft.values = values
    await ask_next(update, context, draft, service)


async def answer_field(update: Update, context: BotContext, state: FillingField) -> None:
    """Text while a field is asked: that field's value."""
    message = update.effective_message
    assert message is not None
    if answered_before(state, message.message_id):
        return  # already answered the field before this one
    owned = await _owned_draft(update, context, state.draft)
    if owned is None:
        await enter(context, None)
        return
    draft, service = owned
    spec = next((f for f in form_fields(service, draft.values) if f.name == state.field), None)
    if spec is None:
        await ask_next(update, context, draft, service)
        return
    if spec.kind is FieldKind.CHOICE and message.text and message.text.strip() not in spec.choices:
        await prompt(update, context, draft, service, spec, error=context.i18n._("Choose one of the buttons."),
                     returning=state.returning)
        return
    await accept(update, context, draft, service, spec, message.text or "", returning=state.returning)


async def on_start_order(update: Update, context: BotContext) -> None:
    """Order, on a service card: a new draft, then its first field."""
    await start_draft(update, context, StartOrder.of(update).service)


async def on_form_callback(update: Update, context: BotContext) -> None:
    """Skip, a value offered under a prompt, ✏️ Edit, or a field in the edit menu, on the
    user's own draft."""
    query = update.callback_query
    assert query is not None
    await query.answer()
    pressed = decode_any(query.data)
    assert isinstance(pressed, SkipField | ChooseValue | EditOrder | EditField)
    owned = await _owned_draft(update, context, pressed.draft)
    if owned is None:
        return
    draft, service = owned
    state = await current(context)
    returning = isinstance(state, FillingField) and state.returning and state.draft == draft.id
    if isinstance(pressed, EditOrder):
        await edit_menu(update, context, draft, service)
        return
    spec = field_by_index(service, pressed.field)
    if spec is None or spec.name not in {f.name for f in form_fields(service, draft.values)}:
        await ask_next(update, context, draft, service)
        return
    match pressed:
        case EditField():
            await prompt(update, context, draft, service, spec, returning=True)
        case SkipField() if not spec.required:
            await accept(update, context, draft, service, spec, "", returning=returning)
        case ChooseValue(choice=choice) if choice < len(offered(spec)):
            await accept(update, context, draft, service, spec, offered(spec)[choice], returning=returning)
        case _:
            await ask_next(update, context, draft, service)


async def edit_menu(update: Update, context: BotContext, draft: Draft, service: Service) -> None:
    t = context.i18n
    assert draft.id is not None  # a stored row
    rows = [
        [button(label(t, spec), EditField(draft.id, field_index(service, spec.name)))]
        for spec in form_fields(service, draft.values)
    ]
    rows.append([button(t._("◀ Back"), BackToConfirm(draft.id))])
    await show(update, context, t._("Which field do you want to change?"), keyboard(rows))

