"""Pruning: deleting what nobody will read again (old sent notifications, abandoned drafts,
strangers' user rows), in short batches."""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import Column, Select, Table
from sqlalchemy import select as core_select

from bot.store.accounts import ACCOUNTS
from bot.store.drafts import DRAFTS, DraftsRoom
from bot.store.models import DraftState, utcnow
from bot.store.orders import ORDERS
from bot.store.outbox import NOTIFICATIONS
from bot.store.users import USERS

__all__ = ["PruningRoom"]


class PruningRoom(DraftsRoom):
    """`prune`, over the other rooms' tables; built on the drafts' room for its caches."""

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
        old_notifications = core_select(NOTIFICATIONS.c.id).where(
            NOTIFICATIONS.c.sent_at.is_not(None), NOTIFICATIONS.c.sent_at < now - notifications_after)
        referenced = core_select(ORDERS.c.id).where(ORDERS.c.draft_id == DRAFTS.c.id).exists()
        old_drafts = core_select(DRAFTS.c.id).where(
            DRAFTS.c.state.in_([DraftState.ABANDONED.value, DraftState.DRAFT.value]),
            DRAFTS.c.updated_at < now - drafts_after,
            ~referenced,
        )
        done = {
            "notifications": await self._delete_in_batches(NOTIFICATIONS, NOTIFICATIONS.c.id, old_notifications,
                                                           batch),
            "drafts": await self._delete_in_batches(DRAFTS, DRAFTS.c.id, old_drafts, batch),
            "users": 0,
        }
        if allowed_users:
            uid = USERS.c.telegram_id
            strangers = core_select(uid).where(
                uid.not_in(sorted(allowed_users)),
                ~core_select(ACCOUNTS.c.id).where(ACCOUNTS.c.user_id == uid).exists(),
                ~core_select(DRAFTS.c.id).where(DRAFTS.c.user_id == uid).exists(),
                ~core_select(ORDERS.c.id).where(ORDERS.c.user_id == uid).exists(),
            )
            done["users"] = await self._delete_in_batches(USERS, uid, strangers, batch)
            if done["users"]:
                self._users.clear()
        if done["drafts"]:
            self._drafts.clear()
        return done

    async def _delete_in_batches(
        self, table: Table, key: Column[int], chosen: Select[tuple[int]], batch: int
    ) -> int:
        deleted = 0
        while True:
            statement = table.delete().where(key.in_(chosen.limit(batch).scalar_subquery()))
            async with self.session() as s:
                count = int((await s.exec(statement)).rowcount)
            deleted += count
            if count < batch:
                return deleted
