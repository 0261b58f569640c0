"""Where `status` is parsed: an order's, a refill's and a cancel's answer, with the
status words real panels send normalised (`Cancelled` -> `Canceled`, `In progess`...)."""

from __future__ import annotations

import re
from dataclasses import dataclass
from decimal import Decimal

from bot.panel.errors import Refusal, classify
from bot.panel.values import clean_text, to_decimal, to_int

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


def normalize_status(value: object) -> str:
    """The canonical spelling of a status (`Cancelled` -> `Canceled`, `processing` ->
    `Processing`, `In progess` -> `In progress`); unknown words are kept, trimmed."""
    text = clean_text(value)
    key = re.sub(r"[\s_\-]", "", text.lower())
    return _STATUS_ALIASES.get(key, text)


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
    def from_api(cls, order_id: int, item: object) -> OrderStatus:
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


def _ids(value: object) -> tuple[int, ...]:
    items = value if isinstance(value, list) else str(value or "").split(",")
    return tuple(n for n in (to_int(i) for i in items) if n is not None)


def _expiry(value: object) -> bool | str | None:
    if value is None or isinstance(value, bool):
        return value
    text = clean_text(value)
    return text or None


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
