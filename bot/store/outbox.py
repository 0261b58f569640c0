"""The notification outbox: a change is queued in the transaction that stores it (see
`enqueue`), then claimed, sent once, retried or given up by the sending process."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import update
from sqlalchemy.dialects import postgresql, sqlite
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from bot.store.engine import StoreEngine, upsert
from bot.store.models import Notification, metadata, utcnow

__all__ = ["NOTIFICATIONS", "Notice", "OutboxRoom", "enqueue", "insert_notices"]

NOTIFICATIONS = metadata.tables["notifications"]


@dataclass(frozen=True, slots=True)
class Notice:
    """A notification to queue; `dedupe_key` names the change so it is queued only once."""

    user_id: int
    kind: str
    dedupe_key: str
    payload: dict[str, Any] = field(default_factory=dict)  # JSON-able, for the sender's text


def insert_notices(dialect: str, notices: Sequence[Notice], now: datetime) -> postgresql.Insert | sqlite.Insert:
    """One INSERT of `notices`, due now; one already queued (same dedupe key) is left as it is."""
    rows = [
        {"user_id": n.user_id, "kind": n.kind, "payload": dict(n.payload), "dedupe_key": n.dedupe_key,
         "created_at": now, "next_attempt_at": now, "attempts": 0}
        for n in notices
    ]
    return upsert(dialect, NOTIFICATIONS).values(rows).on_conflict_do_nothing(index_elements=["dedupe_key"])


async def enqueue(session: AsyncSession, notice: Notice) -> bool:
    """Queue `notice` inside the session's transaction, so a stored change is never left
    unannounced; False when one with the same dedupe key was queued before."""
    statement = insert_notices(session.get_bind().dialect.name, [notice], utcnow())
    return bool((await session.exec(statement)).rowcount == 1)


class OutboxRoom(StoreEngine):
    """Notifications: queued, claimed by one sender at a time, sent, retried, given up."""

    async def enqueue_notification(self, notice: Notice) -> bool:
        """Queue `notice`; False when one with the same dedupe_key was queued before."""
        async with self.session() as s:
            return await enqueue(s, notice)

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
        values: dict[str, object] = {"next_attempt_at": at, "claimed_by": None, "claimed_until": None}
        if counted:
            values["attempts"] = col(Notification.attempts) + 1
        if error is not None:
            values["last_error"] = error
        async with self.session() as s:
            result = await s.exec(
                update(Notification)
                .where(col(Notification.id) == notification_id, col(Notification.sent_at).is_(None))
                .values(values)
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

    async def wake_notifications(self, user_id: int) -> int:
        """A user who unblocked the bot: their waiting notifications are due now."""
        async with self.session() as s:
            result = await s.exec(
                update(Notification)
                .where(col(Notification.user_id) == user_id, col(Notification.sent_at).is_(None))
                .values(next_attempt_at=utcnow())
            )
            return int(result.rowcount)
