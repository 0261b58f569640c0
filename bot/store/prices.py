"""Shop mode's price rules (bot/domain/pricing.py reads them) and their audit: every change
is written with who made it, what it was and what it became, in one transaction."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal

from sqlalchemy import Connection, func, select
from sqlmodel import col
from sqlmodel import select as select_rows

from bot.store.engine import StoreEngine
from bot.store.models import PriceChange, PriceRule, metadata, utcnow

__all__ = ["PRICE_CHANGES", "PRICE_RULES", "PricesRoom", "RuleValue", "describe"]

PRICE_RULES = metadata.tables["price_rules"]
PRICE_CHANGES = metadata.tables["price_changes"]

RuleValue = tuple[Decimal | None, Decimal | None, bool]
"""A rule's (percent, per_1000, hidden); (None, None, False) is no rule at all."""

SCOPES = frozenset({"markup", "minimum", "category", "service"})


def describe(value: RuleValue | None) -> str | None:
    """How the audit writes a rule: "percent=30", "per_1000=1.5 hidden", None for none."""
    if value is None or value == (None, None, False):
        return None
    percent, per_1000, hidden = value
    parts = []
    if percent is not None:
        parts.append(f"percent={percent.normalize():f}")
    if per_1000 is not None:
        parts.append(f"per_1000={per_1000.normalize():f}")
    if hidden:
        parts.append("hidden")
    return " ".join(parts)


class PricesRoom(StoreEngine):
    """One row per rule (scope + key); the audit grows by one row per change."""

    async def price_rules(self) -> list[PriceRule]:
        async with self._read() as s:
            return list((await s.exec(select_rows(PriceRule).order_by(col(PriceRule.id)))).all())

    async def prices_changed_at(self) -> datetime | None:
        """When the newest rule was written: a cheap check whether rules read earlier are current."""
        return await self._run(lambda conn: conn.execute(select(func.max(PRICE_RULES.c.updated_at))).scalar(),
                               write=False)

    async def set_price_rule(self, admin_id: int, scope: str, key: str, value: RuleValue | None) -> bool:
        """Write one rule (None or an empty value deletes it) with its audit row. False
        when nothing changed (no audit row either)."""
        if scope not in SCOPES:
            raise ValueError(f"unknown price rule scope {scope!r}")
        if value == (None, None, False):
            value = None

        def write(conn: Connection) -> bool:
            row = conn.execute(select(PRICE_RULES).where(PRICE_RULES.c.scope == scope, PRICE_RULES.c.key == key)
                               ).first()
            before: RuleValue | None = None
            if row is not None:
                before = (_dec(row.percent), _dec(row.per_1000), bool(row.hidden))
            if before == value:
                return False
            now = utcnow()
            if value is None:
                conn.execute(PRICE_RULES.delete().where(PRICE_RULES.c.scope == scope, PRICE_RULES.c.key == key))
            elif row is None:
                conn.execute(PRICE_RULES.insert().values(scope=scope, key=key, percent=value[0], per_1000=value[1],
                                                         hidden=value[2], updated_at=now))
            else:
                conn.execute(PRICE_RULES.update().where(PRICE_RULES.c.id == row.id)
                             .values(percent=value[0], per_1000=value[1], hidden=value[2], updated_at=now))
            conn.execute(PRICE_CHANGES.insert().values(admin_id=admin_id, scope=scope, key=key, before=describe(before),
                                                       after=describe(value), created_at=now))
            return True

        return await self._run(write)

    async def price_changes(self, *, limit: int = 20) -> list[PriceChange]:
        """The audit's last rows, newest first."""
        async with self._read() as s:
            rows = await s.exec(select_rows(PriceChange).order_by(col(PriceChange.id).desc()).limit(limit))
            return list(rows.all())


def _dec(value: object) -> Decimal | None:
    return None if value is None else Decimal(str(value))
