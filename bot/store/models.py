"""The bot's tables (sqlmodel): users, panel accounts, drafts, orders, refills, outbox, panel facts.

Plain data only: JSON columns hold JSON-able dicts, never objects of `bot.panel`.
"""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import ROUND_HALF_UP, Decimal
from enum import StrEnum
from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    Index,
    Numeric,
    String,
    Text,
    UniqueConstraint,
    text,
)
from sqlalchemy.engine import Dialect
from sqlalchemy.types import TypeDecorator, TypeEngine
from sqlmodel import Field, SQLModel

__all__ = [
    "NOTIFICATION_MODES",
    "Draft",
    "DraftState",
    "Money",
    "Notification",
    "Order",
    "PanelAccount",
    "PanelFact",
    "PriceChange",
    "PriceRule",
    "Referral",
    "Refill",
    "Topup",
    "TopupState",
    "User",
    "metadata",
    "utcnow",
]

metadata = SQLModel.metadata

NOTIFICATION_MODES = frozenset({"all", "final", "off"})


def utcnow() -> datetime:
    return datetime.now(UTC)


class DraftState(StrEnum):
    DRAFT = "DRAFT"  # editable; the only state Confirm can claim
    SUBMITTING = "SUBMITTING"  # claimed: `add` is (or may be) on its way
    PLACED = "PLACED"  # the panel answered with an order id
    UNKNOWN = "UNKNOWN"  # the request may have reached the panel; never retried
    FAILED = "FAILED"  # given up without an order (not editable any more)
    ABANDONED = "ABANDONED"  # the user left the flow


_MONEY_QUANTUM = Decimal("1E-8")
_MONEY_LIMIT = Decimal("1E16")  # Numeric(24, 8) holds 16 integer digits


class Money(TypeDecorator[Decimal]):
    """`Numeric(24, 8)` as `Decimal`, exact on every backend.

    SQLite has no decimal type: a NUMERIC column there stores REAL, i.e. binary floating
    point, and loses digits past the 15th. So on SQLite the value is kept as decimal text.
    Values are rounded to 8 places on the way in on every backend (as PostgreSQL itself
    would), so both backends hand back the same `Decimal`, e.g. `Decimal("0.27819000")`.
    """

    impl = Numeric(24, 8, asdecimal=True)
    cache_ok = True

    def load_dialect_impl(self, dialect: Dialect) -> TypeEngine[Any]:
        if dialect.name == "sqlite":
            return dialect.type_descriptor(String(40))
        return dialect.type_descriptor(Numeric(24, 8, asdecimal=True))

    def process_bind_param(self, value: Any, dialect: Dialect) -> Any:
        if value is None:
            return None
        if isinstance(value, float | bool) or not isinstance(value, Decimal | int | str):
            raise TypeError(f"money must be Decimal, int or str, not {type(value).__name__}")
        amount = Decimal(value).quantize(_MONEY_QUANTUM, rounding=ROUND_HALF_UP)
        if not amount.is_finite() or abs(amount) >= _MONEY_LIMIT:
            raise ValueError(f"money amount out of range for Numeric(24, 8): {value!r}")
        return format(amount, "f") if dialect.name == "sqlite" else amount

    def process_result_value(self, value: Any, dialect: Dialect) -> Decimal | None:
        if value is None:
            return None
        return value if isinstance(value, Decimal) else Decimal(str(value))

    @property
    def python_type(self) -> type[Decimal]:
        return Decimal


def _big(*, index: bool = False, nullable: bool = False) -> Any:
    """A 64-bit integer column (Telegram ids, panel ids, counters that can pass 2^31)."""
    return Field(default=None if nullable else ..., sa_type=BigInteger, index=index, nullable=nullable)


class User(SQLModel, table=True):
    __tablename__ = "users"

    telegram_id: int = Field(sa_type=BigInteger, primary_key=True, sa_column_kwargs={"autoincrement": False})
    locale: str | None = None  # chosen with /language; wins over telegram_language
    telegram_language: str | None = None  # Telegram's language_code, as last seen
    notifications: str = "all"  # one of NOTIFICATION_MODES
    blocked: bool = False  # the user blocked the bot: skip sending
    # Conversation state, kept here so a restart does not drop a half-filled order.
    flow: dict[str, Any] | None = Field(default=None, sa_type=JSON(none_as_null=True))
    created_at: datetime = Field(default_factory=utcnow)
    updated_at: datetime = Field(default_factory=utcnow, sa_column_kwargs={"onupdate": utcnow})


class PanelAccount(SQLModel, table=True):
    __tablename__ = "panel_accounts"
    __table_args__ = (
        UniqueConstraint("user_id", "panel_url", name="uq_panel_accounts_user_url"),
        # NULLs are distinct in a unique constraint, so the shared team account (user_id
        # NULL) needs its own partial index to stay one row per panel.
        Index(
            "uq_panel_accounts_team_url",
            "panel_url",
            unique=True,
            sqlite_where=text("user_id IS NULL"),
            postgresql_where=text("user_id IS NULL"),
        ),
    )

    id: int | None = Field(default=None, primary_key=True)
    user_id: int | None = _big(index=True, nullable=True)  # None: the team account
    panel_url: str
    key_encrypted: str  # Fernet token; only Store.reveal_key turns it back into the key
    key_hint: str  # KeyBox.mask(key), safe to show
    key_fingerprint: str = Field(index=True)  # KeyBox.fingerprint(panel_url, key)
    currency: str | None = None
    paused: bool = False  # the watcher stopped using an invalid key until it is relinked
    # Why it is paused: "invalid_key" (the panel refused it, confirmed) or "undecryptable"
    # (SECRET_KEY replaced instead of rotated). None while usable.
    pause_reason: str | None = None
    # Consecutive "invalid key" refusals not yet confirmed by a failed `balance` check.
    refusals: int = Field(default=0, sa_column_kwargs={"server_default": "0"})
    # When a paused account is tried again (backoff); the first success un-pauses it.
    retry_at: datetime | None = None
    created_at: datetime = Field(default_factory=utcnow)


class Draft(SQLModel, table=True):
    __tablename__ = "drafts"

    id: int | None = Field(default=None, primary_key=True)
    user_id: int = _big(index=True)
    account_id: int = Field(foreign_key="panel_accounts.id", index=True)
    service_id: int = Field(sa_type=BigInteger)
    service: dict[str, Any] = Field(default_factory=dict, sa_type=JSON)  # snapshot at start
    values: dict[str, Any] = Field(default_factory=dict, sa_type=JSON)  # field name -> cleaned text
    state: str = Field(default=DraftState.DRAFT.value, max_length=16, index=True)
    order_id: int | None = _big(nullable=True)  # the panel's order id once placed
    error: str | None = Field(default=None, sa_type=Text)
    created_at: datetime = Field(default_factory=utcnow)
    updated_at: datetime = Field(default_factory=utcnow, sa_column_kwargs={"onupdate": utcnow})


class Order(SQLModel, table=True):
    __tablename__ = "orders"
    __table_args__ = (UniqueConstraint("account_id", "panel_order_id", name="uq_orders_account_panel_id"),)

    id: int | None = Field(default=None, primary_key=True)
    panel_order_id: int = Field(sa_type=BigInteger)
    account_id: int = Field(foreign_key="panel_accounts.id", index=True)
    user_id: int = _big(index=True)
    draft_id: int | None = Field(default=None, foreign_key="drafts.id")
    service_id: int = Field(sa_type=BigInteger)
    service_name: str = ""
    service_type: str = ""
    link: str | None = Field(default=None, sa_type=Text)
    quantity: int | None = _big(nullable=True)
    fields: dict[str, Any] = Field(default_factory=dict, sa_type=JSON)
    charge: Decimal | None = Field(default=None, sa_type=Money)
    currency: str | None = None
    status: str = "Pending"
    start_count: int | None = _big(nullable=True)
    remains: int | None = _big(nullable=True)
    final: bool = Field(default=False, index=True)
    # The service's flags when it was ordered: which buttons the order card shows.
    refill: bool = False
    cancel: bool = False
    # A refill or cancel request in flight: one press sends one request.
    action_until: datetime | None = None
    # Which watcher process holds this order for the current cycle (SKIP LOCKED lease).
    lease_owner: str | None = None
    lease_until: datetime | None = None
    last_checked_at: datetime | None = None
    next_check_at: datetime | None = Field(default_factory=utcnow, index=True)
    # Consecutive per-id errors from the panel ("Incorrect order ID"): after a few the
    # order is finished with `watch_error` and its owner told once.
    check_errors: int = Field(default=0, sa_column_kwargs={"server_default": "0"})
    watch_error: str | None = Field(default=None, sa_type=Text)
    # The last progress notification ("every change" mode): when, and at which remains.
    progress_at: datetime | None = None
    progress_remains: int | None = _big(nullable=True)
    # Shop mode: `paid` — the customer paid `charge` from their wallet (a hold that
    # became the charge); `cost` — what the panel charged the shop; `refunded` — what
    # went back to the wallet when the order ended Partial, Canceled or Refunded.
    paid: bool = Field(default=False, sa_column_kwargs={"server_default": text("false")})
    cost: Decimal | None = Field(default=None, sa_type=Money)
    refunded: Decimal | None = Field(default=None, sa_type=Money)
    created_at: datetime = Field(default_factory=utcnow)
    updated_at: datetime = Field(default_factory=utcnow, sa_column_kwargs={"onupdate": utcnow})


class Refill(SQLModel, table=True):
    __tablename__ = "refills"
    __table_args__ = (UniqueConstraint("order_id", "panel_refill_id", name="uq_refills_order_panel_id"),)

    id: int | None = Field(default=None, primary_key=True)
    order_id: int = Field(foreign_key="orders.id", index=True)
    panel_refill_id: int = Field(sa_type=BigInteger)
    status: str = "Pending"
    final: bool = Field(default=False, index=True)
    lease_owner: str | None = None
    lease_until: datetime | None = None
    check_errors: int = Field(default=0, sa_column_kwargs={"server_default": "0"})
    created_at: datetime = Field(default_factory=utcnow)
    updated_at: datetime = Field(default_factory=utcnow, sa_column_kwargs={"onupdate": utcnow})


class Notification(SQLModel, table=True):
    """Outbox: a change is queued in the transaction that stores it, then sent once."""

    __tablename__ = "notifications"

    id: int | None = Field(default=None, primary_key=True)
    user_id: int = _big(index=True)
    kind: str  # "order_status", "refill_status", "key_invalid", ...
    payload: dict[str, Any] = Field(default_factory=dict, sa_type=JSON)
    created_at: datetime = Field(default_factory=utcnow)
    sent_at: datetime | None = Field(default=None, index=True)
    attempts: int = 0
    next_attempt_at: datetime = Field(default_factory=utcnow, index=True)
    # The sending process holding it now; another may take it only after the claim expires.
    claimed_by: str | None = None
    claimed_until: datetime | None = None
    # Given up after too many failed attempts (logged); never sent.
    failed_at: datetime | None = None
    last_error: str | None = Field(default=None, sa_type=Text)
    dedupe_key: str = Field(unique=True)  # the same change is queued once, whoever sees it


class PanelFact(SQLModel, table=True):
    """What the bot learnt about a panel from its answers (see bot/domain/capabilities.py):
    an action it does not have, a type it wants differently. One row per panel and fact."""

    __tablename__ = "panel_facts"

    panel_url: str = Field(primary_key=True)
    name: str = Field(primary_key=True)  # e.g. "no_action:refill", "package_needs_quantity"
    learnt_at: datetime = Field(default_factory=utcnow)
    detail: str | None = Field(default=None, sa_type=Text)  # the panel's words, for admins and logs


class LedgerEntry(SQLModel, table=True):
    """Shop mode's money (issue 13): one append-only row per movement of a customer's
    wallet, in the shop's currency. A wallet's balance is the sum of its entries; each
    movement has a unique `reference` (a payment's charge id, an order's hold), so the
    same one is never booked twice, whoever sees it twice."""

    __tablename__ = "ledger_entries"

    id: int | None = Field(default=None, primary_key=True)
    user_id: int = Field(sa_type=BigInteger, index=True)
    amount: Decimal = Field(sa_type=Money)  # positive: money in; negative: money out
    kind: str  # e.g. "topup", "hold", "release", "refund", "credit", "debit", "referral"
    reference: str = Field(unique=True)
    created_at: datetime = Field(default_factory=utcnow)
    # Who booked it by hand (an admin's credit or debit) and why; None for the bot's own.
    actor: int | None = _big(nullable=True)
    note: str | None = Field(default=None, sa_type=Text)


class PriceRule(SQLModel, table=True):
    """Shop mode: one of the operator's price rules. `scope`: "markup" (the global percent,
    key ""), "minimum" (the minimum charge per order, in `per_1000`, key ""), "category"
    (key: the category's name) or "service" (key: the service id). A category's or a
    service's row holds a percent or a fixed price per 1000, and/or hides it."""

    __tablename__ = "price_rules"
    __table_args__ = (UniqueConstraint("scope", "key", name="uq_price_rules_scope_key"),)

    id: int | None = Field(default=None, primary_key=True)
    scope: str = Field(max_length=16)
    key: str = Field(default="", sa_type=Text)
    percent: Decimal | None = Field(default=None, sa_type=Money)
    per_1000: Decimal | None = Field(default=None, sa_type=Money)
    hidden: bool = Field(default=False, sa_column_kwargs={"server_default": text("false")})
    updated_at: datetime = Field(default_factory=utcnow)


class PriceChange(SQLModel, table=True):
    """The audit of price rules: who changed what, from what, to what, when."""

    __tablename__ = "price_changes"

    id: int | None = Field(default=None, primary_key=True)
    admin_id: int = Field(sa_type=BigInteger)
    scope: str = Field(max_length=16)
    key: str = Field(default="", sa_type=Text)
    before: str | None = Field(default=None, sa_type=Text)
    after: str | None = Field(default=None, sa_type=Text)
    created_at: datetime = Field(default_factory=utcnow, index=True)


class TopupState(StrEnum):
    PENDING = "pending"  # an invoice was sent; nothing paid yet
    PAID = "paid"  # successful_payment arrived; the wallet was credited
    REFUNDED = "refunded"  # an admin refunded the payment (Stars)


class Topup(SQLModel, table=True):
    """Shop mode: a top-up, from the invoice to the payment. `amount` is what the wallet
    gets, in the shop's currency; `total` what Telegram charges, in the smallest units of
    `currency` (Stars for XTR). `charge_id`: Telegram's payment charge id, unique."""

    __tablename__ = "topups"

    id: int | None = Field(default=None, primary_key=True)
    user_id: int = _big(index=True)
    amount: Decimal = Field(sa_type=Money)
    currency: str = Field(max_length=8)
    total: int = Field(sa_type=BigInteger)
    state: str = Field(default=TopupState.PENDING.value, max_length=16)
    charge_id: str | None = Field(default=None, unique=True)
    provider_charge_id: str | None = None
    created_at: datetime = Field(default_factory=utcnow)
    paid_at: datetime | None = None
    refunded_at: datetime | None = None


class Referral(SQLModel, table=True):
    """Shop mode: who invited whom (`/start ref_<code>`); one inviter per customer."""

    __tablename__ = "referrals"

    user_id: int = Field(sa_type=BigInteger, primary_key=True, sa_column_kwargs={"autoincrement": False})
    inviter_id: int = _big(index=True)
    created_at: datetime = Field(default_factory=utcnow)
