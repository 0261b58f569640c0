"""Typed results of the panel's actions, parsed tolerantly from what real panels send."""

from __future__ import annotations

import html
import math
import re
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from typing import Any

from bot.panel.errors import Refusal, classify

# --- scalar coercion -------------------------------------------------------------------


def to_decimal(value: Any) -> Decimal | None:
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


def to_int(value: Any) -> int | None:
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


def to_bool(value: Any) -> bool:
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


def clean_text(value: Any) -> str:
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


# --- statuses ------------------------------------------------------------------------

PENDING = "Pending"
IN_PROGRESS = "In progress"
PROCESSING = "Processing"
ACTIVE = "Active"
COMPLETED = "Completed"
PARTIAL = "Partial"
CANCELED = "Canceled"
REFUNDED = "Refunded"
FAIL = "Fail"
ERROR = "Error"
REJECTED = "Rejected"

_STATUS_ALIASES = {
    "pending": PENDING,
    "inprogress": IN_PROGRESS,
    "inprogess": IN_PROGRESS,
    "processing": PROCESSING,
    "active": ACTIVE,
    "completed": COMPLETED,
    "complete": COMPLETED,
    "partial": PARTIAL,
    "canceled": CANCELED,
    "cancelled": CANCELED,
    "refunded": REFUNDED,
    "fail": FAIL,
    "failed": FAIL,
    "error": ERROR,
    "rejected": REJECTED,
}

KNOWN_STATUSES = frozenset(_STATUS_ALIASES.values())
FINAL_ORDER_STATUSES = frozenset({COMPLETED, PARTIAL, CANCELED, REFUNDED, FAIL, ERROR})
FINAL_REFILL_STATUSES = frozenset({COMPLETED, REJECTED, CANCELED, FAIL, ERROR, REFUNDED})


def normalize_status(value: Any) -> str:
    """The canonical spelling of a status (`Cancelled` -> `Canceled`, `processing` ->
    `Processing`, `In progess` -> `In progress`); unknown words are kept, trimmed."""
    text = clean_text(value)
    key = re.sub(r"[\s_\-]", "", text.lower())
    return _STATUS_ALIASES.get(key, text)


# --- results ---------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Service:
    id: int
    name: str
    type: str
    category: str
    rate: Decimal
    min: int
    max: int
    refill: bool = False
    cancel: bool = False
    dripfeed: bool = False
    description: str | None = None

    @property
    def type_key(self) -> str:
        from bot.panel.fields import type_key

        return type_key(self.type)

    def to_dict(self) -> dict[str, Any]:
        """The service in the API's own shape (a snapshot `from_api` reads back)."""
        item: dict[str, Any] = {
            "service": self.id, "name": self.name, "type": self.type, "category": self.category,
            "rate": str(self.rate), "min": self.min, "max": self.max, "refill": self.refill,
            "cancel": self.cancel, "dripfeed": self.dripfeed,
        }
        if self.description:
            item["desc"] = self.description
        return item

    @classmethod
    def from_api(cls, item: dict[str, Any]) -> Service | None:
        """One entry of `services`; `None` for an entry without a usable id."""
        service_id = to_int(item.get("service"))
        if service_id is None:
            service_id = to_int(item.get("id"))
        if service_id is None:
            return None
        description = item.get("desc", item.get("description"))
        return cls(
            id=service_id,
            name=clean_text(item.get("name")) or str(service_id),
            type=clean_text(item.get("type")) or "Default",
            category=clean_text(item.get("category")),
            rate=to_decimal(item.get("rate")) or Decimal(0),
            min=to_int(item.get("min")) or 0,
            max=to_int(item.get("max")) or 0,
            refill=to_bool(item.get("refill")),
            cancel=to_bool(item.get("cancel")),
            dripfeed=to_bool(item.get("dripfeed")),
            description=clean_text(description) or None,
        )


@dataclass(frozen=True, slots=True)
class Balance:
    amount: Decimal
    currency: str


_STARTED = frozenset({IN_PROGRESS, PROCESSING, ACTIVE, PARTIAL, COMPLETED})


@dataclass(frozen=True, slots=True)
class OrderStatus:
    """One order's state; `error` is set (and the rest empty) for a per-id refusal.

    Beside the usual fields, a drip-feed parent carries `runs` and the ids of its
    child `orders`, and a subscription `posts` and `expiry` (True, or a date as the
    panel wrote it); each is None where the panel did not send it. `remains` is None
    while it says nothing (not sent, "Unknown", or the 0 SmartPanel sends for an order
    that has not started: 0 there is not "all delivered")."""

    order_id: int
    status: str | None = None
    charge: Decimal | None = None
    start_count: int | None = None
    remains: int | None = None
    currency: str | None = None
    error: Refusal | None = None
    runs: int | None = None
    orders: tuple[int, ...] | None = None
    posts: int | None = None
    expiry: bool | str | None = None

    @property
    def is_final(self) -> bool:
        return self.status in FINAL_ORDER_STATUSES

    @property
    def started(self) -> bool:
        """Whether delivery has begun, so that progress from `remains` means something:
        a start count, or a status past Pending."""
        return bool(self.start_count) or self.status in _STARTED

    @property
    def is_dripfeed_parent(self) -> bool:
        return self.runs is not None and self.orders is not None

    @property
    def is_subscription(self) -> bool:
        return self.posts is not None or self.expiry is not None

    @classmethod
    def from_api(cls, order_id: int, item: Any) -> OrderStatus:
        if isinstance(item, str):
            return cls(order_id, error=classify(item))
        if not isinstance(item, dict):
            return cls(order_id, error=classify(f"Unexpected reply: {item!r}"[:200]))
        if "error" in item and "status" not in item:
            return cls(order_id, error=classify(item["error"]))
        currency = item.get("currency")
        status = normalize_status(item.get("status")) or None
        start_count = to_int(item.get("start_count"))
        remains = to_int(item.get("remains"))
        if remains == 0 and status == PENDING:
            remains = None
        return cls(
            order_id=order_id,
            status=status,
            charge=to_decimal(item.get("charge")),
            start_count=start_count,
            remains=remains,
            currency=clean_text(currency) or None,
            runs=to_int(item.get("runs")),
            orders=_ids(item["orders"]) if "orders" in item else None,
            posts=to_int(item.get("posts")),
            expiry=_expiry(item.get("expiry")),
        )


def _ids(value: Any) -> tuple[int, ...]:
    items = value if isinstance(value, list) else str(value or "").split(",")
    return tuple(n for n in (to_int(i) for i in items) if n is not None)


def _expiry(value: Any) -> bool | str | None:
    if value is None or isinstance(value, bool):
        return value
    text = clean_text(value)
    return text or None


@dataclass(frozen=True, slots=True)
class RefillResult:
    """The answer to one order's refill request: a refill id, or a refusal."""

    order_id: int
    refill_id: int | None = None
    error: Refusal | None = None


@dataclass(frozen=True, slots=True)
class RefillStatus:
    refill_id: int
    status: str | None = None
    error: Refusal | None = None

    @property
    def is_final(self) -> bool:
        return self.status in FINAL_REFILL_STATUSES


@dataclass(frozen=True, slots=True)
class CancelResult:
    """`ok` means the cancel was *requested*; the order's status tells the outcome."""

    order_id: int
    ok: bool = False
    error: Refusal | None = None
