"""Specifications of the store's fast paths: whole transactions as functions, the user and
draft caches, and the conversation state ("flow") written in the same transaction as a
draft. On a SQLite file and, with TEST_DATABASE_URL, on PostgreSQL."""

from __future__ import annotations

import asyncio
import os
import sqlite3
import uuid
from collections.abc import AsyncIterator, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import event, select, update
from sqlalchemy.engine import Connection

from bot.store import KEEP, DraftState, DraftStateError, KeyBox, Store, User
from bot.store.db import SQLiteFile, Transactions, make_engine
from tests.store_rows import sync_engines

PG_URL = os.environ.get("TEST_DATABASE_URL")
PANEL = "https://panel.example/api/v2"
KEY = "0123456789abcdef0123456789abcdef"
USER = 7_000_000_000
OTHER = 7_000_000_001
SECRET = "operator pasted this passphrase"
SERVICE = {"id": 101, "name": "Instagram Followers", "type": "Default", "rate": "0.90", "refill": True}
VALUES = {"link": "https://x.y/p", "quantity": "100"}
FLOW = {"step": "field", "field": "link"}
USERS = User.__table__  # type: ignore[attr-defined]


@dataclass
class Backend:
    """One database for one test; `open()` gives another Store on it (a restart, or another process)."""

    url: str
    schema: str | None = None
    stores: list[Store] = field(default_factory=list)

    async def open(self, cache: float = 0.0) -> Store:
        store = Store(self.url, keybox=KeyBox(SECRET), schema=self.schema, user_cache_seconds=cache)
        self.stores.append(store)
        await store.create_all()
        return store


@pytest.fixture(
    params=[
        "sqlite",
        pytest.param("postgresql", marks=pytest.mark.skipif(not PG_URL, reason="TEST_DATABASE_URL not set")),
    ]
)
async def backend(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[Backend]:
    result = Backend(url=f"sqlite+aiosqlite:///{tmp_path / 'bot.db'}")
    if request.param == "postgresql":
        assert PG_URL is not None
        result = Backend(url=PG_URL, schema=f"test_fast_{uuid.uuid4().hex[:12]}")  # a schema of its own
        admin = make_engine(PG_URL)
        async with admin.begin() as conn:
            await conn.exec_driver_sql(f'CREATE SCHEMA "{result.schema}"')
    try:
        yield result
    finally:
        for store in result.stores:
            await store.dispose()
        if result.schema:
            async with admin.begin() as conn:
                await conn.exec_driver_sql(f'DROP SCHEMA "{result.schema}" CASCADE')
            await admin.dispose()


async def _draft(store: Store, user_id: int = USER, values: dict[str, Any] | None = None, **kw: Any) -> int:
    await store.ensure_user(user_id, "en")
    account = await store.link_account(user_id, PANEL, KEY, "USD")
    assert account.id is not None
    draft = await store.create_draft(user_id, account.id, SERVICE, dict(VALUES if values is None else values), **kw)
    assert draft.id is not None
    return draft.id


@contextmanager
def statements(store: Store) -> Iterator[list[str]]:
    """Every SQL statement the store sends while the block runs."""
    seen: list[str] = []
    count = lambda _conn, _cursor, statement, *_args: seen.append(statement)  # noqa: E731
    for engine in sync_engines(store):
        event.listen(engine, "before_cursor_execute", count)
    try:
        yield seen
    finally:
        for engine in sync_engines(store):
            event.remove(engine, "before_cursor_execute", count)


async def test_flow_written_with_a_draft_survives_a_restart(backend: Backend) -> None:
    store = await backend.open(cache=30.0)
    draft_id = await _draft(store, values={}, flow=dict(FLOW))
    created = {**FLOW, "draft": draft_id}  # the new draft's id is put in
    assert await store.get_flow(USER) == created
    assert await (await backend.open()).get_flow(USER) == created

    quantity = {"step": "field", "field": "quantity", "draft": draft_id}
    assert await store.update_draft_values(draft_id, USER, {"link": "https://x.y/p"}, flow=quantity)
    assert await (await backend.open()).get_flow(USER) == quantity

    assert await store.claim_draft(draft_id, USER)
    await store.record_placement(draft_id, 555, flow=None)
    restarted = await backend.open()
    assert await restarted.get_flow(USER) is None and await store.get_flow(USER) is None
    is_null = await restarted._run(lambda c: c.execute(select(USERS.c.flow.is_(None))).scalar(), write=False)
    assert is_null in (True, 1)  # SQL NULL, not the JSON text 'null'


async def test_flow_keep_leaves_the_conversation_state_alone(backend: Backend) -> None:
    store = await backend.open(cache=30.0)
    await store.ensure_user(USER, "en")
    assert await store.set_flow(USER, FLOW)
    draft_id = await _draft(store)  # flow=KEEP by default
    assert await store.update_draft_values(draft_id, USER, {"link": "https://x.y/q"}, flow=KEEP)
    assert await store.claim_draft(draft_id, USER)
    await store.record_placement(draft_id, 556)
    assert await store.get_flow(USER) == FLOW
    assert await (await backend.open()).get_flow(USER) == FLOW


async def test_update_with_flow_on_a_draft_no_longer_editable_writes_nothing(backend: Backend) -> None:
    store = await backend.open(cache=30.0)
    draft_id = await _draft(store, flow=dict(FLOW))
    before = {**FLOW, "draft": draft_id}
    assert await store.claim_draft(draft_id, USER)
    assert not await store.update_draft_values(draft_id, USER, {"link": "changed"}, flow={"step": "confirm"})
    # Someone else's draft: refused, and their flow is not touched either.
    await store.ensure_user(OTHER, "en")
    assert await store.set_flow(OTHER, {"step": "browse"})
    assert not await store.update_draft_values(draft_id, OTHER, {"link": "x"}, flow={"step": "confirm"})
    for reader in (store, await backend.open()):
        assert await reader.get_flow(USER) == before
        assert await reader.get_flow(OTHER) == {"step": "browse"}
        draft = await reader.get_draft(draft_id, USER)
        assert draft is not None and (draft.state, draft.values) == (DraftState.SUBMITTING, VALUES)


async def test_set_flow_with_the_cached_flow_sends_no_sql(backend: Backend) -> None:
    store = await backend.open(cache=30.0)
    await store.ensure_user(USER, "en")
    assert await store.set_flow(USER, FLOW)
    with statements(store) as seen:
        assert await store.set_flow(USER, dict(FLOW))
    assert seen == []
    with statements(store) as seen:
        assert await store.set_flow(USER, {"step": "confirm"})
    assert sum(sql.startswith("UPDATE users") for sql in seen) == 1
    assert await (await backend.open()).get_flow(USER) == {"step": "confirm"}
    # A flow stored with a draft is known to the cache as well.
    draft_id = await _draft(store, flow=dict(FLOW))
    with statements(store) as seen:
        assert await store.set_flow(USER, {**FLOW, "draft": draft_id})
    assert seen == []


async def test_without_a_cache_every_set_flow_writes(backend: Backend) -> None:
    store = await backend.open(cache=0)
    await store.ensure_user(USER, "en")
    with statements(store) as seen:
        for _ in range(3):
            assert await store.set_flow(USER, FLOW)
    assert sum(sql.startswith("UPDATE users") for sql in seen) == 3


async def test_a_claim_never_trusts_the_cache_and_a_failed_one_evicts_it(backend: Backend) -> None:
    a = await backend.open(cache=30.0)
    b = await backend.open(cache=30.0)  # another process on the same database
    draft_id = await _draft(a)
    first = await a.get_draft(draft_id, USER)
    assert first is not None and first.state == DraftState.DRAFT
    assert await b.claim_draft(draft_id, USER)
    stale = await a.get_draft(draft_id, USER)  # within the TTL A still has its copy...
    assert stale is not None and stale.state == DraftState.DRAFT
    assert not await a.claim_draft(draft_id, USER)  # ...but the claim asks the database
    after = await a.get_draft(draft_id, USER)  # and the write that changed nothing evicted it
    assert after is not None and after.state == DraftState.SUBMITTING


async def test_a_cached_draft_is_not_shown_to_another_user(backend: Backend) -> None:
    store = await backend.open(cache=30.0)
    draft_id = await _draft(store)
    assert await store.get_draft(draft_id, USER) is not None
    with statements(store) as seen:
        assert await store.get_draft(draft_id, OTHER) is None
    assert seen == []  # answered from the cache, and still refused
    fresh = await backend.open(cache=30.0)
    assert await fresh.get_draft(draft_id, OTHER) is None  # first read by the wrong user
    assert await fresh.get_draft(draft_id, USER) is not None


async def test_drafts_handed_out_are_copies(backend: Backend) -> None:
    store = await backend.open(cache=30.0)
    draft_id = await _draft(store)
    account = await store.account_for(USER, PANEL)
    assert account is not None and account.id is not None
    created = await store.create_draft(USER, account.id, SERVICE, dict(VALUES))
    for draft in (created, await store.get_draft(draft_id, USER)):
        assert draft is not None and draft.id is not None
        draft.values["link"] = "mutated"
        draft.service["name"] = "mutated"
        again = await store.get_draft(draft.id, USER)
        assert again is not None and (again.values, again.service) == (VALUES, SERVICE)
    new_values = {"link": "https://x.y/q", "quantity": "5"}
    assert await store.update_draft_values(draft_id, USER, new_values)
    new_values["quantity"] = "mutated"
    last = await store.get_draft(draft_id, USER)
    assert last is not None and last.values == {"link": "https://x.y/q", "quantity": "5"}


async def test_a_transaction_function_that_raises_is_rolled_back(backend: Backend) -> None:
    store = await backend.open()
    await store.ensure_user(USER, "en")
    assert await store.set_locale(USER, "en")

    def fn(conn: Connection) -> None:
        conn.execute(update(USERS).where(USERS.c.telegram_id == USER).values(locale="uz"))
        assert conn.execute(select(USERS.c.locale)).scalar() == "uz"  # seen inside
        raise RuntimeError("boom")

    with pytest.raises(RuntimeError, match="boom"):
        await store._run(fn)
    fresh = await backend.open()
    user = await fresh.get_user(USER)
    assert user is not None and user.locale == "en"
    # Nothing left held: both stores write again at once.
    assert await fresh.set_locale(USER, "de") and await store.set_locale(USER, "ru")
    user = await (await backend.open()).get_user(USER)
    assert user is not None and user.locale == "ru"


@pytest.mark.parametrize(
    ("url", "kind"),
    [
        ("sqlite+aiosqlite:///{tmp}/a.db", SQLiteFile),
        ("sqlite:///{tmp}/b.db", SQLiteFile),
        ("{tmp}/c.db", SQLiteFile),  # a bare path is a SQLite file
        ("sqlite+aiosqlite:///:memory:", Transactions),
        ("sqlite://", Transactions),
        ("postgres://user:secret@127.0.0.1:1/nothing", Transactions),  # never connects
    ],
)
async def test_how_transactions_run_follows_the_database(tmp_path: Path, url: str, kind: type) -> None:
    store = Store(url.format(tmp=tmp_path), user_cache_seconds=0)
    try:
        assert type(store._tx) is kind
        assert sync_engines(store)[0] is store.engine.sync_engine
        assert len(sync_engines(store)) == (3 if kind is SQLiteFile else 1)
        if store.dialect == "sqlite":  # and it works
            await store.create_all()
            await store.ensure_user(USER, "en")
            assert await store.set_flow(USER, FLOW) and await store.get_flow(USER) == FLOW
    finally:
        await store.dispose()


@pytest.mark.parametrize("processes", [1, 2])
async def test_fifty_concurrent_writers_all_succeed(backend: Backend, processes: int) -> None:
    """Tasks of one Store take turns; two Stores (as two processes) wait for the lock."""
    stores = [await backend.open() for _ in range(processes)]
    users = [USER + n for n in range(50)]

    async def work(n: int, uid: int) -> tuple[int, bool]:
        store = stores[n % processes]
        draft_id = await _draft(store, uid, flow=dict(FLOW))  # link_account reads, then writes
        assert await store.get_draft(draft_id, uid) is not None
        return draft_id, await store.update_draft_values(draft_id, uid, {"n": str(n)}, flow={"step": n})

    done = await asyncio.gather(*(work(n, uid) for n, uid in enumerate(users)))
    assert [ok for _id, ok in done] == [True] * 50
    fresh = await backend.open()
    for n, (uid, (draft_id, _ok)) in enumerate(zip(users, done, strict=True)):
        draft = await fresh.get_draft(draft_id, uid)
        assert draft is not None and draft.values == {"n": str(n)}
        assert await fresh.get_flow(uid) == {"step": n}


async def test_record_placement_stores_the_order_once(backend: Backend) -> None:
    store = await backend.open(cache=30.0)
    draft_id = await _draft(store, flow=dict(FLOW))
    account = await store.account_for(USER, PANEL)
    assert account is not None and await store.claim_draft(draft_id, USER)
    order = await store.record_placement(draft_id, 9_876_543_210, link=VALUES["link"], quantity=100)
    assert order.id is not None and (order.panel_order_id, order.draft_id) == (9_876_543_210, draft_id)
    assert (order.user_id, order.account_id, order.service_id, order.currency) == (USER, account.id, 101, "USD")
    assert (order.service_name, order.service_type, order.fields) == ("Instagram Followers", "Default", VALUES)
    assert (order.refill, order.cancel, order.status, order.final) == (True, False, "Pending", False)
    assert (order.link, order.quantity) == (VALUES["link"], 100)
    for reader in (store, await backend.open()):
        draft = await reader.get_draft(draft_id, USER)
        assert draft is not None and (draft.state, draft.order_id) == (DraftState.PLACED, 9_876_543_210)

    with pytest.raises(DraftStateError):
        await store.record_placement(draft_id, 123, flow={"step": "menu"})
    fresh = await backend.open()
    assert await fresh.count_orders(USER) == 1 and await fresh.get_order(USER, 123) is None
    assert await fresh.get_flow(USER) == {**FLOW, "draft": draft_id} == await store.get_flow(USER)


@contextmanager
def _write_lock_held_elsewhere(path: Path) -> Iterator[None]:
    """Another process's writer: holds the SQLite file's write lock until the block ends."""
    other = sqlite3.connect(path, isolation_level=None)
    try:
        other.execute("BEGIN IMMEDIATE")
        yield
    finally:
        other.execute("ROLLBACK")
        other.close()


@pytest.mark.parametrize("backend", ["sqlite"], indirect=True)  # a SQLite file
async def test_a_locked_database_never_blocks_the_event_loop(backend: Backend, tmp_path: Path) -> None:
    store = await backend.open(cache=30.0)
    await store.ensure_user(USER, "en")
    with _write_lock_held_elsewhere(tmp_path / "bot.db"):
        write = asyncio.create_task(store.set_flow(USER, {"step": "waited"}))
        ticks = 0
        for _ in range(20):  # the loop keeps turning while the write waits on its thread
            await asyncio.sleep(0.01)
            ticks += 1
        assert not write.done()
        assert ticks == 20
    assert await asyncio.wait_for(write, 10)
    assert isinstance(store._tx, SQLiteFile) and store._tx.waited == 1
    assert await (await backend.open()).get_flow(USER) == {"step": "waited"}


@pytest.mark.parametrize("backend", ["sqlite"], indirect=True)  # a SQLite file
async def test_a_cancelled_write_forgets_the_cached_user(backend: Backend, tmp_path: Path) -> None:
    store = await backend.open(cache=30.0)
    await store.ensure_user(USER, "en")
    assert await store.set_flow(USER, {"step": "old"})
    with _write_lock_held_elsewhere(tmp_path / "bot.db"):
        task = asyncio.create_task(store.set_flow(USER, {"step": "new"}))
        await asyncio.sleep(0.05)  # it found the database locked and waits on a worker thread
        task.cancel()  # e.g. at shutdown; the transaction itself still runs to its end
        with pytest.raises(asyncio.CancelledError):
            await task
    fresh = await backend.open()
    for _ in range(100):  # the worker thread commits once the lock is free
        if await fresh.get_flow(USER) == {"step": "new"}:
            break
        await asyncio.sleep(0.02)
    assert await fresh.get_flow(USER) == {"step": "new"}
    # The interrupted write forgot the cached user, so going back a step is written,
    # not skipped as "already stored".
    assert await store.set_flow(USER, {"step": "old"})
    assert await fresh.get_flow(USER) == {"step": "old"}
