"""Engine and session factory: URL normalisation, SQLite locking settings, create_all."""

from __future__ import annotations

import asyncio
import json
import os
import sqlite3
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from datetime import date, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any, TypeVar

from sqlalchemy import create_engine, event
from sqlalchemy.engine import URL, Connection, Engine, make_url
from sqlalchemy.exc import OperationalError
from sqlalchemy.ext.asyncio import AsyncEngine, async_sessionmaker, create_async_engine
from sqlmodel.ext.asyncio.session import AsyncSession

from bot.store.models import metadata

__all__ = [
    "READ_ONLY",
    "SQLiteFile",
    "Transactions",
    "create_all",
    "drop_all",
    "json_dumps",
    "make_engine",
    "make_sessionmaker",
    "normalize_url",
]

T = TypeVar("T")

SQLITE_BUSY_SECONDS = 30
# Execution option marking an engine whose transactions only read (see _configure_sqlite).
READ_ONLY = "bot_store_read_only"

_PG_SYNC_DRIVERS = {"postgres", "postgresql", "postgresql+psycopg2", "postgresql+psycopg", "postgresql+pg8000"}
_SQLITE_SYNC_DRIVERS = {"sqlite", "sqlite+pysqlite"}


def normalize_url(url: str) -> str:
    """An async SQLAlchemy URL from what operators and hosting platforms hand over.

    `postgres://` (Heroku, Render...) and `postgresql://` become `postgresql+asyncpg://`,
    with libpq's `sslmode=` renamed to asyncpg's `ssl=`; `sqlite:///x.db` becomes
    `sqlite+aiosqlite:///x.db`, and a bare file path is taken as a SQLite file.
    """
    raw = url.strip()
    if not raw:
        raise ValueError("database URL is empty")
    if "://" not in raw:
        path = os.path.expanduser(raw)
        return f"sqlite+aiosqlite:///{path}"
    parsed = make_url(raw)
    driver = parsed.drivername
    if driver in _PG_SYNC_DRIVERS:
        parsed = parsed.set(drivername="postgresql+asyncpg")
    elif driver in _SQLITE_SYNC_DRIVERS:
        parsed = parsed.set(drivername="sqlite+aiosqlite")
    if parsed.drivername == "postgresql+asyncpg" and "sslmode" in parsed.query:
        query = dict(parsed.query)
        query.setdefault("ssl", query["sslmode"])
        del query["sslmode"]
        parsed = parsed.set(query=query)
    return parsed.render_as_string(hide_password=False)


def json_dumps(value: Any) -> str:
    """JSON for JSON columns; Decimal is written as its exact text (it comes back a str)."""
    return json.dumps(value, ensure_ascii=False, separators=(",", ":"), default=_json_default)


def _json_default(value: Any) -> Any:
    if isinstance(value, Decimal):
        return str(value)
    if isinstance(value, datetime | date):
        return value.isoformat()
    if isinstance(value, set | frozenset | tuple):
        return list(value)
    raise TypeError(f"{type(value).__name__} is not JSON serializable; store plain data")


def _sqlite_is_file(url: URL) -> bool:
    database = url.database or ""
    return database not in ("", ":memory:") and "mode=memory" not in database and url.query.get("mode") != "memory"


def make_engine(url: str, *, echo: bool = False, schema: str | None = None) -> AsyncEngine:
    """An async engine for `url` (normalised). `schema`: a PostgreSQL schema to work in."""
    parsed = make_url(normalize_url(url))
    backend = parsed.get_backend_name()
    if backend not in ("sqlite", "postgresql"):
        raise ValueError(f"unsupported database {backend!r}: use PostgreSQL or SQLite")
    if backend == "sqlite":
        if schema:
            raise ValueError("schema= is only supported on PostgreSQL")
        is_file = _sqlite_is_file(parsed)
        if is_file and parsed.database and not parsed.query.get("uri"):
            # The default DATABASE_URL points into a data folder that may not exist yet.
            Path(parsed.database).expanduser().parent.mkdir(parents=True, exist_ok=True)
        engine = create_async_engine(
            parsed,
            echo=echo,
            json_serializer=json_dumps,
            # sqlite3's busy timeout: a writer waits this long for the lock instead of
            # failing at once with "database is locked".
            connect_args={"timeout": SQLITE_BUSY_SECONDS},
        )
        _configure_sqlite(engine.sync_engine, is_file=is_file)
        return engine
    connect_args: dict[str, Any] = {}
    if schema:
        connect_args["server_settings"] = {"search_path": schema}
    return create_async_engine(
        parsed,
        echo=echo,
        json_serializer=json_dumps,
        # Hosted databases drop idle connections; check before use instead of failing a request.
        pool_pre_ping=True,
        connect_args=connect_args,
    )


def _configure_sqlite(sync_engine: Engine, *, is_file: bool) -> None:
    @event.listens_for(sync_engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: Any) -> None:
        # sqlite3 would BEGIN lazily (deferred, and not at all before a SELECT); we emit
        # BEGIN ourselves below so every transaction really is one.
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        try:
            cursor.execute("PRAGMA foreign_keys = ON")
            if is_file:
                # WAL lets readers outside our transactions proceed during a write and
                # survives crashes just as well. synchronous stays FULL (the default): a
                # committed claim must not vanish on power loss, or a draft could be
                # placed twice.
                try:
                    cursor.execute("PRAGMA journal_mode = WAL")
                except sqlite3.OperationalError:
                    # Two connections opening a brand-new file at once: one sets WAL,
                    # the other is told "locked" (busy_timeout does not cover this
                    # pragma). WAL is a property of the file, so it is set either way.
                    pass
        finally:
            cursor.close()

    @event.listens_for(sync_engine, "begin")
    def _on_begin(connection: Any) -> None:
        # IMMEDIATE takes the write lock up front, waiting under the busy timeout. With a
        # deferred BEGIN, a transaction that reads and then writes while another one
        # commits fails at once with SQLITE_BUSY, which busy_timeout does not cover.
        # Transactions known to only read keep the deferred BEGIN and never wait.
        if connection.get_execution_options().get(READ_ONLY):
            connection.exec_driver_sql("BEGIN")
        else:
            connection.exec_driver_sql("BEGIN IMMEDIATE")


def make_sessionmaker(engine: AsyncEngine) -> async_sessionmaker[AsyncSession]:
    # expire_on_commit=False: rows returned from a finished transaction stay readable
    # (an expired attribute would need IO, which async sessions cannot do implicitly).
    return async_sessionmaker(engine, class_=AsyncSession, expire_on_commit=False)


async def create_all(engine: AsyncEngine) -> None:
    """Create missing tables (development, tests, SQLite); production uses migrations."""
    async with engine.begin() as connection:
        await connection.run_sync(metadata.create_all)


async def drop_all(engine: AsyncEngine) -> None:
    async with engine.begin() as connection:
        await connection.run_sync(metadata.drop_all)


class Transactions:
    """Runs `fn(connection)` as one transaction: a plain function over a synchronous
    SQLAlchemy `Connection`, so the same code serves both backends.

    PostgreSQL (asyncpg) and in-memory SQLite: on the async engine, through
    `AsyncConnection.run_sync` (each statement awaits the driver in place).
    """

    def __init__(self, engine: AsyncEngine) -> None:
        self._engine = engine
        self._reader = engine.execution_options(**{READ_ONLY: True})

    @property
    def engines(self) -> list[Engine]:
        """The synchronous engines the statements run on (for event listeners)."""
        return [self._engine.sync_engine]

    async def run(self, fn: Callable[[Connection], T], *, write: bool) -> T:
        async with (self._engine if write else self._reader).begin() as connection:
            return await connection.run_sync(fn)

    def close(self) -> None:
        """Nothing of its own to release (the async engine is disposed by its owner)."""


class SQLiteFile(Transactions):
    """A SQLite file through the standard `sqlite3` driver, a whole transaction at a time:
    run right away on the event loop when the database is free, on a worker thread when
    another process holds its write lock.

    Why not aiosqlite here: it hands every driver call (cursor, execute, fetch, commit)
    to its thread and back, about twenty hand-offs per transaction, and at one or two
    transactions per update that was most of the bot's CPU; a thread per transaction
    still cost the loop a wake-up and the GIL a tug of war. A transaction of the bot is
    a few statements on a small database: microseconds, plus one fsync at commit.

    The loop must never wait for a lock, though: the quick engine has no busy timeout,
    so a transaction that finds the database locked (by a watcher process, say) fails at
    its first statement, `BEGIN IMMEDIATE`, before doing anything, and is run again on a
    worker thread with the patient engine, which waits up to SQLITE_BUSY_SECONDS.
    Same file and same settings (WAL, BEGIN IMMEDIATE for writers) as the async engine,
    which migrations, the admin tools and the watcher use.

    The commit's fsync is waited for on the loop too (about 0.3 ms on this project's
    disk). Handing just the commit to a thread was tried: each write then held the write
    turn for a thread's wake-up and the GIL's hand-back, and capacity fell by a tenth
    while the p99 under load doubled. On a disk with slow fsyncs, use PostgreSQL, as in
    production.
    """

    def __init__(self, engine: AsyncEngine, *, workers: int = 2) -> None:
        super().__init__(engine)
        url = engine.url.set(drivername="sqlite+pysqlite")

        def sqlite_engine(busy_seconds: float, pool_size: int) -> Engine:
            made = create_engine(
                url,
                json_serializer=json_dumps,
                connect_args={"timeout": busy_seconds, "check_same_thread": False},
                pool_size=pool_size,
                max_overflow=0,
            )
            _configure_sqlite(made, is_file=True)
            return made

        self._quick = sqlite_engine(0.0, 1)  # only the loop's thread uses it, one transaction at a time
        self._patient = sqlite_engine(SQLITE_BUSY_SECONDS, workers)
        self._readers = {
            id(engine): engine.execution_options(**{READ_ONLY: True}) for engine in (self._quick, self._patient)
        }
        self._threads = ThreadPoolExecutor(workers, thread_name_prefix="store")
        self.waited = 0  # transactions that found the database locked and went to a thread

    @property
    def engines(self) -> list[Engine]:
        return [self._engine.sync_engine, self._quick, self._patient]

    def _transaction(self, engine: Engine, fn: Callable[[Connection], T], write: bool) -> T:
        with (engine if write else self._readers[id(engine)]).begin() as connection:
            return fn(connection)

    async def run(self, fn: Callable[[Connection], T], *, write: bool) -> T:
        try:
            return self._transaction(self._quick, fn, write)
        except OperationalError as error:
            if not _locked(error):
                raise
        self.waited += 1
        # A cancelled caller does not stop the thread: the transaction still finishes
        # (commits or rolls back) as a whole, as it would on a database server.
        return await asyncio.get_running_loop().run_in_executor(
            self._threads, self._transaction, self._patient, fn, write
        )

    def close(self) -> None:
        self._threads.shutdown(wait=True)
        self._quick.dispose()
        self._patient.dispose()


def _locked(error: OperationalError) -> bool:
    """SQLITE_BUSY / SQLITE_LOCKED: another connection holds the lock (nothing was done)."""
    text = str(error.orig).lower()
    return "locked" in text or "busy" in text


def transactions(engine: AsyncEngine) -> Transactions:
    """The fastest way to run whole transactions on this engine's database."""
    if engine.dialect.name == "sqlite" and _sqlite_is_file(engine.url):
        return SQLiteFile(engine)
    return Transactions(engine)
