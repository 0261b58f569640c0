"""The sandbox panel's books: accounts, orders, refills and their progress on a virtual
clock, with the panel's validation rules and error strings. No HTTP here."""

from __future__ import annotations

import heapq
import random
import secrets
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from decimal import ROUND_HALF_UP, Decimal
from typing import Any

from bot.panel.fields import FieldInvalid, build_add_params, quote, service_type
from bot.panel.models import Service
from bot.panel.status import CANCELED, COMPLETED, FINAL_ORDER_STATUSES, FINAL_REFILL_STATUSES, IN_PROGRESS, PARTIAL, PENDING, REFUNDED
from bot.panel.values import to_decimal, to_int

# The panels' own words (reference/panel-api.md); clients match on them.
INVALID_KEY = "Invalid API key"
INCORRECT_REQUEST = "Incorrect request"
INCORRECT_SERVICE = "Incorrect service ID"
NOT_ENOUGH_FUNDS = "Not enough funds on balance"
QUANTITY_MIN = "Quantity less than minimal {minimum}"
QUANTITY_MAX = "Quantity more than maximum {maximum}"
MIN_ABOVE_MAX = "Max quantity must be greater than or equal to min quantity"
DUPLICATE_LINK = "You have active order with this link. Please wait until order being completed."
INCORRECT_ORDER = "Incorrect order ID"
REFILL_NOT_FOUND = "Refill not found"
REFILL_DISABLED = "Refill is disabled for this service"
REFILL_ORDER_NOT_FINISHED = "Refill is disabled for this order"
REFILL_RUNNING = "The refill task is not completed for this order"
CANCEL_DISABLED = "Cancel is disabled for this service"
CANCEL_TOO_LATE = "This order cannot be canceled"
DRIPFEED_UNSUPPORTED = "This services does not support Dripfeed feature!"
MISSING_PARAMETERS = "There are missing required parameters. Please check your API Manual"
BAD_LINK = "Bad Link"

BATCH_LIMIT = 100
FIRST_ORDER_ID = 23501
FIRST_REFILL_ID = 4001

# Timings in virtual seconds: at speed 1 an order finishes in about 1-3 minutes.
ORDER_PENDING_SECONDS = (5.0, 20.0)
ORDER_RUNNING_SECONDS = (45.0, 150.0)
REFILL_PENDING_SECONDS = (5.0, 15.0)
REFILL_RUNNING_SECONDS = (30.0, 90.0)
CANCEL_DELAY_SECONDS = (2.0, 6.0)
PARTIAL_SHARE = 0.2

_CENT5 = Decimal("0.00001")
_THOUSAND = Decimal(1000)
_LINK_FIELDS = frozenset({"link", "media", "referring_url"})
_QUANTITY_FIELDS = frozenset({"quantity", "min", "max"})
_EMPTY_CHARGE_STATUSES = frozenset({CANCELED, REFUNDED})


class Refused(Exception):
    """The panel says no; `text` is what goes into `{"error": text}`."""

    def __init__(self, text: str) -> None:
        super().__init__(text)
        self.text = text


def money(amount: Decimal) -> str:
    """A money amount as panels send it: a string with 5 decimals, never an exponent."""
    return format(amount.quantize(_CENT5, rounding=ROUND_HALF_UP), "f")


def parse_id(raw: str) -> int | None:
    text = raw.strip()
    if not text.isascii() or not text.isdigit() or len(text) > 18:
        return None
    return int(text)


def split_ids(raw: str) -> list[str]:
    return [part.strip() for part in raw.split(",") if part.strip()]


class Clock:
    """Virtual seconds: real time scaled by `speed`, plus whatever `advance` added.
    Speed 0 stops time, so that only `advance` moves it."""

    def __init__(self, speed: float = 1.0) -> None:
        if speed < 0:
            raise ValueError("speed must be >= 0")
        self._speed = speed
        self._base_real = time.monotonic()
        self._base_virtual = 0.0

    def now(self) -> float:
        return self._base_virtual + (time.monotonic() - self._base_real) * self._speed

    def advance(self, seconds: float) -> None:
        if seconds < 0:
            raise ValueError("time only moves forward")
        self._base_virtual += seconds

    @property
    def speed(self) -> float:
        return self._speed

    @speed.setter
    def speed(self, value: float) -> None:
        if value < 0:
            raise ValueError("speed must be >= 0")
        # Rebase so that changing speed never makes time jump.
        self._base_virtual, self._base_real = self.now(), time.monotonic()
        self._speed = value


@dataclass(slots=True)
class Account:
    key: str
    balance: Decimal
    currency: str
    order_ids: list[int] = field(default_factory=list)
    refill_ids: list[int] = field(default_factory=list)


@dataclass(frozen=True, slots=True)
class Order:
    """An order as the panel sees it at the moment it was read."""

    id: int
    service: int
    link: str | None
    quantity: int
    charge: Decimal
    status: str
    remains: int
    start_count: int
    fields: dict[str, str]
    currency: str
    cancel_requested: bool = False


@dataclass(frozen=True, slots=True)
class Refill:
    id: int
    order: int
    status: str


@dataclass(slots=True)
class _OrderState:
    id: int
    account: Account
    service: Service
    link: str | None
    quantity: int
    fields: dict[str, str]
    full_charge: Decimal
    charge: Decimal
    currency: str
    start_count: int
    start_at: float
    finish_at: float
    delivered: int  # what will have been delivered at finish_at (< quantity for Partial)
    # None while the order follows its timeline; set when final, or forced by a test.
    status: str | None = None
    remains: int = 0
    cancel_at: float | None = None
    refill_ids: list[int] = field(default_factory=list)

    def view(self, now: float) -> tuple[str, int, int]:
        """(status, remains, start_count) at virtual time `now`."""
        if self.status is not None:
            return self.status, self.remains, 0 if self.status == PENDING else self.start_count
        if now < self.start_at:
            return PENDING, self.quantity, 0
        share = min(1.0, (now - self.start_at) / (self.finish_at - self.start_at))
        return IN_PROGRESS, self.quantity - int(self.delivered * share), self.start_count


@dataclass(slots=True)
class _RefillState:
    id: int
    order: _OrderState
    start_at: float
    finish_at: float
    status: str | None = None  # forced by a test

    def view(self, now: float) -> str:
        if self.status is not None:
            return self.status
        if now < self.start_at:
            return PENDING
        return IN_PROGRESS if now < self.finish_at else COMPLETED


class PanelState:
    """Everything the sandbox panel knows, and the rules of each action."""

    def __init__(
        self,
        catalog: list[dict[str, Any]],
        *,
        speed: float = 1.0,
        seed: int = 0,
        currency: str = "USD",
    ) -> None:
        self.raw_services = catalog
        self.services: dict[int, Service] = {}
        for item in catalog:
            service = Service.from_api(item)
            if service is not None:
                # Like a panel's database: the first row with an id wins.
                self.services.setdefault(service.id, service)
        self.clock = Clock(speed)
        self.seed = seed
        self.currency = currency
        self.accounts: dict[str, Account] = {}
        self._orders: dict[int, _OrderState] = {}
        self._refills: dict[int, _RefillState] = {}
        self._active_links: dict[tuple[str, int, str], _OrderState] = {}
        # (virtual time, sequence, order id): when an order may change money.
        self._events: list[tuple[float, int, int]] = []
        self._sequence = 0
        self._next_order_id = FIRST_ORDER_ID
        self._next_refill_id = FIRST_REFILL_ID

    # --- catalog -------------------------------------------------------------------------

    def update_service(self, service_id: int, **changes: Any) -> dict[str, Any]:
        """Change a served service's raw fields (`rate="9.99"`, `refill=False`...), as a
        panel's admin would; new orders, refills and cancels follow the new values."""
        item = self._raw_item(service_id)
        item.update(changes)
        service = Service.from_api(item)
        if service is None or service.id != service_id:
            raise ValueError(f"service {service_id}: the changes leave no usable id")
        self.services[service_id] = service
        return item

    def remove_service(self, service_id: int) -> None:
        """Withdraw a service from the catalog; its orders stay."""
        self._raw_item(service_id)
        self.raw_services[:] = [item for item in self.raw_services if _item_id(item) != service_id]
        del self.services[service_id]

    def _raw_item(self, service_id: int) -> dict[str, Any]:
        for item in self.raw_services:
            if _item_id(item) == service_id:
                return item
        raise KeyError(service_id)

    def _current_service(self, order: _OrderState) -> Service:
        # A panel checks the service as it is now, not as it was when ordered.
        return self.services.get(order.service.id, order.service)

    # --- accounts ------------------------------------------------------------------------

    def add_account(
        self, key: str | None = None, balance: Decimal | str | int = Decimal("100"), currency: str | None = None
    ) -> str:
        key = key or secrets.token_hex(16)
        if key in self.accounts:
            # Replacing it would orphan its orders: they belong to the Account object.
            raise ValueError(f"an account with the key ending {key[-4:]!r} exists")
        amount = to_decimal(balance)
        if amount is None:
            raise ValueError(f"not an amount: {balance!r}")
        self.accounts[key] = Account(key, amount, currency or self.currency)
        return key

    def account(self, key: str) -> Account | None:
        return self.accounts.get(key) if key else None

    # --- time ----------------------------------------------------------------------------

    def now(self) -> float:
        return self.clock.now()

    def advance(self, seconds: float) -> None:
        self.clock.advance(seconds)
        self.tick()

    def tick(self) -> None:
        """Apply every finish and cancel that is due: they move money, so they happen
        in time order even when nobody looked at the order."""
        now = self.clock.now()
        events = self._events
        while events and events[0][0] <= now:
            when, _, order_id = heapq.heappop(events)
            self._settle(self._orders[order_id], when)

    def _schedule(self, when: float, order: _OrderState) -> None:
        self._sequence += 1
        heapq.heappush(self._events, (when, self._sequence, order.id))

    def _settle(self, order: _OrderState, when: float) -> None:
        if order.status in FINAL_ORDER_STATUSES:
            return
        if order.cancel_at is not None:
            if when >= order.cancel_at:
                if order.status is None and when < order.start_at:
                    order.start_count = 0  # it never started
                self._finalize(order, CANCELED, order.quantity)
            return
        if order.status is None and when >= order.finish_at:
            remains = order.quantity - order.delivered
            self._finalize(order, PARTIAL if remains else COMPLETED, remains)

    def _finalize(self, order: _OrderState, status: str, remains: int) -> None:
        order.status = status
        order.remains = remains
        order.cancel_at = None
        self._recharge(order)
        if order.link is not None and self._active_links.get(self._link_key(order)) is order:
            del self._active_links[self._link_key(order)]

    def _recharge(self, order: _OrderState) -> None:
        """Bring the order's charge in line with its status, moving the difference
        to or from the balance: a Partial pays only what was delivered."""
        if order.status in _EMPTY_CHARGE_STATUSES:
            target = Decimal(0)
        elif order.status == PARTIAL and order.quantity > 0:
            delivered = max(0, order.quantity - order.remains)
            target = (order.full_charge * delivered / order.quantity).quantize(_CENT5, rounding=ROUND_HALF_UP)
        else:
            target = order.full_charge
        order.account.balance += order.charge - target
        order.charge = target

    @staticmethod
    def _link_key(order: _OrderState) -> tuple[str, int, str]:
        return (order.account.key, order.service.id, order.link or "")

    # --- add -----------------------------------------------------------------------------

    def add_order(self, account: Account, fields: Mapping[str, str]) -> int:
        service = self.services.get(parse_id(fields.get("service", "")) or -1)
        if service is None:
            raise Refused(INCORRECT_SERVICE)
        if not service.dripfeed and (fields.get("runs", "").strip() or fields.get("interval", "").strip()):
            raise Refused(DRIPFEED_UNSUPPORTED)
        try:
            params = build_add_params(service, fields)
        except FieldInvalid as exc:
            raise Refused(_field_refusal(exc, service, fields)) from None
        offer = quote(service, params)
        charge = offer.high.quantize(_CENT5, rounding=ROUND_HALF_UP)
        if charge > account.balance:
            raise Refused(NOT_ENOUGH_FUNDS)
        # Panels treat a subscription's username as its link.
        link = params.get("link", params.get("username"))
        link_key = (account.key, service.id, link or "")
        if link is not None and link_key in self._active_links:
            raise Refused(DUPLICATE_LINK)

        counted = service_type(service.type).pricing in ("quantity", "lines")
        return self.open_order(account, service, params, link=link, quantity=offer.total_quantity or 0,
                               charge=charge, counted=counted)

    def open_order(
        self,
        account: Account,
        service: Service,
        params: dict[str, str],
        *,
        link: str | None,
        quantity: int,
        charge: Decimal,
        counted: bool,
    ) -> int:
        """Create an order the panel's rules accepted: charge it and set its timeline.
        `counted` orders may end Partial; a panel dialect validates before calling."""
        link_key = (account.key, service.id, link or "")
        order_id = self._next_order_id
        self._next_order_id += 1
        # One generator per order: the same seed gives the same story for the same id,
        # whatever else happened in between.
        rng = random.Random(self.seed * 1_000_003 + order_id)
        start_at = self.clock.now() + rng.uniform(*ORDER_PENDING_SECONDS)
        finish_at = start_at + rng.uniform(*ORDER_RUNNING_SECONDS)
        start_count = rng.randint(0, 5000)
        delivered = quantity
        if counted and quantity >= 2 and rng.random() < PARTIAL_SHARE:
            delivered = rng.randint(max(1, quantity * 3 // 10), max(1, quantity * 95 // 100))
        account.balance -= charge
        order = _OrderState(
            id=order_id,
            account=account,
            service=service,
            link=link,
            quantity=quantity,
            fields=params,
            full_charge=charge,
            charge=charge,
            currency=account.currency,
            start_count=start_count,
            start_at=start_at,
            finish_at=finish_at,
            delivered=delivered,
            remains=quantity,
        )
        self._orders[order_id] = order
        account.order_ids.append(order_id)
        if link is not None:
            self._active_links[link_key] = order
        self._schedule(finish_at, order)
        return order_id

    # --- status --------------------------------------------------------------------------

    def _own_order(self, account: Account, raw: str) -> _OrderState:
        order = self._orders.get(parse_id(raw) or -1)
        if order is None or order.account is not account:
            raise Refused(INCORRECT_ORDER)
        return order

    def order_view(self, account: Account, raw: str) -> tuple[Order, str, int, int]:
        """One of the account's orders as it stands: (order, status, remains, start_count)."""
        order = self._own_order(account, raw)
        status, remains, start_count = order.view(self.clock.now())
        return self._snapshot(order), status, remains, start_count

    def order_status(self, account: Account, raw: str) -> dict[str, str]:
        order = self._own_order(account, raw)
        status, remains, start_count = order.view(self.clock.now())
        return {
            "charge": money(order.charge),
            "start_count": str(start_count),
            "status": status,
            "remains": str(remains),
            "currency": order.currency,
        }

    # --- refill --------------------------------------------------------------------------

    def create_refill(self, account: Account, raw: str) -> int:
        order = self._own_order(account, raw)
        if not self._current_service(order).refill:
            raise Refused(REFILL_DISABLED)
        now = self.clock.now()
        status, _, _ = order.view(now)
        if status not in (COMPLETED, PARTIAL):
            raise Refused(REFILL_ORDER_NOT_FINISHED)
        if order.refill_ids:
            last = self._refills[order.refill_ids[-1]]
            if last.view(now) not in FINAL_REFILL_STATUSES:
                raise Refused(REFILL_RUNNING)
        refill_id = self._next_refill_id
        self._next_refill_id += 1
        rng = random.Random(self.seed * 1_000_003 + refill_id * 7919)
        start_at = now + rng.uniform(*REFILL_PENDING_SECONDS)
        refill = _RefillState(refill_id, order, start_at, start_at + rng.uniform(*REFILL_RUNNING_SECONDS))
        self._refills[refill_id] = refill
        order.refill_ids.append(refill_id)
        account.refill_ids.append(refill_id)
        return refill_id

    def refill_status(self, account: Account, raw: str) -> str:
        refill = self._refills.get(parse_id(raw) or -1)
        if refill is None or refill.order.account is not account:
            raise Refused(REFILL_NOT_FOUND)
        return refill.view(self.clock.now())

    # --- cancel --------------------------------------------------------------------------

    def cancel_order(self, account: Account, raw: str) -> None:
        """Request a cancel; the order turns Canceled (fully refunded) a little later."""
        order = self._own_order(account, raw)
        if not self._current_service(order).cancel:
            raise Refused(CANCEL_DISABLED)
        if order.status in FINAL_ORDER_STATUSES:
            raise Refused(CANCEL_TOO_LATE)
        if order.cancel_at is not None:
            return  # already requested: asking twice is harmless
        rng = random.Random(self.seed * 1_000_003 + order.id * 31)
        order.cancel_at = self.clock.now() + rng.uniform(*CANCEL_DELAY_SECONDS)
        self._schedule(order.cancel_at, order)

    # --- for tests and the CLI ---------------------------------------------------------

    def orders(self, key: str) -> list[Order]:
        account = self.accounts[key]
        self.tick()
        return [self._snapshot(self._orders[order_id]) for order_id in account.order_ids]

    def order(self, order_id: int) -> Order:
        self.tick()
        return self._snapshot(self._orders[order_id])

    def _snapshot(self, order: _OrderState) -> Order:
        status, remains, start_count = order.view(self.clock.now())
        return Order(
            id=order.id,
            service=order.service.id,
            link=order.link,
            quantity=order.quantity,
            charge=order.charge,
            status=status,
            remains=remains,
            start_count=start_count,
            fields=dict(order.fields),
            currency=order.currency,
            cancel_requested=order.cancel_at is not None,
        )

    def refills(self, key: str) -> list[Refill]:
        account = self.accounts[key]
        now = self.clock.now()
        return [
            Refill(refill_id, self._refills[refill_id].order.id, self._refills[refill_id].view(now))
            for refill_id in account.refill_ids
        ]

    def set_status(self, order_id: int, status: str, remains: int | None = None) -> None:
        """Force an order's status (and remains); it then stays there. Charge and
        balance follow as on a panel: Partial refunds the undelivered share, Canceled
        and Refunded refund everything, other statuses charge in full."""
        self.tick()
        order = self._orders[order_id]
        if remains is None:
            remains = 0 if status == COMPLETED else order.view(self.clock.now())[1]
            if status in _EMPTY_CHARGE_STATUSES:
                remains = order.quantity
        order.status = status
        order.remains = remains
        order.cancel_at = None
        self._recharge(order)
        link_key = self._link_key(order)
        if order.link is not None:
            if status in FINAL_ORDER_STATUSES:
                if self._active_links.get(link_key) is order:
                    del self._active_links[link_key]
            else:
                self._active_links[link_key] = order

    def set_refill_status(self, refill_id: int, status: str) -> None:
        self._refills[refill_id].status = status


def _item_id(item: Mapping[str, Any]) -> int | None:
    return to_int(item.get("service", item.get("id")))


def _field_refusal(exc: FieldInvalid, service: Service, fields: Mapping[str, str]) -> str:
    """A panel's wording for a field the shared validation refused."""
    name, code, params = exc.field, exc.code, exc.params
    if code == "required":
        return MISSING_PARAMETERS
    if name in _LINK_FIELDS:
        return BAD_LINK
    if code == "min_above_max":
        return MIN_ABOVE_MAX
    if code == "line_count":
        count = int(str(params["count"]))
        if count < int(str(params["minimum"])):
            return QUANTITY_MIN.format(minimum=params["minimum"])
        return QUANTITY_MAX.format(maximum=params["maximum"])
    if name in _QUANTITY_FIELDS:
        if code == "out_of_range":
            value = parse_id(fields.get(name, "").replace(",", "")) or 0
            if value > int(str(params["maximum"])):
                return QUANTITY_MAX.format(maximum=params["maximum"])
            return QUANTITY_MIN.format(minimum=params["minimum"])
        # PHP's intval() makes garbage 0, which is below any minimum.
        return QUANTITY_MIN.format(minimum=max(service.min, 1))
    return f"Incorrect {name.replace('_', ' ')}"
