"""Shop mode's /admin pages, as an operator uses them: the price editor (markup, minimum
charge, a category's or a service's percent or price per 1000, hiding, clearing) with
values typed in the admin's own locale, every change in the audit; the price list as a
file on a real panel's catalog; and the figures (top-ups, sales, panel spend, margin,
the wallets against the panel balance, top services) on SQLite and PostgreSQL."""

from __future__ import annotations

import csv
import io
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path

import pytest
from babel.dates import format_datetime

from bot.domain.shop import Shop
from bot.i18n import I18n
from bot.handlers.states import EnteringPrice, FindingService, decode
from bot.panel.catalog import Catalog
from bot.playground.fakegram import FakeUser
from bot.store import Store, shop_figures
from bot.store.ledger import Movement
from bot.store.models import LedgerEntry
from tests.harness import KEY, PG_URL, World, world
from tests.store_rows import add_order
from tests.test_admin import NOT_FOR_YOU, UNKNOWN_COMMAND, forge

DATABASES = ["sqlite", pytest.param("postgresql", marks=pytest.mark.skipif(not PG_URL, reason="TEST_DATABASE_URL not set"))]
DATA = Path(__file__).resolve().parent / "data"

ADMIN = 42
SHOP = {"mode": "shop", "panel_key": KEY, "stars_per_unit": "50", "admin_ids": "42,43"}
FOLLOWERS = "Instagram Followers ⭐"  # the sandbox catalog's first category
HQ = 1012  # a service of it, at 2.45 per 1000


def shop_of(bot: World) -> Shop:
    assert bot.app is not None
    shop = bot.app.bot_data["deps"].shop
    assert isinstance(shop, Shop)
    return shop


def store_of(bot: World) -> Store:
    assert bot.store is not None
    return bot.store


async def panel_catalog(bot: World) -> Catalog:
    assert bot.app is not None
    deps = bot.app.bot_data["deps"]
    linked = await deps.accounts.linked(ADMIN)
    assert linked is not None
    catalog = await deps.panels.catalog(linked.key)
    assert isinstance(catalog, Catalog)
    return catalog


async def customers_see(bot: World) -> Catalog:
    """The catalog customers browse: the panel's, priced and filtered by the shop."""
    return await shop_of(bot).priced(await panel_catalog(bot))


async def audit(bot: World) -> list[tuple[int, str, str, str | None, str | None]]:
    """The audit rows, oldest first."""
    rows = await store_of(bot).price_changes(limit=1000)
    return [(row.admin_id, row.scope, row.key, row.before, row.after) for row in reversed(rows)]


async def state_of(bot: World, user: FakeUser) -> object:
    return decode(await store_of(bot).get_flow(user.id))


def tr(language: str, message: str, **values: object) -> str:
    """`message` as an admin speaking `language` reads it (tags left out, as the chat shows it)."""
    return I18n(language)._(message, **values).replace("<b>", "").replace("</b>", "")


async def open_prices(bot: World, language: str = "en", admin_id: int = ADMIN) -> FakeUser:
    admin = bot.user(admin_id, language)
    await bot.send(admin, "/admin")
    await bot.press(admin, tr(language, "💲 Prices"))
    assert tr(language, "<b>Shop prices</b> (in {currency})", currency="USD") in admin.last_text
    return admin


async def open_category(bot: World, admin: FakeUser, name: str = FOLLOWERS) -> None:
    await bot.press(admin, "📂 Categories")
    await bot.press(admin, name)
    assert name in admin.last_text


async def open_service(bot: World, admin: FakeUser, service_id: int = HQ) -> None:
    await bot.press(admin, "🔎 Service by id")
    await bot.send(admin, str(service_id))


# --- the overview and who may use it ------------------------------------------------------


async def test_the_shop_overview_offers_prices_and_figures(tmp_path: Path) -> None:
    async with world(tmp_path, **SHOP) as bot:
        admin = bot.user(ADMIN)
        await bot.send(admin, "/admin")
        assert [("💲 Prices", "Ph"), ("📊 Figures", "Pf")] in admin.last_buttons
        await bot.press(admin, "💲 Prices")
        text = admin.last_text
        assert "Markup: +30% over the panel's rates (the default, SHOP_MARKUP)" in text
        assert "Minimum charge per order: $0.00 (the default, SHOP_MINIMUM)" in text
        assert "the markup prices everything" in text


async def test_prices_and_figures_are_for_admins_of_a_shop_only(tmp_path: Path) -> None:
    async with world(tmp_path, **SHOP) as bot:
        ann = bot.user(1001)
        await bot.send(ann, "/start")
        await bot.send(ann, "/admin")
        assert ann.last_text == UNKNOWN_COMMAND
        for data in ("Ph", "Pm", "Pf", "Pd", "Pl", "Pc:0", f"Pv:h:s:{HQ}:0", "Px:m:0:0", "Pa:p:s:1012:0"):
            await forge(bot, ann, data)
            assert ann.last_text == NOT_FOR_YOU, data
        assert "Price list" not in ann.all_text() and all(m.document is None for m in ann.messages)
        assert await audit(bot) == []
        assert await state_of(bot, ann) is None
    async with world(tmp_path / "own", admin_ids="42") as bot:
        admin = await bot.linked_user(ADMIN)
        await bot.send(admin, "/admin")
        assert not any(data == "Ph" for row in admin.last_buttons for _, data in row)
        await forge(bot, admin, "Ph")
        assert admin.last_text == "Prices and figures are for shop mode (MODE=shop) only."


# --- the markup and the minimum -------------------------------------------------------------


@pytest.mark.parametrize(("language", "typed", "shown"), [
    ("en", "12.5", "+12.5%"),
    ("en", "+12.5 %", "+12.5%"),
    ("ru", "12,5", "+12,5%"),
    ("pt_BR", "12,5", "+12,5%"),
])
async def test_a_markup_typed_in_the_admins_locale_prices_the_customers_catalog(
        tmp_path: Path, language: str, typed: str, shown: str) -> None:
    async with world(tmp_path, **SHOP) as bot:
        admin = await open_prices(bot, language)
        await bot.press(admin, tr(language, "✏️ Markup"))
        assert isinstance(await state_of(bot, admin), EnteringPrice)
        await bot.send(admin, typed)
        assert tr(language, "✅ {rule}: {before} → {after}", rule=tr(language, "Markup"), before="+30%",
                  after=shown) in admin.last_text
        assert await state_of(bot, admin) is None
        assert (await shop_of(bot).rules()).markup == Decimal("12.5")
        hq = (await customers_see(bot)).get(HQ)
        assert hq is not None and hq.rate == Decimal("2.45") * Decimal("1.125")
        assert await audit(bot) == [(ADMIN, "markup", "", None, "percent=12.5")]


@pytest.mark.parametrize(("language", "bad", "example"), [
    ("en", ["abc", "12,5", "1e5", "NaN", "-100", "-250", "0.000000001", "1000000"], "12.5"),
    ("ru", ["abc", "12,5,5", "1e5", "-100", "١٢"], "12,5"),
])
async def test_a_bad_markup_gets_a_clear_reply_and_keeps_the_step(
        tmp_path: Path, language: str, bad: list[str], example: str) -> None:
    async with world(tmp_path, **SHOP) as bot:
        admin = await open_prices(bot, language)
        await bot.press(admin, tr(language, "✏️ Markup"))
        for typed in bad:
            await bot.send(admin, typed)
            reply = admin.last_text
            assert tr(language, "That is not a number. Send it like {example}, or /cancel.", example=example) == reply \
                or tr(language, "Send another value, or /cancel.") in reply, (typed, reply)
            assert await state_of(bot, admin) == EnteringPrice("markup", "", "percent"), typed
        assert await audit(bot) == []
        assert (await shop_of(bot).rules()).markup == Decimal(30)
        # Then a good one: a negative markup is allowed, with a warning that prices stay at cost at least.
        await bot.send(admin, "-10")
        assert tr(language, "✅ {rule}: {before} → {after}", rule=tr(language, "Markup"), before="+30%",
                  after="-10%") in admin.last_text
        assert tr(language, "⚠️ A negative percent sells below the panel's rate; a price never goes below the "
                            "panel's cost, so where it would, the service sells at cost.") in admin.last_text
        assert (await customers_see(bot)).get(HQ).rate == Decimal("2.45")  # type: ignore[union-attr]


async def test_the_reasons_a_value_is_refused(tmp_path: Path) -> None:
    async with world(tmp_path, **SHOP) as bot:
        admin = await open_prices(bot)
        await bot.press(admin, "✏️ Markup")
        await bot.send(admin, "-100")
        assert "A percent must be above -100 and below 1,000,000: at -100 everything would be free." in admin.last_text
        await bot.send(admin, "0.000000001")
        assert "Use at most 8 decimal places." in admin.last_text
        await bot.send(admin, "/cancel")
        await bot.send(admin, "/admin")
        await bot.press(admin, "💲 Prices")
        await bot.press(admin, "✏️ Minimum")
        await bot.send(admin, "-1")
        assert "A price must be 0 or more" in admin.last_text
        assert await audit(bot) == []


async def test_a_minimum_charge_is_set_and_goes_back_to_the_default(tmp_path: Path) -> None:
    async with world(tmp_path, **SHOP) as bot:
        admin = await open_prices(bot)
        await bot.press(admin, "✏️ Minimum")
        await bot.send(admin, "$0.5")
        assert "✅ Minimum charge: $0.00 → $0.50" in admin.last_text
        shop = shop_of(bot)
        rules = await shop.rules()
        assert rules.minimum == Decimal("0.5")
        hq = (await customers_see(bot)).get(HQ)
        assert hq is not None
        # 100 followers at 3.185 per 1000 would be 0.32: the minimum charge makes it 0.50.
        assert shop.price(rules, hq, {"link": "https://instagram.com/x", "quantity": "100"}).low == Decimal("0.50")
        await bot.press(admin, "↩️ Default minimum")
        assert "✅ Minimum charge: $0.50 → $0.00" in admin.last_text
        assert (await shop.rules()).minimum == Decimal(0)
        assert await audit(bot) == [(ADMIN, "minimum", "", None, "per_1000=0.5"),
                                    (ADMIN, "minimum", "", "per_1000=0.5", None)]


# --- a category ----------------------------------------------------------------------------


async def test_a_category_priced_hidden_shown_and_cleared_changes_what_customers_see(tmp_path: Path) -> None:
    async with world(tmp_path, **SHOP) as bot:
        panel = await panel_catalog(bot)
        followers = {s.id: s.rate for s in panel.in_category(FOLLOWERS)}
        admin = await open_prices(bot)
        await open_category(bot, admin)
        assert "4 services; panel rates $0.32 to $6.80 per 1000" in admin.last_text
        assert "Price: the markup, +30%" in admin.last_text

        await bot.press(admin, "% Percent")
        await bot.send(admin, "50")
        assert f"✅ Category “{FOLLOWERS}”: none → +50% over the panel's rate" in admin.last_text
        seen = await customers_see(bot)
        assert {i: seen.get(i).rate for i in followers} == {i: r * Decimal("1.5") for i, r in followers.items()}  # type: ignore[union-attr]
        other = next(s for s in panel if s.category != FOLLOWERS)
        assert seen.get(other.id).rate == other.rate * Decimal("1.3")  # type: ignore[union-attr]

        await bot.press(admin, "💵 Price per 1000")
        await bot.send(admin, "1,5")
        assert "That is not a number. Send it like 12.5" in admin.last_text  # "1,5" is no number in English
        await bot.send(admin, "1.5")
        dearer = sum(1 for rate in followers.values() if rate > Decimal("1.5"))
        assert dearer and f"The panel charges more than that for {dearer} services" in admin.last_text
        seen = await customers_see(bot)
        assert {i: seen.get(i).rate for i in followers} == {i: max(r, Decimal("1.5")) for i, r in followers.items()}  # type: ignore[union-attr]

        await bot.press(admin, "🙈 Hide")
        assert "🙈 Hidden from customers." in admin.last_text
        seen = await customers_see(bot)
        assert FOLLOWERS not in seen.categories and not any(i in seen for i in followers)
        assert len(seen) == len(panel) - len(followers)
        await bot.press(admin, "🧹 Clear price")  # the price goes; hidden stays
        assert FOLLOWERS not in (await customers_see(bot)).categories
        await bot.press(admin, "👁 Show")
        assert "👁 Customers see it." in admin.last_text
        seen = await customers_see(bot)
        assert {i: seen.get(i).rate for i in followers} == {i: r * Decimal("1.3") for i, r in followers.items()}  # type: ignore[union-attr]
        assert await store_of(bot).price_rules() == []
        assert await audit(bot) == [
            (ADMIN, "category", FOLLOWERS, None, "percent=50"),
            (ADMIN, "category", FOLLOWERS, "percent=50", "per_1000=1.5"),
            (ADMIN, "category", FOLLOWERS, "per_1000=1.5", "per_1000=1.5 hidden"),
            (ADMIN, "category", FOLLOWERS, "per_1000=1.5 hidden", "hidden"),
            (ADMIN, "category", FOLLOWERS, "hidden", None),
        ]


async def test_a_customer_browsing_sees_an_admins_change_at_once(tmp_path: Path) -> None:
    async with world(tmp_path, **SHOP) as bot:
        ann = bot.user(1001)
        await bot.send(ann, "/start")
        await bot.send(ann, str(HQ))
        assert "Rate per 1000: $3.185" in ann.last_text
        admin = await open_prices(bot)
        await open_service(bot, admin)
        await bot.press(admin, "% Percent")
        await bot.send(admin, "100")
        await bot.send(ann, str(HQ))
        assert "Rate per 1000: $4.90" in ann.last_text
        await bot.press(admin, "◀ Prices")
        await open_category(bot, admin)
        await bot.press(admin, "🙈 Hide")
        await bot.send(ann, str(HQ))
        assert f"There is no service {HQ} on this panel." in ann.last_text
        await bot.send(ann, "/order")
        await bot.press(ann, ann.last_buttons[0][0][0])  # Instagram
        assert "Instagram: choose a category." in ann.last_text
        assert FOLLOWERS not in [label for row in ann.last_buttons for label, _ in row]
        await bot.press(admin, "👁 Show")
        await bot.send(ann, "/order")
        await bot.press(ann, ann.last_buttons[0][0][0])
        assert FOLLOWERS in [label for row in ann.last_buttons for label, _ in row]


async def test_the_category_list_pages_and_marks_hidden_and_priced_ones(tmp_path: Path) -> None:
    async with world(tmp_path, **SHOP) as bot:
        panel = await panel_catalog(bot)
        admin = await open_prices(bot)
        await open_category(bot, admin)
        await bot.press(admin, "🙈 Hide")
        await bot.press(admin, "◀ Categories")
        labels = [label for row in admin.last_buttons for label, data in row if data and data.startswith("Pk:")]
        assert labels[0] == f"🙈 {FOLLOWERS}" and len(labels) == 8
        await bot.press(admin, "Next ▶")
        labels = [label for row in admin.last_buttons for label, data in row if data and data.startswith("Pk:")]
        assert labels == panel.categories[8:16]


async def test_a_category_button_made_before_the_catalog_changed_changes_nothing(tmp_path: Path) -> None:
    async with world(tmp_path, **SHOP) as bot:
        admin = await open_prices(bot)
        # Index 0 with another name's checksum: the category there is not the one the button showed.
        for data in ("Pv:h:c:0:1", "Pa:p:c:0:1", "Px:c:0:1", "Pk:0:1", "Pv:h:c:999:1"):
            await forge(bot, admin, data)
            assert "The panel's categories changed since this screen was made: nothing was changed." in admin.last_text
        assert await state_of(bot, admin) is None
        assert await audit(bot) == []


# --- a service ------------------------------------------------------------------------------


async def test_a_service_by_id_priced_below_cost_sells_at_cost_and_hidden_leaves_the_catalog(tmp_path: Path) -> None:
    async with world(tmp_path, **SHOP) as bot:
        admin = await open_prices(bot)
        await bot.press(admin, "🔎 Service by id")
        await bot.send(admin, "twelve")
        assert "That is not a service id." in admin.last_text
        assert await state_of(bot, admin) == FindingService()
        await bot.send(admin, "99999")
        assert "Service #99999 is not in the panel's catalog." in admin.last_text
        await bot.press(admin, "🔎 Another service")
        await bot.send(admin, str(HQ))
        text = admin.last_text
        assert "Panel rate: $2.45 per 1000" in text and "Customers pay: $3.185 per 1000" in text
        assert "Price: the markup, +30%" in text

        await bot.press(admin, "💵 Price per 1000")
        await bot.send(admin, "1")
        assert f"✅ Service #{HQ}: none → $1.00 per 1000" in admin.last_text
        assert "The panel charges more than that for 1 service: it sells at the panel's rate" in admin.last_text
        assert "Customers pay: $2.45 per 1000" in admin.last_text
        assert (await customers_see(bot)).get(HQ).rate == Decimal("2.45")  # type: ignore[union-attr]

        await bot.press(admin, "% Percent")
        await bot.send(admin, "100")
        assert "Customers pay: $4.90 per 1000" in admin.last_text and "Price: its own, +100%" in admin.last_text

        await bot.press(admin, "🙈 Hide")
        assert HQ not in await customers_see(bot)
        await bot.press(admin, "👁 Show")
        await bot.press(admin, "🧹 Clear price")
        assert "Price: the markup, +30%" in admin.last_text
        assert (await customers_see(bot)).get(HQ).rate == Decimal("2.45") * Decimal("1.3")  # type: ignore[union-attr]
        key = str(HQ)
        assert await audit(bot) == [
            (ADMIN, "service", key, None, "per_1000=1"),
            (ADMIN, "service", key, "per_1000=1", "percent=100"),
            (ADMIN, "service", key, "percent=100", "percent=100 hidden"),
            (ADMIN, "service", key, "percent=100 hidden", "percent=100"),
            (ADMIN, "service", key, "percent=100", None),
        ]


async def test_a_service_takes_its_categorys_price_until_it_has_its_own(tmp_path: Path) -> None:
    async with world(tmp_path, **SHOP) as bot:
        admin = await open_prices(bot)
        await open_category(bot, admin)
        await bot.press(admin, "% Percent")
        await bot.send(admin, "10")
        await bot.press(admin, "◀ Prices")
        await open_service(bot, admin)
        assert "Price: its category's, +10% over the panel's rate" in admin.last_text
        await bot.press(admin, "% Percent")
        await bot.send(admin, "20")
        assert "Price: its own, +20% over the panel's rate" in admin.last_text
        assert (await customers_see(bot)).get(HQ).rate == Decimal("2.45") * Decimal("1.2")  # type: ignore[union-attr]


# --- the audit ------------------------------------------------------------------------------


async def test_recent_changes_say_who_when_and_before_after_in_the_admins_locale(tmp_path: Path) -> None:
    async with world(tmp_path, **SHOP) as bot:
        first = await open_prices(bot, "en")
        await bot.press(first, "✏️ Markup")
        await bot.send(first, "25")
        second = await open_prices(bot, "ru", admin_id=43)
        await bot.press(second, tr("ru", "📂 Categories"))
        await bot.press(second, FOLLOWERS)
        await bot.press(second, tr("ru", "🙈 Hide"))
        await bot.press(second, tr("ru", "◀ Prices"))
        await bot.press(second, tr("ru", "🕓 Recent changes"))
        changes = await store_of(bot).price_changes()
        lines = second.last_text.split("\n")
        when = [format_datetime(c.created_at.replace(tzinfo=UTC) if c.created_at.tzinfo is None else c.created_at,
                                format="medium", tzinfo=UTC, locale="ru") + " UTC" for c in changes]
        row = "{when} · admin {admin}: {rule}: {before} → {after}"
        assert lines[1] == "• " + tr("ru", row, when=when[0], admin=43, rule=tr("ru", "Category “{name}”", name=FOLLOWERS),
                                     before=tr("ru", "none"), after=tr("ru", "hidden"))
        assert lines[2] == "• " + tr("ru", row, when=when[1], admin=42, rule=tr("ru", "Markup"),
                                     before=tr("ru", "the default"), after="+25%")


# --- the price list -------------------------------------------------------------------------


@pytest.mark.parametrize("dump", ["smmkings-services.json", "smmwiz-services.json"])
async def test_the_price_list_of_a_real_catalog_is_a_file_of_every_visible_service(tmp_path: Path, dump: str) -> None:
    async with world(tmp_path, catalog=DATA / dump, balance="1000", **SHOP) as bot:
        panel = await panel_catalog(bot)
        hidden_category = panel.categories[0]
        priced = next(s for s in panel if s.category != hidden_category and s.rate > 0)
        admin = await open_prices(bot)
        await open_category(bot, admin, hidden_category)
        await bot.press(admin, "🙈 Hide")
        await bot.press(admin, "◀ Prices")
        await open_service(bot, admin, priced.id)
        await bot.press(admin, "💵 Price per 1000")
        fixed = priced.rate * 2
        await bot.send(admin, format(fixed, "f"))
        await bot.press(admin, "◀ Prices")
        await bot.press(admin, "📄 Price list")

        message = admin.last_message
        assert message is not None and message.document is not None and message.file is not None
        assert message.document["file_name"].startswith("prices-") and message.document["file_name"].endswith(".csv")
        visible = [s for s in panel if s.category != hidden_category]
        assert message.text == (f"Price list: {len(visible):,} services customers see "
                                f"({len(panel) - len(visible):,} hidden), per 1000 in USD. Markup +30%; "
                                "minimum charge per order $0.00.")
        rows = list(csv.reader(io.StringIO(message.file.decode("utf-8-sig"))))
        assert rows[0] == ["Service", "Name", "Category", "Type", "Panel rate per 1000 (USD)",
                           "Price per 1000 (USD)", "Margin %"]
        body = {int(row[0]): row for row in rows[1:]}
        assert len(body) == len(rows) - 1 == len(visible)
        assert not any(row[2] == hidden_category for row in rows[1:])
        for service in visible:
            row = body[service.id]
            assert row[1:4] == [service.name, service.category, service.type]
            assert Decimal(row[4]) == service.rate
            if service.id == priced.id:
                assert Decimal(row[5]) == fixed and Decimal(row[6]) == Decimal(100)
            else:
                assert Decimal(row[5]) == service.rate * Decimal("1.3")
                assert row[6] == "" if service.rate == 0 else Decimal(row[6]) == 30


# --- the figures ----------------------------------------------------------------------------


async def account_id(bot: World) -> int:
    account = await store_of(bot).account_for(None, bot.sandbox.url)
    assert account is not None and account.id is not None
    return account.id


async def entry(store: Store, user_id: int, amount: str, kind: str, reference: str, at: datetime) -> None:
    """A ledger entry as booked at `at` (the ledger's own `book` stamps the present)."""
    async with store.session() as s:
        s.add(LedgerEntry(user_id=user_id, amount=Decimal(amount), kind=kind, reference=reference, created_at=at))


async def order(bot: World, number: int, at: datetime, *, service: int = HQ, name: str = "HQ followers",
                charge: str | None = None, cost: str | None = None, refunded: str | None = None,
                paid: bool = True) -> None:
    await add_order(store_of(bot), panel_order_id=number, account_id=await account_id(bot), user_id=1001,
                    service_id=service, service_name=name, charge=None if charge is None else Decimal(charge),
                    cost=None if cost is None else Decimal(cost),
                    refunded=None if refunded is None else Decimal(refunded), paid=paid, created_at=at)


@pytest.mark.parametrize("db", DATABASES)
async def test_figures_add_up_top_ups_sales_spend_and_margin_per_day_and_month(tmp_path: Path, db: str) -> None:
    async with world(tmp_path, db=db, **SHOP) as bot:
        store = store_of(bot)
        now = datetime(2026, 3, 15, 12, 0, tzinfo=UTC)
        today, earlier, last_month = now - timedelta(hours=2), now - timedelta(days=5), now - timedelta(days=20)
        await entry(store, 1001, "10.00", "topup", "t1", today)
        await entry(store, 1002, "25.50", "topup", "t2", earlier)
        await entry(store, 1002, "-5.25", "topup_refund", "t2:refund", today)
        await entry(store, 1001, "-2.00", "topup_refund", "t1:refund", today)  # Telegram refused this refund:
        await entry(store, 1001, "2.00", "topup_refund_undo", "t1:refund:undo", today)  # booked back
        await entry(store, 1001, "99.00", "topup", "t0", last_month)
        await entry(store, 1001, "-3.19", "hold", "draft:1:hold:1", today)  # not a top-up
        await entry(store, 1001, "1.00", "credit", "admin:1", today)
        await entry(store, 1001, "0.00000001", "referral", "ref:1", earlier)

        await order(bot, 1, today, charge="3.19", cost="2.45")
        await order(bot, 2, today, charge="6.37", cost="4.90", refunded="3.19", service=1021, name="Likes")
        await order(bot, 3, earlier, charge="10.00", cost="7.70", service=1021, name="Likes")
        await order(bot, 4, earlier, charge="0.01", cost="0.00000001", service=1031, name="Comments")
        await order(bot, 5, last_month, charge="50.00", cost="40.00")
        await order(bot, 6, today, cost="1.00", paid=False)  # placed by the shop, nobody paid for it

        figures = await shop_figures.figures(store, now=now)
        assert figures.today.topups == Decimal("4.75")
        assert figures.today.sales == Decimal("6.37")  # 3.19 + 6.37 - 3.19
        assert figures.today.spend == Decimal("8.35")
        assert figures.today.margin == Decimal("-1.98")
        assert figures.today.orders == 2
        assert figures.month.topups == Decimal("30.25")
        assert figures.month.sales == Decimal("16.38")
        assert figures.month.spend == Decimal("16.05000001")
        assert figures.month.margin == Decimal("0.32999999")
        assert figures.month.orders == 4
        assert figures.wallets == Decimal("127.06000001")
        assert [(t.service_id, t.name, t.orders, t.sales) for t in figures.top] == [
            (1021, "Likes", 2, Decimal("13.18")), (HQ, "HQ followers", 1, Decimal("3.19")),
            (1031, "Comments", 1, Decimal("0.01")),
        ]


@pytest.mark.parametrize("db", DATABASES)
async def test_money_sums_stay_exact_to_the_last_decimal(tmp_path: Path, db: str) -> None:
    async with world(tmp_path, db=db, **SHOP) as bot:
        store = store_of(bot)
        # Added up as binary floating point (SQLite's REAL), this comes to ...86419944.
        amounts = [Decimal("0.00000001")] * 500 + [Decimal("-0.00000003")] * 100 + \
            [Decimal("9876543.12345678")] * 7 + [Decimal("0.1"), Decimal("0.2"), Decimal("-0.3"), Decimal("-7")]
        async with store.session() as s:
            for number, amount in enumerate(amounts):
                s.add(LedgerEntry(user_id=1001, amount=amount, kind="topup", reference=f"x{number}"))
        assert await shop_figures.wallets_total(store) == sum(amounts, Decimal(0)) == Decimal("69135794.86419946")
        month = await shop_figures.period_figures(store, shop_figures.month_start(datetime.now(UTC)))
        assert month.topups == Decimal("69135794.86419946")


@pytest.mark.parametrize("db", DATABASES)
async def test_the_figures_screen_warns_when_the_panel_holds_less_than_the_wallets(tmp_path: Path, db: str) -> None:
    async with world(tmp_path, db=db, balance="100", **SHOP) as bot:
        store = store_of(bot)
        await store.book(Movement(1001, Decimal("120.50"), "topup", "charge-1"))
        await store.book(Movement(1002, Decimal("30"), "topup", "charge-2"))
        await store.book(Movement(1002, Decimal("-10"), "topup_refund", "charge-2:refund"))
        now = datetime.now(UTC)
        await order(bot, 1, now, charge="3.19", cost="2.45")
        admin = bot.user(ADMIN)
        await bot.send(admin, "/admin")
        await bot.press(admin, "📊 Figures")
        text = admin.last_text
        today = text[text.index("Today"):text.index("This month")]
        assert "Top-ups: $140.50" in today and "Sales: $3.19 (1 order)" in today
        assert "Panel spend: $2.45" in today and "Margin: $0.74" in today
        assert "Wallets total: $140.50 (what the shop owes its customers)" in text
        assert "Panel balance: $100.00" in text
        assert "⚠️ The panel balance is lower than the wallets total by $40.50" in text
        assert "1. #1012 HQ followers: $3.19 (1 order)" in text

        bot.sandbox.set_balance(KEY, "500")
        shop_of(bot).accounts._balances.clear()  # noqa: SLF001 - the balance is cached for a few seconds
        await bot.press(admin, "🔄 Refresh")
        assert "✅ The panel balance covers the wallets total." in admin.last_text
