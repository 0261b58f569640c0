"""The store's memory of recent users and drafts stays bounded however long the bot runs."""

from __future__ import annotations

from pathlib import Path

import pytest

from bot.recent import Recent
from bot.store import DraftState, KeyBox, Store


def test_an_entry_is_kept_for_its_time_then_forgotten(monkeypatch: pytest.MonkeyPatch) -> None:
    now = [1000.0]
    monkeypatch.setattr("bot.recent.time.monotonic", lambda: now[0])
    recent: Recent[int, str] = Recent(30.0)
    recent.put(1, "one")
    now[0] += 29.0
    assert recent.get(1) == "one"
    now[0] += 2.0
    assert recent.get(1) is None
    assert len(recent) == 0


def test_nothing_is_kept_with_no_time() -> None:
    recent: Recent[int, str] = Recent(0.0)
    recent.put(1, "one")
    assert recent.get(1) is None and len(recent) == 0


def test_expired_entries_are_swept_out_as_new_ones_come(monkeypatch: pytest.MonkeyPatch) -> None:
    now = [1000.0]
    monkeypatch.setattr("bot.recent.time.monotonic", lambda: now[0])
    recent: Recent[int, int] = Recent(10.0)
    for second in range(600):  # a key a second for ten minutes, never read again
        now[0] += 1.0
        recent.put(second, second)
    # Without sweeping it would hold all 600; it holds about what 10 s brought, plus
    # what came since the last sweep (sweeps run at most once per ttl, above 512 entries).
    assert len(recent) <= Recent.SWEEP_ABOVE + 1
    for second in range(600, 2000):
        now[0] += 1.0
        recent.put(second, second)
    assert len(recent) <= Recent.SWEEP_ABOVE + 1
    assert recent.get(1999) == 1999


async def test_placed_and_cancelled_drafts_leave_the_cache(tmp_path: Path) -> None:
    store = Store(f"sqlite+aiosqlite:///{tmp_path / 'bot.db'}", keybox=KeyBox("secret"), user_cache_seconds=30.0)
    await store.create_all()
    try:
        await store.ensure_user(7, "en")
        account = await store.link_account(7, "https://panel.example/api/v2", "key-0123456789")
        assert account.id is not None
        service = {"id": 1, "name": "Likes", "type": "Default", "rate": "1", "min": "10", "max": "100"}
        placed = await store.create_draft(7, account.id, service, {"link": "https://x", "quantity": "10"})
        cancelled = await store.create_draft(7, account.id, service, {})
        assert placed.id is not None and cancelled.id is not None
        assert len(store._drafts) == 2  # noqa: SLF001 - the cache itself is what is specified here
        assert await store.claim_draft(placed.id, 7)
        await store.record_placement(placed.id, 555, currency="USD")
        assert await store.abandon_draft(cancelled.id, 7)
        assert len(store._drafts) == 0  # noqa: SLF001
        # ... and are read from the database when asked for again.
        again = await store.get_draft(placed.id, 7)
        assert again is not None and again.state == DraftState.PLACED and again.order_id == 555
    finally:
        await store.dispose()
