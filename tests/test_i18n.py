"""Every message in the code is in every catalog, translated, with the same placeholders
and tags; locales resolve as PRODUCT.md says; numbers and money follow the locale."""

from __future__ import annotations

import re
import unicodedata
from decimal import Decimal
from pathlib import Path

import pytest
from babel.messages.extract import extract_from_dir
from babel.messages.pofile import read_po

from bot.i18n import LOCALES_DIR, I18n, available_locales, best_locale, normalize_locale

ROOT = Path(__file__).resolve().parent.parent
KEYWORDS = {"_": None, "gettext": None, "ngettext": (1, 2)}
PLACEHOLDER = re.compile(r"\{(\w+)\}")
TAG = re.compile(r"</?\w+>")


def source_messages() -> set[str | tuple[str, str]]:
    found: set[str | tuple[str, str]] = set()
    for _file, _line, message, _comments, _context in extract_from_dir(
        str(ROOT / "bot"), method_map=[("**.py", "python")], keywords=KEYWORDS
    ):
        found.add(message if isinstance(message, str) else (message[0], message[1]))
    return found


LANGUAGES = {"en", "ru", "es", "pt_BR", "tr", "hi", "id", "ar"}


def test_there_are_catalogs_for_the_eight_languages() -> None:
    assert set(available_locales()) == LANGUAGES
    assert available_locales()[0] == "en"


@pytest.mark.parametrize("locale", sorted(LANGUAGES - {"en"}))
def test_each_language_is_really_translated(locale: str) -> None:
    # Every catalog says something else than English for the bot's main phrases.
    t = I18n(locale)
    for message in ("What I can do", "Confirm", "<b>Check your order</b>", "Cancelled. Nothing was ordered."):
        assert t._(message) not in ("", message)


def test_arabic_messages_start_right_to_left() -> None:
    """Telegram picks a paragraph's direction from its first strong letter: an Arabic
    message that began with Latin text (a command, a placeholder) would read LTR."""
    with (LOCALES_DIR / "ar" / "LC_MESSAGES" / "messages.po").open("rb") as handle:
        catalog = read_po(handle, locale="ar")
    wrong = []
    for entry in catalog:
        if not entry.id:
            continue
        for text in entry.string if isinstance(entry.string, (list, tuple)) else [entry.string]:
            if text == entry.id:
                continue  # a brand kept as it is (iOS)
            plain = TAG.sub("", PLACEHOLDER.sub("", text))
            strong = next((unicodedata.bidirectional(ch) for ch in plain if unicodedata.bidirectional(ch) in ("L", "R", "AL")), None)
            source_has_letters = any(ch.isalpha() for ch in TAG.sub("", PLACEHOLDER.sub("", str(entry.id))))
            if source_has_letters and strong == "L":
                wrong.append(text)
    assert not wrong, "\n".join(wrong)


@pytest.mark.parametrize("locale", available_locales())
def test_every_catalog_has_every_message_translated_with_the_same_placeholders(locale: str) -> None:
    with (LOCALES_DIR / locale / "LC_MESSAGES" / "messages.po").open("rb") as handle:
        catalog = read_po(handle, locale=locale)
    problems = []
    for message in source_messages():
        msgid = message if isinstance(message, str) else message[0]
        entry = catalog.get(msgid)
        if entry is None:
            problems.append(f"missing: {msgid!r}")
            continue
        if entry.fuzzy:
            problems.append(f"fuzzy: {msgid!r}")
        strings = entry.string if isinstance(entry.string, (list, tuple)) else [entry.string]
        ids = message if isinstance(message, tuple) else (message,)
        wanted = set().union(*(PLACEHOLDER.findall(i) for i in ids))
        wanted_tags = sorted(TAG.findall(ids[0]))
        for text in strings:
            if not text:
                problems.append(f"untranslated: {msgid!r}")
            elif set(PLACEHOLDER.findall(text)) - wanted or (not isinstance(message, tuple) and set(PLACEHOLDER.findall(text)) != wanted):
                problems.append(f"placeholders differ: {msgid!r} -> {text!r}")
            elif sorted(TAG.findall(text)) != wanted_tags:
                problems.append(f"tags differ: {msgid!r} -> {text!r}")
    assert not problems, "\n".join(sorted(problems))


@pytest.mark.parametrize(
    ("code", "expected"), [("pt-br", "pt_BR"), ("en", "en"), ("ru-RU", "ru_RU"), ("", None), ("xx-invalid-1", None)]
)
def test_telegram_language_codes_are_normalised(code: str, expected: str | None) -> None:
    assert normalize_locale(code) == expected


def test_locale_resolution_order_stored_then_telegram_then_default() -> None:
    assert best_locale("ru", "en", default="en") == "ru"
    assert best_locale(None, "ru-RU", default="en") == "ru"
    assert best_locale(None, "ko", default="ru") == "ru"
    assert best_locale(None, None, default="en") == "en"


def test_money_and_numbers_follow_the_locale() -> None:
    assert I18n("en").money(Decimal("1234.5"), "USD") == "$1,234.50"
    assert I18n("ru").money(Decimal("1234.5"), "RUB") == "1\xa0234,50\xa0₽"
    assert I18n("en").money(Decimal("0.27819"), "USD") == "$0.27819"
    assert I18n("en").number(10000) == "10,000"
    assert I18n("ru").number(10000) == "10\xa0000"


def test_translations_are_per_instance_not_global() -> None:
    assert I18n("ru")._("What I can do") != I18n("en")._("What I can do")
    assert I18n("en")._("What I can do") == "What I can do"
