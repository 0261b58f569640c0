"""How shop mode's admin screens read: a price rule in words, the audit's lines, the figures,
and the price list file (CSV: what customers pay for each visible service)."""

from __future__ import annotations

import csv
import io
from decimal import Decimal

from babel.numbers import format_percent

from bot.domain.pricing import HUNDRED, PriceRules
from bot.i18n import I18n
from bot.panel.catalog import Catalog
from bot.store.shop_figures import Figures, Period
from bot.views.markup import clip, esc

RuleValue = tuple[Decimal | None, Decimal | None, bool]

_PERCENT = "+#,##0.########%;-#,##0.########%"


def percent(t: I18n, value: Decimal) -> str:
    """30 -> "+30%", -12.5 -> "-12.5%" (as the admin's locale writes it)."""
    return format_percent(value / HUNDRED, _PERCENT, locale=t.locale)


def read_described(text: str | None) -> RuleValue | None:
    """The audit's stored form ("percent=30 hidden", bot/store/prices.py `describe`) as a value."""
    if not text:
        return None
    percent_value: Decimal | None = None
    per_1000: Decimal | None = None
    hidden = False
    for part in text.split():
        name, _, number = part.partition("=")
        if name == "percent":
            percent_value = Decimal(number)
        elif name == "per_1000":
            per_1000 = Decimal(number)
        elif name == "hidden":
            hidden = True
    return percent_value, per_1000, hidden


def rule_text(t: I18n, scope: str, value: RuleValue | None, currency: str) -> str:
    """A rule in words: "+20%", "$1.20 per 1000", "hidden", "$0.50", or "none"."""
    if value is None:
        # In the audit, no row for the markup or the minimum means the settings' default.
        return t._("the default") if scope in ("markup", "minimum") else t._("none")
    percent_value, per_1000, hidden = value
    if scope == "markup" and percent_value is not None:
        return percent(t, percent_value)
    if scope == "minimum" and per_1000 is not None:
        return t.money(per_1000, currency)
    parts = []
    if percent_value is not None:
        parts.append(t._("{percent} over the panel's rate", percent=percent(t, percent_value)))
    if per_1000 is not None:
        parts.append(t._("{price} per 1000", price=t.money(per_1000, currency)))
    if hidden:
        parts.append(t._("hidden"))
    return ", ".join(parts) if parts else t._("none")


def rule_name(t: I18n, scope: str, key: str) -> str:
    """Which rule: the markup, the minimum, a category, a service (escaped for HTML)."""
    if scope == "markup":
        return t._("Markup")
    if scope == "minimum":
        return t._("Minimum charge")
    if scope == "category":
        return t._("Category “{name}”", name=esc(clip(key, 80)))
    return t._("Service #{id}", id=esc(key))


def change_line(t: I18n, *, admin_id: int, when_text: str, scope: str, key: str, before: str | None,
                after: str | None, currency: str) -> str:
    """One audit row: who, when, which rule, before → after."""
    return t._("{when} · admin {admin}: {rule}: {before} → {after}", when=when_text, admin=admin_id,
               rule=rule_name(t, scope, key), before=rule_text(t, scope, read_described(before), currency),
               after=rule_text(t, scope, read_described(after), currency))


def margin_percent(panel: Decimal, shop: Decimal) -> Decimal | None:
    """The shop's margin over the panel's rate in percent, to 0.01; None for a free service."""
    if panel <= 0:
        return None
    return ((shop - panel) * HUNDRED / panel).quantize(Decimal("0.01"))


def price_list_csv(t: I18n, panel: Catalog, rules: PriceRules, currency: str) -> tuple[bytes, int, int]:
    """The price list: one row per service customers see (id, name, category, type, the
    panel's rate, the shop's rate per 1000 and the margin), with a header in the admin's
    language; numbers as plain decimals with a dot, for spreadsheets. UTF-8 with a BOM (so
    that spreadsheet programs read the names right). Also: how many rows, how many hidden."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow([t._("Service"), t._("Name"), t._("Category"), t._("Type"),
                     t._("Panel rate per 1000 ({currency})", currency=currency),
                     t._("Price per 1000 ({currency})", currency=currency), t._("Margin %")])
    shown = hidden = 0
    for service in panel:
        if not rules.visible(service):
            hidden += 1
            continue
        shop = rules.rate(service)
        margin = margin_percent(service.rate, shop)
        writer.writerow([service.id, service.name, service.category, service.type, _plain(service.rate),
                         _plain(shop), "" if margin is None else _plain(margin)])
        shown += 1
    return out.getvalue().encode("utf-8-sig"), shown, hidden


def _plain(value: Decimal) -> str:
    """A decimal as plain digits with a dot: no exponent, no trailing zeros."""
    return format(value.normalize(), "f")


def period_lines(t: I18n, title: str, period: Period, currency: str) -> list[str]:
    """One period's top-ups, sales, panel spend and margin."""
    return [
        f"<b>{title}</b>",
        t._("Top-ups: {amount}", amount=t.money(period.topups, currency)),
        t.ngettext("Sales: {amount} ({n} order)", "Sales: {amount} ({n} orders)", period.orders,
                   amount=t.money(period.sales, currency)),
        t._("Panel spend: {amount}", amount=t.money(period.spend, currency)),
        t._("Margin: {amount}", amount=t.money(period.margin, currency)),
    ]


def figures_text(t: I18n, figures: Figures, currency: str, panel_balance: tuple[Decimal, str | None] | None,
                 panel_error: str | None) -> str:
    """The figures screen: today, this month, wallets against the panel balance, top services."""
    lines = [t._("<b>Shop figures</b> (days and months in UTC)"), ""]
    lines += period_lines(t, t._("Today"), figures.today, currency)
    lines.append("")
    lines += period_lines(t, t._("This month"), figures.month, currency)
    lines += ["", t._("Wallets total: {amount} (what the shop owes its customers)",
                      amount=t.money(figures.wallets, currency))]
    if panel_balance is not None:
        amount, panel_currency = panel_balance
        lines.append(t._("Panel balance: {amount}", amount=t.money(amount, panel_currency or currency)))
        if panel_currency and panel_currency.upper() != currency.upper():
            lines.append(t._("⚠️ The panel's currency ({panel}) is not the shop's ({shop}): compare them yourself.",
                             panel=esc(panel_currency), shop=esc(currency)))
        elif amount < figures.wallets:
            lines.append(t._("⚠️ The panel balance is lower than the wallets total by {amount}: if customers spent "
                             "all their wallets, the panel could not place every order. Top up the panel.",
                             amount=t.money(figures.wallets - amount, currency)))
        else:
            lines.append(t._("✅ The panel balance covers the wallets total."))
    else:
        # `panel_error` is the handlers' wording of the panel's trouble, HTML already.
        lines.append(t._("Panel balance: unknown ({reason})", reason=panel_error or ""))
    lines += ["", t._("<b>Top services this month</b>")]
    if not figures.top:
        lines.append(t._("No paid orders this month yet."))
    for rank, top in enumerate(figures.top, 1):
        lines.append(t.ngettext("{rank}. #{id} {name}: {amount} ({n} order)",
                                "{rank}. #{id} {name}: {amount} ({n} orders)", top.orders, rank=rank,
                                id=top.service_id, name=esc(clip(top.name, 60)),
                                amount=t.money(top.sales, currency)))
    return "\n".join(lines)
