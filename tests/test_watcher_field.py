"""The watcher in the field: no single account or value stops it, a newer status is never
overwritten by an older one, ids that never finish stop being polled, an outage costs
one call per key, a key pause needs confirmation and recovers, and progress is told."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import text

from bot.domain.notices import (
    KIND_ACCOUNT_PAUSED,
    KIND_ACCOUNT_RESUMED,
    KIND_KEY_INVALID,
    KIND_KEY_UNDECRYPTABLE,
    KIND_ORDER,
    KIND_ORDER_LOST,
    KIND_PROGRESS,
    KIND_REFILL_LOST,
)
from bot.domain.watcher import order_changes
from bot.panel.client import PanelClient
from bot.panel.status import OrderStatus
from bot.store import KeyBox, Order, Store
from tests.harness import PG_URL, World, world
from tests.test_watching import cycle, deps, place
from tests.store_rows import add_order, refills_of

DATABASES = ["sqlite", pytest.param("postgresql", marks=pytest.mark.skipif(not PG_URL, reason="TEST_DATABASE_URL not set"))]


async def queued(bot: World, kind: str | None = None) -> list[tuple[int, str, dict[str, Any]]]:
    """(user, kind, payload) of every notification queued so far, in order."""
    assert bot.store is not None
    async with bot.store.session() as s:
        rows = (await s.exec(text("SELECT user_id, kind, payload FROM notifications ORDER BY id"))).all()  # type: ignore[call-overload]
    result = []
    for user_id, row_kind, payload in rows:
        if isinstance(payload, str):
            import json

            payload = json.loads(payload)
        if kind is None or row_kind == kind:
            result.append((int(user_id), str(row_kind), payload))
    return result


async def stored(bot: World, order: Order) -> Order:
    assert bot.store is not None
    row = await bot.store.order_by_id(order.id or 0)
    assert row is not None
    return row


async def own_key_users(bot: World, count: int, *, first_user: int = 5000) -> list[Order]:
    """`count` users, each with an own key on the sandbox and one open order."""
    assert bot.store is not None
    orders = []
    async with httpx.AsyncClient() as http:
        for n in range(count):
            key = f"field-key-{n:04d}-0123456789"
            bot.sandbox.add_account(key, balance=Decimal(1000))
            user_id = first_user + n
            await bot.store.ensure_user(user_id, "en")
            account = await bot.store.link_account(user_id, bot.sandbox.url, key, "USD")
            order_id = await PanelClient(bot.sandbox.url, key, http=http).add(
                {"service": "1012", "link": f"https://x.com/{n}", "quantity": "1000"})
            orders.append(await add_order(bot.store, panel_order_id=order_id, account_id=account.id, user_id=user_id,
                                          service_id=1012, service_name="S", quantity=1000, status="Pending"))
    return orders


# --- one account or value cannot stop the watching ------------------------------------------------


@pytest.mark.parametrize("db", DATABASES)
async def test_one_poisoned_account_among_50_leaves_the_others_stored_and_notified_in_the_same_cycle(
    tmp_path: Path, db: str
) -> None:
    async with world(tmp_path, db=db) as bot:
        orders = await own_key_users(bot, 50)
        for order in orders:
            bot.sandbox.set_status(order.panel_order_id, "Completed", remains=0)
        poisoned = orders[17]
        store = bot.store
        assert store is not None
        real_apply = store.apply_checks

        async def apply(owner: str, changes: Any, *args: Any, **kwargs: Any) -> int:
            # A write that the database refuses, whatever the reason, for one account.
            if any(order_id == poisoned.id for order_id, *_ in changes):
                raise OverflowError("value out of range for the column")
            return await real_apply(owner, changes, *args, **kwargs)

        store.apply_checks = apply  # type: ignore[method-assign]
        report = await deps(bot).watcher.run_cycle()
        assert report.failed_accounts == [poisoned.account_id]
        for order in orders:
            row = await stored(bot, order)
            assert (row.status, row.final) == (("Pending", False) if order is poisoned else ("Completed", True))
        told = {user for user, _, _ in await queued(bot, KIND_ORDER)}
        assert told == {o.user_id for o in orders} - {poisoned.user_id}


@pytest.mark.parametrize("db", DATABASES)
async def test_a_status_too_big_for_its_columns_is_stored_without_the_wild_numbers(tmp_path: Path, db: str) -> None:
    async with world(tmp_path, db=db) as bot:
        first, second = await own_key_users(bot, 2)
        bot.sandbox.set_status(first.panel_order_id, "In progress", remains=10**20)
        bot.sandbox.set_status(second.panel_order_id, "Completed", remains=0)
        await cycle(bot)
        assert (await stored(bot, first)).status == "In progress"
        assert (await stored(bot, first)).remains is None
        assert (await stored(bot, second)).final


def test_numbers_that_fit_no_column_are_left_out_of_the_changes() -> None:
    order = Order(id=1, panel_order_id=1, account_id=1, user_id=1, service_id=1, quantity=100, status="Pending")
    wild = OrderStatus(1, status="In progress", charge=Decimal("1E20"), start_count=-5, remains=10**20)
    assert order_changes(order, wild) == {"status": "In progress"}
    sane = OrderStatus(1, status="In progress", charge=Decimal("0.5"), start_count=12, remains=40)
    assert order_changes(order, sane) == {"status": "In progress", "charge": Decimal("0.5"), "start_count": 12,
                                          "remains": 40}


@pytest.mark.parametrize("db", DATABASES)
async def test_a_key_that_no_longer_decrypts_pauses_its_account_alone_and_asks_its_owner_once(
    tmp_path: Path, db: str
) -> None:
    async with world(tmp_path, db=db) as bot:
        ann = await bot.linked_user()
        order = await place(bot, ann)
        assert bot.store is not None
        # Bob's key was stored under another SECRET_KEY (replaced instead of rotated).
        other = Store(bot.db_url, keybox=KeyBox("a secret nobody has any more"), schema=bot.schema)
        lost_key = bot.sandbox.add_account("bob-key-0123456789", balance=Decimal(10))
        bob_account = await other.link_account(2002, bot.sandbox.url, lost_key, "USD")
        await other.dispose()
        await bot.store.ensure_user(2002, "en")
        await add_order(bot.store, panel_order_id=424242, account_id=bob_account.id, user_id=2002, service_id=1012,
                        service_name="S", quantity=100, status="Pending")
        bot.sandbox.set_status(order.panel_order_id, "Completed", remains=0)
        await cycle(bot)
        await cycle(bot)
        assert (await stored(bot, order)).final
        account = await bot.store.get_account(bob_account.id or 0)
        assert account is not None and account.paused and account.pause_reason == "undecryptable"
        asked = await queued(bot, KIND_KEY_UNDECRYPTABLE)
        assert [(user, payload["key_hint"]) for user, _, payload in asked] == [(2002, bob_account.key_hint)]


# --- an older result never overwrites a newer one ---------------------------------------------------


@pytest.mark.parametrize("db", DATABASES)
async def test_a_refresh_during_a_slow_cycle_keeps_its_final_status(tmp_path: Path, db: str) -> None:
    async with world(tmp_path, db=db) as bot:
        ann = await bot.linked_user()
        order = await place(bot, ann)
        bot.sandbox.set_status(order.panel_order_id, "In progress", remains=500)
        store = bot.store
        assert store is not None
        real_apply = store.apply_checks

        async def apply(*args: Any, **kwargs: Any) -> int:
            # The cycle has its (now old) answer; the user refreshes the card meanwhile.
            bot.sandbox.set_status(order.panel_order_id, "Completed", remains=0)
            await bot.press(ann, "🔄 Refresh")
            return await real_apply(*args, **kwargs)

        store.apply_checks = apply  # type: ignore[method-assign]
        await cycle(bot)
        store.apply_checks = real_apply  # type: ignore[method-assign]
        row = await stored(bot, order)
        assert (row.status, row.final) == ("Completed", True)
        # The user saw it on the card: no message says "In progress" after it.
        assert [p["status"] for _, _, p in await queued(bot, KIND_ORDER)] == []


# --- what never finishes stops being polled ---------------------------------------------------------


@pytest.mark.parametrize("db", DATABASES)
async def test_an_id_the_panel_does_not_know_is_given_up_after_5_checks_and_its_owner_told_once(
    tmp_path: Path, db: str
) -> None:
    async with world(tmp_path, db=db) as bot:
        ann = await bot.linked_user()
        real = await place(bot, ann)
        account = await deps(bot).accounts.linked(ann.id)
        assert bot.store is not None
        lost = await add_order(bot.store, panel_order_id=99_999_999, account_id=account.account.id, user_id=ann.id,
                               service_id=1012, service_name="Followers", quantity=100, status="Pending")
        for _ in range(4):
            await cycle(bot)
        assert not (await stored(bot, lost)).final
        await cycle(bot)
        row = await stored(bot, lost)
        assert row.final and row.watch_error and row.status == "Pending"
        assert not (await stored(bot, real)).final
        calls = bot.sandbox.calls("status")
        await cycle(bot)
        assert all("99999999" not in r.fields.get("orders", "") for r in bot.sandbox.calls("status")[len(calls):])
        told = await queued(bot, KIND_ORDER_LOST)
        assert [(u, p["order_id"]) for u, _, p in told] == [(ann.id, 99_999_999)]


async def test_a_refill_the_panel_does_not_know_is_given_up_after_5_checks(tmp_path: Path) -> None:
    async with world(tmp_path) as bot:
        ann = await bot.linked_user()
        order = await place(bot, ann)
        bot.sandbox.set_status(order.panel_order_id, "Completed", remains=0)
        assert bot.store is not None
        refill = await bot.store.add_refill(order.id or 0, 77_777_777)
        for _ in range(5):
            await cycle(bot)
        (row,) = await refills_of(bot.store, order.id or 0)
        assert row.final
        before = bot.sandbox.count("refill_status")
        await cycle(bot)
        assert bot.sandbox.count("refill_status") == before
        told = await queued(bot, KIND_REFILL_LOST)
        assert [(u, p["refill_id"]) for u, _, p in told] == [(ann.id, refill.panel_refill_id)]


async def test_older_open_orders_are_checked_less_often(tmp_path: Path) -> None:
    async with world(tmp_path, status_poll_seconds=60) as bot:
        ann = await bot.linked_user()
        fresh, day_old, month_old = [await place(bot, ann, link=f"https://instagram.com/{n}") for n in range(3)]
        assert bot.store is not None
        now = datetime.now(UTC)
        async with bot.store.session() as s:
            for order, age in ((day_old, timedelta(days=1)), (month_old, timedelta(days=30))):
                await s.exec(text("UPDATE orders SET created_at = :at WHERE id = :id").bindparams(  # type: ignore[call-overload]
                    at=now - age, id=order.id))
        await cycle(bot, now=now)
        waits = [((await stored(bot, o)).next_check_at - now).total_seconds() for o in (fresh, day_old, month_old)]  # type: ignore[operator]
        assert 50 <= waits[0] <= 60
        assert 550 <= waits[1] <= 700
        assert 3300 <= waits[2] <= 4000
        before = bot.sandbox.count("status")
        await cycle(bot, now=now + timedelta(minutes=2))
        (call,) = bot.sandbox.calls("status")[before:]
        assert call.fields["orders"] == str(fresh.panel_order_id)


# --- an outage costs one call per key per cycle ----------------------------------------------------


async def test_a_panel_outage_costs_one_status_call_per_key_per_cycle(tmp_path: Path) -> None:
    async with world(tmp_path) as bot:
        ann = await bot.linked_user()
        await place(bot, ann)
        bot.sandbox.faults.set("status", http_status=502)
        before = bot.sandbox.count("status")
        report = await deps(bot).watcher.run_cycle()
        assert report.failed_accounts and bot.sandbox.count("status") - before == 1


# --- a key pause needs confirmation and recovers -----------------------------------------------------


async def test_a_single_invalid_key_answer_the_balance_check_contradicts_does_not_pause(tmp_path: Path) -> None:
    async with world(tmp_path, admin_ids="9001") as bot:
        ann = await bot.linked_user()
        order = await place(bot, ann)
        bot.sandbox.faults.set("status", error="Invalid API key", times=1)
        await cycle(bot)
        account = await deps(bot).accounts.linked(ann.id)
        assert bot.store is not None
        row = await bot.store.get_account(account.account.id or 0)
        assert row is not None and not row.paused and row.refusals == 1
        bot.sandbox.set_status(order.panel_order_id, "Completed", remains=0)
        await cycle(bot, now=datetime.now(UTC) + timedelta(hours=1))
        row = await bot.store.get_account(account.account.id or 0)
        assert row is not None and row.refusals == 0 and (await stored(bot, order)).final
        assert await queued(bot, KIND_KEY_INVALID) == [] and await queued(bot, KIND_ACCOUNT_PAUSED) == []


async def test_three_refusals_in_a_row_pause_even_when_balance_answers(tmp_path: Path) -> None:
    async with world(tmp_path, admin_ids="9001") as bot:
        ann = await bot.linked_user()
        await place(bot, ann)
        bot.sandbox.faults.set("status", error="Invalid API key")
        now = datetime.now(UTC)
        for hour in range(3):
            await cycle(bot, now=now + timedelta(hours=hour))
        account = await deps(bot).accounts.linked(ann.id)
        assert bot.store is not None
        row = await bot.store.get_account(account.account.id or 0)
        assert row is not None and row.paused and row.pause_reason == "invalid_key"
        assert [u for u, _, _ in await queued(bot, KIND_KEY_INVALID)] == [ann.id]
        assert [u for u, _, _ in await queued(bot, KIND_ACCOUNT_PAUSED)] == [9001]


@pytest.mark.parametrize("db", DATABASES)
async def test_the_team_key_is_paused_when_confirmed_retried_with_backoff_and_resumed_admins_told_once_each(
    tmp_path: Path, db: str
) -> None:
    async with world(tmp_path, db=db, panel_key="team-key-0123456789", allowed_users="1001", admin_ids="9001,9002") as bot:
        bot.sandbox.add_account("team-key-0123456789", balance=Decimal(100))
        bot.key = "team-key-0123456789"
        ann = bot.user()
        await bot.send(ann, "/start")
        order = await place(bot, ann)
        known = bot.sandbox.state.accounts.pop("team-key-0123456789")  # the panel no longer knows the key
        now = datetime.now(UTC)
        await cycle(bot, now=now)
        assert bot.store is not None
        team = await bot.store.account_for(None, bot.sandbox.url)
        assert team is not None and team.paused and team.pause_reason == "invalid_key" and team.retry_at is not None
        assert sorted(u for u, _, _ in await queued(bot, KIND_ACCOUNT_PAUSED)) == [9001, 9002]
        # Retried with a growing pause, one `balance` call per try, nobody told again.
        tries = []
        moment = now
        for _ in range(3):
            moment = team.retry_at + timedelta(seconds=1)
            before = bot.sandbox.count("balance")
            await cycle(bot, now=moment)
            assert bot.sandbox.count("balance") - before == 1
            team = await bot.store.account_for(None, bot.sandbox.url)
            assert team is not None and team.paused and team.retry_at is not None
            tries.append((team.retry_at - moment).total_seconds())
        assert tries[0] < tries[1] < tries[2]
        assert len(await queued(bot, KIND_ACCOUNT_PAUSED)) == 2
        # The key works again: the first success resumes it, admins told once, watched again.
        bot.sandbox.state.accounts["team-key-0123456789"] = known
        bot.sandbox.set_status(order.panel_order_id, "Completed", remains=0)
        await cycle(bot, now=team.retry_at + timedelta(seconds=1))
        team = await bot.store.account_for(None, bot.sandbox.url)
        assert team is not None and not team.paused and team.pause_reason is None
        assert sorted(u for u, _, _ in await queued(bot, KIND_ACCOUNT_RESUMED)) == [9001, 9002]
        await cycle(bot, now=team.retry_at + timedelta(seconds=120) if team.retry_at else moment + timedelta(hours=2))
        assert (await stored(bot, order)).final
        assert len(await queued(bot, KIND_ACCOUNT_RESUMED)) == 2


# --- progress --------------------------------------------------------------------------------------------


async def test_progress_is_queued_at_most_every_10_minutes_and_for_10_percent_moves(tmp_path: Path) -> None:
    async with world(tmp_path) as bot:
        ann = await bot.linked_user()
        order = await place(bot, ann)  # quantity 1,000
        now = datetime.now(UTC)
        bot.sandbox.set_status(order.panel_order_id, "In progress", remains=900)
        await cycle(bot, now=now)  # a status change: its message shows the progress
        bot.sandbox.set_status(order.panel_order_id, "In progress", remains=850)
        await cycle(bot, now=now + timedelta(minutes=11))  # 5 %: not worth a message
        bot.sandbox.set_status(order.panel_order_id, "In progress", remains=790)
        await cycle(bot, now=now + timedelta(minutes=12))  # 11 %: told
        bot.sandbox.set_status(order.panel_order_id, "In progress", remains=600)
        await cycle(bot, now=now + timedelta(minutes=15))  # 19 % more, but 3 minutes later
        await cycle(bot, now=now + timedelta(minutes=23))  # 11 minutes later: told
        progress = [p["remains"] for _, _, p in await queued(bot, KIND_PROGRESS)]
        assert progress == [790, 600]
        assert [p["status"] for _, _, p in await queued(bot, KIND_ORDER)] == ["In progress"]


# --- the process survives -------------------------------------------------------------------------------


async def test_the_watcher_loop_survives_a_failed_cycle(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from bot import worker
    from bot.domain.watcher import Watcher

    async with world(tmp_path) as bot:
        stop = asyncio.Event()
        calls = 0

        async def run_cycle(self: Watcher) -> Any:
            nonlocal calls
            calls += 1
            if calls == 1:
                raise RuntimeError("the database went away")
            stop.set()
            return await real(self)

        real = Watcher.run_cycle
        monkeypatch.setattr(Watcher, "run_cycle", run_cycle)
        assert bot.settings is not None and bot.store is not None and bot.app is not None
        settings = bot.settings.model_copy(update={"status_poll_seconds": 0.05})
        from telegram.ext import ExtBot

        from bot.domain.panels import Panels
        from bot.playground.fakegram import FakeRequest
        from tests.harness import SECRET, TOKEN

        store = Store(bot.db_url, keybox=KeyBox(SECRET), schema=bot.schema)
        telegram = ExtBot(TOKEN, request=FakeRequest(bot.fake), get_updates_request=FakeRequest(bot.fake))
        panels = Panels(bot.sandbox.url)
        await asyncio.wait_for(worker.watch(settings, stop=stop, bot=telegram, store=store, panels=panels), 30)
        assert calls == 2
