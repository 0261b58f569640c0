"""Shop mode (MODE=shop): the operator's panel account sells to customers who pay from a
wallet. This module puts the pieces together for the handlers and the placement:

- the operator's price rules, read from the store (a few seconds' cache; a change made
  here is seen at once) with the settings' markup and minimum as defaults;
- the catalog customers see: hidden services left out, every rate the shop's;
- the guard of the operator's panel balance (an order the panel balance cannot pay is
  not taken; admins are told once a day, and warned below SHOP_LOW_BALANCE first).

The money itself moves in the store (bot/store/ledger.py), in the transactions that
change what it pays for.
"""

from __future__ import annotations

import asyncio
import dataclasses
import enum
import logging
import time
from dataclasses import dataclass
from decimal import Decimal
from typing import TYPE_CHECKING

from babel.numbers import get_currency_precision

from bot.domain.notices import KIND_SHOP_LOW_BALANCE, KIND_SHOP_OUT_OF_FUNDS
from bot.domain.pricing import Override, PriceRules
from bot.panel.catalog import Catalog
from bot.panel.fields import Quote, quote
from bot.panel.models import Service
from bot.store import Notice, Store

if TYPE_CHECKING:  # for annotations only: Accounts needs nothing of this module
    from bot.config import Settings
    from bot.domain.accounts import Accounts, Linked

log = logging.getLogger(__name__)

# How long price rules read from the database are used before asking whether they changed.
RULES_SECONDS = 5.0


def currency_digits(currency: str) -> int:
    """The currency's minor unit (2 for USD, 0 for JPY) as babel knows it."""
    return int(get_currency_precision(currency))


def rules_from(rows: list[tuple[str, str, Decimal | None, Decimal | None, bool]], *, markup: Decimal,
               minimum: Decimal, digits: int) -> PriceRules:
    """PriceRules from the stored rows (scope, key, percent, per_1000, hidden); `markup`
    and `minimum` (the settings') stand until a row of their own replaces them."""
    categories: dict[str, Override] = {}
    services: dict[int, Override] = {}
    hidden_categories: set[str] = set()
    hidden_services: set[int] = set()
    for scope, key, percent, per_1000, hidden in rows:
        if scope == "markup" and percent is not None:
            markup = percent
        elif scope == "minimum" and per_1000 is not None:
            minimum = per_1000
        elif scope in ("category", "service"):
            override = Override(percent=percent) if percent is not None else \
                Override(per_1000=per_1000) if per_1000 is not None else None
            if scope == "category":
                if override is not None:
                    categories[key] = override
                if hidden:
                    hidden_categories.add(key)
            elif key.isdigit():
                if override is not None:
                    services[int(key)] = override
                if hidden:
                    hidden_services.add(int(key))
    return PriceRules(markup=markup, categories=categories, services=services, minimum=minimum,
                      hidden_categories=frozenset(hidden_categories), hidden_services=frozenset(hidden_services),
                      digits=digits)


class Funds(enum.Enum):
    """Whether the operator's panel balance pays for an order."""

    ENOUGH = "enough"
    SHORT = "short"  # the order's panel cost is more than the panel balance
    UNKNOWN = "unknown"  # the panel did not say: the order goes on, and the panel decides


@dataclass(frozen=True)
class Sale:
    """What a shop placement needs besides the draft: the prices and the panel's own rates."""

    rules: PriceRules
    panel: Catalog  # the panel's catalog: what the shop pays
    currency: str


def _priced(panel: Catalog, rules: PriceRules) -> Catalog:
    return Catalog(dataclasses.replace(service, rate=rules.rate(service)) for service in panel if rules.visible(service))


class Shop:
    def __init__(self, settings: Settings, store: Store, accounts: Accounts, *,
                 rules_seconds: float = RULES_SECONDS) -> None:
        self.store = store
        self.accounts = accounts
        self.currency = settings.shop_currency
        self.digits = currency_digits(self.currency)
        self.markup = settings.shop_markup
        self.minimum = settings.shop_minimum
        self.low_balance = settings.shop_low_balance
        self.admin_ids = settings.admin_ids
        self.rules_seconds = rules_seconds
        self._rules: PriceRules | None = None
        self._stamp: object = None
        self._read_at = 0.0
        self._generation = 0
        self._priced: tuple[int, int, Catalog, Catalog] | None = None
        self._building: dict[tuple[int, int], asyncio.Future[Catalog]] = {}
        self._reading = asyncio.Lock()

    # --- prices -----------------------------------------------------------------------

    async def rules(self) -> PriceRules:
        """The price rules now: read again when the stored ones changed (checked at most
        every few seconds, by one caller while the others wait; `forget_rules` after a
        change made in this process)."""
        if self._rules is not None and time.monotonic() - self._read_at < self.rules_seconds:
            return self._rules
        async with self._reading:
            if self._rules is not None and time.monotonic() - self._read_at < self.rules_seconds:
                return self._rules  # another caller read them meanwhile
            stamp = await self.store.prices_changed_at()
            if self._rules is None or stamp != self._stamp:
                rows = [(r.scope, r.key, r.percent, r.per_1000, r.hidden) for r in await self.store.price_rules()]
                self._rules = rules_from(rows, markup=self.markup, minimum=self.minimum, digits=self.digits)
                self._stamp = stamp
                self._generation += 1
            self._read_at = time.monotonic()
            return self._rules

    def forget_rules(self) -> None:
        self._read_at = 0.0
        self._rules = None

    async def priced(self, panel: Catalog) -> Catalog:
        """The catalog customers see: visible services only, at the shop's rates. Built once
        per panel catalog and rules, in a worker thread (a 7,000-service catalog takes tens
        of ms to index: the event loop keeps serving meanwhile), and shared by everyone
        who asks while it is being built."""
        rules = await self.rules()
        generation = self._generation
        known = self._priced
        if known is not None and known[0] == id(panel) and known[1] == generation and known[3] is panel:
            return known[2]
        key = (id(panel), generation)
        building = self._building.get(key)
        if building is None:
            building = asyncio.ensure_future(asyncio.to_thread(_priced, panel, rules))
            self._building[key] = building
            building.add_done_callback(lambda _done: self._building.pop(key, None))
        priced = await asyncio.shield(building)
        if self._generation == generation:
            self._priced = (id(panel), generation, priced, panel)
        return priced

    def price(self, rules: PriceRules, service: Service, values: dict[str, str]) -> Quote:
        """What the customer pays for `values` of a service of the shop's catalog (its rate
        already the shop's): rounded up to the currency's minor unit, at least the minimum."""
        return rules.charge(quote(service, values))

    async def sale(self, panel: Catalog) -> Sale:
        return Sale(await self.rules(), panel, self.currency)

    # --- the operator's panel balance ----------------------------------------------------

    async def funds(self, linked: Linked, cost: Decimal) -> Funds:
        """Whether the operator's panel balance (at most a few seconds old) pays `cost`.
        Admins hear once a day when it does not, and once a day when it falls below
        SHOP_LOW_BALANCE."""
        try:
            balance = await self.accounts.recent_balance(linked)
        except Exception as error:  # the panel will say itself when the order is sent
            log.info("shop: the panel balance could not be read (%s); the order goes on", type(error).__name__)
            return Funds.UNKNOWN
        if balance.amount < cost:
            await self._tell_admins(KIND_SHOP_OUT_OF_FUNDS, balance.amount, balance.currency)
            return Funds.SHORT
        if self.low_balance is not None and balance.amount - cost < self.low_balance:
            await self._tell_admins(KIND_SHOP_LOW_BALANCE, balance.amount - cost, balance.currency)
        return Funds.ENOUGH

    async def panel_refused_funds(self) -> None:
        """The panel itself refused an order for its balance (the guard's reading was
        older): admins hear of it as of an order turned away."""
        await self._tell_admins(KIND_SHOP_OUT_OF_FUNDS, None, None)

    async def _tell_admins(self, kind: str, amount: Decimal | None, currency: str | None) -> None:
        day = time.strftime("%Y-%m-%d", time.gmtime())
        for admin in self.admin_ids:
            notice = Notice(user_id=admin, kind=kind, dedupe_key=f"{kind}:{day}:{admin}",
                            payload={"balance": str(amount) if amount is not None else None, "currency": currency or "",
                                     "low": str(self.low_balance) if self.low_balance is not None else None})
            try:
                await self.store.enqueue_notification(notice)
            except Exception:
                log.exception("shop: could not tell admin %s about the panel balance", admin)
