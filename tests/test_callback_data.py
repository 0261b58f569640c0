"""Callback data (bot/views/callback_data.py): every kind of button reads back as what it
was written as, within Telegram's 64 bytes; the data already on the wire keeps its
meaning; forged data is nobody's; each kind has one handler; and every button the bot
sends decodes."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest
from telegram.ext import CallbackQueryHandler

from bot.handlers import common
from bot.views.callback_data import (
    KINDS,
    MAX_BYTES,
    AdminOverview,
    AskBroadcast,
    AskCancelOrder,
    AskMarkup,
    AskMinimum,
    AskRule,
    BackToConfirm,
    Callback,
    CancelDraft,
    CancelOrder,
    CategoryPage,
    ChooseValue,
    ClearRule,
    ConfirmOrder,
    EditField,
    EditOrder,
    FindService,
    ForgetPastedKey,
    LeaveAdminStep,
    LinkPastedKey,
    MarkFailed,
    MarkPlaced,
    OpenOrder,
    OpenService,
    OrderAgain,
    OrdersPage,
    PlatformPage,
    PriceCategories,
    PriceCategory,
    PriceChanges,
    PriceList,
    RecentOrders,
    RefillOrder,
    RefreshOrder,
    SearchPage,
    SendBroadcast,
    ServicePage,
    SetLanguage,
    SetNotifications,
    ShopFigures,
    ShopPrices,
    ShowBalance,
    ShowRule,
    ShowTopup,
    SkipField,
    StartOrder,
    TopupAmount,
    TopupOther,
    UnknownDrafts,
    decode_any,
)
from tests.harness import KEY, World, world
from tests.test_admin import unknown_draft
from tests.test_watching import cycle, place

BIG = 10**18 - 1  # the largest id a field takes: 18 digits

# Each kind with every field at its longest.
WIDEST: list[Callback] = [
    ShowBalance(), RecentOrders(), SetLanguage("abcdefghij"), LinkPastedKey(), ForgetPastedKey(),
    PlatformPage(BIG), CategoryPage(BIG, BIG), ServicePage(BIG, BIG), SearchPage(BIG),
    OpenService(BIG, ServicePage(BIG, BIG)),
    StartOrder(BIG), SkipField(BIG, BIG), ChooseValue(BIG, BIG, BIG), EditOrder(BIG), EditField(BIG, BIG),
    BackToConfirm(BIG), ConfirmOrder(BIG), CancelDraft(BIG), OrderAgain(BIG),
    OpenOrder(BIG), RefreshOrder(BIG), RefillOrder(BIG), AskCancelOrder(BIG), CancelOrder(BIG),
    OrdersPage("f", BIG), SetNotifications("final"),
    AdminOverview(), UnknownDrafts(BIG), MarkPlaced(BIG), MarkFailed(BIG, BIG), AskBroadcast(),
    SendBroadcast(BIG, BIG), LeaveAdminStep(),
    ShowTopup(), TopupAmount(BIG), TopupOther(),
    ShopPrices(), AskMarkup(), AskMinimum(), PriceCategories(BIG), PriceCategory(BIG, BIG), FindService(),
    AskRule("f", "s", BIG, BIG), ShowRule("h", "c", BIG, BIG), ClearRule("m", BIG, BIG),
    PriceChanges(), PriceList(), ShopFigures(),
]

# The data as the bot has written it since before these classes: buttons already sitting
# in users' chats must mean the same after a deploy.
ON_THE_WIRE: list[tuple[str, Callback]] = [
    ("m:b", ShowBalance()),
    ("m:o", RecentOrders()),
    ("l:ru", SetLanguage("ru")),
    ("l:pt_BR", SetLanguage("pt_BR")),
    ("K:y", LinkPastedKey()),
    ("K:n", ForgetPastedKey()),
    ("p:0", PlatformPage(0)),
    ("c:3:1", CategoryPage(3, 1)),
    ("s:12:0", ServicePage(12, 0)),
    ("q:2", SearchPage(2)),
    ("v:1012", OpenService(1012)),
    ("v:1012:s:12:3", OpenService(1012, ServicePage(12, 3))),
    ("v:1012:q:2", OpenService(1012, SearchPage(2))),
    ("n:1012", StartOrder(1012)),
    ("k:7:2", SkipField(7, 2)),
    ("h:7:2:0", ChooseValue(7, 2, 0)),
    ("e:7", EditOrder(7)),
    ("f:7:1", EditField(7, 1)),
    ("b:7", BackToConfirm(7)),
    ("y:7", ConfirmOrder(7)),
    ("x:7", CancelDraft(7)),
    ("a:7", OrderAgain(7)),
    ("O:5", OpenOrder(5)),
    ("r:5", RefreshOrder(5)),
    ("R:5", RefillOrder(5)),
    ("C:5", AskCancelOrder(5)),
    ("Y:5", CancelOrder(5)),
    ("L:a:0", OrdersPage("a", 0)),
    ("L:o:3", OrdersPage("o", 3)),
    ("M:all", SetNotifications("all")),
    ("M:off", SetNotifications("off")),
    ("Ao", AdminOverview()),
    ("Au:0", UnknownDrafts(0)),
    ("Ap:9", MarkPlaced(9)),
    ("Af:9:1", MarkFailed(9, 1)),
    ("Ab", AskBroadcast()),
    ("As:1001.5", SendBroadcast(1001, 5)),
    ("Ax", LeaveAdminStep()),
    ("Wt", ShowTopup()),
    ("Wa:500", TopupAmount(500)),
    ("Wo", TopupOther()),
    ("Ph", ShopPrices()),
    ("Pm", AskMarkup()),
    ("Pn", AskMinimum()),
    ("Pc:2", PriceCategories(2)),
    ("Pk:3:1783750901", PriceCategory(3, 1783750901)),
    ("Pi", FindService()),
    ("Pa:p:c:3:1783750901", AskRule("p", "c", 3, 1783750901)),
    ("Pa:f:s:1012:0", AskRule("f", "s", 1012, 0)),
    ("Pv:h:c:3:1783750901", ShowRule("h", "c", 3, 1783750901)),
    ("Pv:v:s:1012:0", ShowRule("v", "s", 1012, 0)),
    ("Px:n:0:0", ClearRule("n", 0, 0)),
    ("Pl", PriceChanges()),
    ("Pd", PriceList()),
    ("Pf", ShopFigures()),
]

FORGED = [
    "O:①", "O:²", "O:٣", "O:99999999999999999999", "O:1000000000000000000", "y:99999999999999999999999",
    "v:²", "v:1:x:2", "v:1:s:2", "v:1:q:", "v:1:", "p:-1", "p:01", "p:", "p", "p:0\n", "p:0 ", " p:0", "p:0:0",
    "L:x:0", "L:a", "M:every", "M:", "l:e", "l:abcdefghijk", "l:e-n", "K:", "K:yes", "m:", "Ao:0", "Au",
    "As:1001", "As:1001.", "As:1001:5", "zz:evil", "", ":", "pick:red",
    "P", "Ph:0", "Pa:x:c:1:1", "Pa:p:m:1:1", "Pv:h:c:1", "Px:z:0:0", "Pk:1",
]


def matching(data: str) -> list[type[Callback]]:
    """The kinds whose handler would take `data`, matched as CallbackQueryHandler does."""
    return [kind for kind in KINDS if re.match(kind.PATTERN, data)]


def test_every_kind_is_listed_here() -> None:
    assert {type(c) for c in WIDEST} == set(KINDS)
    assert {type(c) for _, c in ON_THE_WIRE} == set(KINDS)


@pytest.mark.parametrize("pressed", WIDEST, ids=lambda c: type(c).__name__)
def test_every_kind_round_trips_within_64_bytes_at_its_fields_longest(pressed: Callback) -> None:
    data = pressed.encode()
    assert len(data.encode()) <= MAX_BYTES
    assert len(data.encode()) == type(pressed).LONGEST
    assert type(pressed).decode(data) == pressed
    assert decode_any(data) == pressed


@pytest.mark.parametrize(("data", "pressed"), ON_THE_WIRE, ids=[d for d, _ in ON_THE_WIRE])
def test_the_data_on_the_wire_keeps_its_meaning(data: str, pressed: Callback) -> None:
    assert pressed.encode() == data
    assert decode_any(data) == pressed


@pytest.mark.parametrize("data", FORGED)
def test_data_no_button_carries_is_nobodys(data: str) -> None:
    assert decode_any(data) is None
    assert matching(data) == []


@pytest.mark.parametrize("pressed", [OpenOrder(-1), PlatformPage(10**18), MarkFailed(1, -2), SetLanguage("e"),
                                     OrdersPage("x", 0), SetNotifications("often"), OpenOrder(True)],  # type: ignore[arg-type]
                         ids=repr)
def test_a_field_out_of_range_makes_no_button(pressed: Callback) -> None:
    with pytest.raises(ValueError, match="cannot be a button"):
        pressed.encode()


@pytest.mark.parametrize(("data", "pressed"), [*ON_THE_WIRE, *((c.encode(), c) for c in WIDEST)],
                         ids=lambda v: v if isinstance(v, str) else "")
def test_each_pattern_takes_its_own_kind_only(data: str, pressed: Callback) -> None:
    assert matching(data) == [type(pressed)]


def test_no_kinds_data_starts_like_anothers() -> None:
    """The text before each kind's first field: when no kind's is a prefix of another's,
    no data can match two patterns, whatever the fields hold."""
    heads = {kind.__name__: kind.DATA.split("{")[0] for kind in KINDS}
    clashes = [(a, b) for a, head in heads.items() for b, other in heads.items() if a != b and other.startswith(head)]
    assert clashes == []


async def test_each_kind_has_one_handler_and_anything_else_is_a_stale_button(tmp_path: Path) -> None:
    async with world(tmp_path) as bot:
        assert bot.app is not None
        handlers = [h for h in bot.app.handlers[0] if isinstance(h, CallbackQueryHandler)]
        patterns = [h.pattern for h in handlers]
        assert all(patterns.count(kind.PATTERN) == 1 for kind in KINDS)
        assert len(handlers) == len(KINDS) + 1
        assert handlers[-1].pattern is None and handlers[-1].callback is common.stale_button


def buttons_sent(bot: World) -> list[str]:
    """The callback data of every inline button the bot sent or edited in."""
    found: list[str] = []
    for call in bot.fake.calls:
        markup: Any = call.params.get("reply_markup")
        if isinstance(markup, str):
            markup = json.loads(markup)
        for row in (markup or {}).get("inline_keyboard", []):
            found += [b["callback_data"] for b in row if "callback_data" in b]
    return found


async def test_every_button_the_bot_sends_decodes(tmp_path: Path) -> None:
    async with world(tmp_path, admin_ids="42") as bot:
        ann = await bot.linked_user(42)
        await bot.press(ann, "💰 Balance")
        await bot.send(ann, "/language")
        await bot.press(ann, "English")
        # The catalog: platforms, categories, services, a card; a search and its pages.
        await bot.send(ann, "/order")
        await bot.press(ann, ann.last_buttons[0][0][0])
        await bot.press(ann, ann.last_buttons[0][0][0])
        await bot.press(ann, "1")
        await bot.press(ann, "◀ Back")
        await bot.send(ann, "instagram")
        await bot.press(ann, "Next ▶")
        await bot.press(ann, "1")
        # The form (choices, Skip), the edit menu, the confirm screen; a key pasted on the way.
        await bot.send(ann, "/order 9801")
        await bot.press(ann, "Order")
        await bot.send(ann, "0123456789abcdef0123456789abcdef")
        await bot.press(ann, "No")
        while "Check your order" not in ann.last_text:
            offered = {type(decode_any(data)): label for row in ann.last_buttons for label, data in row}
            if ChooseValue in offered:
                await bot.press(ann, offered[ChooseValue])
            elif SkipField in offered:
                await bot.press(ann, offered[SkipField])
            elif "✏️ Link" in ann.last_text:
                await bot.send(ann, "https://example.com")
            elif "✏️ Quantity" in ann.last_text:
                await bot.send(ann, "1000")
            else:
                await bot.send(ann, "DE")  # the country
        await bot.press(ann, "✏️ Edit")
        await bot.press(ann, "◀ Back")
        await bot.press(ann, "✖ Cancel")
        # Orders: the card, the list, a notification, cancelling; /notifications.
        order = await place(bot, ann)
        await bot.press(ann, "🔄 Refresh")
        await bot.send(ann, "/orders")
        await bot.press(ann, "Open")
        await bot.send(ann, "/notifications")
        await bot.press(ann, "Final status only")
        await bot.press(ann, "Every change")
        bot.sandbox.set_status(order.panel_order_id, "In progress", remains=500)
        await cycle(bot)
        assert ann.last_buttons[0] == [("📦 Open order", OpenOrder(order.id or 0).encode())]
        await bot.send(ann, "/start")
        await bot.press(ann, "📋 Orders")
        await bot.press(ann, f"#{order.panel_order_id}")
        await bot.press(ann, "✖ Cancel order")
        bot.sandbox.set_status(order.panel_order_id, "Completed", remains=0)
        await bot.press(ann, "No, keep it")  # the card again, now with Refill
        # Admin: the overview, an unknown draft, a broadcast.
        await unknown_draft(bot, ann)
        await bot.send(ann, "/admin")
        await bot.press(ann, "Unknown drafts")
        await bot.press(ann, "◀ Overview")
        await bot.press(ann, "📣 Broadcast")
        await bot.send(ann, "Hello")
        sent = buttons_sent(bot)
    # Shop mode: the wallet and top-ups.
    async with world(tmp_path / "shop", mode="shop", panel_key=KEY, stars_per_unit="50") as shop:
        ann = shop.user(1001)
        await shop.send(ann, "/wallet")
        await shop.press(ann, "💳 Top up")
        sent += buttons_sent(shop)

    # Shop mode's admin pages (MODE=shop only).
    async with world(tmp_path / "shop_admin", mode="shop", panel_key=KEY, stars_per_unit="50", admin_ids="42") as bot:
        admin = bot.user(42)
        await bot.send(admin, "/admin")
        await bot.press(admin, "📊 Figures")
        await bot.send(admin, "/admin")
        await bot.press(admin, "💲 Prices")
        await bot.press(admin, "✏️ Markup")
        await bot.send(admin, "20")
        await bot.press(admin, "📂 Categories")
        await bot.press(admin, admin.last_buttons[0][0][0])
        await bot.press(admin, "🙈 Hide")
        await bot.press(admin, "% Percent")
        await bot.send(admin, "5")
        await bot.press(admin, "◀ Prices")
        await bot.press(admin, "🔎 Service by id")
        await bot.send(admin, "1012")
        await bot.press(admin, "◀ Prices")
        await bot.press(admin, "🕓 Recent changes")
        sent += buttons_sent(bot)
    assert [data for data in sent if decode_any(data) is None] == []
    kinds = {type(decode_any(data)) for data in sent}
    assert kinds == set(KINDS), sorted(k.__name__ for k in set(KINDS) - kinds)
