"""Rows put straight into the store, for tests that need an order or a refill as given
rather than as the bot makes them (placing from a draft), and the store's inner engines."""

from __future__ import annotations

from typing import Any

from sqlalchemy.engine import Engine
from sqlmodel import col, select

from bot.store import Order, Refill, Store


async def add_order(store: Store, **fields: Any) -> Order:
    """Insert an order row with these columns (IntegrityError for a duplicate (account, panel id))."""
    order = Order(**fields)
    async with store.session() as s:
        s.add(order)
        await s.flush()
        await s.refresh(order)
    return order


async def refills_of(store: Store, order_id: int) -> list[Refill]:
    """The order's refills, oldest first."""
    async with store.session() as s:
        query = select(Refill).where(col(Refill.order_id) == order_id).order_by(col(Refill.id))
        return list((await s.exec(query)).all())


def sync_engines(store: Store) -> list[Engine]:
    """Every synchronous engine the store's statements run on (for SQLAlchemy event listeners)."""
    return store._tx.engines  # noqa: SLF001 - what the tests listen to is the store's inside
