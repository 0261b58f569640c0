"""Users: their settings (language, notifications, blocked) and their conversation state (the
`flow` column), read on every update and so kept a while in a write-through cache."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from sqlalchemy import bindparam, update
from sqlalchemy import select as core_select
from sqlalchemy.engine import Connection
from sqlmodel import col, select

from bot.recent import Recent
from bot.store.engine import StoreEngine, upsert
from bot.store.models import NOTIFICATION_MODES, User, metadata, utcnow

__all__ = ["KEEP", "USERS", "Flow", "UsersRoom", "write_flow"]

USERS = metadata.tables["users"]
_USER_BY_ID = core_select(USERS).where(USERS.c.telegram_id == bindparam("uid"))
_SET_FLOW = (
    update(USERS)
    .where(USERS.c.telegram_id == bindparam("uid"))
    .values(flow=bindparam("flow"), updated_at=bindparam("now"))
)

Flow = dict[str, Any]
"""A user's conversation state: plain JSON, kept so that a restart does not drop a half-filled order."""


class _Keep:
    def __repr__(self) -> str:
        return "KEEP"


# Typed Any so that it stands in any `flow: Flow | None` parameter's default.
KEEP: Any = _Keep()
"""`flow=KEEP` (the default): leave the user's conversation state as it is."""


def write_flow(conn: Connection, telegram_id: int, flow: Flow | None) -> None:
    """Inside another write: the conversation state goes with it (see `UsersRoom.set_flow`)."""
    conn.execute(_SET_FLOW, {"uid": telegram_id, "flow": flow, "now": utcnow()})


class UsersRoom(StoreEngine):
    """Users and their flows.

    Users read on every update: the process that takes updates keeps them for a while
    (write-through; `user_cache_seconds` bounds what another process's change, such as a
    watcher marking a user blocked, may take to show)."""

    _users: Recent[int, User]  # made by Store.__init__

    def _cached_user(self, telegram_id: int) -> User | None:
        return self._users.get(telegram_id)

    def _remember(self, user: User | None) -> User | None:
        if user is not None:
            self._users.put(user.telegram_id, user)
        return user

    def _remember_user_values(self, telegram_id: int, values: Mapping[str, object]) -> None:
        cached = self._cached_user(telegram_id)
        if cached is not None:
            for name, value in values.items():
                setattr(cached, name, value)  # written through: the cache never leads the database

    async def get_user(self, telegram_id: int) -> User | None:
        cached = self._cached_user(telegram_id)
        if cached is not None:
            return cached

        def read(conn: Connection) -> User | None:
            row = conn.execute(_USER_BY_ID, {"uid": telegram_id}).first()
            return User(**row._mapping) if row is not None else None

        return self._remember(await self._run(read, write=False))

    async def get_users(self, telegram_ids: list[int]) -> dict[int, User]:
        if not telegram_ids:
            return {}
        async with self._read() as s:
            rows = (await s.exec(select(User).where(col(User.telegram_id).in_(telegram_ids)))).all()
            return {user.telegram_id: user for user in rows}

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
            upsert(self.dialect, USERS)
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
                    update(USERS)
                    .where(USERS.c.telegram_id == telegram_id)
                    .values(telegram_language=telegram_language, updated_at=now)
                )
                user.telegram_language = telegram_language
            return user

        user = await self._run(write, forget=lambda: self._users.pop(telegram_id))
        self._remember(user)
        return user

    async def _update_user(self, telegram_id: int, **values: object) -> bool:
        statement = update(USERS).where(USERS.c.telegram_id == telegram_id).values({"updated_at": utcnow(), **values})
        changed = await self._run(lambda conn: conn.execute(statement).rowcount == 1,
                                  forget=lambda: self._users.pop(telegram_id))
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

    async def set_flow(self, telegram_id: int, flow: Flow | None) -> bool:
        """Replace the conversation state (None clears it). False if the user is unknown.
        No write when this process already stored exactly that state (it is the only
        writer of flows: the process that takes updates)."""
        flow = dict(flow) if flow is not None else None
        cached = self._cached_user(telegram_id)
        if cached is not None and cached.flow == flow:
            return True
        return await self._update_user(telegram_id, flow=flow)

    async def get_flow(self, telegram_id: int) -> Flow | None:
        user = await self.get_user(telegram_id)
        return dict(user.flow) if user is not None and user.flow is not None else None
