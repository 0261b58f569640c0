"""Admin queries: the overview counts, reconciling UNKNOWN drafts by hand, and queueing a
broadcast in the notification outbox. Functions over a `Store`, each one transaction."""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Connection, func, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.exc import IntegrityError
from sqlmodel import col, select
from sqlmodel.sql.expression import SelectOfScalar

from bot.store.drafts import DRAFTS
from bot.store.engine import StoreError
from bot.store.ledger import release_hold
from bot.store.outbox import Notice, insert_notices
from bot.store.topups import KIND_WALLET
from bot.store.models import Draft, DraftState, Notification, Order, User, utcnow
from bot.store.repo import Store

__all__ = [
    "BROADCAST_KIND",
    "BROADCAST_PER_SECOND",
    "DuplicateOrder",
    "Overview",
    "broadcast_recipients",
    "count_unknown_drafts",
    "draft_by_id",
    "enqueue_broadcast",
    "mark_failed",
    "mark_placed",
    "overview",
    "unknown_drafts",
]

BROADCAST_KIND = "broadcast"
# Broadcast rows are made due this many per second, so the sender (about 30/s in all)
# keeps room for status notifications queued meanwhile instead of holding them back
# behind the whole broadcast.
BROADCAST_PER_SECOND = 20
_INSERT_CHUNK = 500


class DuplicateOrder(StoreError):
    """That panel order id is already recorded for the draft's panel account."""


@dataclass(frozen=True, slots=True)
class Overview:
    users: int
    blocked: int
    # (status, final, count), open statuses first, then the most frequent.
    orders: list[tuple[str, bool, int]] = field(default_factory=list)
    unknown_drafts: int = 0

    @property
    def open_orders(self) -> int:
        return sum(count for _status, final, count in self.orders if not final)

    @property
    def final_orders(self) -> int:
        return sum(count for _status, final, count in self.orders if final)


async def overview(store: Store) -> Overview:
    """Users (and how many blocked the bot), orders per status, UNKNOWN drafts."""
    async with store.session() as s:
        users = int((await s.exec(select(func.count()).select_from(User))).one())
        blocked = int(
            (await s.exec(select(func.count()).select_from(User).where(col(User.blocked) == True))).one()  # noqa: E712
        )
        rows = (
            await s.exec(
                select(Order.status, Order.final, func.count()).group_by(col(Order.status), col(Order.final))
            )
        ).all()
        unknown = int(
            (
                await s.exec(
                    select(func.count()).select_from(Draft).where(col(Draft.state) == DraftState.UNKNOWN.value)
                )
            ).one()
        )
    orders = sorted(((str(status), bool(final), int(count)) for status, final, count in rows),
                    key=lambda row: (row[1], -row[2], row[0]))
    return Overview(users=users, blocked=blocked, orders=orders, unknown_drafts=unknown)


async def count_unknown_drafts(store: Store) -> int:
    async with store.session() as s:
        query = select(func.count()).select_from(Draft).where(col(Draft.state) == DraftState.UNKNOWN.value)
        return int((await s.exec(query)).one())


async def unknown_drafts(store: Store, *, offset: int = 0, limit: int = 8) -> list[Draft]:
    """A page of UNKNOWN drafts, the oldest first (they have waited longest)."""
    async with store.session() as s:
        query = (
            select(Draft)
            .where(col(Draft.state) == DraftState.UNKNOWN.value)
            .order_by(col(Draft.created_at).asc(), col(Draft.id).asc())
            .offset(offset)
            .limit(limit)
        )
        return list((await s.exec(query)).all())


async def draft_by_id(store: Store, draft_id: int) -> Draft | None:
    """Any user's draft (admins reconcile other people's drafts)."""
    async with store.session() as s:
        return await s.get(Draft, draft_id)


async def mark_placed(
    store: Store, draft_id: int, panel_order_id: int, *, now: datetime | None = None, **fields: Any
) -> Order:
    """UNKNOWN -> PLACED with the panel's order id, and its Order row, in one transaction.

    The order gets what `Store.record_placement` fills (owner, account, service id,
    name and type from the snapshot, fields = the draft's values) plus the service's
    refill / cancel flags and the account's currency; `fields` (link, quantity...)
    override. It is "Pending" and due for a check now, so the watcher picks it up.
    Raises DraftStateError (nothing stored) unless the draft is UNKNOWN, and
    DuplicateOrder if that panel order id is already recorded for the account.
    """
    if now is not None:
        fields.setdefault("next_check_at", now)
    try:
        return await store.record_placement(draft_id, panel_order_id, from_state=DraftState.UNKNOWN, **fields)
    except IntegrityError as error:
        raise DuplicateOrder(f"order {panel_order_id} is already recorded for this account") from error


async def mark_failed(store: Store, draft_id: int, *, currency: str | None = None) -> bool:
    """UNKNOWN -> FAILED in one conditional update; False if it was not UNKNOWN. In shop
    mode the draft's hold goes back to the wallet in the same transaction, and its owner
    is told (`currency`: the shop's)."""
    statement = (DRAFTS.update()
                 .where(DRAFTS.c.id == draft_id, DRAFTS.c.state == DraftState.UNKNOWN.value)
                 .values(state=DraftState.FAILED.value, updated_at=utcnow()))

    def write(conn: Connection) -> bool:
        if conn.execute(statement).rowcount != 1:
            return False
        hold = release_hold(conn, draft_id)
        if hold is not None:
            notice = Notice(user_id=hold.user_id, kind=KIND_WALLET, dedupe_key=f"wallet:release:{draft_id}",
                            payload={"amount": str(hold.amount), "currency": currency, "reason": "release"})
            conn.execute(insert_notices(conn.dialect.name, [notice], utcnow()))
        return True

    done = await store._run(write, forget=lambda: store._forget(draft=draft_id))
    return done


def _recipients_query(only: Collection[int] | None) -> SelectOfScalar[int]:
    query = select(User.telegram_id).where(col(User.blocked) == False)  # noqa: E712
    if only:
        query = query.where(col(User.telegram_id).in_(sorted(only)))
    return query.order_by(col(User.telegram_id))


async def broadcast_recipients(store: Store, *, only: Collection[int] | None = None) -> int:
    """How many users a broadcast goes to: every user who has not blocked the bot
    (and, where `only` is given, only those ids, e.g. ALLOWED_USERS)."""
    async with store.session() as s:
        query = select(func.count()).select_from(_recipients_query(only).order_by(None).subquery())
        return int((await s.exec(query)).one())


async def enqueue_broadcast(
    store: Store, broadcast_id: str, text: str, *, only: Collection[int] | None = None, now: datetime | None = None
) -> int:
    """One outbox notification per recipient, kind "broadcast", payload {"text"}, with
    dedupe key `broadcast:{broadcast_id}:{user_id}`: queueing the same broadcast twice
    adds nothing. One transaction; returns how many were queued now.

    The sender renders an unknown kind as the escaped `text`, paces it within
    Telegram's limits and keeps it across restarts. `"final": True` in the payload lets
    users who chose "final statuses only" receive it as well.
    """
    now = now or utcnow()
    payload = {"text": text, "final": True}
    insert = pg_insert if store.dialect == "postgresql" else sqlite_insert
    queued = 0
    async with store.session() as s:
        user_ids = [int(uid) for uid in (await s.exec(_recipients_query(only))).all()]
        for start in range(0, len(user_ids), _INSERT_CHUNK):
            rows = [
                {
                    "user_id": user_id,
                    "kind": BROADCAST_KIND,
                    "payload": dict(payload),
                    "dedupe_key": f"broadcast:{broadcast_id}:{user_id}",
                    "created_at": now,
                    "next_attempt_at": now + timedelta(seconds=(start + offset) // BROADCAST_PER_SECOND),
                    "attempts": 0,
                }
                for offset, user_id in enumerate(user_ids[start:start + _INSERT_CHUNK])
            ]
            result = await s.exec(
                insert(Notification).values(rows).on_conflict_do_nothing(index_elements=["dedupe_key"])
            )
            queued += int(result.rowcount)
    return queued
