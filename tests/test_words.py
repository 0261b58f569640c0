"""Plain words on the form and the confirm screen: every field by its human label (data
next to the field in the type table, translated where shown), never by the API's name;
skipped optional fields left off; prices with the account's currency; expiry quick picks
and dates as the user's locale writes them; "Order placed" with the order card's buttons."""

from __future__ import annotations

import re
from datetime import date, timedelta
from decimal import Decimal
from pathlib import Path

import pytest
from babel.dates import format_date

from bot.handlers.review import describe_values
from bot.handlers.form import prompt_text
from bot.views.texts import date_example, refusal
from bot.i18n import I18n
from bot.panel.errors import Refusal, RefusalKind
from bot.panel.fields import (
    SERVICE_TYPES,
    UNKNOWN_TYPE,
    FieldKind,
    FieldSpec,
    ServiceType,
    parse_date,
)
from bot.panel.models import Service
from tests.harness import KEY, world
from tests.test_i18n import source_messages

# Every `add` field name of the table: none is a word the user reads as a label.
API_NAMES = sorted({spec.name for kind in (*SERVICE_TYPES, UNKNOWN_TYPE) for spec in kind.fields})
# Names that are no English word: they must not appear anywhere in a prompt or confirm line.
NEVER_SHOWN = [name for name in API_NAMES if "_" in name] + ["min", "max", "expiry"]
LOCALES = ("en", "ru")


def _service(kind: ServiceType) -> Service:
    service = Service.from_api({
        "service": 7, "name": "Some service", "type": kind.name, "category": "Test", "rate": "1.50",
        "min": "10", "max": "1000", "dripfeed": True, "refill": False, "cancel": False,
    })
    assert service is not None
    return service


def _sample(spec: FieldSpec) -> str:
    return {
        FieldKind.LINK: "https://instagram.com/nasa",
        FieldKind.INTEGER: "20",
        FieldKind.TEXT: "nasa",
        FieldKind.LINES: "\n".join(f"line {i}" for i in range(12)),
        FieldKind.CHOICE: spec.choices[0] if spec.choices else "1",
        FieldKind.DATE: "31/12/2030",
    }[spec.kind]


def _assert_no_api_names(text: str) -> None:
    for name in NEVER_SHOWN:
        assert not re.search(rf"(?<![\w{{]){re.escape(name)}(?![\w}}])", text), (name, text)


def test_every_field_of_the_table_has_a_label_that_extraction_finds() -> None:
    messages = source_messages()
    for kind in (*SERVICE_TYPES, UNKNOWN_TYPE):
        for spec in kind.fields:
            assert spec.label and spec.label not in API_NAMES, (kind.name, spec.name)
            assert spec.label in messages, spec.label  # pybabel / the catalogs see it


@pytest.mark.parametrize("locale", LOCALES)
@pytest.mark.parametrize("kind", [*SERVICE_TYPES, UNKNOWN_TYPE], ids=lambda k: k.name)
def test_prompts_and_confirm_lines_name_fields_by_their_labels(kind: ServiceType, locale: str) -> None:
    t = I18n(locale)
    service = _service(kind)
    values = {spec.name: _sample(spec) for spec in kind.fields}
    for spec in kind.fields:
        text = prompt_text(t, service, spec, current=values[spec.name])
        heading = next(line for line in text.splitlines() if line.startswith("✏️ "))
        assert heading.removeprefix("✏️ <b>").split("</b>")[0] == t._(spec.label)
        assert t._(spec.label) not in API_NAMES
        _assert_no_api_names(text)
    lines = describe_values(t, service, values)
    shown = [line.split(":")[0] for line in lines if not line.startswith(" ")]
    assert shown == [t._(spec.label) for spec in kind.fields if not spec.when or values.get(spec.when[0]) in spec.when[1]]
    for line in lines:
        _assert_no_api_names(line)
        assert not any(line.startswith(f"{name}:") for name in API_NAMES), line


@pytest.mark.parametrize("locale", LOCALES)
def test_refusal_advice_names_a_field_by_its_label_or_else_by_the_panels_own_word(locale: str) -> None:
    t = I18n(locale)
    labels = {spec.name: spec.label for kind in (*SERVICE_TYPES, UNKNOWN_TYPE) for spec in kind.fields}
    for name, label in labels.items():
        for kind in (RefusalKind.INVALID_FIELD, RefusalKind.MISSING_FIELD):
            said = refusal(t, Refusal(f"Bad {name}", kind, field=name))
            assert f"«{t._(label)}»" in said, said
            _assert_no_api_names(said)
    # A field of that panel only (not in the table): its own word, escaped for HTML.
    said = refusal(t, Refusal("Bad promo", RefusalKind.INVALID_FIELD, field="promo<code>"))
    assert "«promo&lt;code&gt;»" in said, said


@pytest.mark.parametrize("today", [date(2026, 12, 4), date(2026, 12, 31), date(2027, 1, 1)])
def test_the_date_example_is_always_a_date_the_form_takes(today: date) -> None:
    example = parse_date(date_example(today))
    assert example is not None and example > today


# --- through the bot --------------------------------------------------------------------------------


@pytest.mark.parametrize("locale", LOCALES)
async def test_the_subscription_form_and_confirm_screen_read_as_words(tmp_path: Path, locale: str) -> None:
    t = I18n(locale)
    async with world(tmp_path) as bot:
        ann = await bot.linked_user(language_code=locale)
        await bot.send(ann, "/order 1051")
        await bot.press(ann, t._("Order"))
        assert f"✏️ {t._('Username')}" in ann.last_text
        await bot.send(ann, "nasa")
        assert f"✏️ {t._('Minimum per new post')}" in ann.last_text
        await bot.send(ann, "100")
        assert f"✏️ {t._('Maximum per new post')}" in ann.last_text
        await bot.send(ann, "50")  # below the minimum: the problem says so in words
        assert t._("The maximum must not be less than the minimum ({minimum}).", minimum="100") in ann.last_text
        await bot.send(ann, "200")
        await bot.press(ann, t._("Skip"))
        await bot.press(ann, t._("Skip"))
        await bot.press(ann, t._("No delay"))
        picks = [label for row in ann.last_buttons for label, _data in row]
        in_days = [t.ngettext("In {n} day", "In {n} days", n) for n in (7, 30, 90)]
        assert in_days == picks[:3], picks
        await bot.press(ann, in_days[1])
        text = ann.last_text
        assert t._("<b>Check your order</b>").replace("<b>", "").replace("</b>", "") in text
        lines = text.splitlines()
        assert f"{t._('Username')}: nasa" in lines
        assert f"{t._('Minimum per new post')}: 100" in lines
        assert f"{t._('Maximum per new post')}: 200" in lines
        assert f"{t._('Delay')}: {t._('No delay')}" in lines
        when = date.today() + timedelta(days=30)
        assert f"{t._('Expiry date')}: {format_date(when, format='medium', locale=locale)}" in lines
        # Skipped optionals are left off, and no API name is shown.
        assert t._("New posts to serve") not in text and t._("Existing posts to include") not in text
        assert t._("skipped") not in text
        _assert_no_api_names(text)
        await bot.press(ann, t._("Confirm"))
        assert bot.sandbox.calls("add")[0].fields["expiry"] == when.strftime("%d/%m/%Y")


async def test_a_typed_expiry_date_still_works_and_shows_in_the_locale(tmp_path: Path) -> None:
    async with world(tmp_path) as bot:
        ann = await bot.linked_user()
        await bot.send(ann, "/order 1051")
        await bot.press(ann, "Order")
        for value in ("nasa", "100", "200"):
            await bot.send(ann, value)
        await bot.press(ann, "Skip")
        await bot.press(ann, "Skip")
        await bot.press(ann, "No delay")
        await bot.send(ann, "05/03/2031")
        assert "Expiry date: Mar 5, 2031" in ann.last_text.splitlines()


async def test_skipped_drip_feed_is_left_off_the_confirm_screen(tmp_path: Path) -> None:
    async with world(tmp_path) as bot:
        ann = await bot.linked_user()
        await bot.send(ann, "/order 1011")
        await bot.press(ann, "Order")
        await bot.send(ann, "https://instagram.com/nasa")
        assert "✏️ Quantity" in ann.last_text
        await bot.send(ann, "100")
        assert "✏️ Runs (optional)" in ann.last_text
        await bot.press(ann, "Skip")
        text = ann.last_text
        assert "Check your order" in text
        assert "Link: https://instagram.com/nasa" in text and "Quantity: 100" in text
        assert "Runs" not in text and "Interval" not in text and "skipped" not in text


async def test_the_edit_menu_and_a_bad_value_use_the_label_in_russian(tmp_path: Path) -> None:
    t = I18n("ru")
    async with world(tmp_path) as bot:
        ivan = await bot.linked_user(language_code="ru")
        await bot.send(ivan, "/order 1012")
        await bot.press(ivan, t._("Order"))
        await bot.send(ivan, "https://instagram.com/nasa")
        await bot.send(ivan, "много")
        assert t._("Send a whole number, digits only, for example 1000.") in ivan.last_text
        assert f"✏️ {t._('Quantity')}" in ivan.last_text
        _assert_no_api_names(ivan.last_text)
        await bot.send(ivan, "1000")
        await bot.press(ivan, t._("✏️ Edit"))
        labels = [label for row in ivan.last_buttons for label, _data in row]
        assert labels[:2] == [t._("Link"), t._("Quantity")]


async def test_team_mode_confirm_prices_carry_the_currency_once_the_panel_says_it(tmp_path: Path) -> None:
    # The team account is made before any balance is asked: while the panel could not say
    # its currency the service card showed plain prices, and the confirm screen kept
    # showing "Price: 2.45" after it could, while /balance showed "$".
    async with world(tmp_path, panel_key=KEY, allowed_users="1001") as bot:
        bot.sandbox.faults.set("balance", http_status=502)
        member = bot.user(1001)
        await bot.send(member, "/order 1012")
        await bot.press(member, "Order")
        await bot.send(member, "https://instagram.com/nasa")
        bot.sandbox.faults.clear()
        await bot.send(member, "1000")
        assert "Price: $2.45" in member.last_text.splitlines()
        assert "Balance: $100.00" in member.last_text.splitlines()


async def test_order_placed_carries_the_cards_buttons_with_cancel_where_allowed(tmp_path: Path) -> None:
    async with world(tmp_path) as bot:
        ann = await bot.linked_user()
        await bot.send(ann, "/order 1012")  # cancel allowed
        await bot.press(ann, "Order")
        await bot.send(ann, "https://instagram.com/nasa")
        await bot.send(ann, "1000")
        await bot.press(ann, "Confirm")
        assert "placed" in ann.last_text
        labels = [label for row in ann.last_buttons for label, _data in row]
        assert labels == ["🔄 Refresh", "✖ Cancel order", "🔁 Order again"], labels
        await bot.press(ann, "✖ Cancel order")  # right there, for the wrong order
        assert bot.sandbox.count("cancel") == 0  # asked first, not sent
        await bot.send(ann, "/order 1061")  # a package: no cancel
        await bot.press(ann, "Order")
        await bot.send(ann, "https://instagram.com/nasa")
        await bot.press(ann, "Confirm")
        assert "placed" in ann.last_text and "Charge: $49.00" in ann.last_text
        labels = [label for row in ann.last_buttons for label, _data in row]
        assert labels == ["🔄 Refresh", "🔁 Order again"], labels


async def test_order_placed_in_russian_has_the_cards_buttons(tmp_path: Path) -> None:
    t = I18n("ru")
    async with world(tmp_path) as bot:
        ivan = await bot.linked_user(language_code="ru")
        await bot.send(ivan, "/order 1012")
        await bot.press(ivan, t._("Order"))
        await bot.send(ivan, "https://instagram.com/nasa")
        await bot.send(ivan, "1000")
        assert f"{t._('Link')}: https://instagram.com/nasa" in ivan.last_text.splitlines()
        assert t._("Price: <b>{price}</b>", price=t.money(Decimal("2.45"), "USD")).replace("<b>", "").replace("</b>", "") \
            in ivan.last_text.splitlines()
        await bot.press(ivan, t._("Confirm"))
        labels = [label for row in ivan.last_buttons for label, _data in row]
        assert labels == [t._("🔄 Refresh"), t._("✖ Cancel order"), t._("🔁 Order again")], labels


async def test_a_refusal_about_a_field_the_form_has_not_names_it_by_its_label_in_russian(tmp_path: Path) -> None:
    t = I18n("ru")
    async with world(tmp_path) as bot:
        ivan = await bot.linked_user(language_code="ru")
        await bot.send(ivan, "/order 1061")  # a package: its form is the link only
        await bot.press(ivan, t._("Order"))
        await bot.send(ivan, "https://instagram.com/nasa")
        bot.sandbox.faults.set("add", error="Comments field is required", times=1)
        await bot.press(ivan, t._("Confirm"))
        assert t._("This service's form has no {field}, so editing the order will not help. "
                   "Choose another service, or contact the panel's support.", field=t._("Comments")) in ivan.last_text
        assert "«Comments field is required»" in ivan.last_text  # the panel's own words, quoted
        assert bot.sandbox.orders(KEY) == []


@pytest.mark.parametrize(("kind", "said"), [
    ("UNSUPPORTED_ACTION", "The panel does not offer this through its API."),
    ("MISSING_FIELD", "The panel wants a field this order does not have."),
    ("INVALID_FIELD", "The panel does not accept one of the values of this order."),
])
def test_a_refusal_that_names_no_field_is_still_said_plainly(kind: str, said: str) -> None:
    from bot.views.texts import refusal
    from bot.i18n import I18n
    from bot.panel.errors import Refusal, RefusalKind

    refused = Refusal(text="whatever the panel said", kind=RefusalKind[kind])
    assert refusal(I18n("en"), refused) == said
    assert refusal(I18n("ru"), refused) == I18n("ru")._(said) != said
