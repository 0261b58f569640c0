"""Ordering on the panels people run, in both sandbox dialects (seed and SmartPanel):
advice that fits the form, packages that want a quantity, panels that cannot make
subscriptions, drip-feed intervals, comments with commas, and a real panel's warning."""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path

import pytest

from bot.panel.fields import FieldInvalid, FieldKind, FieldSpec, Range, clean_value
from bot.panel.models import Service

# --- digits -------------------------------------------------------------------------------------


@pytest.mark.parametrize("typed", ["²", "٣", "３", "1٠0", "१००"])
def test_a_quantity_is_ascii_digits_only(typed: str) -> None:
    svc = Service(id=1, name="x", type="Default", category="c", rate=Decimal(1), min=1, max=1000)
    spec = FieldSpec("quantity", FieldKind.INTEGER, range=Range.SERVICE)
    with pytest.raises(FieldInvalid) as bad:
        clean_value(spec, typed, svc)
    assert bad.value.code == "not_integer"
