"""Panel accounts: a user's (or the team's) API key for a panel, encrypted at rest, and its
pauses: a key the panel refuses, or one the configured SECRET_KEY cannot open."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import func, update
from sqlalchemy.exc import IntegrityError
from sqlmodel import col, select
from sqlmodel.sql.expression import SelectOfScalar

from bot.store.crypto import KeyBox
from bot.store.engine import StoreEngine, StoreError
from bot.store.models import PanelAccount, metadata
from bot.store.outbox import Notice, enqueue

__all__ = ["ACCOUNTS", "PAUSED_INVALID_KEY", "PAUSED_UNDECRYPTABLE", "AccountsRoom"]

ACCOUNTS = metadata.tables["panel_accounts"]
# PanelAccount.pause_reason for a key the panel refuses (confirmed); retried with backoff.
PAUSED_INVALID_KEY = "invalid_key"
# PanelAccount.pause_reason for a stored key that the configured SECRET_KEY cannot open.
PAUSED_UNDECRYPTABLE = "undecryptable"


def _account_query(user_id: int | None, panel_url: str) -> SelectOfScalar[PanelAccount]:
    owner = col(PanelAccount.user_id).is_(None) if user_id is None else col(PanelAccount.user_id) == user_id
    return select(PanelAccount).where(owner, col(PanelAccount.panel_url) == panel_url)


class AccountsRoom(StoreEngine):
    """Panel accounts and their keys; only `reveal_key` turns a stored key back into the key."""

    _keybox: KeyBox | None  # set by Store.__init__; None: keys can be neither stored nor read

    def _require_keybox(self) -> KeyBox:
        if self._keybox is None:
            raise StoreError("this Store has no KeyBox: pass keybox=KeyBox(SECRET_KEY)")
        return self._keybox

    async def link_account(
        self, user_id: int | None, panel_url: str, key: str, currency: str | None = None
    ) -> PanelAccount:
        """Store (or replace) the key for (user, panel); relinking lifts a pause."""
        keybox = self._require_keybox()
        values: dict[str, Any] = {
            "key_encrypted": keybox.encrypt(key),
            "key_hint": KeyBox.mask(key),
            "key_fingerprint": KeyBox.fingerprint(panel_url, key),
            "currency": currency,
            "paused": False,
            "pause_reason": None,
        }
        # Read-then-write; on PostgreSQL a concurrent first link can win the insert, so a
        # unique violation means "it exists now": go round once more and update it.
        for attempt in range(2):
            try:
                async with self.session() as s:
                    account = (await s.exec(_account_query(user_id, panel_url))).first()
                    if account is None:
                        account = PanelAccount(user_id=user_id, panel_url=panel_url, **values)
                        s.add(account)
                    else:
                        for name, value in values.items():
                            setattr(account, name, value)
                    await s.flush()
                    return account
            except IntegrityError:
                if attempt:
                    raise
        raise AssertionError("unreachable")

    def reveal_key(self, account: PanelAccount) -> str:
        """The plaintext API key; the only way back from `key_encrypted`."""
        return self._require_keybox().decrypt(account.key_encrypted)

    async def set_account_currency(self, account_id: int, currency: str) -> bool:
        """The panel's currency as its `balance` last said (team accounts are made without one)."""
        statement = update(ACCOUNTS).where(ACCOUNTS.c.id == account_id).values(currency=currency)
        async with self.session() as s:
            return int((await s.exec(statement)).rowcount) > 0

    async def account_for(self, user_id: int | None, panel_url: str) -> PanelAccount | None:
        """The user's account on that panel; `user_id=None` is the shared team account."""
        async with self._read() as s:
            return (await s.exec(_account_query(user_id, panel_url))).first()

    async def get_account(self, account_id: int) -> PanelAccount | None:
        async with self._read() as s:
            return await s.get(PanelAccount, account_id)

    async def get_accounts(self, account_ids: list[int]) -> dict[int, PanelAccount]:
        if not account_ids:
            return {}
        async with self._read() as s:
            rows = (await s.exec(select(PanelAccount).where(col(PanelAccount.id).in_(account_ids)))).all()
            return {account.id: account for account in rows if account.id is not None}

    # --- pauses ------------------------------------------------------------------------

    async def set_account_paused(self, account_id: int, paused: bool) -> bool:
        async with self.session() as s:
            result = await s.exec(
                update(PanelAccount).where(col(PanelAccount.id) == account_id).values(paused=paused)
            )
            return result.rowcount == 1

    async def pause_undecryptable(self, account_id: int, notice: Notice | None) -> bool:
        """Pause an account whose stored key the SECRET_KEY cannot open, queueing `notice`
        with it; False when it was already paused for that (so its owner is asked once)."""
        async with self.session() as s:
            result = await s.exec(
                update(PanelAccount)
                .where(col(PanelAccount.id) == account_id,
                       func.coalesce(col(PanelAccount.pause_reason), "") != PAUSED_UNDECRYPTABLE)
                .values(paused=True, pause_reason=PAUSED_UNDECRYPTABLE)
            )
            if result.rowcount != 1:
                return False
            if notice is not None:
                await enqueue(s, notice)
            return True

    async def count_refusal(self, account_id: int) -> int:
        """One more consecutive "invalid key" answer; returns how many in a row now."""
        async with self.session() as s:
            await s.exec(update(PanelAccount).where(col(PanelAccount.id) == account_id)
                         .values(refusals=col(PanelAccount.refusals) + 1))
            found = (await s.exec(select(PanelAccount.refusals).where(col(PanelAccount.id) == account_id))).first()
            return int(found or 0)

    async def reset_refusals(self, account_id: int) -> None:
        async with self.session() as s:
            await s.exec(update(PanelAccount).where(col(PanelAccount.id) == account_id, col(PanelAccount.refusals) != 0)
                         .values(refusals=0))

    async def pause_account(self, account_id: int, reason: str, retry_at: datetime | None,
                            notices: list[Notice]) -> bool:
        """Pause a usable account, queueing `notices` with it; False when it was already
        paused (another watcher got there first: nobody is told twice)."""
        async with self.session() as s:
            result = await s.exec(
                update(PanelAccount)
                .where(col(PanelAccount.id) == account_id, col(PanelAccount.paused) == False)  # noqa: E712
                .values(paused=True, pause_reason=reason, refusals=0, retry_at=retry_at)
            )
            if result.rowcount != 1:
                return False
            for notice in notices:
                await enqueue(s, notice)
            return True

    async def resume_account(self, account_id: int, reason: str, notices: list[Notice]) -> bool:
        """Lift a pause for `reason` (the key worked again), queueing `notices` with it."""
        async with self.session() as s:
            result = await s.exec(
                update(PanelAccount)
                .where(col(PanelAccount.id) == account_id, col(PanelAccount.paused) == True,  # noqa: E712
                       col(PanelAccount.pause_reason) == reason)
                .values(paused=False, pause_reason=None, refusals=0, retry_at=None)
            )
            if result.rowcount != 1:
                return False
            for notice in notices:
                await enqueue(s, notice)
            return True

    async def lease_paused_accounts(self, reason: str, *, now: datetime, seconds: float,
                                    limit: int = 1000) -> list[PanelAccount]:
        """Take the accounts paused for `reason` whose retry is due: their `retry_at` is
        moved `seconds` on, so another watcher does not try the same key meanwhile."""
        due = (
            select(PanelAccount.id)
            .where(col(PanelAccount.paused) == True, col(PanelAccount.pause_reason) == reason,  # noqa: E712
                   col(PanelAccount.retry_at).is_(None) | (col(PanelAccount.retry_at) <= now))
            .order_by(col(PanelAccount.id))
            .limit(limit)
        )
        return await self._take(PanelAccount, due, retry_at=now + timedelta(seconds=seconds))

    async def retry_account_at(self, account_id: int, retry_at: datetime, *, tries: int) -> None:
        """A paused account's next try; `tries` (kept in `refusals` while paused) sets the backoff."""
        async with self.session() as s:
            await s.exec(update(PanelAccount).where(col(PanelAccount.id) == account_id,
                                                    col(PanelAccount.paused) == True)  # noqa: E712
                         .values(retry_at=retry_at, refusals=tries))
