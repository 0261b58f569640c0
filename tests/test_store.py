"""Specifications of the store, run on a SQLite file and, with TEST_DATABASE_URL, on PostgreSQL."""

from __future__ import annotations

import asyncio
import os
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta, timezone
from decimal import Decimal
from pathlib import Path

import pytest
from cryptography.fernet import Fernet
from sqlalchemy import text
from sqlalchemy.exc import IntegrityError

from bot.store import (
    DecryptError,
    DraftState,
    DraftStateError,
    KeyBox,
    Notice,
    Store,
    StoreError,
    User,
    normalize_url,
)
from bot.store import admin as admin_store
from bot.store.db import make_engine
from tests.store_rows import add_order, refills_of

PG_URL = os.environ.get("TEST_DATABASE_URL")
PANEL = "https://panel.example/api/v2"
KEY = "0123456789abcdef0123456789abcdef"  # looks like a real 32-character panel key
BIG_USER = 7_000_000_000  # Telegram ids exceed 2^32
OTHER_USER = 7_000_000_001
SECRET = "operator pasted this passphrase"


@dataclass
class Backend:
    """One database for one test; `open()` gives another Store on it (like a restart)."""

    url: str
    schema: str | None = None
    path: Path | None = None
    stores: list[Store] = field(default_factory=list)

    def open(self, keybox: KeyBox | None = None) -> Store:
        store = Store(self.url, keybox=keybox or KeyBox(SECRET), schema=self.schema)
        self.stores.append(store)
        return store


@pytest.fixture(
    params=[
        "sqlite",
        pytest.param("postgresql", marks=pytest.mark.skipif(not PG_URL, reason="TEST_DATABASE_URL not set")),
    ]
)
async def backend(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[Backend]:
    if request.param == "sqlite":
        path = tmp_path / "bot.db"
        result = Backend(url=f"sqlite:///{path}", path=path)
        yield result
        for store in result.stores:
            await store.dispose()
        return
    assert PG_URL is not None
    # A schema of its own per test: reruns and parallel runs on the same database never meet.
    schema = f"test_store_{uuid.uuid4().hex[:12]}"
    admin = make_engine(PG_URL)
    async with admin.begin() as conn:
        await conn.exec_driver_sql(f'CREATE SCHEMA "{schema}"')
    # Hosting platforms hand out postgres://; the store must take it as it is.
    result = Backend(url=PG_URL.replace("postgresql://", "postgres://", 1), schema=schema)
    try:
        yield result
    finally:
        for store in result.stores:
            await store.dispose()
        async with admin.begin() as conn:
            await conn.exec_driver_sql(f'DROP SCHEMA "{schema}" CASCADE')
        await admin.dispose()


@pytest.fixture
async def store(backend: Backend) -> Store:
    store = backend.open()
    await store.create_all()
    return store


async def _draft(store: Store, user_id: int = BIG_USER, values: dict[str, str] | None = None) -> tuple[int, int]:
    await store.ensure_user(user_id, "en")
    account = await store.link_account(user_id, PANEL, KEY, "USD")
    assert account.id is not None
    service = {"id": 101, "name": "Instagram Followers", "type": "Default", "rate": "0.90"}
    if values is None:
        values = {"link": "https://x.y/p", "quantity": "100"}
    draft = await store.create_draft(user_id, account.id, service, values)
    assert draft.id is not None
    return draft.id, account.id


# --- URL normalisation --------------------------------------------------------------------


@pytest.mark.parametrize(
    ("given", "expected"),
    [
        ("postgres://u:p@db.host:5432/app", "postgresql+asyncpg://u:p@db.host:5432/app"),
        ("postgresql://u:p@db.host/app", "postgresql+asyncpg://u:p@db.host/app"),
        ("postgresql+psycopg2://u@h/app", "postgresql+asyncpg://u@h/app"),
        ("postgresql+asyncpg://u@h/app", "postgresql+asyncpg://u@h/app"),
        ("postgres://u@h/app?sslmode=require", "postgresql+asyncpg://u@h/app?ssl=require"),
        ("sqlite:///bot.db", "sqlite+aiosqlite:///bot.db"),
        ("sqlite:////var/lib/bot.db", "sqlite+aiosqlite:////var/lib/bot.db"),
        ("sqlite+aiosqlite:///bot.db", "sqlite+aiosqlite:///bot.db"),
        ("data/bot.db", "sqlite+aiosqlite:///data/bot.db"),
        ("/srv/bot.db", "sqlite+aiosqlite:////srv/bot.db"),
        ("  sqlite:///bot.db \n", "sqlite+aiosqlite:///bot.db"),
    ],
)
def test_normalize_url(given: str, expected: str) -> None:
    assert normalize_url(given) == expected


def test_normalize_url_keeps_special_characters_in_password() -> None:
    assert normalize_url("postgres://u:p%40ss@h/app") == "postgresql+asyncpg://u:p%40ss@h/app"


def test_empty_url_is_refused() -> None:
    with pytest.raises(ValueError):
        normalize_url("  ")


async def test_store_accepts_postgres_scheme_without_connecting() -> None:
    store = Store("postgres://user:secret@127.0.0.1:1/nothing")
    try:
        assert store.engine.url.drivername == "postgresql+asyncpg"
        assert "secret" not in repr(store)
    finally:
        await store.dispose()


# --- users --------------------------------------------------------------------------------


async def test_64bit_ids_round_trip(store: Store) -> None:
    user = await store.ensure_user(BIG_USER, "en")
    assert user.telegram_id == BIG_USER
    draft_id, account_id = await _draft(store)
    assert await store.claim_draft(draft_id, BIG_USER)
    order = await store.record_placement(draft_id, 9_876_543_210_123)
    fetched = await store.get_order(BIG_USER, 9_876_543_210_123)
    assert fetched is not None and fetched.id == order.id
    assert fetched.user_id == BIG_USER and fetched.account_id == account_id
    draft = await store.get_draft(draft_id, BIG_USER)
    assert draft is not None and draft.order_id == 9_876_543_210_123
    got = await store.get_user(BIG_USER)
    assert got is not None and got.telegram_id == BIG_USER


async def test_ensure_user_is_idempotent_and_race_safe(store: Store) -> None:
    users = await asyncio.gather(*(store.ensure_user(BIG_USER, "de") for _ in range(10)))
    assert {u.telegram_id for u in users} == {BIG_USER}
    user = await store.ensure_user(BIG_USER, "ru")  # Telegram's language changed
    assert user.telegram_language == "ru"
    assert user.notifications == "all" and user.blocked is False and user.locale is None
    assert user.created_at.tzinfo is not None and user.created_at.utcoffset() == timedelta(0)
    user = await store.ensure_user(BIG_USER, None)  # no language given: keep what we had
    assert user.telegram_language == "ru"
    async with store.session() as s:
        assert (await s.exec(text("SELECT count(*) FROM users"))).one()[0] == 1  # type: ignore[call-overload]


async def test_user_settings(store: Store) -> None:
    await store.ensure_user(BIG_USER, "en")
    assert await store.set_locale(BIG_USER, "uz")
    assert await store.set_notifications(BIG_USER, "final")
    assert await store.set_blocked(BIG_USER, True)
    user = await store.get_user(BIG_USER)
    assert user is not None
    assert (user.locale, user.notifications, user.blocked) == ("uz", "final", True)
    assert user.updated_at >= user.created_at
    with pytest.raises(ValueError):
        await store.set_notifications(BIG_USER, "sometimes")
    assert not await store.set_locale(OTHER_USER, "en")  # unknown user: nothing to update
    assert await store.get_user(OTHER_USER) is None


async def test_flow_survives_a_restart(backend: Backend, store: Store) -> None:
    await store.ensure_user(BIG_USER, "en")
    flow = {"step": "field", "draft_id": 5, "field": "quantity", "page": 2, "note": "ёж"}
    assert await store.set_flow(BIG_USER, flow)
    flow["step"] = "mutated after saving"  # the store keeps its own copy
    await store.dispose()

    restarted = backend.open()
    assert await restarted.get_flow(BIG_USER) == {
        "step": "field",
        "draft_id": 5,
        "field": "quantity",
        "page": 2,
        "note": "ёж",
    }
    assert await restarted.set_flow(BIG_USER, None)
    assert await restarted.get_flow(BIG_USER) is None
    async with restarted.session() as s:
        row = (await s.exec(text("SELECT flow IS NULL FROM users"))).one()  # type: ignore[call-overload]
        assert row[0] in (True, 1)  # SQL NULL, not the JSON text 'null'
    assert await restarted.get_flow(OTHER_USER) is None


# --- keys -----------------------------------------------------------------------------------


async def test_key_is_encrypted_at_rest(backend: Backend, store: Store) -> None:
    await store.ensure_user(BIG_USER, "en")
    account = await store.link_account(BIG_USER, PANEL, KEY, "USD")
    assert KEY not in account.key_encrypted
    assert account.key_hint == "0123…cdef"
    assert account.key_fingerprint == KeyBox.fingerprint(PANEL, KEY)
    assert store.reveal_key(account) == KEY
    async with store.session() as s:
        rows = (await s.exec(text("SELECT * FROM panel_accounts"))).all()  # type: ignore[call-overload]
    assert rows and all(KEY not in str(value) for row in rows for value in row)

    again = await store.account_for(BIG_USER, PANEL)
    assert again is not None and store.reveal_key(again) == KEY
    assert "cdef" in repr(again) and KEY not in repr(again)

    if backend.path is not None:
        await store.dispose()  # checkpoint the WAL so every byte is on disk
        dump = b"".join(
            p.read_bytes() for p in backend.path.parent.iterdir() if p.name.startswith(backend.path.name)
        )
        assert dump and KEY.encode() not in dump


async def test_relink_replaces_key_and_lifts_pause(store: Store) -> None:
    first = await store.link_account(BIG_USER, PANEL, KEY, None)
    assert first.id is not None
    assert await store.set_account_paused(first.id, True)
    paused = await store.get_account(first.id)
    assert paused is not None and paused.paused
    new_key = "ffffeeeeddddccccbbbbaaaa99998888"
    second = await store.link_account(BIG_USER, PANEL, new_key, "EUR")
    assert second.id == first.id
    assert (second.paused, second.currency, second.key_hint) == (False, "EUR", "ffff…8888")
    assert store.reveal_key(second) == new_key
    other_panel = await store.link_account(BIG_USER, "https://other.example/api/v2", KEY, "USD")
    assert other_panel.id != first.id
    assert await store.account_for(OTHER_USER, PANEL) is None


async def test_team_account_is_one_row_per_panel(store: Store) -> None:
    first = await store.link_account(None, PANEL, KEY, "USD")
    second = await store.link_account(None, PANEL, KEY + "x", "USD")
    assert first.id == second.id and first.user_id is None
    found = await store.account_for(None, PANEL)
    assert found is not None and found.id == first.id and store.reveal_key(found) == KEY + "x"
    async with store.session() as s:
        with pytest.raises(IntegrityError):  # the partial unique index, not just our code
            await s.exec(  # type: ignore[call-overload]
                text(
                    "INSERT INTO panel_accounts (user_id, panel_url, key_encrypted, key_hint,"
                    " key_fingerprint, paused, created_at) VALUES (NULL, :url, 'x', 'x', 'x',"
                    " false, CURRENT_TIMESTAMP)"
                ),
                params={"url": PANEL},
            )


async def test_key_rotation(backend: Backend, store: Store) -> None:
    old = Fernet.generate_key().decode()
    with_old = backend.open(KeyBox(old))
    account = await with_old.link_account(BIG_USER, PANEL, KEY, "USD")

    rotated = backend.open(KeyBox(f"new secret,{old}"))
    reloaded = await rotated.account_for(BIG_USER, PANEL)
    assert reloaded is not None and rotated.reveal_key(reloaded) == KEY

    fresh = await rotated.link_account(BIG_USER, PANEL, KEY, "USD")  # now under the new key
    assert fresh.id == account.id
    with pytest.raises(DecryptError):
        with_old.reveal_key(fresh)
    assert KeyBox(["new secret"]).decrypt(fresh.key_encrypted) == KEY


async def test_store_without_keybox_cannot_link(backend: Backend) -> None:
    store = Store(backend.url, schema=backend.schema)
    backend.stores.append(store)
    await store.create_all()
    with pytest.raises(StoreError):
        await store.link_account(BIG_USER, PANEL, KEY, None)


def test_keybox_accepts_fernet_keys_and_passphrases() -> None:
    fernet_key = Fernet.generate_key().decode()
    token = KeyBox(fernet_key).encrypt("secret")
    assert Fernet(fernet_key.encode()).decrypt(token.encode()) == b"secret"  # used as is
    box = KeyBox(" just a passphrase , " + fernet_key)
    assert box.decrypt(box.encrypt("ключ")) == "ключ"
    assert box.decrypt(token) == "secret"  # second key decrypts
    assert KeyBox("just a passphrase").decrypt(box.encrypt("x")) == "x"  # first key encrypts
    assert fernet_key not in repr(box) and "passphrase" not in repr(box)
    assert repr(box) == "KeyBox(<2 keys>)"
    with pytest.raises(ValueError):
        KeyBox(" , ")
    with pytest.raises(DecryptError):
        KeyBox("another").decrypt(token)
    assert KeyBox("new,old").rotate(KeyBox("old").encrypt("k")) != ""
    assert KeyBox("new").decrypt(KeyBox("new,old").rotate(KeyBox("old").encrypt("k"))) == "k"


@pytest.mark.parametrize(
    ("key", "masked"),
    [
        ("abcd1234efgh5678", "abcd…5678"),
        ("abcdefghijklm", "abcd…jklm"),  # 13: long enough to show both ends
        ("abcdefgh1234", "…1234"),  # 12: only the tail
        ("12345", "…2345"),
        ("1234", "…"),
        ("", "…"),
    ],
)
def test_mask(key: str, masked: str) -> None:
    assert KeyBox.mask(key) == masked


def test_fingerprint() -> None:
    fp = KeyBox.fingerprint(PANEL, KEY)
    assert len(fp) == 64 and int(fp, 16) >= 0
    assert fp == KeyBox.fingerprint(PANEL, KEY)
    assert fp != KeyBox.fingerprint("https://other.example/api/v2", KEY)
    assert fp != KeyBox.fingerprint(PANEL, KEY + "0")
    assert KEY not in fp


# --- drafts and exactly-once placement ------------------------------------------------------


async def test_only_one_of_twenty_concurrent_claims_wins(backend: Backend, store: Store) -> None:
    draft_id, _ = await _draft(store)
    second_process = backend.open()  # another worker on the same database
    claims = [store.claim_draft(draft_id, BIG_USER) for _ in range(10)]
    claims += [second_process.claim_draft(draft_id, BIG_USER) for _ in range(10)]
    results = await asyncio.gather(*claims)
    assert results.count(True) == 1 and len(results) == 20
    draft = await store.get_draft(draft_id, BIG_USER)
    assert draft is not None and draft.state == DraftState.SUBMITTING


async def test_claim_by_another_user_fails(store: Store) -> None:
    draft_id, _ = await _draft(store)
    assert not await store.claim_draft(draft_id, OTHER_USER)
    assert await store.get_draft(draft_id, OTHER_USER) is None
    assert not await store.update_draft_values(draft_id, OTHER_USER, {"link": "evil"})
    assert not await store.abandon_draft(draft_id, OTHER_USER)
    draft = await store.get_draft(draft_id, BIG_USER)
    assert draft is not None and draft.state == DraftState.DRAFT and draft.values["link"] == "https://x.y/p"
    assert await store.claim_draft(draft_id, BIG_USER)


async def test_draft_values_and_snapshot(store: Store) -> None:
    draft_id, account_id = await _draft(store, values={})
    draft = await store.get_draft(draft_id, BIG_USER)
    assert draft is not None
    assert (draft.account_id, draft.service_id, draft.service["name"], draft.values) == (
        account_id,
        101,
        "Instagram Followers",
        {},
    )
    assert await store.update_draft_values(draft_id, BIG_USER, {"link": "https://a.b/c"})
    assert await store.update_draft_values(
        draft_id, BIG_USER, {"link": "https://a.b/c", "quantity": "500"}, service={"id": 101, "rate": "1.10"}
    )
    draft = await store.get_draft(draft_id, BIG_USER)
    assert draft is not None
    assert draft.values == {"link": "https://a.b/c", "quantity": "500"}
    assert draft.service == {"id": 101, "rate": "1.10"}
    assert await store.claim_draft(draft_id, BIG_USER)
    assert not await store.update_draft_values(draft_id, BIG_USER, {"quantity": "1"})  # claimed: frozen
    with pytest.raises(ValueError):
        await store.create_draft(BIG_USER, account_id, {"name": "no id"})


async def test_record_placement_is_atomic(store: Store) -> None:
    draft_id, account_id = await _draft(store)
    with pytest.raises(DraftStateError):  # not claimed: nothing stored
        await store.record_placement(draft_id, 555)
    assert await store.get_order(BIG_USER, 555) is None

    assert await store.claim_draft(draft_id, BIG_USER)
    order = await store.record_placement(
        draft_id, 555, link="https://x.y/p", quantity=100, charge=Decimal("0.09"), currency="USD"
    )
    assert (order.draft_id, order.account_id, order.service_id) == (draft_id, account_id, 101)
    assert (order.service_name, order.service_type, order.status, order.final) == (
        "Instagram Followers",
        "Default",
        "Pending",
        False,
    )
    assert order.fields == {"link": "https://x.y/p", "quantity": "100"}
    assert order.charge == Decimal("0.09")
    draft = await store.get_draft(draft_id, BIG_USER)
    assert draft is not None and (draft.state, draft.order_id) == (DraftState.PLACED, 555)
    with pytest.raises(DraftStateError):  # a second recording of the same draft
        await store.record_placement(draft_id, 556)

    # The order insert fails (same panel id on the same account): the draft must not be PLACED.
    other_id, _ = await _draft(store)
    assert await store.claim_draft(other_id, BIG_USER)
    with pytest.raises(IntegrityError):
        await store.record_placement(other_id, 555)
    other = await store.get_draft(other_id, BIG_USER)
    assert other is not None and (other.state, other.order_id) == (DraftState.SUBMITTING, None)
    assert await store.count_orders(BIG_USER) == 1
    assert await store.finish_draft(other_id, DraftState.UNKNOWN, error="could not record")


async def test_refusal_returns_draft_to_editable(store: Store) -> None:
    draft_id, _ = await _draft(store)
    assert await store.claim_draft(draft_id, BIG_USER)
    assert await store.finish_draft(draft_id, DraftState.DRAFT, error="Not enough funds on balance")
    draft = await store.get_draft(draft_id, BIG_USER)
    assert draft is not None and (draft.state, draft.error) == (DraftState.DRAFT, "Not enough funds on balance")
    assert await store.update_draft_values(draft_id, BIG_USER, {"link": "https://x.y/p", "quantity": "50"})
    assert await store.claim_draft(draft_id, BIG_USER)  # retry from the same message
    draft = await store.get_draft(draft_id, BIG_USER)
    assert draft is not None and draft.error is None
    order = await store.record_placement(draft_id, 777)
    assert order.fields["quantity"] == "50"


async def test_finish_draft_needs_a_submission(store: Store) -> None:
    draft_id, _ = await _draft(store)
    assert not await store.finish_draft(draft_id, DraftState.PLACED, order_id=1)
    with pytest.raises(ValueError):
        await store.finish_draft(draft_id, DraftState.SUBMITTING)
    assert await store.abandon_draft(draft_id, BIG_USER)
    assert not await store.claim_draft(draft_id, BIG_USER)
    draft = await store.get_draft(draft_id, BIG_USER)
    assert draft is not None and draft.state == DraftState.ABANDONED


async def test_unknown_drafts(store: Store) -> None:
    placed, _ = await _draft(store)
    unknown, _ = await _draft(store)
    stuck, _ = await _draft(store)
    for draft_id in (placed, unknown, stuck):
        assert await store.claim_draft(draft_id, BIG_USER)
    await store.record_placement(placed, 1)
    assert await store.finish_draft(unknown, DraftState.UNKNOWN, error="read timeout")
    assert [d.id for d in await admin_store.unknown_drafts(store)] == [unknown]

    assert await store.mark_stale_submitting(timedelta(minutes=5)) == 0  # still fresh
    assert await store.mark_stale_submitting(timedelta(seconds=-1)) == 1  # a crashed worker's claim
    found = await admin_store.unknown_drafts(store)
    assert {d.id for d in found} == {unknown, stuck}
    assert all(d.state == DraftState.UNKNOWN for d in found)


# --- orders ---------------------------------------------------------------------------------


async def test_orders_listing_paging_and_open_filter(store: Store) -> None:
    account = await store.link_account(BIG_USER, PANEL, KEY, "USD")
    assert account.id is not None
    base = datetime(2025, 1, 1, tzinfo=UTC)
    for n in range(15):
        await add_order(
            store,
            panel_order_id=1000 + n,
            account_id=account.id,
            user_id=BIG_USER,
            service_id=1,
            service_name="Views",
            service_type="Default",
            status="Completed" if n % 3 == 0 else "In progress",
            final=n % 3 == 0,
            created_at=base + timedelta(minutes=n),
        )
    await add_order(store, panel_order_id=1, account_id=account.id, user_id=OTHER_USER, service_id=1)

    assert await store.count_orders(BIG_USER) == 15
    assert await store.count_orders(BIG_USER, open_only=True) == 10
    assert await store.count_orders(BIG_USER, open_only=False) == 5
    page1 = await store.orders_for(BIG_USER, limit=10)
    page2 = await store.orders_for(BIG_USER, limit=10, offset=10)
    assert [o.panel_order_id for o in page1] == list(range(1014, 1004, -1))
    assert [o.panel_order_id for o in page2] == list(range(1004, 999, -1))
    open_orders = await store.orders_for(BIG_USER, open_only=True, limit=100)
    assert len(open_orders) == 10 and not any(o.final for o in open_orders)
    closed = await store.orders_for(BIG_USER, open_only=False, limit=100)
    assert [o.panel_order_id for o in closed] == [1012, 1009, 1006, 1003, 1000]
    assert await store.orders_for(OTHER_USER + 1) == []
    assert page1[0].created_at == base + timedelta(minutes=14)


@pytest.mark.parametrize(
    "amount", [Decimal("0.27819"), Decimal("12345678.12345678"), Decimal("9999999999999999.99999999"), Decimal(0)]
)
async def test_decimal_charge_round_trips_exactly(store: Store, amount: Decimal) -> None:
    account = await store.link_account(BIG_USER, PANEL, KEY, "USD")
    assert account.id is not None
    order = await add_order(
        store,
        panel_order_id=1, account_id=account.id, user_id=BIG_USER, service_id=1, charge=amount
    )
    fetched = await store.get_order(BIG_USER, 1)
    assert fetched is not None
    assert isinstance(fetched.charge, Decimal) and fetched.charge == amount
    assert order.charge == amount
    # The same representation on every backend: eight places, as Numeric(24, 8) keeps it.
    assert fetched.charge.as_tuple().exponent == -8


async def test_money_refuses_float(store: Store) -> None:
    account = await store.link_account(BIG_USER, PANEL, KEY, "USD")
    assert account.id is not None
    with pytest.raises(Exception, match="money must be Decimal"):
        await add_order(store, panel_order_id=1, account_id=account.id, user_id=BIG_USER, service_id=1, charge=0.1)


async def test_status_update_queues_one_notification(store: Store) -> None:
    account = await store.link_account(BIG_USER, PANEL, KEY, "USD")
    assert account.id is not None
    order = await add_order(store, panel_order_id=42, account_id=account.id, user_id=BIG_USER, service_id=1)
    assert order.id is not None

    later = datetime.now(UTC) + timedelta(minutes=1)
    notice = Notice(BIG_USER, "order_status", f"order:{order.id}:Completed", {"status": "Completed", "charge": "0.5"})
    changes = {"status": "Completed", "remains": 0, "final": True, "charge": Decimal("0.5"), "next_check_at": later}
    assert await store.update_order(order.id, changes, notice=notice)
    assert await store.update_order(order.id, changes, notice=notice)  # seen twice (restart, second worker)
    assert not await store.update_order(order.id + 100, changes)
    with pytest.raises(TypeError):
        await store.update_order(order.id, {"user_id": 1})
    stored = await store.order_by_id(order.id)
    assert stored is not None and (stored.status, stored.final, stored.charge) == ("Completed", True, Decimal("0.5"))
    assert await store.lease_due_checks("watcher") == []  # final: not watched any more

    due = await store.claim_notifications("sender")
    assert len(due) == 1 and due[0].payload == {"status": "Completed", "charge": "0.5"}
    assert due[0].user_id == BIG_USER and due[0].kind == "order_status"
    assert due[0].id is not None
    assert await store.retry_notification(due[0].id, datetime.now(UTC) + timedelta(seconds=30))
    assert await store.claim_notifications("sender") == []
    retried = await store.claim_notifications("sender", now=datetime.now(UTC) + timedelta(minutes=1))
    assert [(n.id, n.attempts) for n in retried] == [(due[0].id, 1)]
    assert await store.mark_notification_sent(due[0].id)
    assert not await store.mark_notification_sent(due[0].id)
    assert await store.claim_notifications("sender", now=datetime.now(UTC) + timedelta(hours=1)) == []
    assert not await store.enqueue_notification(notice)  # sent already: still not queued again


async def test_refills(store: Store) -> None:
    account = await store.link_account(BIG_USER, PANEL, KEY, "USD")
    assert account.id is not None
    order = await add_order(store, panel_order_id=42, account_id=account.id, user_id=BIG_USER, service_id=1)
    assert order.id is not None
    refill = await store.add_refill(order.id, 8_000_000_000)
    assert refill.id is not None and refill.panel_refill_id == 8_000_000_000
    assert [r.id for r in await store.lease_open_refills("watcher")] == [refill.id]
    await store.release_refills("watcher", [refill.id])
    notice = Notice(BIG_USER, "refill_status", f"refill:{refill.id}:Completed")
    assert await store.update_refill(refill.id, {"status": "Completed", "final": True}, notice=notice)
    assert await store.lease_open_refills("watcher") == []  # final: not followed any more
    assert [r.status for r in await refills_of(store, order.id)] == ["Completed"]
    assert len(await store.claim_notifications("sender")) == 1


async def test_json_columns_keep_decimals_as_text(store: Store) -> None:
    account = await store.link_account(BIG_USER, PANEL, KEY, "USD")
    assert account.id is not None
    draft = await store.create_draft(BIG_USER, account.id, {"id": 7, "rate": Decimal("0.27819")})
    assert draft.service == {"id": 7, "rate": "0.27819"}
    with pytest.raises(Exception, match="not JSON serializable"):
        await store.create_draft(BIG_USER, account.id, {"id": 8, "obj": object()})


async def test_session_helper_rolls_back_on_error(store: Store) -> None:
    await store.ensure_user(BIG_USER, "en")

    class Boom(Exception):
        pass

    with pytest.raises(Boom):
        async with store.session() as s:
            user = await s.get(User, BIG_USER)
            assert user is not None
            user.locale = "xx"
            await s.flush()
            raise Boom
    user = await store.get_user(BIG_USER)
    assert user is not None and user.locale is None


async def test_paused_accounts_are_not_watched(store: Store) -> None:
    account = await store.link_account(BIG_USER, PANEL, KEY, "USD")
    assert account.id is not None
    order = await add_order(store, panel_order_id=42, account_id=account.id, user_id=BIG_USER, service_id=1)
    assert await store.set_account_paused(account.id, True)
    assert await store.lease_due_checks("watcher") == []
    await store.link_account(BIG_USER, PANEL, KEY, "USD")  # a relinked key is watched again
    assert [row.id for row in await store.lease_due_checks("watcher")] == [order.id]


async def test_reads_do_not_wait_for_a_writer(store: Store) -> None:
    await store.ensure_user(BIG_USER, "en")
    async with store.session() as s:  # a write transaction holding the lock
        user = await s.get(User, BIG_USER)
        assert user is not None
        user.locale = "fr"
        await s.flush()
        seen = await asyncio.wait_for(store.get_user(BIG_USER), timeout=5)
        assert seen is not None and seen.locale is None  # the last committed state
    after = await store.get_user(BIG_USER)
    assert after is not None and after.locale == "fr"


# --- leases for several watcher processes ------------------------------------------------------


async def _open_orders(store: Store, count: int) -> list[int]:
    await store.ensure_user(BIG_USER, "en")
    account = await store.link_account(BIG_USER, PANEL, KEY, "USD")
    ids = []
    for i in range(count):
        order = await add_order(store, panel_order_id=1000 + i, account_id=account.id, user_id=BIG_USER,
                                service_id=1, service_name="S", status="Pending")
        assert order.id is not None
        ids.append(order.id)
    return ids


async def test_two_watchers_leasing_at_once_never_share_an_order(backend: Backend, store: Store) -> None:
    ids = await _open_orders(store, 60)
    other = backend.open()
    first, second = await asyncio.gather(store.lease_due_checks("a"), other.lease_due_checks("b"))
    got_a, got_b = {row.id for row in first}, {row.id for row in second}
    assert not got_a & got_b
    assert got_a | got_b == set(ids)
    # Until released or expired, nobody takes them again.
    assert await store.lease_due_checks("c") == []


@pytest.mark.skipif(not PG_URL, reason="TEST_DATABASE_URL not set")
async def test_a_watcher_takes_an_accounts_due_orders_whole_not_split_with_another(tmp_path: Path) -> None:
    """Two watcher processes leasing at the same moment: an account whose orders the
    other is taking right now is left to it entirely (one status batch per account),
    while the other accounts' orders are taken."""
    assert PG_URL is not None
    schema = f"test_store_{uuid.uuid4().hex[:12]}"
    admin = make_engine(PG_URL)
    async with admin.begin() as conn:
        await conn.exec_driver_sql(f'CREATE SCHEMA "{schema}"')
    store = Store(PG_URL, keybox=KeyBox(SECRET), schema=schema)
    try:
        await store.create_all()
        by_account: dict[int, set[int]] = {}
        for user in (BIG_USER, OTHER_USER):
            await store.ensure_user(user, "en")
            account = await store.link_account(user, PANEL, f"{KEY}{user}", "USD")
            assert account.id is not None
            by_account[account.id] = set()
            for i in range(5):
                order = await add_order(store, panel_order_id=user % 1000 * 100 + i, account_id=account.id,
                                        user_id=user, service_id=1, service_name="S", status="Pending")
                assert order.id is not None
                by_account[account.id].add(order.id)
        busy, free = sorted(by_account)
        # The other watcher is in the middle of leasing the first account's orders.
        other = await admin.connect()
        try:
            await other.exec_driver_sql(f"SELECT pg_advisory_xact_lock(hashtext('smm-bot-watch:{schema}'), {busy})")
            taken = {row.id for row in await store.lease_due_checks("b")}
            assert taken == by_account[free]
        finally:
            await other.rollback()
            await other.close()
        assert {row.id for row in await store.lease_due_checks("b")} == by_account[busy]
    finally:
        await store.dispose()
        async with admin.begin() as conn:
            await conn.exec_driver_sql(f'DROP SCHEMA "{schema}" CASCADE')
        await admin.dispose()


async def test_a_finished_lease_schedules_the_next_check_and_an_expired_one_is_taken_over(store: Store) -> None:
    ids = await _open_orders(store, 3)
    now = datetime.now(timezone.utc)
    assert len(await store.lease_due_checks("a", now=now, seconds=60)) == 3
    assert await store.apply_checks("a", [], {now + timedelta(minutes=1): ids[:1]}) == 0  # no changes to store
    # ids[1:] are still leased by "a" (a crashed watcher): after expiry "b" takes them.
    assert await store.lease_due_checks("b", now=now + timedelta(seconds=30)) == []
    later = await store.lease_due_checks("b", now=now + timedelta(seconds=61))
    assert sorted(row.id for row in later) == sorted(ids)  # ids[0] is due again at +60 s too


async def test_two_senders_claiming_at_once_never_share_a_notification(backend: Backend, store: Store) -> None:
    for i in range(40):
        assert await store.enqueue_notification(Notice(BIG_USER, "order_status", f"k{i}", {"i": i}))
    other = backend.open()
    first, second = await asyncio.gather(store.claim_notifications("a", limit=100), other.claim_notifications("b", limit=100))
    assert not {n.id for n in first} & {n.id for n in second}
    assert len(first) + len(second) == 40
    claimed = first or second
    await (store if first else other).release_notifications("a" if first else "b", [claimed[0].id])
    again = await store.claim_notifications("c")
    assert [n.id for n in again] == [claimed[0].id]
