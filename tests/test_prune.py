"""Specifications of pruning: the tables that only grew (sent notifications, abandoned
drafts, strangers' user rows) are trimmed on a schedule, on SQLite and PostgreSQL."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import pytest
from sqlalchemy import func, select, update

from bot.store import DraftState, Notice, Store
from bot.store.models import Draft, Notification, Order, User, utcnow
from tests.harness import PG_URL, world
from tests.test_store import BIG_USER, OTHER_USER, Backend, _draft, backend  # noqa: F401 (the fixture)
from tests.store_rows import add_order

DAY = timedelta(days=1)


@pytest.fixture
async def store(backend: Backend) -> Store:  # noqa: F811 (the fixture, used by name)
    store = backend.open()
    await store.create_all()
    return store


async def _age(store: Store, model: type, row_id: int, **values: object) -> None:
    async with store.session() as s:
        await s.exec(update(model).where(model.id == row_id).values(**values))  # type: ignore[attr-defined]


async def _ids(store: Store, model: type) -> set[int]:
    async with store.session() as s:
        return set((await s.exec(select(model.id))).scalars().all())  # type: ignore[attr-defined]


async def _notification(store: Store, key: str) -> int:
    assert await store.enqueue_notification(Notice(BIG_USER, "order_status", key, {"n": key}))
    async with store.session() as s:
        found = (await s.exec(select(Notification.id).where(Notification.dedupe_key == key))).scalar_one()
    return int(found)


async def test_sent_and_given_up_notifications_go_after_30_days_waiting_ones_stay(store: Store) -> None:
    await store.ensure_user(BIG_USER, "en")
    old_sent, new_sent, old_failed, waiting = (
        [await _notification(store, f"n{i}") for i in range(4)])
    long_ago = utcnow() - 31 * DAY
    await _age(store, Notification, old_sent, sent_at=long_ago, created_at=long_ago)
    await _age(store, Notification, new_sent, sent_at=utcnow() - 29 * DAY, created_at=long_ago)
    await _age(store, Notification, old_failed, sent_at=long_ago, failed_at=long_ago, created_at=long_ago)
    await _age(store, Notification, waiting, created_at=long_ago)  # never sent: still owed to the user
    pruned = await store.prune()
    assert await _ids(store, Notification) == {new_sent, waiting}
    assert pruned["notifications"] == 2


async def test_abandoned_and_untouched_drafts_go_after_7_days_placed_and_recent_ones_stay(store: Store) -> None:
    old_abandoned, account = await _draft(store)
    new_abandoned, _ = await _draft(store)
    untouched, _ = await _draft(store)
    recent, _ = await _draft(store)
    placed, _ = await _draft(store)
    ordered_draft, _ = await _draft(store)  # a DRAFT row an order points to (never deleted)
    long_ago = utcnow() - 8 * DAY
    await _age(store, Draft, old_abandoned, state=DraftState.ABANDONED.value, updated_at=long_ago)
    await _age(store, Draft, new_abandoned, state=DraftState.ABANDONED.value)
    await _age(store, Draft, untouched, updated_at=long_ago)
    await _age(store, Draft, placed, state=DraftState.PLACED.value, updated_at=long_ago)
    await _age(store, Draft, ordered_draft, updated_at=long_ago)
    await add_order(store, panel_order_id=77, account_id=account, user_id=BIG_USER, draft_id=ordered_draft,
                    service_id=101, link="https://x.y/p", quantity=100)
    pruned = await store.prune()
    assert await _ids(store, Draft) == {new_abandoned, recent, placed, ordered_draft}
    assert pruned["drafts"] == 2
    assert len(await _ids(store, Order)) == 1


async def test_strangers_rows_go_members_and_users_with_accounts_stay(store: Store) -> None:
    await _draft(store, BIG_USER)  # linked an account before ALLOWED_USERS was set: kept
    await store.ensure_user(OTHER_USER, "en")  # a stranger who only said /start
    await store.ensure_user(42, "en")  # a member
    pruned = await store.prune(allowed_users=frozenset({42}))
    async with store.session() as s:
        users = set((await s.exec(select(User.telegram_id))).scalars().all())
    assert users == {BIG_USER, 42}
    assert pruned["users"] == 1
    await store.prune(allowed_users=frozenset())  # an open bot keeps everyone
    async with store.session() as s:
        assert (await s.exec(select(func.count()).select_from(User))).scalar_one() == 2


@pytest.mark.parametrize(
    "db", ["sqlite", pytest.param("postgresql", marks=pytest.mark.skipif(not PG_URL, reason="TEST_DATABASE_URL"))]
)
async def test_a_user_refused_by_allowed_users_is_not_stored(tmp_path: Path, db: str) -> None:
    async with world(tmp_path, db=db, allowed_users=frozenset({1001})) as bot:
        stranger = bot.user(2002)
        await bot.send(stranger, "/start")
        assert "private" in stranger.last_text
        member = bot.user(1001)
        await bot.send(member, "/start")
        assert bot.store is not None
        assert await bot.store.get_user(2002) is None
        assert await bot.store.get_user(1001) is not None


async def test_the_bot_prunes_on_a_schedule(tmp_path: Path) -> None:
    async with world(tmp_path) as bot:
        assert bot.app is not None and bot.app.job_queue is not None
        assert bot.app.job_queue.get_jobs_by_name("prune")
