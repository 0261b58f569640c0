"""Shop prices and refunds (bot/domain/pricing.py): exact in Decimal, rounded where the
customer or the shop would otherwise lose a fraction, never below the panel's cost."""

from __future__ import annotations

from decimal import Decimal

import pytest
from hypothesis import given
from hypothesis import strategies as st

from bot.domain.pricing import Override, PriceRules, has_quantity, partial_refund
from bot.panel.models import Service


def service(rate: str = "1.20", *, id: int = 1, type: str = "Default", category: str = "Instagram Likes",
            minimum: int = 10, maximum: int = 100_000) -> Service:
    return Service(id, f"Service {id}", type, category, Decimal(rate), minimum, maximum)


def test_a_global_markup_is_a_percent_over_the_panels_rate() -> None:
    rules = PriceRules(markup=Decimal(50))
    assert rules.price(service("1.20"), {"link": "x", "quantity": "1000"}).high == Decimal("1.80")
    assert rules.price(service("1.20"), {"link": "x", "quantity": "1500"}).high == Decimal("2.70")


def test_a_service_override_wins_over_its_category_and_that_over_the_global_markup() -> None:
    rules = PriceRules(markup=Decimal(50), categories={"Instagram Likes": Override(percent=Decimal(100))},
                       services={7: Override(per_1000=Decimal("5"))})
    values = {"link": "x", "quantity": "1000"}
    assert rules.price(service(id=7), values).high == Decimal("5.00")
    assert rules.price(service(id=8), values).high == Decimal("2.40")
    assert rules.price(service(id=9, category="YouTube Views"), values).high == Decimal("1.80")


def test_amounts_are_rounded_up_to_the_currencys_minor_unit() -> None:
    rules = PriceRules(markup=Decimal(10))
    # 1.20 * 1.1 * 0.333 = 0.43956 -> 0.44
    assert rules.price(service(), {"link": "x", "quantity": "333"}).high == Decimal("0.44")
    yen = PriceRules(markup=Decimal(10), digits=0)
    assert yen.price(service("100"), {"link": "x", "quantity": "333"}).high == Decimal("37")


def test_an_order_costs_at_least_the_minimum_charge() -> None:
    rules = PriceRules(minimum=Decimal("0.50"))
    assert rules.price(service(), {"link": "x", "quantity": "10"}).high == Decimal("0.50")
    assert rules.price(service(), {"link": "x", "quantity": "1000"}).high == Decimal("1.20")


def test_a_fixed_price_the_panel_has_overtaken_sells_at_cost_not_at_a_loss() -> None:
    rules = PriceRules(services={1: Override(per_1000=Decimal("1.00"))})
    assert rules.price(service("1.20"), {"link": "x", "quantity": "1000"}).high == Decimal("1.20")


def test_a_package_is_priced_per_package() -> None:
    rules = PriceRules(markup=Decimal(20))
    assert rules.price(service("10", type="Package"), {"link": "x"}).high == Decimal("12.00")
    assert not has_quantity(service(type="Package")) and has_quantity(service())


def test_hidden_categories_and_services_are_not_offered() -> None:
    rules = PriceRules(hidden_categories=frozenset({"Spotify"}), hidden_services=frozenset({3}))
    assert not rules.visible(service(category="Spotify"))
    assert not rules.visible(service(id=3))
    assert rules.visible(service(id=4))


@pytest.mark.parametrize("bad", [
    {"percent": Decimal(10), "per_1000": Decimal(1)}, {}, {"percent": Decimal(-100)}, {"per_1000": Decimal(-1)},
])
def test_an_override_is_one_sane_rule(bad: dict[str, Decimal]) -> None:
    with pytest.raises(ValueError):
        Override(**bad)


def test_a_partial_gives_back_the_undelivered_part_rounded_in_the_customers_favour() -> None:
    rules = PriceRules()
    assert partial_refund(rules, Decimal("1.00"), 3, 1) == Decimal("0.34")  # 0.333… -> 0.34
    assert partial_refund(rules, Decimal("1.00"), 1000, 0) == Decimal(0)
    assert partial_refund(rules, Decimal("1.00"), 1000, 1000) == Decimal("1.00")
    assert partial_refund(rules, Decimal("1.00"), 1000, 5000) == Decimal("1.00")  # a panel's odd remains


money = st.decimals(min_value=Decimal("0.0001"), max_value=Decimal(10_000), places=4)
percents = st.decimals(min_value=Decimal(-99), max_value=Decimal(1000), places=2)


@given(rate=money, markup=percents, quantity=st.integers(10, 100_000), digits=st.integers(0, 3),
       minimum=st.decimals(min_value=Decimal(0), max_value=Decimal(5), places=2))
def test_a_price_is_never_below_the_panels_cost_nor_the_minimum_and_has_whole_minor_units(
    rate: Decimal, markup: Decimal, quantity: int, digits: int, minimum: Decimal,
) -> None:
    rules = PriceRules(markup=markup, minimum=minimum, digits=digits)
    the_service = service(str(rate))
    values = {"link": "x", "quantity": str(quantity)}
    price = rules.price(the_service, values).high
    cost = the_service.rate * quantity / 1000
    assert price >= cost and price >= minimum
    assert price == price.quantize(Decimal(1).scaleb(-digits)) or price == minimum


@given(charged=st.decimals(min_value=Decimal(0), max_value=Decimal(10_000), places=2),
       quantity=st.integers(1, 1_000_000), remains=st.integers(-5, 2_000_000))
def test_a_refund_is_never_more_than_the_charge_nor_less_than_the_exact_share(
    charged: Decimal, quantity: int, remains: int,
) -> None:
    refund = partial_refund(PriceRules(), charged, quantity, remains)
    assert Decimal(0) <= refund <= charged
    exact = charged * max(0, min(remains, quantity)) / quantity
    assert refund >= exact
    assert refund - exact < Decimal("0.01") or refund == charged
