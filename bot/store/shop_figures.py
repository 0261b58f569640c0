"""Shop mode's figures for /admin: top-ups, sales, panel spend and margin today and this
month, what the wallets hold in all, and the best-selling services. Functions over a
`Store`, each one read of SQL aggregates (no row is loaded to be added up here).

Money stays exact on both backends: PostgreSQL sums NUMERIC itself; SQLite keeps Money as
decimal text (bot/store/models.py), so there each amount is summed as an integer count of
1E-8 units read from its digits (never through REAL), and made a `Decimal` again here.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

from sqlalchemy import Integer, and_, case, cast, literal
from sqlalchemy.sql.elements import ColumnElement
from sqlmodel import func, select

from bot.store.models import metadata, utcnow
from bot.store.repo import Store

__all__ = ["TOPUP", "TOPUP_KINDS", "TOPUP_REFUND", "TOPUP_REFUND_UNDO", "Figures", "Period", "TopService", "figures",
           "period_figures", "top_services", "wallets_total"]

# The ledger kinds that are money paid in (top-ups), paid back out (a refunded payment),
# and a refund booked but then refused by Telegram, booked back.
TOPUP = "topup"
TOPUP_REFUND = "topup_refund"
TOPUP_REFUND_UNDO = "topup_refund_undo"
TOPUP_KINDS = (TOPUP, TOPUP_REFUND, TOPUP_REFUND_UNDO)

LEDGER = metadata.tables["ledger_entries"]
ORDERS = metadata.tables["orders"]
# A column or an SQL expression over columns (SQLAlchemy types them loosely).
Sql = ColumnElement[Any]

_UNITS = 100_000_000  # Money's 8 decimal places
_PLACES = -8


@dataclass(frozen=True, slots=True)
class Period:
    """One period's money, in the shop's currency."""

    since: datetime
    topups: Decimal  # paid in, less payments refunded
    sales: Decimal  # what customers paid for orders, less what went back to them
    spend: Decimal  # what the panel charged the shop for those orders
    orders: int  # paid orders

    @property
    def margin(self) -> Decimal:
        return self.sales - self.spend


@dataclass(frozen=True, slots=True)
class TopService:
    service_id: int
    name: str
    orders: int
    sales: Decimal


@dataclass(frozen=True, slots=True)
class Figures:
    today: Period
    month: Period
    wallets: Decimal  # the sum of every wallet: what the shop owes its customers
    top: list[TopService]


def day_start(now: datetime) -> datetime:
    """Midnight UTC of `now`'s day (the figures' days are UTC days)."""
    now = now.astimezone(UTC) if now.tzinfo else now.replace(tzinfo=UTC)
    return now.replace(hour=0, minute=0, second=0, microsecond=0)


def month_start(now: datetime) -> datetime:
    return day_start(now).replace(day=1)


def _units(column: Sql, dialect: str) -> Sql:
    """A Money column as a number SQL adds exactly: the column itself on PostgreSQL; on
    SQLite its text read as an integer count of 1E-8 ("-12.5" -> -1250000000), whatever
    number of decimals the text has (at most 8: Money rounds to them on the way in)."""
    if dialect != "sqlite":
        return column
    dot = func.instr(column, ".")
    whole = case((dot == 0, column), else_=func.substr(column, 1, dot - 1))
    fraction = case((dot == 0, literal("")), else_=func.substr(column, dot + 1))
    sign = case((func.substr(column, 1, 1) == "-", -1), else_=1)
    return cast(whole, Integer) * _UNITS + sign * cast(func.substr(fraction.concat("00000000"), 1, 8), Integer)


def _sum(column: Sql, dialect: str) -> Sql:
    return func.coalesce(func.sum(_units(column, dialect)), 0)


def _money(value: object, dialect: str) -> Decimal:
    """A sum read back: 1E-8 units on SQLite (an int), NUMERIC on PostgreSQL."""
    if value is None:
        return Decimal(0)
    if dialect == "sqlite":
        return Decimal(int(str(value))).scaleb(_PLACES)
    return Decimal(str(value))


async def period_figures(store: Store, since: datetime, until: datetime | None = None) -> Period:
    """Top-ups booked, and the sales and panel spend of the orders made, from `since`
    (up to `until`, excluded)."""
    dialect = store.dialect

    def within(column: Sql) -> Sql:
        return and_(column >= since, column < until) if until is not None else column >= since

    topups = select(_sum(LEDGER.c.amount, dialect)).where(
        LEDGER.c.kind.in_(TOPUP_KINDS), within(LEDGER.c.created_at))
    sales = select(_sum(ORDERS.c.charge, dialect), _sum(ORDERS.c.refunded, dialect), func.count()).where(
        ORDERS.c.paid == True, within(ORDERS.c.created_at))  # noqa: E712 - SQL, not Python
    spend = select(_sum(ORDERS.c.cost, dialect)).where(within(ORDERS.c.created_at))
    async with store.session() as s:
        paid_in = (await s.exec(topups)).one()
        charged, refunded, count = (await s.exec(sales)).one()
        cost = (await s.exec(spend)).one()
    return Period(
        since=since,
        topups=_money(paid_in, dialect),
        sales=_money(charged, dialect) - _money(refunded, dialect),
        spend=_money(cost, dialect),
        orders=int(count),
    )


async def wallets_total(store: Store) -> Decimal:
    """Every ledger entry added up: what the shop owes its customers right now."""
    dialect = store.dialect
    async with store.session() as s:
        total = (await s.exec(select(_sum(LEDGER.c.amount, dialect)))).one()
    return _money(total, dialect)


async def top_services(store: Store, since: datetime, *, limit: int = 5) -> list[TopService]:
    """The services that sold most (net of refunds) in paid orders made from `since`."""
    dialect = store.dialect
    # A NULL `refunded` (nothing went back) reads as NULL units too: counted as 0.
    sales = _units(ORDERS.c.charge, dialect) - func.coalesce(_units(ORDERS.c.refunded, dialect), 0)
    net = func.coalesce(func.sum(sales), 0)
    query = (
        select(ORDERS.c.service_id, func.max(ORDERS.c.service_name), func.count(), net)
        .where(ORDERS.c.paid == True, ORDERS.c.charge != None, ORDERS.c.created_at >= since)  # noqa: E711,E712
        .group_by(ORDERS.c.service_id)
        .order_by(net.desc(), ORDERS.c.service_id)
        .limit(limit)
    )
    async with store.session() as s:
        rows = (await s.exec(query)).all()
    return [TopService(int(service), str(name or ""), int(count), _money(total, dialect))
            for service, name, count, total in rows]


async def figures(store: Store, *, now: datetime | None = None, top: int = 5) -> Figures:
    """Today's and this month's figures (UTC), the wallets' total and the month's top services."""
    now = now or utcnow()
    today, month = day_start(now), month_start(now)
    return Figures(
        today=await period_figures(store, today, today + timedelta(days=1)),
        month=await period_figures(store, month),
        wallets=await wallets_total(store),
        top=await top_services(store, month, limit=top),
    )
