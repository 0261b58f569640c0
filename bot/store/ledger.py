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

__all__ = ["LEDGER", "Booked", "Hold", "LedgerRoom", "Movement", "book", "hold_movement", "open_hold", "release_hold",
           "wallet_balance"]

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
    actor: int | None = None  # the admin who booked it by hand
    note: str | None = None  # and why


@dataclass(frozen=True)
class Hold:
    """The price of a draft taken from its owner's wallet on Confirm (`amount` > 0), not
    yet released: the charge of the order it became, or waiting for the outcome."""

    user_id: int
    amount: Decimal
    attempt: int


# A draft refused by the panel is editable again and may be confirmed again: each Confirm
# holds anew, as attempt 1, 2, ..., and each release names the attempt it gives back.
# The owner is in the reference too: SQLite may give a pruned draft's id to a new draft.
def _hold_reference(draft_id: int, user_id: int, attempt: int) -> str:
    return f"draft:{draft_id}:{user_id}:hold:{attempt}"


def _release_reference(draft_id: int, user_id: int, attempt: int) -> str:
    return f"draft:{draft_id}:{user_id}:release:{attempt}"


def _draft_entries(conn: Connection, draft_id: int, user_id: int | None = None) -> list[tuple[str, int, Decimal]]:
    """The entries of a draft's holds and releases, found through its owner's wallet (the
    indexed column), not by scanning every reference."""
    if user_id is None:
        drafts = metadata.tables["drafts"]
        user_id = conn.execute(select(drafts.c.user_id).where(drafts.c.id == draft_id)).scalar()
        if user_id is None:
            return []
    rows = conn.execute(select(LEDGER.c.reference, LEDGER.c.user_id, LEDGER.c.amount)
                        .where(LEDGER.c.user_id == user_id,
                               LEDGER.c.reference.like(f"draft:{draft_id}:{user_id}:%")))
    return [(row.reference, row.user_id, Decimal(str(row.amount))) for row in rows]


def hold_movement(conn: Connection, draft_id: int, user_id: int, amount: Decimal) -> Movement:
    """The movement that holds `amount` for the draft's next attempt."""
    attempts = sum(1 for reference, _user, _amount in _draft_entries(conn, draft_id, user_id) if ":hold:" in reference)
    return Movement(user_id, -amount, "hold", _hold_reference(draft_id, user_id, attempts + 1))


def open_hold(conn: Connection, draft_id: int, user_id: int | None = None) -> Hold | None:
    """The draft's hold that no release gave back, if any."""
    entries = _draft_entries(conn, draft_id, user_id)
    released = {reference.rsplit(":", 1)[1] for reference, _user, _amount in entries if ":release:" in reference}
    for reference, user_id, amount in entries:
        attempt = reference.rsplit(":", 1)[1]
        if ":hold:" in reference and attempt not in released:
            return Hold(user_id, -amount, int(attempt))
    return None


def release_hold(conn: Connection, draft_id: int) -> Hold | None:
    """Give the draft's open hold back (nothing was ordered with it); the hold given
    back, or None when there was none (own and team modes hold nothing)."""
    hold = open_hold(conn, draft_id)
    if hold is None:
        return None
    book(conn, Movement(hold.user_id, hold.amount, "release", _release_reference(draft_id, hold.user_id, hold.attempt)))
    return hold


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
                      reference=movement.reference, created_at=utcnow(), actor=movement.actor, note=movement.note)
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
