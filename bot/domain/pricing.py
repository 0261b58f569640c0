"""Shop prices (issue 13, shop mode): what a customer pays for an order, from the panel's
rate and the operator's rules, and what a Partial order gives back. All `Decimal`.

- A global markup in percent over the panel's rate; a category's or a service's own
  override (a percent, or a fixed price per 1000 — per package for a package) wins, the
  service's over its category's.
- Never below the panel's own cost: a fixed price the panel's rate has overtaken sells at
  cost, never at a loss.
- A minimum charge per order; every amount rounded *up* to the currency's minor unit.
- A refund is rounded in the customer's favour (up), never more than was charged.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from dataclasses import dataclass
from decimal import ROUND_CEILING, Decimal

from bot.panel.fields import Quote, quote, service_type
from bot.panel.models import Service

HUNDRED = Decimal(100)


@dataclass(frozen=True)
class Override:
    """A category's or a service's own price rule: exactly one of the two."""

    percent: Decimal | None = None
    per_1000: Decimal | None = None

    def __post_init__(self) -> None:
        if (self.percent is None) == (self.per_1000 is None):
            raise ValueError("an override is either a percent or a fixed price per 1000")
        if self.percent is not None and self.percent <= -HUNDRED:
            raise ValueError("a markup of -100 % or less would give the service away")
        if self.per_1000 is not None and self.per_1000 < 0:
            raise ValueError("a price cannot be negative")


@dataclass(frozen=True)
class PriceRules:
    """The operator's prices. `digits`: the shop currency's minor unit (2 for USD, 0 for JPY)."""

    markup: Decimal = Decimal(0)
    categories: Mapping[str, Override] = dataclasses.field(default_factory=dict)
    services: Mapping[int, Override] = dataclasses.field(default_factory=dict)
    minimum: Decimal = Decimal(0)
    hidden_categories: frozenset[str] = frozenset()
    hidden_services: frozenset[int] = frozenset()
    digits: int = 2

    def __post_init__(self) -> None:
        if self.markup <= -HUNDRED:
            raise ValueError("a markup of -100 % or less would give everything away")
        if self.minimum < 0 or self.digits < 0:
            raise ValueError("the minimum charge and the currency's digits cannot be negative")

    def visible(self, service: Service) -> bool:
        """Whether customers see and may order the service."""
        return service.id not in self.hidden_services and service.category not in self.hidden_categories

    def rule(self, service: Service) -> Override:
        """The rule that prices `service`: its own, its category's, or the global markup."""
        return self.services.get(service.id) or self.categories.get(service.category) or Override(percent=self.markup)

    def rate(self, service: Service) -> Decimal:
        """The shop's rate per 1000 (per package for a package), never below the panel's."""
        rule = self.rule(service)
        if rule.per_1000 is not None:
            return max(rule.per_1000, service.rate)
        assert rule.percent is not None
        return max(service.rate * (HUNDRED + rule.percent) / HUNDRED, service.rate)

    def price(self, service: Service, values: Mapping[str, str]) -> Quote:
        """What the customer pays for `values` (the order form's cleaned fields): the panel's
        own quote at the shop's rate, rounded up, and at least the minimum charge. A
        subscription's price stays per post (`per_post`) until its posts are known."""
        shop = quote(dataclasses.replace(service, rate=self.rate(service)), values)
        cost = quote(service, values)
        # Rounding and the minimum apply to an order's whole price, not to a per-post one.
        least = Decimal(0) if shop.per_post else self.minimum
        low = max(self.round_up(max(shop.low, cost.low)), least)
        high = max(self.round_up(max(shop.high, cost.high)), least)
        return dataclasses.replace(shop, low=low, high=high)

    def charge(self, shop: Quote) -> Quote:
        """A quote at the shop's rate (`rate`) made a price: rounded up, at least the
        minimum charge (a per-post price of a subscription is only rounded)."""
        least = Decimal(0) if shop.per_post else self.minimum
        return dataclasses.replace(shop, low=max(self.round_up(shop.low), least),
                                   high=max(self.round_up(shop.high), least))

    def round_up(self, amount: Decimal) -> Decimal:
        """Up to the currency's minor unit: a fraction of a cent is the shop's, never lost."""
        return amount.quantize(Decimal(1).scaleb(-self.digits), rounding=ROUND_CEILING)

    def round_refund(self, amount: Decimal) -> Decimal:
        """Up to the minor unit as well: a refund's fraction of a cent is the customer's."""
        return self.round_up(amount)


def partial_refund(rules: PriceRules, charged: Decimal, quantity: int, remains: int) -> Decimal:
    """What a Partial order gives back: the price of what was not delivered (`remains` of
    `quantity`), pro rata, rounded in the customer's favour, never more than `charged`."""
    if charged <= 0 or quantity <= 0 or remains <= 0:
        return Decimal(0)
    if remains >= quantity:
        return charged
    return min(charged, rules.round_refund(charged * remains / quantity))


def has_quantity(service: Service) -> bool:
    """Whether a Partial can be priced pro rata: the order has a quantity to count."""
    return service_type(service.type).pricing not in ("flat", "subscription")
