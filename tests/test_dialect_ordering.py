"""Ordering on the panels people run, in both sandbox dialects (seed and SmartPanel):
advice that fits the form, packages that want a quantity, panels that cannot make
subscriptions, drip-feed intervals, comments with commas, and a real panel's warning."""

from __future__ import annotations

import re
from decimal import Decimal
from pathlib import Path

import pytest

from bot.domain.capabilities import NO_SUBSCRIPTIONS, PACKAGE_NEEDS_QUANTITY
from bot.playground.fakegram import FakeUser
from bot.panel.fields import FieldInvalid, FieldKind, FieldSpec, Range, clean_value
from bot.panel.models import Service
from bot.playground.sandbox.faults import Fault
from bot.store import DraftState
from tests.harness import KEY, PG_URL, World, world

# --- digits -------------------------------------------------------------------------------------


@pytest.mark.parametrize("typed", ["²", "٣", "３", "1٠0", "१००"])
def test_a_quantity_is_ascii_digits_only(typed: str) -> None:
    svc = Service(id=1, name="x", type="Default", category="c", rate=Decimal(1), min=1, max=1000)
    spec = FieldSpec("quantity", FieldKind.INTEGER, range=Range.SERVICE)
    with pytest.raises(FieldInvalid) as bad:
        clean_value(spec, typed, svc)
    assert bad.value.code == "not_integer"


# --- through the bot, in both dialects -------------------------------------------------------------

DIALECTS = ["seed", "smartpanel"]
DATABASES = ["sqlite", pytest.param("postgresql", marks=pytest.mark.skipif(not PG_URL, reason="TEST_DATABASE_URL not set"))]

FOLLOWERS = 1012  # Default, 2.45 per 1000, 100..100000, "Instagram Followers ⭐"
DRIP = 1011  # Default with drip-feed, 0.90, 50..50000
COMMENTS = 1031  # Custom Comments, 12.00, 5..500
COMMENTS_PACKAGE = 1033  # Custom Comments Package
PACKAGE = 1061  # Package, 49.00, "Instagram Packages"
AUTO_LIKES = 1051  # Subscriptions

LINK = "https://instagram.com/nasa"


def button_data(user: FakeUser, label: str) -> str:
    data = next((d for row in user.last_buttons for text, d in row if text == label), None)
    assert data is not None, f"no button {label!r} in {user.last_buttons}"
    return data


def draft_id(user: FakeUser) -> int:
    return int(button_data(user, "Confirm").split(":")[1])


async def press_starting(bot: World, user: FakeUser, prefix: str) -> None:
    label = next((text for row in user.last_buttons for text, _ in row if text.startswith(prefix)), None)
    assert label is not None, f"no button starting {prefix!r} in {user.last_buttons}"
    await bot.press(user, label)


async def browse_to(bot: World, user: FakeUser, category: str, service_id: int) -> None:
    """/order -> the platform -> `category` -> the service's card, by buttons."""
    await bot.send(user, "/order")
    await press_starting(bot, user, category.split()[0])
    await bot.press(user, category)
    data = next(d for row in user.last_buttons for _label, d in row if d and d.split(":")[:2] == ["v", str(service_id)])
    await bot.press(user, data)
    assert f"Service: {service_id}" in user.last_text


async def facts_of(bot: World) -> set[str]:
    assert bot.store is not None
    return {row.name for row in await bot.store.panel_facts(bot.sandbox.url)}


@pytest.mark.parametrize("dialect", DIALECTS)
@pytest.mark.parametrize(("category", "service_id", "answers", "price"), [
    ("Instagram Followers ⭐", FOLLOWERS, [LINK, "1000"], "$2.45"),
    ("Instagram Packages", PACKAGE, [LINK], "$49.00"),
], ids=["default", "package"])
async def test_browse_form_confirm_placed_in_both_dialects(
    tmp_path: Path, dialect: str, category: str, service_id: int, answers: list[str], price: str
) -> None:
    async with world(tmp_path, dialect=dialect) as bot:
        ann = await bot.linked_user()
        await browse_to(bot, ann, category, service_id)
        await bot.press(ann, "Order")
        for answer in answers:
            await bot.send(ann, answer)
        assert "Check your order" in ann.last_text and f"Price: {price}" in ann.last_text
        await bot.press(ann, "Confirm")
        assert re.search(r"Order #\d+ placed", ann.last_text), ann.last_text
        assert f"Charge: {price}" in ann.last_text
        orders = bot.sandbox.orders(KEY)
        assert len(orders) == 1 and orders[0].link == LINK
        assert orders[0].charge == Decimal(price.lstrip("$"))


# --- packages that want a quantity ------------------------------------------------------------------


@pytest.mark.parametrize("db", DATABASES)
@pytest.mark.parametrize("dialect", DIALECTS)
async def test_a_package_refused_for_want_of_a_quantity_is_sent_again_once_with_the_min(
    tmp_path: Path, dialect: str, db: str
) -> None:
    async with world(tmp_path, dialect=dialect, db=db) as bot:
        ann = await bot.linked_user()
        await bot.send(ann, f"/order {PACKAGE}")
        await bot.press(ann, "Order")
        await bot.send(ann, LINK)
        await bot.press(ann, "Confirm")
        assert re.search(r"Order #\d+ placed", ann.last_text), ann.last_text
        assert "Charge: $49.00" in ann.last_text  # per package, whatever quantity was sent
        adds = [call.fields for call in bot.sandbox.calls("add")]
        assert len(bot.sandbox.orders(KEY)) == 1
        if dialect == "seed":
            assert len(adds) == 1 and "quantity" not in adds[0]
            assert await facts_of(bot) == set()
            return
        assert len(adds) == 2
        assert "quantity" not in adds[0] and adds[1] == {**adds[0], "quantity": "1"}
        assert await facts_of(bot) == {PACKAGE_NEEDS_QUANTITY}
        assert bot.store is not None
        order = await bot.store.get_order(ann.id, bot.sandbox.orders(KEY)[0].id)
        assert order is not None and order.fields["quantity"] == "1"  # what was sent is on record
        assert order.charge == Decimal("49.00")

        # Later packages on that panel carry the quantity from the start: one `add`.
        await bot.send(ann, f"/order {COMMENTS_PACKAGE}")
        await bot.press(ann, "Order")
        await bot.send(ann, "https://instagram.com/p/abc")
        await bot.send(ann, "great\nnice\ncool")
        await bot.press(ann, "Confirm")
        assert re.search(r"Order #\d+ placed", ann.last_text), ann.last_text
        later = [call.fields for call in bot.sandbox.calls("add")][2:]
        assert len(later) == 1 and later[0]["quantity"] == "1"


def _fault_on_add(bot: World, which: int, fault: Fault) -> None:
    """`fault` on the `which`-th `add` only (the sandbox's faults count from the next one)."""
    faults = bot.sandbox.faults
    original = faults.take
    seen = 0

    def take(action: str) -> Fault | None:
        nonlocal seen
        if action == "add":
            seen += 1
            if seen == which:
                return fault
        return original(action)

    faults.take = take  # type: ignore[method-assign]
    faults.set("services", latency=0.001)  # the sandbox asks its faults only when it has some


@pytest.mark.parametrize("which", [1, 2], ids=["first-answer-unclear", "second-answer-unclear"])
async def test_an_unclear_answer_to_a_package_add_is_unknown_and_never_sent_again(tmp_path: Path, which: int) -> None:
    async with world(tmp_path, dialect="smartpanel") as bot:
        ann = await bot.linked_user()
        await bot.send(ann, f"/order {PACKAGE}")
        await bot.press(ann, "Order")
        await bot.send(ann, LINK)
        draft = draft_id(ann)
        _fault_on_add(bot, which, Fault(malformed=True))
        await bot.press(ann, "Confirm")
        assert "may have been placed anyway" in ann.last_text
        assert bot.sandbox.count("add") == which  # an unclear answer is never followed by another add
        assert bot.store is not None
        stored = await bot.store.get_draft(draft, ann.id)
        assert stored is not None and stored.state == DraftState.UNKNOWN


# --- subscriptions a panel cannot make ------------------------------------------------------------------


async def _subscription_to_confirm(bot: World, user: FakeUser) -> None:
    await bot.press(user, "Order")
    for text in ("nasa", "50", "100", "10"):
        await bot.send(user, text)
    await bot.press(user, "Skip")  # old_posts
    await bot.press(user, "No delay")
    await bot.press(user, "Skip")  # expiry
    assert "Check your order" in user.last_text


@pytest.mark.parametrize("dialect", DIALECTS)
async def test_a_panel_that_cannot_make_subscriptions_says_so_and_the_catalog_marks_them(
    tmp_path: Path, dialect: str
) -> None:
    async with world(tmp_path, dialect=dialect) as bot:
        ann = await bot.linked_user()
        await bot.send(ann, f"/order {AUTO_LIKES}")
        card = ann.last_message
        assert card is not None and "cannot be ordered here" not in card.text
        await _subscription_to_confirm(bot, ann)
        await bot.press(ann, "Confirm")
        if dialect == "seed":
            assert re.search(r"Order #\d+ placed", ann.last_text), ann.last_text
            assert await facts_of(bot) == set()
            return
        assert "this panel does not accept subscriptions through its API" in ann.last_text
        assert "The panel said: «Bad Link»" in ann.last_text
        assert "edit" not in ann.last_text.lower()
        assert bot.sandbox.count("add") == 1 and bot.sandbox.orders(KEY) == []
        assert await facts_of(bot) == {NO_SUBSCRIPTIONS}

        # The card says so and offers no Order button; other services are unchanged.
        await bot.send(ann, f"/order {AUTO_LIKES}")
        assert "does not accept subscriptions through its API" in ann.last_text
        assert all(text != "Order" for row in ann.last_buttons for text, _ in row)
        await bot.send(ann, "/order 2108")  # another subscription
        assert "does not accept subscriptions through its API" in ann.last_text
        await bot.send(ann, f"/order {FOLLOWERS}")
        assert "does not accept subscriptions" not in ann.last_text and button_data(ann, "Order")
        # Lists mark them too.
        await bot.send(ann, "/search instagram auto")
        marked = {":".join(data.split(":")[:2]): text for row in ann.last_buttons for text, data in row
                  if data and data.startswith("v:")}
        assert marked[f"v:{AUTO_LIKES}"].startswith("🚫 ") and len(marked) > 1
        # An old card's Order button opens no form, and nothing is sent.
        assert bot.app is not None
        await ann.press(bot.app, "Order", message=card)
        assert "does not accept subscriptions through its API" in ann.last_text
        assert "✏️ Username" not in ann.all_text().split("does not accept subscriptions")[-1]
        assert bot.sandbox.count("add") == 1


async def test_a_subscription_drafted_before_the_panel_showed_it_cannot_make_them_is_not_sent(tmp_path: Path) -> None:
    async with world(tmp_path, dialect="smartpanel") as bot:
        ann = await bot.linked_user()
        await bot.send(ann, f"/order {AUTO_LIKES}")
        await _subscription_to_confirm(bot, ann)
        assert bot.app is not None
        await bot.app.bot_data["deps"].facts.learn(NO_SUBSCRIPTIONS, "learnt from another user's order")
        await bot.press(ann, "Confirm")
        assert "this panel does not accept subscriptions through its API" in ann.last_text
        assert bot.sandbox.count("add") == 0


# --- refusal advice that fits the form --------------------------------------------------------------


@pytest.mark.parametrize("dialect", DIALECTS)
async def test_a_refusal_about_a_field_the_form_has_not_points_elsewhere(tmp_path: Path, dialect: str) -> None:
    async with world(tmp_path, dialect=dialect) as bot:
        ann = await bot.linked_user()
        await bot.send(ann, f"/order {PACKAGE}")
        await bot.press(ann, "Order")
        await bot.send(ann, LINK)
        bot.sandbox.faults.set("add", error="Quantity less than minimal 10", times=1)
        await bot.press(ann, "Confirm")
        text = ann.last_text
        assert "Not placed" in text and "«Quantity less than minimal 10»" in text
        assert "form has no Quantity" in text and "another service" in text and "support" in text
        assert "The panel refused the quantity" not in text and "Edit" not in text
        assert button_data(ann, "🛒 Another service") == "p:0"
        assert bot.sandbox.count("add") == 1 and bot.sandbox.orders(KEY) == []


@pytest.mark.parametrize("dialect", DIALECTS)
async def test_a_refusal_about_a_field_the_form_has_keeps_the_draft_editable(tmp_path: Path, dialect: str) -> None:
    async with world(tmp_path, dialect=dialect) as bot:
        ann = await bot.linked_user()
        await bot.send(ann, f"/order {FOLLOWERS}")
        await bot.press(ann, "Order")
        await bot.send(ann, LINK)
        await bot.send(ann, "1000")
        bot.sandbox.faults.set("add", error="Bad link", times=1)
        await bot.press(ann, "Confirm")
        assert "The panel refused the link. Check it and edit the order." in ann.last_text
        await bot.press(ann, "✏️ Change Link")
        assert "✏️ Link" in ann.last_text
        await bot.send(ann, "https://instagram.com/other")
        assert "Check your order" in ann.last_text
        await bot.press(ann, "Confirm")
        assert re.search(r"Order #\d+ placed", ann.last_text), ann.last_text


# --- drip-feed intervals ---------------------------------------------------------------------------------


async def _drip_to_interval(bot: World, user: FakeUser) -> None:
    await bot.send(user, f"/order {DRIP}")
    await bot.press(user, "Order")
    for text in (LINK, "100", "3"):
        await bot.send(user, text)
    assert "✏️ Interval (minutes)" in user.last_text


@pytest.mark.parametrize("dialect", DIALECTS)
async def test_drip_feed_intervals_are_offered_as_buttons(tmp_path: Path, dialect: str) -> None:
    async with world(tmp_path, dialect=dialect) as bot:
        ann = await bot.linked_user()
        await _drip_to_interval(bot, ann)
        labels = [text for row in ann.last_buttons for text, _ in row]
        assert [f"{m} min" for m in ("0", "5", "10", "15", "30", "60", "90")] == labels[:7]
        await bot.press(ann, "0 min")
        assert "Check your order" in ann.last_text and "Interval (minutes): 0" in ann.last_text
        await bot.press(ann, "Confirm")
        assert re.search(r"Order #\d+ placed", ann.last_text), ann.last_text
        assert bot.sandbox.calls("add")[0].fields["interval"] == "0"


@pytest.mark.parametrize("dialect", DIALECTS)
async def test_a_typed_interval_the_panel_refuses_keeps_the_draft_editable(tmp_path: Path, dialect: str) -> None:
    async with world(tmp_path, dialect=dialect) as bot:
        ann = await bot.linked_user()
        await _drip_to_interval(bot, ann)
        await bot.send(ann, "45")  # typing still works
        assert "Interval (minutes): 45" in ann.last_text
        draft = draft_id(ann)
        await bot.press(ann, "Confirm")
        if dialect == "seed":  # the seed takes any interval
            assert re.search(r"Order #\d+ placed", ann.last_text), ann.last_text
            return
        assert "The panel does not accept the value of «Interval (minutes)». Change it and confirm again." in ann.last_text
        assert "«Invalid Interval in minutes»" in ann.last_text
        assert bot.sandbox.orders(KEY) == []
        assert bot.store is not None
        stored = await bot.store.get_draft(draft, ann.id)
        assert stored is not None and stored.state == DraftState.DRAFT
        await bot.press(ann, "✏️ Change Interval (minutes)")
        await bot.press(ann, "30 min")
        assert "Check your order" in ann.last_text and "Interval (minutes): 30" in ann.last_text
        await bot.press(ann, "Confirm")
        assert re.search(r"Order #\d+ placed", ann.last_text), ann.last_text
        assert [call.fields["interval"] for call in bot.sandbox.calls("add")] == ["45", "30"]


# --- comments with commas ---------------------------------------------------------------------------------


@pytest.mark.parametrize("dialect", DIALECTS)
async def test_comments_with_commas_are_warned_about_with_the_count_the_price_assumes(
    tmp_path: Path, dialect: str
) -> None:
    async with world(tmp_path, dialect=dialect) as bot:
        ann = await bot.linked_user()
        await bot.send(ann, f"/order {COMMENTS}")
        await bot.press(ann, "Order")
        await bot.send(ann, "https://instagram.com/p/abc")
        await bot.send(ann, "wow, great\nnice\ncool, really\nok\nfine")
        text = ann.last_text
        assert "Check your order" in text and "Price: $0.06" in text
        assert "some panels split comments at commas" in text
        assert "The price assumes one comment per line: 5 in all." in text
        await bot.press(ann, "✏️ Edit")
        await bot.press(ann, "Comments")
        await bot.send(ann, "great\nnice\ncool\nok\nfine")
        assert "Check your order" in ann.last_text and "commas" not in ann.last_text


async def test_a_comments_package_with_commas_is_warned_without_a_count(tmp_path: Path) -> None:
    async with world(tmp_path) as bot:
        ann = await bot.linked_user()
        await bot.send(ann, f"/order {COMMENTS_PACKAGE}")
        await bot.press(ann, "Order")
        await bot.send(ann, "https://instagram.com/p/abc")
        await bot.send(ann, "wow, great\nnice")
        assert "some panels split comments at commas" in ann.last_text
        assert "The price assumes" not in ann.last_text  # a package's price is per package


# --- digits -------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("typed", ["٣٠٠", "３００"])
async def test_a_quantity_in_other_digits_is_asked_again(tmp_path: Path, typed: str) -> None:
    async with world(tmp_path) as bot:
        ann = await bot.linked_user()
        await bot.send(ann, f"/order {FOLLOWERS}")
        await bot.press(ann, "Order")
        await bot.send(ann, LINK)
        await bot.send(ann, typed)
        assert "Send a whole number, digits only" in ann.last_text and "✏️ Quantity" in ann.last_text


# --- a real panel ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize("real", [True, False])
async def test_the_confirm_screen_says_when_the_order_is_real_money_on_a_real_panel(tmp_path: Path, real: bool) -> None:
    async with world(tmp_path) as bot:
        assert bot.app is not None
        if real:
            bot.app.bot_data["real_panel"] = True
        ann = await bot.linked_user()
        await bot.send(ann, f"/order {FOLLOWERS}")
        await bot.press(ann, "Order")
        await bot.send(ann, LINK)
        await bot.send(ann, "1000")
        assert "Check your order" in ann.last_text
        line = "⚠️ This is a real order on your panel: confirming spends real money."
        assert (line in ann.last_text) is real
