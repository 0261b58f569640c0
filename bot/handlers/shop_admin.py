"""/admin's shop pages (MODE=shop): the price editor (the global markup, the minimum charge,
a category's or a service's own price, hidden ones) with its audit, the price list as a
file, and the figures. For ADMIN_IDS only; every press and every typed value is checked
again. Each change goes through `Store.set_price_rule` (the audit row in the same
transaction), and the shop forgets its cached rules at once."""

from __future__ import annotations

import asyncio
import logging
import re
import zlib
from decimal import Decimal

from babel.numbers import (
    NumberFormatError,
    get_currency_symbol,
    get_group_symbol,
    parse_decimal,
)
from telegram import InlineKeyboardButton, Update

from bot.domain.pricing import PriceRules
from bot.domain.shop import Shop
from bot.handlers import account, admin
from bot.handlers.context import BotContext
from bot.handlers.states import EnteringPrice, FindingService, current, enter
from bot.handlers.ui import parse_number, show
from bot.i18n import I18n
from bot.panel.catalog import Catalog
from bot.panel.errors import PanelRefusal, PanelUnavailable
from bot.panel.models import Service
from bot.store import shop_figures
from bot.store.models import PriceRule, utcnow
from bot.views import shop_admin as views
from bot.views.callback_data import (
    AskMarkup,
    AskMinimum,
    AskRule,
    ClearRule,
    FindService,
    PriceCategories,
    PriceCategory,
    PriceChanges,
    PriceList,
    ShopFigures,
    ShopPrices,
    ShowRule,
    decode_any,
)
from bot.views.markup import PAGE_SIZE, button, clip, esc, keyboard, nav_row, page_slice
from bot.views.texts import panel_problem

log = logging.getLogger(__name__)

RuleValue = views.RuleValue

# How many overrides the prices screen lists (the price list file has every service).
OVERRIDES_SHOWN = 25
CHANGES_SHOWN = 20
BALANCE_DEADLINE = 8.0
# Typed values: a percent above -100 % and below this; a price from 0 to below PRICE_LIMIT;
# at most Money's 8 decimal places.
PERCENT_LIMIT = Decimal(1_000_000)
PRICE_LIMIT = Decimal(10) ** 12
PLACES = 8
# What a typed number may consist of before babel reads it in the admin's locale.
_NUMBER = re.compile(r"[+-]?[0-9][0-9.,'’]*")


def category_tag(name: str) -> int:
    """A checksum of a category's name, carried by its buttons next to its index."""
    return zlib.crc32(name.encode("utf-8"))


def parse_value(t: I18n, text: str, *, currency: str) -> Decimal | None:
    """A number the admin typed, read in their locale ("12,5" in ru, "1,000.5" in en; a
    "%" or the currency's sign around it is fine); None for anything else."""
    text = text.strip().replace("%", "")
    for sign in {currency, get_currency_symbol(currency, locale=t.locale)}:
        text = text.replace(sign, "")
    group = get_group_symbol(t.locale)
    # "1 000" in ru: the locale groups with a (no-break) space; people type a plain one.
    text = re.sub(r"\s+", "", text) if group.isspace() else text.strip()
    if not _NUMBER.fullmatch(text):
        return None
    try:
        value = parse_decimal(text.lstrip("+"), locale=t.locale, strict=True)
    except NumberFormatError:
        return None
    return value if value.is_finite() else None


# --- the way in ----------------------------------------------------------------------------


async def on_prices_callback(update: Update, context: BotContext) -> None:
    """Every button of the shop's admin pages; the id is checked again, whatever the data says."""
    query = update.callback_query
    assert query is not None and query.data is not None
    await query.answer()
    t = context.i18n
    if not admin.is_admin(context):
        log.warning("shop admin button %r pressed by non-admin %s", query.data, context.user.telegram_id)
        await show(update, context, t._("This button is not for you or is no longer valid."), edit=False)
        return
    shop = context.deps.shop
    if shop is None:
        await show(update, context, t._("Prices and figures are for shop mode (MODE=shop) only."), edit=False)
        return
    match decode_any(query.data):
        case ShopPrices():
            await leave_price_step(context)
            await show_prices(update, context, shop, edit=True)
        case AskMarkup():
            await ask_value(update, context, shop, EnteringPrice("markup", "", "percent"))
        case AskMinimum():
            await ask_value(update, context, shop, EnteringPrice("minimum", "", "per_1000"))
        case PriceCategories(page):
            await show_categories(update, context, shop, page)
        case PriceCategory(category, tag):
            await show_category_at(update, context, shop, category, tag)
        case FindService():
            await ask_service(update, context)
        case AskRule(what, scope, target, tag):
            key = await rule_key(update, context, scope, target, tag)
            if key is not None:
                await ask_value(update, context, shop, EnteringPrice(key[0], key[1], "percent" if what == "p" else
                                                                     "per_1000"))
        case ShowRule(shown, scope, target, tag):
            key = await rule_key(update, context, scope, target, tag)
            if key is not None:
                await set_hidden(update, context, shop, key[0], key[1], hidden=shown == "h")
        case ClearRule(scope, target, tag):
            if scope in ("m", "n"):
                await clear_rule(update, context, shop, "markup" if scope == "m" else "minimum", "")
            else:
                key = await rule_key(update, context, scope, target, tag)
                if key is not None:
                    await clear_rule(update, context, shop, key[0], key[1])
        case PriceChanges():
            await show_changes(update, context, shop)
        case PriceList():
            await send_price_list(update, context, shop)
        case ShopFigures():
            await show_figures(update, context, shop)


async def leave_price_step(context: BotContext) -> None:
    """◀ Prices or ✖ Cancel on a price prompt: the prompt is closed."""
    if isinstance(await current(context), EnteringPrice | FindingService):
        await enter(context, None)


async def panel_catalog(update: Update, context: BotContext) -> Catalog | None:
    """The operator's panel catalog (what the shop pays), or a reply saying why there is none."""
    linked = await context.deps.accounts.linked(context.user.telegram_id)
    if linked is None:
        await show(update, context, context.i18n._("The shop's panel account cannot be used now: check PANEL_KEY."),
                   edit=False)
        return None
    return await account.load_panel_catalog(update, context, linked)


async def rule_key(update: Update, context: BotContext, scope: str, target: int, tag: int) -> tuple[str, str] | None:
    """The rule a card's button names: ("service", id), or ("category", name) when the
    category at that index still has the name the button was made for."""
    if scope == "s":
        return "service", str(target)
    catalog = await panel_catalog(update, context)
    if catalog is None:
        return None
    categories = catalog.categories
    if 0 <= target < len(categories) and category_tag(categories[target]) == tag:
        return "category", categories[target]
    t = context.i18n
    await show(update, context, t._("The panel's categories changed since this screen was made: nothing was changed. "
                                    "Open the category again."),
               keyboard([[button(t._("📂 Categories"), PriceCategories(0))]]), edit=False)
    return None


def stored_rule(rows: list[PriceRule], scope: str, key: str) -> RuleValue | None:
    """The stored (percent, per_1000, hidden) of one rule, or None when it has no row."""
    for row in rows:
        if row.scope == scope and row.key == key:
            return row.percent, row.per_1000, row.hidden
    return None


def prices_button(t: I18n) -> InlineKeyboardButton:
    """◀ Prices: back to the prices screen."""
    return button(t._("◀ Prices"), ShopPrices())


# --- the prices screen -------------------------------------------------------------------


async def show_prices(update: Update, context: BotContext, shop: Shop, *, edit: bool, note: str | None = None) -> None:
    """The markup, the minimum charge and the overrides; the editor's buttons."""
    t = context.i18n
    rules = await shop.rules()
    rows = await context.deps.store.price_rules()
    currency = shop.currency
    own_markup = stored_rule(rows, "markup", "") is not None
    own_minimum = stored_rule(rows, "minimum", "") is not None
    lines = [note, ""] if note else []
    lines += [
        t._("<b>Shop prices</b> (in {currency})", currency=esc(currency)),
        t._("Markup: {percent} over the panel's rates", percent=views.percent(t, rules.markup))
        + ("" if own_markup else " " + t._("(the default, SHOP_MARKUP)")),
        t._("Minimum charge per order: {amount}", amount=t.money(rules.minimum, currency))
        + ("" if own_minimum else " " + t._("(the default, SHOP_MINIMUM)")),
        t._("Customers never pay less than the panel charges the shop."),
        "",
    ]
    overrides = [row for row in rows if row.scope in ("category", "service")]
    if overrides:
        lines.append(t._("<b>Overrides</b>: {count}", count=t.number(len(overrides))))
        for row in overrides[:OVERRIDES_SHOWN]:
            value = (row.percent, row.per_1000, row.hidden)
            lines.append("• " + views.rule_name(t, row.scope, row.key) + ": "
                         + views.rule_text(t, row.scope, value, currency))
        if len(overrides) > OVERRIDES_SHOWN:
            lines.append(t._("… and {count} more (the price list has every service).",
                             count=t.number(len(overrides) - OVERRIDES_SHOWN)))
    else:
        lines.append(t._("No category or service has a price of its own: the markup prices everything."))
    markup_row = [button(t._("✏️ Markup"), AskMarkup()), button(t._("✏️ Minimum"), AskMinimum())]
    reset_row = []
    if own_markup:
        reset_row.append(button(t._("↩️ Default markup"), ClearRule("m", 0, 0)))
    if own_minimum:
        reset_row.append(button(t._("↩️ Default minimum"), ClearRule("n", 0, 0)))
    markup = keyboard([
        markup_row,
        reset_row,
        [button(t._("📂 Categories"), PriceCategories(0)), button(t._("🔎 Service by id"), FindService())],
        [button(t._("🕓 Recent changes"), PriceChanges()), button(t._("📄 Price list"), PriceList())],
        [admin.overview_button(t)],
    ])
    await show(update, context, "\n".join(lines), markup, edit=edit)


# --- categories and services ------------------------------------------------------------


async def show_categories(update: Update, context: BotContext, shop: Shop, page: int) -> None:
    """The panel catalog's categories, 8 a page; 🙈 hidden, ✏️ priced on its own."""
    t = context.i18n
    catalog = await panel_catalog(update, context)
    if catalog is None:
        return
    rules = await shop.rules()
    categories = catalog.categories
    start, end, page = page_slice(len(categories), page, PAGE_SIZE)
    rows: list[list[InlineKeyboardButton]] = []
    for index in range(start, end):
        name = categories[index]
        marks = ("🙈 " if name in rules.hidden_categories else "") + ("✏️ " if name in rules.categories else "")
        rows.append([button(marks + name, PriceCategory(index, category_tag(name)))])
    rows.append(nav_row(t, len(categories), page, PriceCategories))
    rows.append([prices_button(t)])
    text = t._("<b>Categories</b>: {count}. Pick one to price or hide it.", count=t.number(len(categories)))
    await show(update, context, text, keyboard(rows), edit=True)


async def show_category_at(update: Update, context: BotContext, shop: Shop, index: int, tag: int) -> None:
    """A category picked from the list: its card, if it is still the one the button showed."""
    catalog = await panel_catalog(update, context)
    if catalog is None:
        return
    if not await rule_key(update, context, "c", index, tag):
        return
    await show_category(update, context, shop, catalog, index, edit=True)


async def show_category(update: Update, context: BotContext, shop: Shop, catalog: Catalog, index: int, *,
                        edit: bool, note: str | None = None) -> None:
    """A category's card: its services' panel rates, its rule, whether customers see it."""
    t = context.i18n
    name = catalog.categories[index]
    tag = category_tag(name)
    rules = await shop.rules()
    value = stored_rule(await context.deps.store.price_rules(), "category", name)
    services = catalog.in_category(name)
    rates = [service.rate for service in services]
    currency = shop.currency
    lines = [note, ""] if note else []
    lines += [
        t._("<b>Category</b> “{name}”", name=esc(clip(name, 200))),
        t.ngettext("{n} service; panel rates {low} to {high} per 1000", "{n} services; panel rates {low} to {high} "
                   "per 1000", len(services), low=t.money(min(rates, default=Decimal(0)), currency),
                   high=t.money(max(rates, default=Decimal(0)), currency)),
    ]
    if value is not None and (value[0] is not None or value[1] is not None):
        lines.append(t._("Price: {rule}", rule=views.rule_text(t, "category", (value[0], value[1], False), currency)))
    else:
        lines.append(t._("Price: the markup, {percent}", percent=views.percent(t, rules.markup)))
    hidden = name in rules.hidden_categories
    lines.append(t._("🙈 Hidden from customers.") if hidden else t._("👁 Customers see it."))
    rows = [
        [button(t._("% Percent"), AskRule("p", "c", index, tag)),
         button(t._("💵 Price per 1000"), AskRule("f", "c", index, tag))],
        [button(t._("👁 Show") if hidden else t._("🙈 Hide"), ShowRule("v" if hidden else "h", "c", index, tag))]
        + ([button(t._("🧹 Clear price"), ClearRule("c", index, tag))]
           if value is not None and (value[0] is not None or value[1] is not None) else []),
        [button(t._("◀ Categories"), PriceCategories(index // PAGE_SIZE)), prices_button(t)],
    ]
    await show(update, context, "\n".join(lines), keyboard(rows), edit=edit)


async def ask_service(update: Update, context: BotContext) -> None:
    """A service by id: the next text is its id."""
    t = context.i18n
    await enter(context, FindingService())
    await show(update, context, t._("Send the service's id (its number in the panel's catalog), or /cancel."),
               keyboard([[button(t._("✖ Cancel"), ShopPrices())]]), edit=False)


async def show_service(update: Update, context: BotContext, shop: Shop, service_id: int, *, edit: bool,
                       note: str | None = None) -> None:
    """A service's card: the panel's rate, what customers pay, the rule that sets it."""
    t = context.i18n
    catalog = await panel_catalog(update, context)
    if catalog is None:
        return
    service = catalog.get(service_id)
    rows_stored = await context.deps.store.price_rules()
    value = stored_rule(rows_stored, "service", str(service_id))
    has_price = value is not None and (value[0] is not None or value[1] is not None)
    currency = shop.currency
    lines = [note, ""] if note else []
    if service is None:
        lines.append(t._("Service #{id} is not in the panel's catalog.", id=service_id))
        rows = [[button(t._("🧹 Clear its rule"), ClearRule("s", service_id, 0))]] if value is not None else []
        rows.append([button(t._("🔎 Another service"), FindService()), prices_button(t)])
        await show(update, context, "\n".join(lines), keyboard(rows), edit=edit)
        return
    rules = await shop.rules()
    lines += [
        t._("<b>Service #{id}</b> {name}", id=service.id, name=esc(clip(service.name, 200))),
        t._("Category: {name}", name=esc(clip(service.category, 200))),
        t._("Panel rate: {amount} per 1000", amount=t.money(service.rate, currency)),
        t._("Customers pay: {amount} per 1000", amount=t.money(rules.rate(service), currency)),
        t._("Price: {rule}", rule=price_source(t, rules, service, value, currency)),
    ]
    hidden_own = service.id in rules.hidden_services
    if hidden_own:
        lines.append(t._("🙈 Hidden from customers."))
    elif service.category in rules.hidden_categories:
        lines.append(t._("🙈 Hidden from customers with its category."))
    else:
        lines.append(t._("👁 Customers see it."))
    rows = [
        [button(t._("% Percent"), AskRule("p", "s", service.id, 0)),
         button(t._("💵 Price per 1000"), AskRule("f", "s", service.id, 0))],
        [button(t._("👁 Show") if hidden_own else t._("🙈 Hide"), ShowRule("v" if hidden_own else "h", "s", service.id, 0))]
        + ([button(t._("🧹 Clear price"), ClearRule("s", service.id, 0))] if has_price else []),
        [button(t._("🔎 Another service"), FindService()), prices_button(t)],
    ]
    await show(update, context, "\n".join(lines), keyboard(rows), edit=edit)


def price_source(t: I18n, rules: PriceRules, service: Service, value: RuleValue | None, currency: str) -> str:
    """Which rule prices the service: its own, its category's, or the markup."""
    if value is not None and (value[0] is not None or value[1] is not None):
        return t._("its own, {rule}", rule=views.rule_text(t, "service", (value[0], value[1], False), currency))
    category = rules.categories.get(service.category)
    if category is not None:
        own = (category.percent, category.per_1000, False)
        return t._("its category's, {rule}", rule=views.rule_text(t, "category", own, currency))
    return t._("the markup, {percent}", percent=views.percent(t, rules.markup))


# --- changing a rule ---------------------------------------------------------------------


def what_to_send(t: I18n, state: EnteringPrice, currency: str) -> str:
    """The prompt for a typed value, with an example in the admin's locale."""
    if state.what == "percent":
        example = t.number(Decimal("12.5"))
        if state.scope == "markup":
            return t._("Send the markup in percent over the panel's rates, for example {example}, or /cancel.",
                       example=example)
        return t._("Send the percent over the panel's rate for {rule}, for example {example}; a negative one "
                   "lowers the price, but never below the panel's cost. Or /cancel.",
                   rule=views.rule_name(t, state.scope, state.key), example=example)
    example = t.number(Decimal("1.5"))
    if state.scope == "minimum":
        return t._("Send the minimum charge per order in {currency}, for example {example} (0 for none), or /cancel.",
                   currency=esc(currency), example=example)
    return t._("Send the price per 1000 in {currency} for {rule}, for example {example}, or /cancel.",
               currency=esc(currency), rule=views.rule_name(t, state.scope, state.key), example=example)


async def ask_value(update: Update, context: BotContext, shop: Shop, state: EnteringPrice) -> None:
    """✏️ Markup, ✏️ Minimum, % Percent, 💵 Price per 1000: the next text is the value."""
    t = context.i18n
    await enter(context, state)
    await show(update, context, what_to_send(t, state, shop.currency),
               keyboard([[button(t._("✖ Cancel"), ShopPrices())]]), edit=False)


def check_value(t: I18n, state: EnteringPrice, value: Decimal) -> str | None:
    """Why a typed value cannot be the rule, or None when it can."""
    exponent = value.as_tuple().exponent
    if isinstance(exponent, int) and exponent < -PLACES:
        return t._("Use at most {places} decimal places.", places=PLACES)
    if state.what == "percent":
        if not -100 < value < PERCENT_LIMIT:
            return t._("A percent must be above {low} and below {high}: at {low} everything would be free.",
                       low=t.number(Decimal(-100)), high=t.number(PERCENT_LIMIT))
        return None
    if not 0 <= value < PRICE_LIMIT:
        return t._("A price must be 0 or more, and below {high}.", high=t.number(PRICE_LIMIT))
    return None


async def answer_price(update: Update, context: BotContext, state: EnteringPrice | FindingService, text: str) -> None:
    """The admin's typed answer to a price prompt: a service id, or a rule's value."""
    t = context.i18n
    shop = context.deps.shop
    if shop is None:
        await enter(context, None)
        await show(update, context, t._("Prices and figures are for shop mode (MODE=shop) only."), edit=False)
        return
    if isinstance(state, FindingService):
        service_id = parse_number(text)
        if service_id is None:
            await show(update, context, t._("That is not a service id. Send the service's number, or /cancel."),
                       edit=False)
            return
        await enter(context, None)
        await show_service(update, context, shop, service_id, edit=False)
        return
    value = parse_value(t, text, currency=shop.currency)
    if value is None:
        await show(update, context, t._("That is not a number. Send it like {example}, or /cancel.",
                                        example=t.number(Decimal("12.5"))), edit=False)
        return
    problem = check_value(t, state, value)
    if problem is not None:
        await show(update, context, problem + "\n" + t._("Send another value, or /cancel."), edit=False)
        return
    before = stored_rule(await context.deps.store.price_rules(), state.scope, state.key)
    hidden = before[2] if before is not None else False
    new: RuleValue = (value, None, hidden) if state.what == "percent" else (None, value, hidden)
    await enter(context, None)
    note = await save(context, shop, state.scope, state.key, new)
    if state.what == "percent" and value < 0:
        note += "\n" + t._("⚠️ A negative percent sells below the panel's rate; a price never goes below the "
                           "panel's cost, so where it would, the service sells at cost.")
    elif state.what == "per_1000" and (dear := await below_cost(update, context, state, value)):
        note += "\n" + t.ngettext("⚠️ The panel charges more than that for {n} service: it sells at the panel's "
                                  "rate, never below the shop's cost.",
                                  "⚠️ The panel charges more than that for {n} services: they sell at the panel's "
                                  "rate, never below the shop's cost.", dear)
    await show_changed(update, context, shop, state.scope, state.key, note)


async def set_hidden(update: Update, context: BotContext, shop: Shop, scope: str, key: str, *, hidden: bool) -> None:
    """Hide or show a category or a service; its price rule stays."""
    before = stored_rule(await context.deps.store.price_rules(), scope, key)
    percent, per_1000 = (before[0], before[1]) if before is not None else (None, None)
    note = await save(context, shop, scope, key, (percent, per_1000, hidden))
    await show_changed(update, context, shop, scope, key, note)


async def clear_rule(update: Update, context: BotContext, shop: Shop, scope: str, key: str) -> None:
    """A category's or a service's own price goes (hidden stays); the markup's or the
    minimum's row goes, and the settings' default stands again."""
    before = stored_rule(await context.deps.store.price_rules(), scope, key)
    value: RuleValue | None = None
    if scope in ("category", "service") and before is not None and before[2]:
        value = (None, None, True)
    note = await save(context, shop, scope, key, value)
    await show_changed(update, context, shop, scope, key, note)


async def save(context: BotContext, shop: Shop, scope: str, key: str, value: RuleValue | None) -> str:
    """Write the rule with its audit row; the shop reads the rules again. The note to show."""
    t = context.i18n
    store = context.deps.store
    admin_id = context.user.telegram_id
    before = stored_rule(await store.price_rules(), scope, key)
    changed = await store.set_price_rule(admin_id, scope, key, value)
    shop.forget_rules()
    if not changed:
        return t._("Nothing changed: {rule} is already {value}.", rule=views.rule_name(t, scope, key),
                   value=views.rule_text(t, scope, in_effect(shop, scope, value), shop.currency))
    log.info("admin %s set the price rule %s %r: %s -> %s", admin_id, scope, key, before, value)
    return t._("✅ {rule}: {before} → {after}", rule=views.rule_name(t, scope, key),
               before=views.rule_text(t, scope, in_effect(shop, scope, before), shop.currency),
               after=views.rule_text(t, scope, in_effect(shop, scope, value), shop.currency))


def in_effect(shop: Shop, scope: str, value: RuleValue | None) -> RuleValue | None:
    """A stored rule, or for the markup and the minimum without one, the settings' default."""
    if value is None and scope == "markup":
        return shop.markup, None, False
    if value is None and scope == "minimum":
        return None, shop.minimum, False
    return value


async def below_cost(update: Update, context: BotContext, state: EnteringPrice, price: Decimal) -> int:
    """How many services of the category (or the service itself) the panel charges more
    for than `price` per 1000: they will sell at the panel's rate."""
    if state.scope not in ("category", "service"):
        return 0
    catalog = await panel_catalog(update, context)
    if catalog is None:
        return 0
    if state.scope == "service":
        service = catalog.get(int(state.key))
        services = [service] if service is not None else []
    else:
        services = catalog.in_category(state.key)
    return sum(1 for service in services if service.rate > price)


async def show_changed(update: Update, context: BotContext, shop: Shop, scope: str, key: str, note: str) -> None:
    """After a change: the card of what changed, with the change on top."""
    if scope == "service":
        await show_service(update, context, shop, int(key), edit=False, note=note)
        return
    if scope == "category":
        catalog = await panel_catalog(update, context)
        if catalog is not None and key in catalog.categories:
            await show_category(update, context, shop, catalog, catalog.categories.index(key), edit=False, note=note)
            return
    await show_prices(update, context, shop, edit=False, note=note)


# --- the audit, the price list, the figures ----------------------------------------------


async def show_changes(update: Update, context: BotContext, shop: Shop) -> None:
    """The last changes of price rules: who, when, what, before → after."""
    t = context.i18n
    changes = await context.deps.store.price_changes(limit=CHANGES_SHOWN)
    lines = [t._("<b>Recent price changes</b>")]
    if not changes:
        lines.append(t._("No price has been changed yet."))
    for change in changes:
        lines.append("• " + views.change_line(t, admin_id=change.admin_id, when_text=t.datetime(change.created_at),
                                              scope=change.scope, key=change.key, before=change.before,
                                              after=change.after, currency=shop.currency))
    await show(update, context, "\n".join(lines), keyboard([[prices_button(t)]]), edit=True)


async def send_price_list(update: Update, context: BotContext, shop: Shop) -> None:
    """The price list as a CSV file: every service customers see, the panel's rate, the
    shop's and the margin."""
    t = context.i18n
    catalog = await panel_catalog(update, context)
    if catalog is None:
        return
    rules = await shop.rules()
    data, shown, hidden = views.price_list_csv(t, catalog, rules, shop.currency)
    chat = update.effective_chat
    assert chat is not None
    caption = t.ngettext(
        "Price list: {n} service customers see ({hidden} hidden), per 1000 in {currency}. Markup {markup}; "
        "minimum charge per order {minimum}.",
        "Price list: {n} services customers see ({hidden} hidden), per 1000 in {currency}. Markup {markup}; "
        "minimum charge per order {minimum}.", shown, hidden=t.number(hidden), currency=esc(shop.currency),
        markup=views.percent(t, rules.markup), minimum=t.money(rules.minimum, shop.currency))
    filename = f"prices-{utcnow():%Y-%m-%d}.csv"
    await context.bot.send_document(chat.id, data, filename=filename, caption=caption)


async def show_figures(update: Update, context: BotContext, shop: Shop) -> None:
    """Top-ups, sales, panel spend and margin today and this month; the wallets against
    the panel balance; the month's top services."""
    t = context.i18n
    figures = await shop_figures.figures(context.deps.store)
    balance: tuple[Decimal, str | None] | None = None
    problem: str | None = None
    linked = await context.deps.accounts.linked(context.user.telegram_id)
    if linked is None:
        problem = t._("the shop's panel account cannot be used now")
    else:
        try:
            found = await asyncio.wait_for(context.deps.accounts.recent_balance(linked), BALANCE_DEADLINE)
            balance = (found.amount, found.currency)
        except (PanelUnavailable, PanelRefusal, TimeoutError) as error:
            problem = panel_problem(t, error)
    text = views.figures_text(t, figures, shop.currency, balance, problem)
    markup = keyboard([[button(t._("🔄 Refresh"), ShopFigures()), admin.overview_button(t)]])
    await show(update, context, text, markup, edit=True)

