"""Panel facts: what a panel showed it lacks is stored per panel URL, seen by every
process on the database, and a missing action is asked again after a day."""

from __future__ import annotations

from datetime import timedelta

import pytest

from bot.domain import capabilities
from bot.domain.capabilities import NO_CANCEL, NO_REFILL, NO_SUBSCRIPTIONS, PACKAGE_NEEDS_QUANTITY, PanelFacts
from bot.store import Store
from tests.test_store import Backend, backend, store  # noqa: F401  (fixtures)

PANEL = "https://panel.example/api/v2"
OTHER = "https://other.example/api/v2"


async def test_a_new_panel_is_assumed_to_do_everything(store: Store) -> None:
    abilities = await PanelFacts(store, PANEL).abilities()
    assert (abilities.refill, abilities.refill_status, abilities.cancel, abilities.subscriptions) == (
        True, True, True, True)
    assert abilities.package_needs_quantity is False


async def test_a_fact_is_news_once_and_is_seen_by_another_process(backend: Backend, store: Store) -> None:
    facts = PanelFacts(store, PANEL)
    assert await facts.learn(NO_REFILL, "This action is Invalid") is True
    assert await facts.learn(NO_REFILL, "This action is Invalid") is False
    assert await facts.learn(PACKAGE_NEEDS_QUANTITY) is True
    other_process = PanelFacts(backend.open(), PANEL)
    abilities = await other_process.abilities()
    assert abilities.refill is False and abilities.cancel is True
    assert abilities.package_needs_quantity is True
    # Facts belong to one panel.
    assert (await PanelFacts(store, OTHER).abilities()).refill is True


async def test_a_missing_action_is_asked_again_after_a_day(store: Store, monkeypatch: pytest.MonkeyPatch) -> None:
    facts = PanelFacts(store, PANEL, refresh=0.0)
    await facts.learn(NO_CANCEL)
    await facts.learn(NO_SUBSCRIPTIONS)
    assert (await facts.abilities()).cancel is False
    later = capabilities.utcnow() + timedelta(days=1, minutes=1)
    monkeypatch.setattr(capabilities, "utcnow", lambda: later)
    abilities = await facts.abilities()
    assert abilities.cancel is True  # tried again
    assert abilities.subscriptions is False  # a type fact holds until the panel shows otherwise
    assert await facts.learn(NO_CANCEL) is True  # refused again: news again, said again


async def test_an_action_that_answers_again_is_forgotten(store: Store) -> None:
    facts = PanelFacts(store, PANEL, refresh=0.0)
    await facts.learn(NO_REFILL)
    assert await facts.forget(NO_REFILL) is True
    assert (await facts.abilities()).refill is True
    assert await facts.forget(NO_REFILL) is False


async def test_an_unknown_fact_is_a_bug(store: Store) -> None:
    with pytest.raises(ValueError):
        await PanelFacts(store, PANEL).learn("no_action:add")
