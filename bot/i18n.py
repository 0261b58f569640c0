"""Languages: gettext catalogs from `locales/`, the user's locale, and babel formatting.

Catalogs are read from the `.po` sources and compiled in memory at first use, so a
fresh clone or a `Procfile` host needs no build step and cannot run stale `.mo` files.
"""

from __future__ import annotations

import gettext
import io
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import ROUND_HALF_UP, Decimal
from functools import cache
from html import escape
from pathlib import Path

from babel import Locale, UnknownLocaleError
from babel.dates import format_datetime
from babel.messages.mofile import write_mo
from babel.messages.pofile import read_po
from babel.numbers import format_currency, format_decimal, format_percent

# Inside the package (a link to the top-level locales/ in a source tree, real files in an
# installed wheel), so that every kind of install finds the catalogs.
LOCALES_DIR = Path(__file__).parent / "locales"
DOMAIN = "messages"
SOURCE_LOCALE = "en"


def normalize_locale(code: str | None) -> str | None:
    """Telegram's `pt-br` -> `pt_BR`; `None` for empty or unknown codes."""
    if not code:
        return None
    try:
        return str(Locale.parse(code.strip().replace("-", "_")))
    except (ValueError, UnknownLocaleError, TypeError):
        return None


@cache
def available_locales() -> tuple[str, ...]:
    """Locales with a catalog under `locales/`, English (the source language) first."""
    found = sorted(p.parent.parent.name for p in LOCALES_DIR.glob(f"*/LC_MESSAGES/{DOMAIN}.po"))
    return (SOURCE_LOCALE, *[code for code in found if code != SOURCE_LOCALE])


def best_locale(*candidates: str | None, default: str = SOURCE_LOCALE) -> str:
    """The first candidate we have a catalog for (exact, then its language alone)."""
    have = available_locales()
    for candidate in candidates:
        code = normalize_locale(candidate)
        if code is None:
            continue
        if code in have:
            return code
        language = code.split("_")[0]
        if language in have:
            return language
    return default if default in have else SOURCE_LOCALE


@cache
def _translations(locale: str) -> gettext.NullTranslations:
    path = LOCALES_DIR / locale / "LC_MESSAGES" / f"{DOMAIN}.po"
    if not path.exists():
        return gettext.NullTranslations()
    with path.open("rb") as handle:
        catalog = read_po(handle, locale=locale)
    buffer = io.BytesIO()
    write_mo(buffer, catalog, use_fuzzy=False)
    buffer.seek(0)
    return gettext.GNUTranslations(buffer)


def _rounded(amount: Decimal, places: int = 5) -> Decimal:
    """At most `places` decimals, trailing zeros dropped, but money keeps two."""
    value = amount.quantize(Decimal(1).scaleb(-places), rounding=ROUND_HALF_UP).normalize()
    exponent = value.as_tuple().exponent
    if isinstance(exponent, int) and exponent > -2:  # not 'n'/'N'/'F': a finite amount
        value = value.quantize(Decimal("0.01"))
    return value


@dataclass(frozen=True, slots=True)
class I18n:
    """One update's language: translations and formatting for one locale."""

    locale: str

    def gettext(self, message: str, **params: object) -> str:
        text = _translations(self.locale).gettext(message)
        return text.format(**params) if params else text

    _ = gettext

    def ngettext(self, singular: str, plural: str, n: int, **params: object) -> str:
        text = _translations(self.locale).ngettext(singular, plural, n)
        return text.format(n=self.number(n), **params)

    def money(self, amount: Decimal, currency: str | None, *, html: bool = True) -> str:
        """The amount in the panel's currency, ready for an HTML message: the currency is
        the panel's text (`R&D`, even a tag), so it is escaped here, where every message
        gets its money. `html=False` for plain text (button labels)."""
        value = _rounded(amount)
        if not currency:
            return format_decimal(value, locale=self.locale, decimal_quantization=False)
        try:
            text = format_currency(value, currency, locale=self.locale, currency_digits=False,
                                   decimal_quantization=False)
        except (ValueError, UnknownLocaleError):
            text = f"{format_decimal(value, locale=self.locale, decimal_quantization=False)} {currency}"
        return escape(text, quote=False) if html else text

    def number(self, value: int | Decimal) -> str:
        return format_decimal(value, locale=self.locale)

    def percent(self, share: Decimal) -> str:
        """0.6 -> "60%" (or "60 %", "%60", as the locale writes it), in whole percent."""
        return format_percent(share, locale=self.locale)

    def datetime(self, when: datetime) -> str:
        if when.tzinfo is None:
            when = when.replace(tzinfo=UTC)
        return format_datetime(when, format="medium", tzinfo=UTC, locale=self.locale) + " UTC"

    def language_name(self) -> str:
        return Locale.parse(self.locale).get_display_name(self.locale) or self.locale


def _(message: str) -> str:
    """Mark a message for extraction where it is translated later (e.g. constants)."""
    return message
