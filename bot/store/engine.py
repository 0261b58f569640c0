"""What every room of the `Store` shares: one database engine and the ways a transaction runs
on it (a plain function over a Connection, or an async ORM session), one write at a time on SQLite."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from typing import TypeVar

from sqlalchemy import Table, inspect, text, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import Connection
from sqlalchemy.ext.asyncio import AsyncEngine
from sqlmodel import SQLModel
from sqlmodel.ext.asyncio.session import AsyncSession
from sqlmodel.sql.expression import SelectOfScalar

from bot.store import db
from bot.store.locks import ProcessLocks

__all__ = ["IdQuery", "StoreEngine", "StoreError", "upsert"]

T = TypeVar("T")
M = TypeVar("M", bound=SQLModel)


# A query for rows' ids, as sqlmodel types `select(Model.id)` of an `int | None` column.
IdQuery = SelectOfScalar[int] | SelectOfScalar[None]


class StoreError(Exception):
    """A store operation that cannot be done as asked."""


def upsert(dialect: str, table: Table) -> postgresql.Insert | sqlite.Insert:
    """An INSERT that takes ON CONFLICT clauses, in the backend's own dialect."""
    return postgresql.insert(table) if dialect == "postgresql" else sqlite.insert(table)


class StoreEngine:
    """The database engine and how the rooms run transactions on it.

    What every update touches (users, flows, drafts, placing an order) is written as a
    plain function over a Connection and run as one transaction by `_run`; the rest (the
    watcher's batches, admin tools, lists) goes through async ORM sessions. Both take the
    same write turn on SQLite."""

    def __init__(self, url: str, *, echo: bool = False, schema: str | None = None) -> None:
        self.engine: AsyncEngine = db.make_engine(url, echo=echo, schema=schema)
        self._sessions = db.make_sessionmaker(self.engine)
        self._read_sessions = db.make_sessionmaker(self.engine.execution_options(**{db.READ_ONLY: True}))
        self._schema = schema
        self._locks = ProcessLocks(self.engine, schema)
        # Whole transactions as plain functions over a Connection: one hand-off to a
        # worker thread per transaction on a SQLite file, run_sync on PostgreSQL.
        self._tx = db.transactions(self.engine)
        # SQLite has one write lock; taking turns here is cheaper than its busy-wait
        # sleeps (up to 100 ms each) when this process's writers collide.
        self._write_turn = asyncio.Lock() if self.dialect == "sqlite" else None

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.engine.url.render_as_string(hide_password=True)!r})"

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

    async def schema_revision(self) -> str | None:
        """The alembic revision the database is at; None when it has none (or no tables).
        A plain query, so that start-up does not import alembic when all is well."""

        def read(conn: Connection) -> str | None:
            row = conn.execute(text("SELECT version_num FROM alembic_version")).first()
            return str(row[0]) if row is not None else None

        try:
            return await self._run(read, write=False)
        except Exception:  # noqa: BLE001 - no version table (yet): the migrator decides
            return None

    # --- process roles -------------------------------------------------------------------

    async def hold_lock(self, name: str) -> bool:
        """Hold a named lock for this process's lifetime (True if held now, also when
        already ours); see `ProcessLocks`. Used so that one process takes updates and
        one sends notifications."""
        return await self._locks.hold(name)

    async def release_locks(self) -> None:
        await self._locks.release()

    # --- transactions ------------------------------------------------------------------

    async def _run(
        self, fn: Callable[[Connection], T], *, write: bool = True, forget: Callable[[], object] | None = None
    ) -> T:
        """`fn(connection)` as one transaction, committed if it returns.

        `forget`: drops the cached rows the write changes. If the caller is cancelled or
        the write fails, the transaction may still have committed (a worker thread
        finishes it), so those are forgotten: the next read goes to the database."""
        try:
            if write and self._write_turn is not None:
                async with self._write_turn:
                    return await self._tx.run(fn, write=True)
            return await self._tx.run(fn, write=write)
        except BaseException:
            if forget is not None:
                forget()
            raise

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

    async def _take(self, model: type[M], due: IdQuery, **holder: object) -> list[M]:
        """Mark the rows `due` selects (by id) as held and return them, in one UPDATE over
        a `SELECT ... FOR UPDATE SKIP LOCKED`: rows another process is taking right now
        are skipped, not waited for (PostgreSQL); SQLite serialises writers already."""
        if self.dialect == "postgresql":
            due = due.with_for_update(skip_locked=True, of=model)
        (key,) = inspect(model).primary_key
        statement = (
            update(model)
            .where(key.in_(due.scalar_subquery()))
            .values(**holder)
            .returning(model)
            .execution_options(synchronize_session=False)
        )
        async with self.session() as s:
            return list((await s.exec(statement)).scalars().all())
