"""Finding a service: platforms -> categories -> services, search, and the service card."""

from __future__ import annotations

import re

from telegram import InlineKeyboardButton, Update

from bot.domain.placing import is_subscription
from bot.handlers.account import load_catalog, prices_currency, require_account
from bot.handlers.context import BotContext
from bot.handlers.form import not_offered, orderable
from bot.handlers.states import Browsing, current, enter
from bot.handlers.ui import parse_number, show
from bot.i18n import I18n
from bot.panel.catalog import Catalog
from bot.panel.fields import service_type
from bot.panel.models import Service
from bot.views.callback_data import (
    CategoryPage,
    OpenService,
    OrderAgain,
    PlatformPage,
    SearchPage,
    ServicePage,
    StartOrder,
    answer,
)
from bot.views.markup import MAX_BUTTON_TEXT, button, clip, esc, keyboard, nav_row, page_slice

SEARCH_LIMIT = 96
DESCRIPTION_LIMIT = 1500


async def _catalog(update: Update, context: BotContext) -> tuple[Catalog, str | None] | None:
    linked = await require_account(update, context)
    if linked is None:
        return None
    catalog = await load_catalog(update, context, linked)
    if catalog is None:
        return None
    return catalog, await prices_currency(context, linked)


async def order(update: Update, context: BotContext) -> None:
    """`/order` opens the platforms; `/order 123` the service card of 123."""
    number = parse_number(context.args[0]) if context.args and len(context.args) == 1 else None
    if number is not None:
        await open_service(update, context, number)
        return
    if context.args:
        await search(update, context, " ".join(context.args))
        return
    await platforms(update, context, 0)


async def search_command(update: Update, context: BotContext) -> None:
    """`/search words`, or `/services` with no words: the catalog."""
    if context.args:
        await search(update, context, " ".join(context.args))
    else:
        await platforms(update, context, 0)


async def platforms(update: Update, context: BotContext, page: int) -> None:
    """The catalog's platforms, paged."""
    loaded = await _catalog(update, context)
    if loaded is None:
        return
    catalog, currency = loaded
    t = context.i18n
    await enter(context, Browsing())
    names = catalog.platforms
    start, end, page = page_slice(len(names), page)
    rows: list[list[InlineKeyboardButton]] = [
        [button(f"{name} ({sum(len(catalog.in_category(c)) for c in catalog.categories_of(name))})", CategoryPage(i, 0))]
        for i, name in enumerate(names[start:end], start)
    ]
    rows.append(nav_row(t, len(names), page, PlatformPage))
    text = t._("🛒 <b>New order</b>: choose a platform.") + "\n" + t._(
        "Or type words to search ({count} services), or a service number.", count=t.number(len(catalog))
    )
    if page == 0:
        recent = await recent_services(context, catalog)
        if recent:
            text += "\n\n" + t._("Or order again what you ordered lately, with the same details:")
            names = listed_names([service.name for service, _ in recent])
            text += "\n" + "\n".join(
                f"🔁 <b>{number}.</b> {esc(name)} <i>#{service.id}</i> · {t.money(service.rate, currency)}"
                for number, ((service, _), name) in enumerate(zip(recent, names, strict=True), 1))
            rows[:0] = [[button(f"🔁 {number}", OrderAgain(draft_id)) for number, (_, draft_id) in enumerate(recent, 1)]]
    await show(update, context, text, keyboard(rows))


RECENT_SERVICES = 3


async def recent_services(context: BotContext, catalog: Catalog) -> list[tuple[Service, int]]:
    """Up to three services the user ordered lately (newest first, each once, only those the
    panel still offers), with the draft of the latest order of each: "Order again" makes a
    new draft from it and asks only what no longer fits."""
    found: list[tuple[Service, int]] = []
    seen: set[int] = set()
    for order in await context.deps.store.orders_for(context.user.telegram_id, limit=30):
        service = catalog.get(order.service_id)
        if service is None or order.service_id in seen or order.draft_id is None:
            continue
        seen.add(order.service_id)
        found.append((service, order.draft_id))
        if len(found) == RECENT_SERVICES:
            break
    return found


async def categories(update: Update, context: BotContext, platform_index: int, page: int) -> None:
    loaded = await _catalog(update, context)
    if loaded is None:
        return
    catalog, _currency = loaded
    t = context.i18n
    if not 0 <= platform_index < len(catalog.platforms):
        await list_changed(update, context)
        return
    platform = catalog.platforms[platform_index]
    names = catalog.categories_of(platform)
    index_of = {name: i for i, name in enumerate(catalog.categories)}
    start, end, page = page_slice(len(names), page)
    # Clipped in the middle: real catalogs have categories alike for their first 60
    # characters ("… Real Global Followers - Different Warranties]" / "… Different Speed]").
    rows = [[button(listed_name(name, MAX_BUTTON_TEXT), ServicePage(index_of[name], 0))] for name in names[start:end]]
    rows.append(nav_row(t, len(names), page, lambda p: CategoryPage(platform_index, p)))
    rows.append([button(t._("⬅ Platforms"), PlatformPage(0))])
    await show(update, context, t._("<b>{platform}</b>: choose a category.", platform=esc(platform)), keyboard(rows))


async def services(update: Update, context: BotContext, category_index: int, page: int) -> None:
    loaded = await _catalog(update, context)
    if loaded is None:
        return
    catalog, currency = loaded
    t = context.i18n
    if not 0 <= category_index < len(catalog.categories):
        await list_changed(update, context)
        return
    category = catalog.categories[category_index]
    items = catalog.in_category(category)
    start, end, page = page_slice(len(items), page)
    listed, rows = await service_list(context, items[start:end], currency, ServicePage(category_index, page))
    rows.append(nav_row(t, len(items), page, lambda p: ServicePage(category_index, p)))
    rows.append([button(t._("⬅ Categories"), CategoryPage(_platform_index(catalog, category), 0))])
    text = t._("<b>{category}</b>: choose a service. Prices are per 1000.", category=esc(clip(category, 200)))
    text += "\n\n" + listed
    await show(update, context, text, keyboard(rows))


# A listed service's name: long enough to tell look-alike names apart (real catalogs have
# runs that differ only at the end: "… No Refill", "… 30 Days ♻️", "… Lifetime ♻️").
LISTED_NAME = 120
NUMBERS_PER_ROW = 4


LISTED_NAME_MAX = 250  # a name shown whole because clipping it would hide what tells it apart


def listed_name(name: str, limit: int = LISTED_NAME) -> str:
    """A name clipped in the middle, so that both its start and its distinguishing end show."""
    if len(name) <= limit:
        return name
    cut = len(name) - limit // 3
    space = name.rfind(" ", 0, cut)
    if space >= 0 and cut - space <= 12:  # the end starts with a whole word ("No Refill", not "o Refill")
        cut = space + 1
    end = name[cut:].lstrip()
    return name[: limit - len(end) - 1].rstrip() + "…" + end


def listed_names(names: list[str]) -> list[str]:
    """The names of one page as listed: clipped, except those that clipping would make read
    the same as another, which are shown (nearly) whole."""
    shown = [listed_name(name) for name in names]
    seen: dict[str, set[str]] = {}
    for name, short in zip(names, shown, strict=True):
        seen.setdefault(short, set()).add(name)
    return [clip(name, LISTED_NAME_MAX) if len(seen[short]) > 1 else short
            for name, short in zip(names, shown, strict=True)]


async def service_list(
    context: BotContext, items: list[Service], currency: str | None, origin: ServicePage | SearchPage
) -> tuple[str, list[list[InlineKeyboardButton]]]:
    """A page of services as numbered lines in the message (name, number, price per 1000,
    refill / cancel marks, min–max) with short numbered buttons, so that services with
    look-alike names can be told apart. Those this panel cannot take (subscriptions where it
    makes none) are marked 🚫. `origin`: the callback of this list page, which the card's
    Back returns to."""
    t = context.i18n
    subscriptions = (await context.deps.facts.abilities()).subscriptions
    lines: list[str] = []
    buttons: list[InlineKeyboardButton] = []
    names = listed_names([service.name for service in items])
    for number, (service, name) in enumerate(zip(items, names, strict=True), 1):
        blocked = is_subscription(service) and not subscriptions
        marks = [t.money(service.rate, currency), f"{t.number(service.min)}–{t.number(service.max)}"]
        if service.refill:
            marks.append(t._("♻️ refill"))
        if service.cancel:
            marks.append(t._("↩️ cancel"))
        if blocked:
            marks.append("🚫")
        lines.append(f"<b>{number}.</b> {esc(name)} <i>#{service.id}</i>\n    " + " · ".join(marks))
        buttons.append(button(f"🚫 {number}" if blocked else str(number), OpenService(service.id, origin)))
    rows = [buttons[i:i + NUMBERS_PER_ROW] for i in range(0, len(buttons), NUMBERS_PER_ROW)]
    return "\n".join(lines), rows


def _platform_index(catalog: Catalog, category: str) -> int:
    for i, platform in enumerate(catalog.platforms):
        if category in catalog.categories_of(platform):
            return i
    return 0


async def list_changed(update: Update, context: BotContext) -> None:
    await show(update, context, context.i18n._("This list has changed on the panel. Here is the current one."), edit=False)
    await platforms(update, context, 0)


async def search(update: Update, context: BotContext, query: str, page: int = 0) -> None:
    """Word search over service names and categories; a number opens that service."""
    query = query.strip()
    if re.fullmatch(r"#?[0-9]{1,12}", query):
        await open_service(update, context, int(query.lstrip("#")))
        return
    loaded = await _catalog(update, context)
    if loaded is None:
        return
    catalog, currency = loaded
    t = context.i18n
    await enter(context, Browsing(query[:200]))
    found = catalog.search(query, limit=SEARCH_LIMIT)
    if not found:
        await show(
            update, context,
            t._("Nothing found for «{query}». Try other words, or browse with /order.", query=esc(clip(query, 100))),
            keyboard([[button(t._("🛒 Browse the catalog"), PlatformPage(0))]]),
            edit=False,
        )
        return
    start, end, page = page_slice(len(found), page)
    listed, rows = await service_list(context, found[start:end], currency, SearchPage(page))
    rows.append(nav_row(t, len(found), page, SearchPage))
    more = len(found) >= SEARCH_LIMIT
    text = t._("🔎 Services matching «{query}»:", query=esc(clip(query, 100)))
    if more:
        text += "\n" + t._("Showing the first {count}; add words to narrow it down.", count=t.number(len(found)))
    text += "\n\n" + listed
    await show(update, context, text, keyboard(rows), edit=update.callback_query is not None)


async def search_page(update: Update, context: BotContext, page: int) -> None:
    state = await current(context)
    query = state.query if isinstance(state, Browsing) else None
    if not query:
        await platforms(update, context, 0)
        return
    await search(update, context, query, page)


def service_card(t: I18n, service: Service, currency: str | None, *, can_order: bool = True) -> str:
    kind = service_type(service.type)
    yes, no = t._("yes"), t._("no")
    lines = [
        f"<b>{esc(service.name)}</b>",
        t._("Service: {id}", id=service.id),
        t._("Category: {category}", category=esc(clip(service.category, 200))),
        t._("Type: {type}", type=esc(service.type)) + ("" if kind.known else " " + t._("(unknown type: ordered with link and quantity)")),
        t._("Rate per 1000: {rate}", rate=t.money(service.rate, currency)),
        t._("Min: {min} · Max: {max}", min=t.number(service.min), max=t.number(service.max)),
        t._("Refill: {refill} · Cancel: {cancel} · Drip-feed: {dripfeed}",
            refill=yes if service.refill else no, cancel=yes if service.cancel else no,
            dripfeed=yes if service.dripfeed else no),
    ]
    if not can_order:
        lines += ["", not_offered(t)]
    if service.description:
        lines += ["", esc(clip(service.description, DESCRIPTION_LIMIT))]
    return "\n".join(lines)


async def open_service(
    update: Update, context: BotContext, service_id: int, back: ServicePage | SearchPage | None = None
) -> None:
    """The service card with "Order" and "Back" (to `back`, the list page it was opened
    from, else the first page of its category)."""
    loaded = await _catalog(update, context)
    if loaded is None:
        return
    catalog, currency = loaded
    t = context.i18n
    service = catalog.get(service_id)
    if service is None:
        await show(update, context, t._("There is no service {id} on this panel. Check the number, or browse with /order.", id=service_id), edit=False)
        return
    category_index = catalog.categories.index(service.category) if service.category in catalog.categories else None
    to = back or (ServicePage(category_index, 0) if category_index is not None else PlatformPage(0))
    can_order = await orderable(context, service)
    markup = keyboard([[button(t._("Order"), StartOrder(service.id))] if can_order else [], [button(t._("◀ Back"), to)]])
    await show(update, context, service_card(t, service, currency, can_order=can_order), markup,
               edit=update.callback_query is not None)


async def on_platform_page(update: Update, context: BotContext) -> None:
    """🛒 New order, ⬅ Platforms or paging: a page of the catalog's platforms."""
    pressed = await answer(update, PlatformPage)
    await platforms(update, context, pressed.page)


async def on_category_page(update: Update, context: BotContext) -> None:
    """A platform, ⬅ Categories or paging: a page of that platform's categories."""
    pressed = await answer(update, CategoryPage)
    await categories(update, context, pressed.platform, pressed.page)


async def on_service_page(update: Update, context: BotContext) -> None:
    """A category, a card's Back or paging: a page of that category's services."""
    pressed = await answer(update, ServicePage)
    await services(update, context, pressed.category, pressed.page)


async def on_search_page(update: Update, context: BotContext) -> None:
    """Paging through search results, or a card's Back to them."""
    pressed = await answer(update, SearchPage)
    await search_page(update, context, pressed.page)


async def on_open_service(update: Update, context: BotContext) -> None:
    """A numbered service in a list: its card."""
    pressed = await answer(update, OpenService)
    await open_service(update, context, pressed.service, pressed.back)
