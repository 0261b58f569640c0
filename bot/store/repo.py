"""`Store`: the bot's data access; every method is one short transaction of its own."""

from __future__ import annotations

import asyncio
import fcntl
import functools
from collections import defaultdict
from collections.abc import AsyncIterator, Callable, Mapping
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, TypeVar, cast

from sqlalchemy import Table, bindparam, func, insert, text, update
from sqlalchemy import select as core_select
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.engine import Connection, Engine, Row
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncEngine
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession
from sqlmodel.sql.expression import SelectOfScalar

from bot.recent import Recent
from bot.store import db
from bot.store.crypto import KeyBox
from bot.store.models import (
    NOTIFICATION_MODES,
    CatalogSnapshot,
    Draft,
    DraftState,
    Notification,
    Order,
    PanelAccount,
    PanelFact,
    Refill,
    User,
    utcnow,
)

__all__ = ["KEEP", "DraftStateError", "Notice", "Store", "StoreError"]

T = TypeVar("T")

# The tables as Core sees them: the paths taken on every update use plain statements
# built once here (SQLAlchemy caches their compiled form), not ORM sessions.
_USERS = cast(Table, User.__table__)  # type: ignore[attr-defined]
_DRAFTS = cast(Table, Draft.__table__)  # type: ignore[attr-defined]
_ORDERS = cast(Table, Order.__table__)  # type: ignore[attr-defined]
_ACCOUNTS = cast(Table, PanelAccount.__table__)  # type: ignore[attr-defined]
_USER_BY_ID = core_select(_USERS).where(_USERS.c.telegram_id == bindparam("uid"))
_DRAFT_BY_ID = core_select(_DRAFTS).where(_DRAFTS.c.id == bindparam("did"))
_SET_FLOW = (
    update(_USERS)
    .where(_USERS.c.telegram_id == bindparam("uid"))
    .values(flow=bindparam("flow"), updated_at=bindparam("now"))
)
_ACCOUNT_CURRENCY = core_select(_ACCOUNTS.c.currency).where(_ACCOUNTS.c.id == bindparam("aid"))
_INSERT_DRAFT = insert(_DRAFTS).returning(*_DRAFTS.c)
_INSERT_ORDER = insert(_ORDERS).returning(*_ORDERS.c)


@functools.cache
def _draft_update(state: str, columns: tuple[str, ...], *, by_user: bool, returning: bool = False) -> Any:
    """`UPDATE drafts SET <columns> WHERE id = :w_id [AND user_id = :w_user] AND state =
    <state>`, built once per shape: a statement object made anew on every call costs
    more CPU than running it. Values go in as `v_<column>`."""
    where = [_DRAFTS.c.id == bindparam("w_id"), _DRAFTS.c.state == state]
    if by_user:
        where.append(_DRAFTS.c.user_id == bindparam("w_user"))
    statement = update(_DRAFTS).where(*where).values({name: bindparam(f"v_{name}") for name in columns})
    return statement.returning(*_DRAFTS.c) if returning else statement


def _draft_params(draft_id: int, user_id: int | None, changes: Mapping[str, Any]) -> dict[str, Any]:
    params = {f"v_{name}": value for name, value in changes.items()}
    params["w_id"] = draft_id
    if user_id is not None:
        params["w_user"] = user_id
    return params


class _Keep:
    def __repr__(self) -> str:
        return "KEEP"


KEEP: Any = _Keep()
"""`flow=KEEP` (the default): leave the user's conversation state as it is."""


def _draft_of(row: Row[Any]) -> Draft:
    return Draft(**row._mapping)


# Drafts in these states change no more (but for an admin's reconciliation of UNKNOWN).
_SETTLED_STATES = frozenset({DraftState.PLACED.value, DraftState.UNKNOWN.value, DraftState.FAILED.value,
                             DraftState.ABANDONED.value})
_FINISH_STATES = frozenset({DraftState.PLACED, DraftState.UNKNOWN, DraftState.DRAFT, DraftState.FAILED})
# PanelAccount.pause_reason for a stored key that the configured SECRET_KEY cannot open.
PAUSED_UNDECRYPTABLE = "undecryptable"
_ORDER_COLUMNS = frozenset(Order.model_fields) - {"id"}
_ORDER_MUTABLE = _ORDER_COLUMNS - {"account_id", "panel_order_id", "user_id", "draft_id", "created_at"}
# What the watcher reads of an order to check it and to announce a change.
CHECK_COLUMNS = ("id", "panel_order_id", "account_id", "user_id", "service_id", "service_name", "service_type",
                 "quantity", "charge", "currency", "status", "start_count", "remains", "final", "refill", "cancel",
                 "draft_id", "check_errors", "progress_at", "progress_remains", "created_at")
_REFILL_MUTABLE = frozenset({"status", "final", "updated_at", "lease_owner", "lease_until", "check_errors"})
# PanelAccount.pause_reason for a key the panel refuses (confirmed); retried with backoff.
PAUSED_INVALID_KEY = "invalid_key"


class StoreError(Exception):
    """A store operation that cannot be done as asked."""


class DraftStateError(StoreError):
    """The draft is not in the state the operation needs (e.g. not SUBMITTING)."""


@dataclass(frozen=True, slots=True)
class Notice:
    """A notification to queue; `dedupe_key` names the change so it is queued only once."""

    user_id: int
    kind: str
    dedupe_key: str
    payload: dict[str, Any] = field(default_factory=dict)


class Store:
    """The database, through async methods returning detached sqlmodel rows.

    What every update touches (users, flows, drafts, placing an order) is written as a
    plain function over a Connection and run as one transaction by `_run` (Core
    statements, cached write-through for `user_cache_seconds`); the rest (the watcher's
    batches, admin tools, lists) goes through async ORM sessions. Both take the same
    write turn on SQLite."""

    def __init__(
        self,
        url: str,
        *,
        echo: bool = False,
        keybox: KeyBox | None = None,
        schema: str | None = None,
        user_cache_seconds: float = 0.0,
    ) -> None:
        self.engine: AsyncEngine = db.make_engine(url, echo=echo, schema=schema)
        self._sessions = db.make_sessionmaker(self.engine)
        self._read_sessions = db.make_sessionmaker(self.engine.execution_options(**{db.READ_ONLY: True}))
        self._keybox = keybox
        self._schema = schema
        self._locks: dict[str, Any] = {}
        # Users read on every update: the process that takes updates keeps them for a
        # while (write-through; `user_cache_seconds` bounds what another process's
        # change, such as a watcher marking a user blocked, may take to show).
        self._users: Recent[int, User] = Recent(user_cache_seconds)
        # Drafts, likewise (write-through, same time bound): each step of the order form
        # reads its draft. The claim on Confirm never trusts this: it is a conditional
        # UPDATE in the database.
        self._drafts: Recent[int, dict[str, Any]] = Recent(user_cache_seconds)
        # Whole transactions as plain functions over a Connection: one hand-off to a
        # worker thread per transaction on a SQLite file, run_sync on PostgreSQL.
        self._tx = db.transactions(self.engine)
        # SQLite has one write lock; taking turns here is cheaper than its busy-wait
        # sleeps (up to 100 ms each) when this process's writers collide.
        self._write_turn = asyncio.Lock() if self.dialect == "sqlite" else None

    def __repr__(self) -> str:
        return f"Store({self.engine.url.render_as_string(hide_password=True)!r})"

    @property
    def schema(self) -> str | None:
        """The PostgreSQL schema this store works in (None: the default)."""
        return self._schema

    @property
    def dialect(self) -> str:
        """The backend: "sqlite" or "postgresql"."""
        return self.engine.dialect.name

    # --- lifecycle ---------------------------------------------------------------------

    async def create_all(self) -> None:
        await db.create_all(self.engine)

    async def dispose(self) -> None:
        await self.release_locks()
        self._tx.close()
        await self.engine.dispose()

    @property
    def sync_engines(self) -> list[Engine]:
        """Every synchronous engine statements run on (for SQLAlchemy event listeners)."""
        return self._tx.engines

    async def _run(
        self, fn: Callable[[Connection], T], *, write: bool = True,
        user: int | None = None, draft: int | None = None,
    ) -> T:
        """`fn(connection)` as one transaction, committed if it returns. `user` / `draft`:
        the cached rows the write changes. If the caller is cancelled or the write fails,
        the transaction may still have committed (a worker thread finishes it), so those
        are forgotten: the next read goes to the database."""
        try:
            if write and self._write_turn is not None:
                async with self._write_turn:
                    return await self._tx.run(fn, write=True)
            return await self._tx.run(fn, write=write)
        except BaseException:
            if user is not None:
                self._users.pop(user)
            if draft is not None:
                self._drafts.pop(draft)
            raise

    async def schema_revision(self) -> str | None:
        """The alembic revision the database is at; None when it has none (or no tables).
        A plain query, so that start-up does not import alembic when all is well."""
        try:
            async with self._read() as s:
                row = (await s.exec(text("SELECT version_num FROM alembic_version"))).first()  # type: ignore[call-overload]
        except Exception:  # noqa: BLE001 - no version table (yet): the migrator decides
            return None
        return str(row[0]) if row is not None else None

    # --- process roles -------------------------------------------------------------------

    async def hold_lock(self, name: str) -> bool:
        """Hold a named lock for this process's lifetime (True if held now, also when
        already ours). PostgreSQL: a session advisory lock on a connection kept open,
        released if the process dies. SQLite: an exclusive lock on a file beside the
        database. Used so that one process takes updates and one sends notifications."""
        if name in self._locks:
            return True
        if self.dialect == "postgresql":
            conn = await self.engine.connect()
            try:
                key = f"smm-bot:{self.engine.url.database}:{self._schema or 'public'}:{name}"
                got = (await conn.execute(text("SELECT pg_try_advisory_lock(hashtext(:key))"), {"key": key})).scalar()
                await conn.commit()
            except BaseException:
                await conn.close()
                raise
            if not got:
                await conn.close()
                return False
            self._locks[name] = conn
            return True
        database = self.engine.url.database or ""
        if database in ("", ":memory:"):
            self._locks[name] = None
            return True
        handle = open(f"{database}.{name}.lock", "a+")  # noqa: SIM115 (held open on purpose)
        try:
            fcntl.flock(handle.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            handle.close()
            return False
        self._locks[name] = handle
        return True

    async def release_locks(self) -> None:
        for held in self._locks.values():
            if held is None:
                continue
            if hasattr(held, "fileno"):
                held.close()
            else:
                await held.close()
        self._locks.clear()

    @asynccontextmanager
    async def session(self) -> AsyncIterator[AsyncSession]:
        """One transaction: committed when the block ends, rolled back if it raises."""
        if self._write_turn is None:
            async with self._sessions.begin() as session:
                yield session
            return
        async with self._write_turn, self._sessions.begin() as session:
            yield session

    @asynccontextmanager
    async def _read(self) -> AsyncIterator[AsyncSession]:
        """A transaction that only reads: on SQLite it does not take the write lock, so
        lookups never queue behind writers (WAL readers see the last commit)."""
        async with self._read_sessions.begin() as session:
            yield session

    def _insert(self, model: Any) -> Any:
        """INSERT with ON CONFLICT support for the current backend."""
        return pg_insert(model) if self.dialect == "postgresql" else sqlite_insert(model)

    # --- users -------------------------------------------------------------------------

    def _cached_user(self, telegram_id: int) -> User | None:
        return self._users.get(telegram_id)

    def _remember(self, user: User | None) -> User | None:
        if user is not None:
            self._users.put(user.telegram_id, user)
        return user

    async def get_user(self, telegram_id: int) -> User | None:
        cached = self._cached_user(telegram_id)
        if cached is not None:
            return cached

        def read(conn: Connection) -> User | None:
            row = conn.execute(_USER_BY_ID, {"uid": telegram_id}).first()
            return User(**row._mapping) if row is not None else None

        return self._remember(await self._run(read, write=False))

    async def ensure_user(self, telegram_id: int, telegram_language: str | None = None) -> User:
        """The user's row, created if missing; `telegram_language` is refreshed when given.

        Read first: every update calls this, and almost always the row exists unchanged.
        ON CONFLICT DO NOTHING makes two first messages at once both succeed.
        """
        known = await self.get_user(telegram_id)
        if known is not None and (not telegram_language or known.telegram_language == telegram_language):
            return known
        now = utcnow()
        create = (
            self._insert(_USERS)
            .values(
                telegram_id=telegram_id,
                telegram_language=telegram_language,
                notifications="all",
                blocked=False,
                created_at=now,
                updated_at=now,
            )
            .on_conflict_do_nothing(index_elements=["telegram_id"])
        )

        def write(conn: Connection) -> User:
            conn.execute(create)
            user = User(**conn.execute(_USER_BY_ID, {"uid": telegram_id}).one()._mapping)
            if telegram_language and user.telegram_language != telegram_language:
                conn.execute(
                    update(_USERS)
                    .where(_USERS.c.telegram_id == telegram_id)
                    .values(telegram_language=telegram_language, updated_at=now)
                )
                user.telegram_language = telegram_language
            return user

        user = await self._run(write, user=telegram_id)
        self._remember(user)
        return user

    def _remember_user_values(self, telegram_id: int, values: Mapping[str, Any]) -> None:
        cached = self._cached_user(telegram_id)
        if cached is not None:
            for name, value in values.items():
                setattr(cached, name, value)  # written through: the cache never leads the database

    async def _update_user(self, telegram_id: int, **values: Any) -> bool:
        statement = update(_USERS).where(_USERS.c.telegram_id == telegram_id).values({"updated_at": utcnow(), **values})
        changed = await self._run(lambda conn: conn.execute(statement).rowcount == 1, user=telegram_id)
        self._remember_user_values(telegram_id, values)
        return changed

    async def set_locale(self, telegram_id: int, locale: str | None) -> bool:
        return await self._update_user(telegram_id, locale=locale)

    async def set_notifications(self, telegram_id: int, mode: str) -> bool:
        if mode not in NOTIFICATION_MODES:
            raise ValueError(f"notifications must be one of {sorted(NOTIFICATION_MODES)}, not {mode!r}")
        return await self._update_user(telegram_id, notifications=mode)

    async def set_blocked(self, telegram_id: int, blocked: bool) -> bool:
        return await self._update_user(telegram_id, blocked=blocked)

    async def set_flow(self, telegram_id: int, flow: dict[str, Any] | None) -> bool:
        """Replace the conversation state (None clears it). False if the user is unknown.
        No write when this process already stored exactly that state (it is the only
        writer of flows: the process that takes updates)."""
        flow = dict(flow) if flow is not None else None
        cached = self._cached_user(telegram_id)
        if cached is not None and cached.flow == flow:
            return True
        return await self._update_user(telegram_id, flow=flow)

    def _write_flow(self, conn: Connection, telegram_id: int, flow: dict[str, Any] | None) -> None:
        """Inside another write: the conversation state goes with it (see set_flow)."""
        conn.execute(_SET_FLOW, {"uid": telegram_id, "flow": flow, "now": utcnow()})

    async def get_flow(self, telegram_id: int) -> dict[str, Any] | None:
        user = await self.get_user(telegram_id)
        return dict(user.flow) if user is not None and user.flow is not None else None

    # --- panel accounts ----------------------------------------------------------------

    def _require_keybox(self) -> KeyBox:
        if self._keybox is None:
            raise StoreError("this Store has no KeyBox: pass keybox=KeyBox(SECRET_KEY)")
        return self._keybox

    async def link_account(
        self, user_id: int | None, panel_url: str, key: str, currency: str | None = None
    ) -> PanelAccount:
        """Store (or replace) the key for (user, panel); relinking lifts a pause."""
        keybox = self._require_keybox()
        values: dict[str, Any] = {
            "key_encrypted": keybox.encrypt(key),
            "key_hint": KeyBox.mask(key),
            "key_fingerprint": KeyBox.fingerprint(panel_url, key),
            "currency": currency,
            "paused": False,
            "pause_reason": None,
        }
        # Read-then-write; on PostgreSQL a concurrent first link can win the insert, so a
        # unique violation means "it exists now": go round once more and update it.
        for attempt in range(2):
            try:
                async with self.session() as s:
                    account = (await s.exec(self._account_query(user_id, panel_url))).first()
                    if account is None:
                        account = PanelAccount(user_id=user_id, panel_url=panel_url, **values)
                        s.add(account)
                    else:
                        for name, value in values.items():
                            setattr(account, name, value)
                    await s.flush()
                    return account
            except IntegrityError:
                if attempt:
                    raise
        raise AssertionError("unreachable")

    async def set_account_currency(self, account_id: int, currency: str) -> bool:
        """The panel's currency as its `balance` last said (team accounts are made without one)."""
        statement = update(_ACCOUNTS).where(_ACCOUNTS.c.id == account_id).values(currency=currency)
        async with self.session() as s:
            return int((await s.exec(statement)).rowcount) > 0

    @staticmethod
    def _account_query(user_id: int | None, panel_url: str) -> SelectOfScalar[PanelAccount]:
        owner = col(PanelAccount.user_id).is_(None) if user_id is None else col(PanelAccount.user_id) == user_id
        return select(PanelAccount).where(owner, col(PanelAccount.panel_url) == panel_url)

    async def account_for(self, user_id: int | None, panel_url: str) -> PanelAccount | None:
        """The user's account on that panel; `user_id=None` is the shared team account."""
        async with self._read() as s:
            return (await s.exec(self._account_query(user_id, panel_url))).first()

    async def get_account(self, account_id: int) -> PanelAccount | None:
        async with self._read() as s:
            return await s.get(PanelAccount, account_id)

    def reveal_key(self, account: PanelAccount) -> str:
        """The plaintext API key; the only way back from `key_encrypted`."""
        return self._require_keybox().decrypt(account.key_encrypted)

    async def pause_undecryptable(self, account_id: int, notice: Notice | None) -> bool:
        """Pause an account whose stored key the SECRET_KEY cannot open, queueing `notice`
        with it; False when it was already paused for that (so its owner is asked once)."""
        async with self.session() as s:
            result = await s.exec(
                update(PanelAccount)
                .where(col(PanelAccount.id) == account_id,
                       func.coalesce(col(PanelAccount.pause_reason), "") != PAUSED_UNDECRYPTABLE)
                .values(paused=True, pause_reason=PAUSED_UNDECRYPTABLE)
            )
            if result.rowcount != 1:
                return False
            if notice is not None:
                await self._enqueue(s, notice)
            return True

    async def set_account_paused(self, account_id: int, paused: bool) -> bool:
        async with self.session() as s:
            result = await s.exec(
                update(PanelAccount).where(col(PanelAccount.id) == account_id).values(paused=paused)
            )
            return result.rowcount == 1

    # --- drafts ------------------------------------------------------------------------

    def _cache_draft(self, draft: Draft) -> None:
        if draft.id is not None:
            self._drafts.put(draft.id, draft.model_dump())

    def _cached_draft_changed(self, draft_id: int, done: bool, **changes: Any) -> None:
        """After a conditional write: apply what it changed, or, when it changed nothing
        (the database is not as this process thought), forget the draft. A draft that
        left DRAFT for good is forgotten too: nobody edits it any more."""
        stored = self._drafts.get(draft_id)
        if stored is None:
            return
        if not done or changes.get("state", DraftState.DRAFT.value) in _SETTLED_STATES:
            self._drafts.pop(draft_id)
            return
        stored.update(changes)

    async def create_draft(
        self, user_id: int, account_id: int, service: dict[str, Any], values: dict[str, Any] | None = None,
        *, flow: dict[str, Any] | None = KEEP,
    ) -> Draft:
        """A new editable draft; `service` is a JSON-able snapshot with at least its "id".
        `flow`: the user's conversation state, stored in the same transaction, with the
        new draft's id put in as its "draft"."""
        service_id = service.get("id", service.get("service"))
        if service_id is None:
            raise ValueError("service snapshot needs an 'id'")
        now = utcnow()
        row = {
            "user_id": user_id,
            "account_id": account_id,
            "service_id": int(service_id),
            "service": dict(service),
            "values": dict(values or {}),
            "state": DraftState.DRAFT.value,
            "order_id": None,
            "error": None,
            "created_at": now,
            "updated_at": now,
        }
        new_flow = None if flow is KEEP or flow is None else dict(flow)

        def write(conn: Connection) -> Draft:
            # Hand back what is stored (JSON round trip), not the input.
            draft = _draft_of(conn.execute(_INSERT_DRAFT, row).one())
            if flow is not KEEP:
                if new_flow is not None:
                    new_flow["draft"] = draft.id
                self._write_flow(conn, user_id, new_flow)
            return draft

        draft = await self._run(write, user=user_id if flow is not KEEP else None)
        self._cache_draft(draft)
        if flow is not KEEP:
            self._remember_user_values(user_id, {"flow": new_flow})
        return draft

    async def get_draft(self, draft_id: int, user_id: int) -> Draft | None:
        """The draft, or None when it does not exist or belongs to someone else."""
        stored = self._drafts.get(draft_id)
        if stored is not None:
            if stored["user_id"] != user_id:
                return None
            return Draft(**{**stored, "values": dict(stored["values"]), "service": dict(stored["service"])})

        def read(conn: Connection) -> Draft | None:
            row = conn.execute(_DRAFT_BY_ID, {"did": draft_id}).first()
            return _draft_of(row) if row is not None else None

        draft = await self._run(read, write=False)
        if draft is None:
            return None
        self._cache_draft(draft)
        return draft if draft.user_id == user_id else None

    async def _change_draft(
        self, draft_id: int, state: DraftState, changes: dict[str, Any], *,
        user_id: int | None = None, flow: dict[str, Any] | None = KEEP,
    ) -> bool:
        """One conditional UPDATE of a draft in `state` (and the user's flow with it when
        given); `user_id`: only if it is that user's draft."""
        statement = _draft_update(state.value, tuple(changes), by_user=user_id is not None)
        params = _draft_params(draft_id, user_id, changes)

        def write(conn: Connection) -> bool:
            done = conn.execute(statement, params).rowcount == 1
            if done and flow is not KEEP and user_id is not None:
                self._write_flow(conn, user_id, flow)
            return bool(done)

        done = await self._run(write, user=user_id if flow is not KEEP else None, draft=draft_id)
        self._cached_draft_changed(draft_id, done, **changes)
        if done and flow is not KEEP and user_id is not None:
            self._remember_user_values(user_id, {"flow": flow})
        return done

    async def update_draft_values(
        self, draft_id: int, user_id: int, values: dict[str, Any], *, service: dict[str, Any] | None = None,
        flow: dict[str, Any] | None = KEEP,
    ) -> bool:
        """Replace the draft's values (and optionally its service snapshot); only while
        DRAFT. `flow`: the user's conversation state, stored in the same transaction."""
        changes: dict[str, Any] = {"values": dict(values), "updated_at": utcnow()}
        if service is not None:
            changes["service"] = dict(service)
        return await self._change_draft(
            draft_id, DraftState.DRAFT, changes, user_id=user_id, flow=dict(flow) if isinstance(flow, dict) else flow
        )

    async def claim_draft(self, draft_id: int, user_id: int) -> bool:
        """DRAFT -> SUBMITTING in one conditional UPDATE: True for exactly one caller.

        The row lock (PostgreSQL) or database write lock (SQLite) serialises claimers, and
        each re-checks `state = 'DRAFT'` after the previous one committed, so a second tap,
        a redelivered update or another process finds nothing to claim.
        """
        changes = {"state": DraftState.SUBMITTING.value, "error": None, "updated_at": utcnow()}
        return await self._change_draft(draft_id, DraftState.DRAFT, changes, user_id=user_id)

    async def finish_draft(
        self,
        draft_id: int,
        state: DraftState,
        *,
        order_id: int | None = None,
        error: str | None = None,
    ) -> bool:
        """SUBMITTING -> PLACED / UNKNOWN / FAILED, or back to DRAFT after a panel refusal.

        False when the draft was not SUBMITTING (nothing changed). Prefer
        `record_placement` for PLACED: it also stores the order in the same transaction.
        """
        state = DraftState(state)
        if state not in _FINISH_STATES:
            raise ValueError(f"a submission cannot finish as {state}")
        changes = {"state": state.value, "order_id": order_id, "error": error, "updated_at": utcnow()}
        return await self._change_draft(draft_id, DraftState.SUBMITTING, changes)

    async def abandon_draft(self, draft_id: int, user_id: int) -> bool:
        """DRAFT -> ABANDONED (the user cancelled); a claimed draft is left alone."""
        changes = {"state": DraftState.ABANDONED.value, "updated_at": utcnow()}
        return await self._change_draft(draft_id, DraftState.DRAFT, changes, user_id=user_id)

    async def unknown_drafts(self, *, limit: int = 100) -> list[Draft]:
        """Drafts whose placement may or may not have reached the panel, newest first."""
        async with self._read() as s:
            query = (
                select(Draft)
                .where(col(Draft.state) == DraftState.UNKNOWN.value)
                .order_by(col(Draft.updated_at).desc(), col(Draft.id).desc())
                .limit(limit)
            )
            return list((await s.exec(query)).all())

    async def mark_stale_submitting(self, older_than: timedelta) -> int:
        """SUBMITTING drafts untouched for `older_than` become UNKNOWN; returns how many.

        A process killed between claim and answer leaves its draft SUBMITTING forever
        (safe: never re-placed, but invisible). Call at start-up with a margin well above
        the panel request timeout, so a live submission elsewhere is not caught.
        """
        cutoff = utcnow() - older_than
        async with self.session() as s:
            result = await s.exec(
                update(Draft)
                .where(col(Draft.state) == DraftState.SUBMITTING.value, col(Draft.updated_at) < cutoff)
                .values(
                    state=DraftState.UNKNOWN.value,
                    error="interrupted while placing",
                    updated_at=utcnow(),
                )
            )
            count = int(result.rowcount)
        if count:
            self._drafts.clear()
        return count

    # --- orders ------------------------------------------------------------------------

    @staticmethod
    def _check_order_fields(fields: Mapping[str, Any], allowed: frozenset[str]) -> None:
        unknown = set(fields) - allowed
        if unknown:
            raise TypeError(f"unknown Order fields: {', '.join(sorted(unknown))}")

    async def add_order(self, **fields: Any) -> Order:
        """Insert an order row (an IntegrityError for a duplicate (account, panel id))."""
        self._check_order_fields(fields, _ORDER_COLUMNS)
        order = Order(**fields)
        async with self.session() as s:
            s.add(order)
            await s.flush()
            await s.refresh(order)
        return order

    async def record_placement(
        self, draft_id: int, panel_order_id: int, *, from_state: DraftState = DraftState.SUBMITTING,
        flow: dict[str, Any] | None = KEEP, **fields: Any
    ) -> Order:
        """Draft `from_state` (SUBMITTING, or UNKNOWN when an admin reconciles it) ->
        PLACED and its Order row, in one transaction.

        user_id, account_id, service_id and fields (the draft's values) come from the
        draft; service_name / service_type / refill / cancel from its snapshot; the
        currency from the account; the order is due for a check now. Any Order column
        given in `fields` overrides. Raises DraftStateError (and stores nothing) unless
        the draft is in `from_state`, and IntegrityError if the account already has that
        panel order id; if the insert fails the draft keeps its state. `flow`: the
        draft owner's conversation state, stored in the same transaction.
        """
        self._check_order_fields(fields, _ORDER_COLUMNS - {"panel_order_id", "draft_id"})
        now = utcnow()
        placed = {"state": DraftState.PLACED.value, "order_id": panel_order_id, "error": None, "updated_at": now}
        claim = _draft_update(from_state.value, tuple(placed), by_user=False, returning=True)
        params = _draft_params(draft_id, None, placed)

        def write(conn: Connection) -> Order:
            row = conn.execute(claim, params).first()
            if row is None:
                raise DraftStateError(f"draft {draft_id} is not {from_state.value}")
            draft = _draft_of(row)
            if "currency" in fields:
                currency = fields["currency"]
            else:
                currency = conn.execute(_ACCOUNT_CURRENCY, {"aid": draft.account_id}).scalar()
            service = draft.service or {}
            values: dict[str, Any] = {
                "user_id": draft.user_id,
                "account_id": draft.account_id,
                "service_id": draft.service_id,
                "service_name": str(service.get("name") or ""),
                "service_type": str(service.get("type") or ""),
                "fields": dict(draft.values or {}),
                "currency": currency,
                "refill": bool(service.get("refill")),
                "cancel": bool(service.get("cancel")),
                "status": "Pending",
                "next_check_at": now,
            }
            values.update(fields)
            order = Order(panel_order_id=panel_order_id, draft_id=draft_id, **values)
            new = order.model_dump(exclude={"id"})
            stored = Order(**conn.execute(_INSERT_ORDER, new).one()._mapping)
            if flow is not KEEP:
                self._write_flow(conn, draft.user_id, flow)
            return stored

        known = self._drafts.get(draft_id)
        owner = known["user_id"] if known is not None else None
        try:
            order = await self._run(write, user=owner if flow is not KEEP else None, draft=draft_id)
        except BaseException:
            if flow is not KEEP and owner is None:
                self._users.clear()  # whose flow it may have written is not known here
            raise
        self._cached_draft_changed(draft_id, True, **placed)
        if flow is not KEEP:
            self._remember_user_values(order.user_id, {"flow": flow})
        return order

    async def get_order(self, user_id: int, panel_order_id: int) -> Order | None:
        """The user's order with that panel id (the newest, should two panels share ids)."""
        async with self._read() as s:
            query = (
                select(Order)
                .where(col(Order.user_id) == user_id, col(Order.panel_order_id) == panel_order_id)
                .order_by(col(Order.id).desc())
            )
            return (await s.exec(query)).first()

    async def order_by_id(self, order_id: int) -> Order | None:
        async with self._read() as s:
            return await s.get(Order, order_id)

    @staticmethod
    def _open_filter(open_only: bool | None) -> list[Any]:
        if open_only is None:
            return []
        return [col(Order.final) == (not open_only)]

    async def orders_for(
        self, user_id: int, *, open_only: bool | None = None, limit: int = 10, offset: int = 0
    ) -> list[Order]:
        """Newest first. open_only: True = not final, False = final only, None = all."""
        async with self._read() as s:
            query = (
                select(Order)
                .where(col(Order.user_id) == user_id, *self._open_filter(open_only))
                .order_by(col(Order.created_at).desc(), col(Order.id).desc())
                .limit(limit)
                .offset(offset)
            )
            return list((await s.exec(query)).all())

    async def count_orders(self, user_id: int, open_only: bool | None = None) -> int:
        async with self._read() as s:
            query = (
                select(func.count())
                .select_from(Order)
                .where(col(Order.user_id) == user_id, *self._open_filter(open_only))
            )
            return int((await s.exec(query)).one())

    async def due_orders(
        self, *, now: datetime | None = None, limit: int = 1000, include_paused: bool = False
    ) -> list[Order]:
        """Open orders whose next check is due, the longest-waiting first; orders of
        paused accounts (invalid key) are left out unless `include_paused`."""
        now = now or utcnow()
        query = select(Order).where(
            col(Order.final) == False,  # noqa: E712 (SQL comparison, not Python)
            col(Order.next_check_at).is_(None) | (col(Order.next_check_at) <= now),
        )
        if not include_paused:
            query = query.join(PanelAccount, col(PanelAccount.id) == col(Order.account_id)).where(
                col(PanelAccount.paused) == False  # noqa: E712
            )
        query = query.order_by(col(Order.next_check_at).asc().nulls_first(), col(Order.id).asc()).limit(limit)
        async with self._read() as s:
            return list((await s.exec(query)).all())

    async def update_order(self, order_id: int, changes: Mapping[str, Any], *, notice: Notice | None = None) -> bool:
        """Apply `changes` (status, remains, final, next_check_at...) and queue `notice`
        in the same transaction, so a stored change is never left unannounced."""
        self._check_order_fields(changes, _ORDER_MUTABLE)
        # A status read before a final one was stored (a slow watcher, a lagging panel
        # replica) must not reopen the order: it would never be watched again.
        guard = [col(Order.final) == False] if "status" in changes and not changes.get("final") else []  # noqa: E712
        async with self.session() as s:
            result = await s.exec(
                update(Order).where(col(Order.id) == order_id, *guard).values({"updated_at": utcnow(), **changes})
            )
            if result.rowcount != 1:
                return False
            if notice is not None:
                await self._enqueue(s, notice)
            return True

    async def _take(self, model: Any, due: Any, **holder: Any) -> list[Any]:
        """Mark the rows `due` selects as held and return them, in one UPDATE over a
        `SELECT ... FOR UPDATE SKIP LOCKED`: rows another process is taking right now
        are skipped, not waited for (PostgreSQL); SQLite serialises writers already."""
        if self.dialect == "postgresql":
            due = due.with_for_update(skip_locked=True, of=model)
        statement = (
            update(model)
            .where(col(model.id).in_(due.scalar_subquery()))
            .values(**holder)
            .returning(model)
            .execution_options(synchronize_session=False)
        )
        async with self.session() as s:
            return list((await s.exec(statement)).scalars().all())

    def _due_orders(self, now: datetime, limit: int) -> Any:
        """Ids of the open orders of unpaused accounts whose check is due and that no
        watcher holds, the longest-waiting first."""
        return (
            select(Order.id)
            .join(PanelAccount, col(PanelAccount.id) == col(Order.account_id))
            .where(
                col(Order.final) == False,  # noqa: E712 (SQL comparison)
                col(PanelAccount.paused) == False,  # noqa: E712
                col(Order.next_check_at).is_(None) | (col(Order.next_check_at) <= now),
                col(Order.lease_until).is_(None) | (col(Order.lease_until) < now),
            )
            .order_by(col(Order.next_check_at).asc().nulls_first(), col(Order.id).asc())
            .limit(limit)
        )

    async def lease_due_orders(
        self, owner: str, *, now: datetime | None = None, seconds: float = 120.0, limit: int = 100_000
    ) -> list[Order]:
        """Take the due open orders no other watcher holds, for `seconds`: one UPDATE
        over a `SELECT ... FOR UPDATE SKIP LOCKED`, so two watchers never share one."""
        now = now or utcnow()
        due = self._due_orders(now, limit)
        rows = await self._take(Order, due, lease_owner=owner, lease_until=now + timedelta(seconds=seconds))
        return sorted(rows, key=lambda o: o.id or 0)

    async def lease_due_checks(
        self, owner: str, *, now: datetime | None = None, seconds: float = 120.0, limit: int = 100_000
    ) -> list[Any]:
        """`lease_due_orders` for the watcher's hot path: plain rows with only what a
        status check compares and announces (building 10,000 ORM objects a cycle was
        most of its CPU)."""
        now = now or utcnow()
        due = self._due_orders(now, limit)
        if self.dialect == "postgresql":
            # Whole accounts, not single orders: the first watcher to reach an account
            # takes all its due orders (a transaction-scoped advisory lock per account,
            # in this schema's lock space), so two watchers scanning at once do not each
            # take part of it and both spend status calls on it.
            namespace = func.hashtext(f"smm-bot-watch:{self._schema or 'public'}")
            due = due.where(func.pg_try_advisory_xact_lock(namespace, col(Order.account_id)))
            due = due.with_for_update(skip_locked=True, of=Order)
        columns = [col(getattr(Order, name)) for name in CHECK_COLUMNS]
        statement = (
            update(Order)
            .where(col(Order.id).in_(due.scalar_subquery()))
            .values(lease_owner=owner, lease_until=now + timedelta(seconds=seconds))
            .returning(*columns)
        )
        async with self.session() as s:
            result = await (await s.connection()).execute(statement)
            return sorted(result.all(), key=lambda row: row.id)

    async def apply_checks(
        self,
        owner: str,
        changes: list[tuple[Any, ...]],
        checked: list[int] | Mapping[datetime, list[int]],
        next_check_at: datetime | None = None,
    ) -> int:
        """Store a cycle's changes with their notifications and release its leases, in
        one transaction: per-order transactions cost a cycle seconds, and concurrent
        writers queue behind SQLite's single lock.

        `changes`: (order id, columns, notice or None[, status read]). With the status
        the watcher read, a change is stored (and announced) only if the order still has
        that status and is not final: a Refresh that stored a newer answer meanwhile wins.
        `checked`: order ids, or order ids by their next check time. Returns how many
        changes were stored."""
        if isinstance(checked, Mapping):
            schedule = {when: list(ids) for when, ids in checked.items() if ids}
        else:
            assert next_check_at is not None or not checked
            schedule = {next_check_at: list(checked)} if checked and next_check_at is not None else {}
        if not changes and not schedule:
            return 0
        now = utcnow()
        table = Order.__table__  # type: ignore[attr-defined]
        async with self.session() as s:
            conn = await s.connection()
            conditional = [entry[0] for entry in changes if len(entry) > 3 and entry[3] is not None]
            current: dict[int, tuple[str, bool]] = {}
            for start in range(0, len(conditional), 5000):
                read = core_select(table.c.id, table.c.status, table.c.final).where(
                    table.c.id.in_(conditional[start : start + 5000]))
                if self.dialect == "postgresql":
                    read = read.with_for_update(of=table)
                current.update({row.id: (row.status, row.final) for row in await conn.execute(read)})
            kept = []
            for entry in changes:
                if len(entry) > 3 and entry[3] is not None:
                    found = current.get(entry[0])
                    if found is None or found[1] or found[0] != entry[3]:
                        continue
                kept.append(entry)
            # Orders whose changes touch the same columns go in one executemany.
            groups: dict[tuple[str, ...], list[dict[str, Any]]] = defaultdict(list)
            for entry in kept:
                order_id, values = entry[0], entry[1]
                groups[tuple(sorted(values))].append(
                    {"b_id": order_id, "b_updated_at": now, **{f"b_{k}": v for k, v in values.items()}})
            for keys, params in groups.items():
                statement = (
                    update(table)
                    .where(table.c.id == bindparam("b_id"), table.c.final == False)  # noqa: E712
                    .values({"updated_at": bindparam("b_updated_at"), **{k: bindparam(f"b_{k}") for k in keys}})
                )
                await conn.execute(statement, params)
            notices = [entry[2] for entry in kept if entry[2] is not None]
            for start in range(0, len(notices), 500):
                rows = [
                    {"user_id": n.user_id, "kind": n.kind, "payload": dict(n.payload), "dedupe_key": n.dedupe_key,
                     "created_at": now, "next_attempt_at": now, "attempts": 0}
                    for n in notices[start : start + 500]
                ]
                await s.exec(self._insert(Notification).values(rows).on_conflict_do_nothing(index_elements=["dedupe_key"]))
            for when, ids in schedule.items():
                for start in range(0, len(ids), 5000):
                    await s.exec(
                        update(Order)
                        .where(col(Order.id).in_(ids[start : start + 5000]), col(Order.lease_owner) == owner)
                        .values(lease_owner=None, lease_until=None, next_check_at=when)
                    )
            return len(kept)

    # --- the watcher's view of an account's key -------------------------------------------

    async def count_refusal(self, account_id: int) -> int:
        """One more consecutive "invalid key" answer; returns how many in a row now."""
        async with self.session() as s:
            await s.exec(update(PanelAccount).where(col(PanelAccount.id) == account_id)
                         .values(refusals=col(PanelAccount.refusals) + 1))
            found = (await s.exec(select(PanelAccount.refusals).where(col(PanelAccount.id) == account_id))).first()
            return int(found or 0)

    async def reset_refusals(self, account_id: int) -> None:
        async with self.session() as s:
            await s.exec(update(PanelAccount).where(col(PanelAccount.id) == account_id, col(PanelAccount.refusals) != 0)
                         .values(refusals=0))

    async def pause_account(self, account_id: int, reason: str, retry_at: datetime | None,
                            notices: list[Notice]) -> bool:
        """Pause a usable account, queueing `notices` with it; False when it was already
        paused (another watcher got there first: nobody is told twice)."""
        async with self.session() as s:
            result = await s.exec(
                update(PanelAccount)
                .where(col(PanelAccount.id) == account_id, col(PanelAccount.paused) == False)  # noqa: E712
                .values(paused=True, pause_reason=reason, refusals=0, retry_at=retry_at)
            )
            if result.rowcount != 1:
                return False
            for notice in notices:
                await self._enqueue(s, notice)
            return True

    async def resume_account(self, account_id: int, reason: str, notices: list[Notice]) -> bool:
        """Lift a pause for `reason` (the key worked again), queueing `notices` with it."""
        async with self.session() as s:
            result = await s.exec(
                update(PanelAccount)
                .where(col(PanelAccount.id) == account_id, col(PanelAccount.paused) == True,  # noqa: E712
                       col(PanelAccount.pause_reason) == reason)
                .values(paused=False, pause_reason=None, refusals=0, retry_at=None)
            )
            if result.rowcount != 1:
                return False
            for notice in notices:
                await self._enqueue(s, notice)
            return True

    async def lease_paused_accounts(self, reason: str, *, now: datetime, seconds: float,
                                    limit: int = 1000) -> list[PanelAccount]:
        """Take the accounts paused for `reason` whose retry is due: their `retry_at` is
        moved `seconds` on, so another watcher does not try the same key meanwhile."""
        due = (
            select(PanelAccount.id)
            .where(col(PanelAccount.paused) == True, col(PanelAccount.pause_reason) == reason,  # noqa: E712
                   col(PanelAccount.retry_at).is_(None) | (col(PanelAccount.retry_at) <= now))
            .order_by(col(PanelAccount.id))
            .limit(limit)
        )
        return await self._take(PanelAccount, due, retry_at=now + timedelta(seconds=seconds))

    async def retry_account_at(self, account_id: int, retry_at: datetime, *, tries: int) -> None:
        """A paused account's next try; `tries` (kept in `refusals` while paused) sets the backoff."""
        async with self.session() as s:
            await s.exec(update(PanelAccount).where(col(PanelAccount.id) == account_id,
                                                    col(PanelAccount.paused) == True)  # noqa: E712
                         .values(retry_at=retry_at, refusals=tries))

    async def finish_orders(self, owner: str, order_ids: list[int], next_check_at: datetime) -> int:
        """Release this watcher's leases and schedule the next check."""
        if not order_ids:
            return 0
        async with self.session() as s:
            result = await s.exec(
                update(Order)
                .where(col(Order.id).in_(order_ids), col(Order.lease_owner) == owner)
                .values(lease_owner=None, lease_until=None, next_check_at=next_check_at)
            )
            return int(result.rowcount)

    async def lease_open_refills(
        self, owner: str, *, now: datetime | None = None, seconds: float = 120.0, limit: int = 100_000
    ) -> list[Refill]:
        now = now or utcnow()
        due = (
            select(Refill.id)
            .where(
                col(Refill.final) == False,  # noqa: E712
                col(Refill.lease_until).is_(None) | (col(Refill.lease_until) < now),
            )
            .order_by(col(Refill.id))
            .limit(limit)
        )
        return await self._take(Refill, due, lease_owner=owner, lease_until=now + timedelta(seconds=seconds))

    async def release_refills(self, owner: str, refill_ids: list[int], until: datetime | None = None) -> None:
        """Give refills back; with `until`, nobody takes them again before then."""
        if not refill_ids:
            return
        async with self.session() as s:
            await s.exec(
                update(Refill)
                .where(col(Refill.id).in_(refill_ids), col(Refill.lease_owner) == owner)
                .values(lease_owner=None if until is None else owner, lease_until=until)
            )

    async def claim_notifications(
        self, owner: str, *, now: datetime | None = None, seconds: float = 60.0, limit: int = 100
    ) -> list[Notification]:
        """Take due unsent notifications no other sender holds, oldest first."""
        now = now or utcnow()
        due = (
            select(Notification.id)
            .where(
                col(Notification.sent_at).is_(None),
                col(Notification.next_attempt_at) <= now,
                col(Notification.claimed_until).is_(None) | (col(Notification.claimed_until) < now),
            )
            .order_by(col(Notification.next_attempt_at), col(Notification.id))
            .limit(limit)
        )
        rows = await self._take(Notification, due, claimed_by=owner, claimed_until=now + timedelta(seconds=seconds))
        return sorted(rows, key=lambda n: (n.next_attempt_at, n.id or 0))

    async def release_notifications(self, owner: str, notification_ids: list[int]) -> None:
        """Claimed but not attempted (paced chat, paused sender): back to the queue."""
        if not notification_ids:
            return
        async with self.session() as s:
            await s.exec(
                update(Notification)
                .where(col(Notification.id).in_(notification_ids), col(Notification.claimed_by) == owner)
                .values(claimed_by=None, claimed_until=None)
            )

    async def claim_order_action(self, order_id: int, user_id: int, *, seconds: float = 30.0) -> bool:
        """One conditional update: True for the single press that may send a refill or
        cancel request for this order now; False for a double tap or a foreign order."""
        now = utcnow()
        async with self.session() as s:
            result = await s.exec(
                update(Order)
                .where(
                    col(Order.id) == order_id,
                    col(Order.user_id) == user_id,
                    col(Order.action_until).is_(None) | (col(Order.action_until) < now),
                )
                .values(action_until=now + timedelta(seconds=seconds))
            )
            return bool(result.rowcount == 1)

    async def release_order_action(self, order_id: int) -> None:
        async with self.session() as s:
            await s.exec(update(Order).where(col(Order.id) == order_id).values(action_until=None))

    async def defer_account_orders(self, account_id: int, until: datetime) -> int:
        """Back off from an account's open orders (panel outage): one statement."""
        async with self.session() as s:
            result = await s.exec(
                update(Order)
                .where(col(Order.account_id) == account_id, col(Order.final) == False)  # noqa: E712
                .values(next_check_at=until, lease_owner=None, lease_until=None)
            )
            return int(result.rowcount)

    async def get_users(self, telegram_ids: list[int]) -> dict[int, User]:
        if not telegram_ids:
            return {}
        async with self._read() as s:
            rows = (await s.exec(select(User).where(col(User.telegram_id).in_(telegram_ids)))).all()
            return {user.telegram_id: user for user in rows}

    async def get_accounts(self, account_ids: list[int]) -> dict[int, PanelAccount]:
        if not account_ids:
            return {}
        async with self._read() as s:
            rows = (await s.exec(select(PanelAccount).where(col(PanelAccount.id).in_(account_ids)))).all()
            return {account.id: account for account in rows if account.id is not None}

    async def orders_by_ids(self, order_ids: list[int]) -> dict[int, Order]:
        if not order_ids:
            return {}
        async with self._read() as s:
            rows = (await s.exec(select(Order).where(col(Order.id).in_(order_ids)))).all()
            return {order.id: order for order in rows if order.id is not None}

    async def wake_notifications(self, user_id: int) -> int:
        """A user who unblocked the bot: their waiting notifications are due now."""
        async with self.session() as s:
            result = await s.exec(
                update(Notification)
                .where(col(Notification.user_id) == user_id, col(Notification.sent_at).is_(None))
                .values(next_attempt_at=utcnow())
            )
            return int(result.rowcount)

    # --- refills -----------------------------------------------------------------------

    async def add_refill(self, order_id: int, panel_refill_id: int, status: str = "Pending") -> Refill:
        refill = Refill(order_id=order_id, panel_refill_id=panel_refill_id, status=status)
        async with self.session() as s:
            s.add(refill)
            await s.flush()
            await s.refresh(refill)
        return refill

    async def refills_for(self, order_id: int) -> list[Refill]:
        async with self._read() as s:
            query = select(Refill).where(col(Refill.order_id) == order_id).order_by(col(Refill.id))
            return list((await s.exec(query)).all())

    async def open_refills(self, *, limit: int = 1000) -> list[Refill]:
        async with self._read() as s:
            query = (
                select(Refill)
                .where(col(Refill.final) == False)  # noqa: E712 (SQL comparison)
                .order_by(col(Refill.id))
                .limit(limit)
            )
            return list((await s.exec(query)).all())

    async def update_refill(
        self, refill_id: int, changes: Mapping[str, Any], *, notice: Notice | None = None
    ) -> bool:
        unknown = set(changes) - _REFILL_MUTABLE
        if unknown:
            raise TypeError(f"unknown Refill fields: {', '.join(sorted(unknown))}")
        async with self.session() as s:
            result = await s.exec(
                update(Refill).where(col(Refill.id) == refill_id).values({"updated_at": utcnow(), **changes})
            )
            if result.rowcount != 1:
                return False
            if notice is not None:
                await self._enqueue(s, notice)
            return True

    # --- notification outbox -----------------------------------------------------------

    async def _enqueue(self, s: AsyncSession, notice: Notice) -> bool:
        now = utcnow()
        result = await s.exec(
            self._insert(Notification)
            .values(
                user_id=notice.user_id,
                kind=notice.kind,
                payload=dict(notice.payload),
                dedupe_key=notice.dedupe_key,
                created_at=now,
                next_attempt_at=now,
                attempts=0,
            )
            .on_conflict_do_nothing(index_elements=["dedupe_key"])
        )
        return bool(result.rowcount == 1)

    async def enqueue_notification(self, notice: Notice) -> bool:
        """Queue `notice`; False when one with the same dedupe_key was queued before."""
        async with self.session() as s:
            return await self._enqueue(s, notice)

    async def due_notifications(self, *, now: datetime | None = None, limit: int = 100) -> list[Notification]:
        """Unsent notifications whose time has come, oldest first."""
        now = now or utcnow()
        async with self._read() as s:
            query = (
                select(Notification)
                .where(col(Notification.sent_at).is_(None), col(Notification.next_attempt_at) <= now)
                .order_by(col(Notification.next_attempt_at), col(Notification.id))
                .limit(limit)
            )
            return list((await s.exec(query)).all())

    async def mark_notification_sent(self, notification_id: int) -> bool:
        """Done with it: sent, or deliberately skipped (blocked user, notifications off)."""
        async with self.session() as s:
            result = await s.exec(
                update(Notification)
                .where(col(Notification.id) == notification_id, col(Notification.sent_at).is_(None))
                .values(sent_at=utcnow(), claimed_by=None, claimed_until=None)
            )
            return result.rowcount == 1

    async def retry_notification(
        self, notification_id: int, at: datetime, *, error: str | None = None, counted: bool = True
    ) -> bool:
        """Try again at `at`. A failed attempt is counted (the sender gives up after a few)
        and its `error` kept; a wait that is nobody's failure (Telegram's RetryAfter, a
        user who blocked the bot) is not counted."""
        values: dict[str, Any] = {"next_attempt_at": at, "claimed_by": None, "claimed_until": None}
        if counted:
            values["attempts"] = col(Notification.attempts) + 1
        if error is not None:
            values["last_error"] = error
        async with self.session() as s:
            result = await s.exec(
                update(Notification)
                .where(col(Notification.id) == notification_id, col(Notification.sent_at).is_(None))
                .values(**values)
            )
            return result.rowcount == 1

    async def give_up_notification(self, notification_id: int, error: str) -> bool:
        """Never send it: it failed too often. `failed_at` says it was not delivered;
        `sent_at` is set too because it means "done with it", so that nothing claims,
        wakes or keeps it longer than a sent one."""
        now = utcnow()
        async with self.session() as s:
            result = await s.exec(
                update(Notification)
                .where(col(Notification.id) == notification_id, col(Notification.sent_at).is_(None))
                .values(attempts=col(Notification.attempts) + 1, failed_at=now, sent_at=now, last_error=error,
                        claimed_by=None, claimed_until=None)
            )
            return result.rowcount == 1

    # --- pruning ---------------------------------------------------------------------------

    async def prune(
        self, *, notifications_after: timedelta = timedelta(days=30), drafts_after: timedelta = timedelta(days=7),
        allowed_users: frozenset[int] = frozenset(), batch: int = 5_000,
    ) -> dict[str, int]:
        """Delete what nobody will read again; returns the rows deleted per table.

        - notifications sent (or given up) longer ago than `notifications_after`; unsent
          ones stay, whatever their age: they are still owed;
        - drafts ABANDONED, or left DRAFT, untouched for `drafts_after`, when no order
          points to them (orders.draft_id);
        - with `allowed_users` (ALLOWED_USERS), rows of users outside it who own no
          account, draft or order (strangers recorded before the gate kept them out).

        In batches of `batch` rows, each its own short transaction, so that a first run
        on an old database does not hold SQLite's write lock for long."""
        now = utcnow()
        notifications = cast(Table, Notification.__table__)  # type: ignore[attr-defined]
        orders = cast(Table, Order.__table__)  # type: ignore[attr-defined]
        accounts = cast(Table, PanelAccount.__table__)  # type: ignore[attr-defined]
        sent_before = now - notifications_after
        old_notifications = core_select(notifications.c.id).where(
            notifications.c.sent_at.is_not(None), notifications.c.sent_at < sent_before)
        referenced = core_select(orders.c.id).where(orders.c.draft_id == _DRAFTS.c.id).exists()
        old_drafts = core_select(_DRAFTS.c.id).where(
            _DRAFTS.c.state.in_([DraftState.ABANDONED.value, DraftState.DRAFT.value]),
            _DRAFTS.c.updated_at < now - drafts_after,
            ~referenced,
        )
        done = {
            "notifications": await self._delete_in_batches(notifications, notifications.c.id, old_notifications,
                                                           batch),
            "drafts": await self._delete_in_batches(_DRAFTS, _DRAFTS.c.id, old_drafts, batch),
            "users": 0,
        }
        if allowed_users:
            uid = _USERS.c.telegram_id
            strangers = core_select(uid).where(
                uid.not_in(sorted(allowed_users)),
                ~core_select(accounts.c.id).where(accounts.c.user_id == uid).exists(),
                ~core_select(_DRAFTS.c.id).where(_DRAFTS.c.user_id == uid).exists(),
                ~core_select(orders.c.id).where(orders.c.user_id == uid).exists(),
            )
            done["users"] = await self._delete_in_batches(_USERS, uid, strangers, batch)
            if done["users"]:
                self._users.clear()
        if done["drafts"]:
            self._drafts.clear()
        return done

    async def _delete_in_batches(self, table: Table, key: Any, chosen: Any, batch: int) -> int:
        deleted = 0
        while True:
            statement = table.delete().where(key.in_(chosen.limit(batch).scalar_subquery()))
            async with self.session() as s:
                count = int((await s.exec(statement)).rowcount)
            deleted += count
            if count < batch:
                return deleted

    # --- catalog cache -----------------------------------------------------------------

    async def save_catalog(self, panel_fingerprint: str, payload: str) -> None:
        """Keep the panel's raw `services` reply (JSON text), replacing the previous one."""
        now = utcnow()
        statement = self._insert(CatalogSnapshot).values(
            panel_fingerprint=panel_fingerprint, fetched_at=now, payload=payload
        )
        statement = statement.on_conflict_do_update(
            index_elements=["panel_fingerprint"],
            set_={"fetched_at": now, "payload": payload},
        )
        async with self.session() as s:
            await s.exec(statement)

    async def load_catalog(self, panel_fingerprint: str) -> CatalogSnapshot | None:
        async with self._read() as s:
            return await s.get(CatalogSnapshot, panel_fingerprint)

    # --- panel facts -------------------------------------------------------------------

    async def panel_facts(self, panel_url: str) -> list[PanelFact]:
        """Everything learnt about one panel (a handful of rows)."""
        async with self._read() as s:
            return list((await s.exec(select(PanelFact).where(col(PanelFact.panel_url) == panel_url))).all())

    async def learn_panel_fact(self, panel_url: str, name: str, detail: str | None = None) -> None:
        """Record (or refresh the date of) one fact about a panel."""
        now = utcnow()
        statement = self._insert(PanelFact).values(panel_url=panel_url, name=name, learnt_at=now, detail=detail)
        statement = statement.on_conflict_do_update(
            index_elements=["panel_url", "name"], set_={"learnt_at": now, "detail": detail}
        )
        async with self.session() as s:
            await s.exec(statement)

    async def forget_panel_fact(self, panel_url: str, name: str) -> bool:
        """The panel showed the opposite (an action it was thought to lack answered)."""
        statement = PanelFact.__table__.delete().where(  # type: ignore[attr-defined]
            col(PanelFact.panel_url) == panel_url, col(PanelFact.name) == name
        )
        async with self.session() as s:
            return int((await s.exec(statement)).rowcount) > 0
