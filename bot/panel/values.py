"""How panels write numbers, flags and text, read tolerantly: "12.5", 12.5, "1,000",
"Unknown", "yes", HTML entities and invisible characters."""

from __future__ import annotations

import html
import math
import re
from decimal import Decimal, InvalidOperation


def to_decimal(value: object) -> Decimal | None:
    """A money amount from a string, int or float; never through binary floating point."""
    if value is None or isinstance(value, bool):
        return None
    if isinstance(value, Decimal):
        return value
    if isinstance(value, int):
        return Decimal(value)
    if isinstance(value, float):
        return Decimal(repr(value)) if math.isfinite(value) else None
    if isinstance(value, str):
        text = value.strip().replace("\u00a0", "").replace(" ", "")
        if not text:
            return None
        if "," in text and "." not in text:
            # "1,500" groups thousands; "0,90" and "1,5" use a decimal comma.
            grouped = re.fullmatch(r"[1-9]\d{0,2}(,\d{3})+", text.lstrip("+-")) is not None
            text = text.replace(",", "") if grouped else text.replace(",", ".")
        else:
            text = text.replace(",", "")
        try:
            result = Decimal(text)
        except InvalidOperation:
            return None
        return result if result.is_finite() else None
    return None


def to_int(value: object) -> int | None:
    """An integer from an int, a numeric string or an integral float; `None` for
    "Unknown", empty or anything else."""
    if value is None or isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value
    number = to_decimal(value)
    if number is None:
        return None
    try:
        return int(number)
    except (ValueError, OverflowError):
        return None


_TRUE = {"1", "true", "yes", "on", "y"}


def to_bool(value: object) -> bool:
    """A flag given as bool, 0/1, "true"/"false", or missing (False)."""
    if isinstance(value, bool):
        return value
    if isinstance(value, (int, float)):
        return value != 0
    if isinstance(value, str):
        return value.strip().lower() in _TRUE
    return False


_SPACES = re.compile(r"\s+")
# Control characters that are not whitespace, and invisible formatting that can make
# a name read misleadingly (zero-width space, bidi overrides and isolates). ZWJ/ZWNJ
# stay: emoji sequences need them.
_INVISIBLE = re.compile(r"[\x00-\x08\x0e-\x1b\x7f-\x84\x86-\x9f\u200b\u200e\u200f\u202a-\u202e\u2066-\u2069\ufeff]")


def clean_text(value: object) -> str:
    """Catalog text as a person should read it: entities decoded (even `&amp;amp;amp;`),
    tabs and NBSP as plain spaces, runs of spaces folded, invisible characters dropped,
    ends trimmed."""
    text = value if isinstance(value, str) else ("" if value is None else str(value))
    if "&" not in text and text.isprintable():
        # Most names: nothing to decode or drop (isprintable() is False for every
        # control, format and whitespace character except " ").
        return (text if "  " not in text else _SPACES.sub(" ", text)).strip()
    for _ in range(8):
        decoded = html.unescape(text)
        if decoded == text:
            break
        text = decoded
    return _SPACES.sub(" ", _INVISIBLE.sub("", text)).strip()


def type_key(name: str) -> str:
    """A service type as a key, however the panel spells it: `'Custom Comments'`,
    `'custom_comments'`, `' custom-comments '` -> `'customcomments'`."""
    return re.sub(r"[\s_\-]+", "", name).casefold()
