"""Named locks a process holds for its lifetime, so that one process takes updates and one
sends notifications: a PostgreSQL session advisory lock, or a lock file beside a SQLite file."""

from __future__ import annotations

import fcntl
from typing import TextIO

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

__all__ = ["ProcessLocks"]


class ProcessLocks:
    """The locks this process holds on one database (in one PostgreSQL schema)."""

    def __init__(self, engine: AsyncEngine, schema: str | None) -> None:
        self._engine = engine
        self._schema = schema
        # What keeps each lock held: the connection holding the advisory lock, the open
        # lock file, or None (an in-memory SQLite database: no other process can see it).
        self._held: dict[str, AsyncConnection | TextIO | None] = {}

    async def hold(self, name: str) -> bool:
        """Hold the lock `name` (True if held now, also when already ours).

        PostgreSQL: a session advisory lock on a connection kept open, released if the
        process dies. SQLite: an exclusive lock on `<database>.<name>.lock`."""
        if name in self._held:
            return True
        if self._engine.dialect.name == "postgresql":
            conn = await self._engine.connect()
            try:
                key = f"smm-bot:{self._engine.url.database}:{self._schema or 'public'}:{name}"
                got = (await conn.execute(text("SELECT pg_try_advisory_lock(hashtext(:key))"), {"key": key})).scalar()
                await conn.commit()
            except BaseException:
                await conn.close()
                raise
            if not got:
                await conn.close()
                return False
            self._held[name] = conn
            return True
        database = self._engine.url.database or ""
        if database in ("", ":memory:"):
            self._held[name] = None
            return True
        handle = open(f"{database}.{name}.lock", "a+")  # noqa: SIM115 (held open on purpose)
        try:
            fcntl.flock(handle.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            handle.close()
            return False
        self._held[name] = handle
        return True

    async def release(self) -> None:
        """Let every lock go (closing the connection or the file releases it)."""
        for held in self._held.values():
            if isinstance(held, AsyncConnection):
                await held.close()
            elif held is not None:
                held.close()
        self._held.clear()
