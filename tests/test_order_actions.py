"""Refresh, refill and cancel as the domain does them (bot/domain/order_actions.py): one
request per press whatever happens, each outcome typed; the handlers only say it."""

from __future__ import annotations

from pathlib import Path

import pytest
from sqlmodel import col, select

from bot.domain.order_actions import Asked, refresh, request_cancel, request_refill
from bot.handlers.context import Deps
from bot.store import Order, Refill
from tests.harness import PG_URL, World, world
from tests.test_watching import place

DATABASES = ["sqlite", pytest.param("postgresql", marks=pytest.mark.skipif(
    PG_URL is None, reason="TEST_DATABASE_URL not set: the PostgreSQL run of these tests is skipped"))]
ANN = 1001


def deps_of(bot: World) -> Deps:
    assert bot.app is not None
    deps: Deps = bot.app.bot_data["deps"]
    return deps


async def completed_order(bot: World) -> Order:
    ann = await bot.linked_user()
    order = await place(bot, ann)
    bot.sandbox.set_status(order.panel_order_id, "Completed", remains=0)
    refreshed = await refresh(deps_of(bot).store, deps_of(bot).accounts, ANN, order)
    assert refreshed.order.status == "Completed" and refreshed.order.final
    return refreshed.order


@pytest.mark.parametrize("db", DATABASES)
async def test_a_refill_is_requested_once_and_stored_to_be_watched(tmp_path: Path, db: str) -> None:
    async with world(tmp_path, db=db) as bot:
        order = await completed_order(bot)
        deps = deps_of(bot)
        first = await request_refill(deps.store, deps.accounts, deps.facts, ANN, order)
        second = await request_refill(deps.store, deps.accounts, deps.facts, ANN, order)
        assert first.outcome is Asked.SENT and first.refill_id is not None
        assert second.outcome is Asked.BUSY  # the claim holds while the request is fresh
        assert bot.sandbox.count("refill") == 1
        assert order.id is not None
        async with deps.store.engine.connect() as conn:
            stored = (await conn.execute(select(Refill.panel_refill_id).where(col(Refill.order_id) == order.id))).all()
        assert [row[0] for row in stored] == [first.refill_id]


async def test_an_unfinished_order_is_not_refilled_and_a_finished_one_not_cancelled(tmp_path: Path) -> None:
    async with world(tmp_path) as bot:
        ann = await bot.linked_user()
        order = await place(bot, ann)
        deps = deps_of(bot)
        assert (await request_refill(deps.store, deps.accounts, deps.facts, ANN, order)).outcome is Asked.NOT_NOW
        bot.sandbox.set_status(order.panel_order_id, "Completed", remains=0)
        done = (await refresh(deps.store, deps.accounts, ANN, order)).order
        assert (await request_cancel(deps.store, deps.accounts, deps.facts, ANN, done)).outcome is Asked.NOT_NOW
        assert bot.sandbox.count("refill") == 0 and bot.sandbox.count("cancel") == 0


async def test_a_panel_that_is_down_sends_nothing_and_leaves_the_order_free_to_try_again(tmp_path: Path) -> None:
    async with world(tmp_path) as bot:
        order = await completed_order(bot)
        deps = deps_of(bot)
        bot.sandbox.faults.set("refill", rate_limit=30.0)  # refused before it was taken
        down = await request_refill(deps.store, deps.accounts, deps.facts, ANN, order)
        assert down.outcome is Asked.UNAVAILABLE
        bot.sandbox.faults.clear()
        again = await request_refill(deps.store, deps.accounts, deps.facts, ANN, order)
        assert again.outcome is Asked.SENT


async def test_a_refusal_is_returned_and_releases_the_claim(tmp_path: Path) -> None:
    async with world(tmp_path) as bot:
        order = await completed_order(bot)
        deps = deps_of(bot)
        bot.sandbox.faults.set("refill", error="The refill task is not completed for this order", times=1)
        refused = await request_refill(deps.store, deps.accounts, deps.facts, ANN, order)
        assert refused.outcome is Asked.REFUSED and refused.refusal is not None
        assert "not completed" in refused.refusal.text
        assert (await request_refill(deps.store, deps.accounts, deps.facts, ANN, order)).outcome is Asked.SENT


async def test_a_request_without_a_clear_answer_keeps_the_claim(tmp_path: Path) -> None:
    async with world(tmp_path) as bot:
        order = await completed_order(bot)
        deps = deps_of(bot)
        bot.sandbox.faults.set("refill", malformed=True)
        unclear = await request_refill(deps.store, deps.accounts, deps.facts, ANN, order)
        assert unclear.outcome is Asked.UNCLEAR
        bot.sandbox.faults.clear()
        # It may have been created: no second request while the claim holds.
        assert (await request_refill(deps.store, deps.accounts, deps.facts, ANN, order)).outcome is Asked.BUSY
        assert bot.sandbox.count("refill") == 1


async def test_a_panel_without_the_action_is_learnt_once(tmp_path: Path) -> None:
    async with world(tmp_path, dialect="smartpanel") as bot:
        bot.sandbox.update_service(1012, refill="1", cancel="1")  # a fork lists refill, has none
        order = await completed_order(bot)
        deps = deps_of(bot)
        first = await request_refill(deps.store, deps.accounts, deps.facts, ANN, order)
        assert first.outcome is Asked.NOT_OFFERED and first.news
        second = await request_refill(deps.store, deps.accounts, deps.facts, ANN, order)
        assert second.outcome is Asked.NOT_OFFERED and not second.news  # known: not asked again
        assert bot.sandbox.count("refill") == 1
        assert not (await deps.facts.abilities()).refill


async def test_a_cancel_is_requested_once_and_its_outcome_left_to_the_watcher(tmp_path: Path) -> None:
    async with world(tmp_path) as bot:
        ann = await bot.linked_user()
        order = await place(bot, ann)
        deps = deps_of(bot)
        first = await request_cancel(deps.store, deps.accounts, deps.facts, ANN, order)
        assert first.outcome is Asked.SENT
        assert (await request_cancel(deps.store, deps.accounts, deps.facts, ANN, order)).outcome is Asked.BUSY
        assert bot.sandbox.count("cancel") == 1
        stored = await deps.store.order_by_id(order.id or 0)
        assert stored is not None and not stored.final  # the watcher tells the outcome


async def test_refresh_stores_what_changed_and_says_why_when_the_panel_is_down(tmp_path: Path) -> None:
    async with world(tmp_path) as bot:
        ann = await bot.linked_user()
        order = await place(bot, ann)
        deps = deps_of(bot)
        bot.sandbox.set_status(order.panel_order_id, "In progress", remains=400)
        refreshed = await refresh(deps.store, deps.accounts, ANN, order)
        assert refreshed.problem is None and refreshed.live is not None
        stored = await deps.store.order_by_id(order.id or 0)
        assert stored is not None and (stored.status, stored.remains) == ("In progress", 400)
        bot.sandbox.faults.set("status", http_status=502)
        down = await refresh(deps.store, deps.accounts, ANN, stored)
        assert down.problem is not None and down.live is None and down.order == stored
