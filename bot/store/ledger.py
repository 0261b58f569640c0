"""Shop mode's ledger (issue 13): customers' wallets as append-only entries. A balance is
the sum of its entries; a movement out never takes a wallet below zero, checked and
booked in one transaction, so two quick orders cannot overdraw it; a reference is booked
once. `book` works inside another write (a draft's claim and its hold together)."""

from __future__ import annotations

import enum
from dataclasses import dataclass
from decimal import Decimal

from sqlalchemy import Connection, func, select, text
from sqlalchemy.dialects import postgresql, sqlite
from sqlmodel import col
from sqlmodel import select as select_rows

from bot.store.engine import StoreEngine
from bot.store.models import LedgerEntry, metadata, utcnow

__all__ = ["LEDGER", "Booked", "LedgerRoom", "Movement", "book", "wallet_balance"]

LEDGER = metadata.tables["ledger_entries"]


class Booked(enum.Enum):
    """What became of a movement."""

    BOOKED = "booked"
    DUPLICATE = "duplicate"  # its reference was booked before: nothing changed
    SHORT = "short"  # the wallet holds less than it takes out: nothing changed


@dataclass(frozen=True)
class Movement:
    user_id: int
    amount: Decimal
    kind: str
    reference: str


def wallet_balance(conn: Connection, user_id: int) -> Decimal:
    """The sum of a wallet's entries, added up as Decimal (SQLite keeps money as text)."""
    amounts = conn.execute(select(LEDGER.c.amount).where(LEDGER.c.user_id == user_id)).scalars()
    return sum((Decimal(str(amount)) for amount in amounts), Decimal(0))


def book(conn: Connection, movement: Movement) -> Booked:
    """Book one movement in the caller's transaction. On PostgreSQL the wallet is locked
    for the rest of the transaction first (SQLite's writers hold the database's write lock
    already), so the balance read here is the one the entry lands on."""
    if conn.dialect.name == "postgresql":
        # One lock per wallet, held to the commit: a second booking waits, then sees this one.
        conn.execute(text("SELECT pg_advisory_xact_lock(:space, hashtext(:wallet))"),
                     {"space": _LOCK_SPACE, "wallet": str(movement.user_id)})
    exists = conn.execute(select(func.count()).select_from(LEDGER).where(LEDGER.c.reference == movement.reference))
    if exists.scalar_one():
        return Booked.DUPLICATE
    if movement.amount < 0 and wallet_balance(conn, movement.user_id) + movement.amount < 0:
        return Booked.SHORT
    insert = postgresql.insert(LEDGER) if conn.dialect.name == "postgresql" else sqlite.insert(LEDGER)
    done = conn.execute(
        insert.values(user_id=movement.user_id, amount=movement.amount, kind=movement.kind,
                      reference=movement.reference, created_at=utcnow())
        .on_conflict_do_nothing(index_elements=["reference"]))
    return Booked.BOOKED if done.rowcount == 1 else Booked.DUPLICATE


# The advisory-lock space of wallets (its own, apart from the process locks' keys).
_LOCK_SPACE = 0x5741  # "WA"


class LedgerRoom(StoreEngine):
    """Wallets: book a movement, read a balance and the last entries."""

    async def book(self, movement: Movement) -> Booked:
        """One movement in a transaction of its own."""
        return await self._run(lambda conn: book(conn, movement))

    async def balance(self, user_id: int) -> Decimal:
        return await self._run(lambda conn: wallet_balance(conn, user_id), write=False)

    async def movements(self, user_id: int, *, limit: int = 20) -> list[LedgerEntry]:
        """The wallet's last entries, newest first."""
        async with self._read() as s:
            rows = await s.exec(select_rows(LedgerEntry).where(col(LedgerEntry.user_id) == user_id)
                                .order_by(col(LedgerEntry.id).desc()).limit(limit))
            return list(rows.all())
