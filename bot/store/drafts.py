"""Drafts: an order being filled in, then claimed on Confirm exactly once, and how its
placement ended (placed, unknown, failed, abandoned); kept a while in a write-through cache."""

from __future__ import annotations

import functools
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any, TypedDict, cast

from sqlalchemy import Update, bindparam, insert, update
from sqlalchemy import select as core_select
from sqlalchemy.engine import Connection, Row
from sqlmodel import col

from bot.recent import Recent
from bot.store.engine import StoreError
from bot.store.ledger import Booked, book, hold_movement, release_hold
from bot.store.models import Draft, DraftState, metadata, utcnow
from bot.store.users import KEEP, Flow, UsersRoom, write_flow

__all__ = ["DRAFTS", "DraftColumns", "DraftStateError", "DraftsRoom", "draft_of", "draft_params",
           "draft_update"]

DRAFTS = metadata.tables["drafts"]
_DRAFT_BY_ID = core_select(DRAFTS).where(DRAFTS.c.id == bindparam("did"))
_INSERT_DRAFT = insert(DRAFTS).returning(*DRAFTS.c)

# Drafts in these states change no more (but for an admin's reconciliation of UNKNOWN).
_SETTLED_STATES = frozenset({DraftState.PLACED.value, DraftState.UNKNOWN.value, DraftState.FAILED.value,
                             DraftState.ABANDONED.value})
_FINISH_STATES = frozenset({DraftState.PLACED, DraftState.UNKNOWN, DraftState.DRAFT, DraftState.FAILED})


class DraftStateError(StoreError):
    """The draft is not in the state the operation needs (e.g. not SUBMITTING)."""


class DraftColumns(TypedDict, total=False):
    """A draft's columns (see `models.Draft`): all of them as the cache keeps a draft,
    some of them as a step of the draft writes them."""

    id: int | None
    user_id: int
    account_id: int
    service_id: int
    service: dict[str, Any]  # the service's JSON snapshot
    values: dict[str, Any]  # field name -> cleaned text
    state: str
    order_id: int | None
    error: str | None
    created_at: datetime
    updated_at: datetime


@functools.cache
def draft_update(state: str, columns: tuple[str, ...], *, by_user: bool, returning: bool = False) -> Update:
    """`UPDATE drafts SET <columns> WHERE id = :w_id [AND user_id = :w_user] AND state =
    <state>`, built once per shape: a statement object made anew on every call costs
    more CPU than running it. Values go in as `v_<column>` (see `draft_params`)."""
    where = [DRAFTS.c.id == bindparam("w_id"), DRAFTS.c.state == state]
    if by_user:
        where.append(DRAFTS.c.user_id == bindparam("w_user"))
    statement = update(DRAFTS).where(*where).values({name: bindparam(f"v_{name}") for name in columns})
    return statement.returning(*DRAFTS.c) if returning else statement


def draft_params(draft_id: int, user_id: int | None, changes: DraftColumns) -> dict[str, object]:
    """The parameters of a `draft_update` statement."""
    params: dict[str, object] = {f"v_{name}": value for name, value in changes.items()}
    params["w_id"] = draft_id
    if user_id is not None:
        params["w_user"] = user_id
    return params


def draft_of(row: Row[Any]) -> Draft:
    return Draft(**row._mapping)


class DraftsRoom(UsersRoom):
    """Drafts, and the owner's flow written in the same transaction as a draft's step.

    Each step of the order form reads its draft, so the process that takes updates keeps
    drafts for a while too (write-through, the same time bound as users). The claim on
    Confirm never trusts this cache: it is a conditional UPDATE in the database."""

    _drafts: Recent[int, DraftColumns]  # made by Store.__init__

    def _forget(self, *, user: int | None = None, draft: int | None = None) -> None:
        """A write whose outcome is not known: read these from the database next time."""
        if user is not None:
            self._users.pop(user)
        if draft is not None:
            self._drafts.pop(draft)

    def _cache_draft(self, draft: Draft) -> None:
        if draft.id is not None:
            # model_dump gives exactly the columns.
            self._drafts.put(draft.id, cast(DraftColumns, draft.model_dump()))

    def _cached_draft_changed(self, draft_id: int, done: bool, changes: DraftColumns) -> None:
        """After a conditional write: apply what it changed, or, when it changed nothing
        (the database is not as this process thought), forget the draft. A draft that
        left DRAFT for good is forgotten too: nobody edits it any more."""
        stored = self._drafts.get(draft_id)
        if stored is None:
            return
        if not done or changes.get("state", DraftState.DRAFT.value) in _SETTLED_STATES:
            self._drafts.pop(draft_id)
            return
        stored.update(changes)

    async def create_draft(
        self, user_id: int, account_id: int, service: dict[str, Any], values: dict[str, Any] | None = None,
        *, flow: Flow | None = KEEP,
    ) -> Draft:
        """A new editable draft; `service` is a JSON-able snapshot with at least its "id".
        `flow`: the user's conversation state, stored in the same transaction, with the
        new draft's id put in as its "draft"."""
        service_id = service.get("id", service.get("service"))
        if service_id is None:
            raise ValueError("service snapshot needs an 'id'")
        now = utcnow()
        row = {
            "user_id": user_id,
            "account_id": account_id,
            "service_id": int(service_id),
            "service": dict(service),
            "values": dict(values or {}),
            "state": DraftState.DRAFT.value,
            "order_id": None,
            "error": None,
            "created_at": now,
            "updated_at": now,
        }
        new_flow = None if flow is KEEP or flow is None else dict(flow)

        def write(conn: Connection) -> Draft:
            # Hand back what is stored (JSON round trip), not the input.
            draft = draft_of(conn.execute(_INSERT_DRAFT, row).one())
            if flow is not KEEP:
                if new_flow is not None:
                    new_flow["draft"] = draft.id
                write_flow(conn, user_id, new_flow)
            return draft

        draft = await self._run(write, forget=lambda: self._forget(user=user_id if flow is not KEEP else None))
        self._cache_draft(draft)
        if flow is not KEEP:
            self._remember_user_values(user_id, {"flow": new_flow})
        return draft

    async def get_draft(self, draft_id: int, user_id: int) -> Draft | None:
        """The draft, or None when it does not exist or belongs to someone else."""
        stored = self._drafts.get(draft_id)
        if stored is not None:
            if stored["user_id"] != user_id:
                return None
            # The caller may change the JSON columns in place: it gets copies of them.
            copy: DraftColumns = {**stored, "values": dict(stored["values"]), "service": dict(stored["service"])}
            return Draft(**copy)

        def read(conn: Connection) -> Draft | None:
            row = conn.execute(_DRAFT_BY_ID, {"did": draft_id}).first()
            return draft_of(row) if row is not None else None

        draft = await self._run(read, write=False)
        if draft is None:
            return None
        self._cache_draft(draft)
        return draft if draft.user_id == user_id else None

    async def _change_draft(
        self, draft_id: int, state: DraftState, changes: DraftColumns, *,
        user_id: int | None = None, flow: Flow | None = KEEP, release: bool = False,
    ) -> bool:
        """One conditional UPDATE of a draft in `state` (and the user's flow with it when
        given); `user_id`: only if it is that user's draft. `release`: give the draft's
        open hold back to its wallet in the same transaction (shop mode)."""
        statement = draft_update(state.value, tuple(changes), by_user=user_id is not None)
        params = draft_params(draft_id, user_id, changes)
        with_flow = flow is not KEEP and user_id is not None

        def write(conn: Connection) -> bool:
            done = conn.execute(statement, params).rowcount == 1
            if done and with_flow and user_id is not None:
                write_flow(conn, user_id, flow)
            if done and release:
                release_hold(conn, draft_id)
            return bool(done)

        done = await self._run(write, forget=lambda: self._forget(user=user_id if with_flow else None, draft=draft_id))
        self._cached_draft_changed(draft_id, done, changes)
        if done and with_flow and user_id is not None:
            self._remember_user_values(user_id, {"flow": flow})
        return done

    async def update_draft_values(
        self, draft_id: int, user_id: int, values: dict[str, Any], *, service: dict[str, Any] | None = None,
        flow: Flow | None = KEEP,
    ) -> bool:
        """Replace the draft's values (and optionally its service snapshot); only while
        DRAFT. `flow`: the user's conversation state, stored in the same transaction."""
        changes: DraftColumns = {"values": dict(values), "updated_at": utcnow()}
        if service is not None:
            changes["service"] = dict(service)
        return await self._change_draft(
            draft_id, DraftState.DRAFT, changes, user_id=user_id, flow=dict(flow) if isinstance(flow, dict) else flow
        )

    async def claim_draft(self, draft_id: int, user_id: int) -> bool:
        """DRAFT -> SUBMITTING in one conditional UPDATE: True for exactly one caller.

        The row lock (PostgreSQL) or database write lock (SQLite) serialises claimers, and
        each re-checks `state = 'DRAFT'` after the previous one committed, so a second tap,
        a redelivered update or another process finds nothing to claim.
        """
        changes: DraftColumns = {"state": DraftState.SUBMITTING.value, "error": None, "updated_at": utcnow()}
        return await self._change_draft(draft_id, DraftState.DRAFT, changes, user_id=user_id)

    async def claim_draft_with_hold(self, draft_id: int, user_id: int, price: Decimal) -> Booked | None:
        """Shop mode: the claim of `claim_draft` and a hold of `price` on the user's wallet,
        in one transaction that books neither when the wallet would go below zero. None:
        the draft was not there to claim (a second tap); else how the hold went (only
        BOOKED leaves the draft claimed)."""
        changes: DraftColumns = {"state": DraftState.SUBMITTING.value, "error": None, "updated_at": utcnow()}
        statement = draft_update(DraftState.DRAFT.value, tuple(changes), by_user=True)
        params = draft_params(draft_id, user_id, changes)

        def write(conn: Connection) -> Booked | None:
            if conn.execute(statement, params).rowcount != 1:
                return None
            booked = book(conn, hold_movement(conn, draft_id, user_id, price))
            if booked is not Booked.BOOKED:
                raise _NotHeld(booked)  # rolls the claim back with it
            return booked

        try:
            booked = await self._run(write, forget=lambda: self._forget(draft=draft_id))
        except _NotHeld as not_held:
            return not_held.booked
        self._cached_draft_changed(draft_id, booked is not None, changes)
        return booked

    async def finish_draft(
        self,
        draft_id: int,
        state: DraftState,
        *,
        order_id: int | None = None,
        error: str | None = None,
    ) -> bool:
        """SUBMITTING -> PLACED / UNKNOWN / FAILED, or back to DRAFT after a panel refusal.

        False when the draft was not SUBMITTING (nothing changed). Prefer
        `record_placement` for PLACED: it also stores the order in the same transaction.
        """
        state = DraftState(state)
        if state not in _FINISH_STATES:
            raise ValueError(f"a submission cannot finish as {state}")
        changes: DraftColumns = {"state": state.value, "order_id": order_id, "error": error, "updated_at": utcnow()}
        # Back to DRAFT (refused, not sent) or FAILED: nothing was ordered, so a shop's hold
        # goes back to the wallet in the same transaction.
        release = state in (DraftState.DRAFT, DraftState.FAILED)
        return await self._change_draft(draft_id, DraftState.SUBMITTING, changes, release=release)

    async def abandon_draft(self, draft_id: int, user_id: int) -> bool:
        """DRAFT -> ABANDONED (the user cancelled); a claimed draft is left alone."""
        changes: DraftColumns = {"state": DraftState.ABANDONED.value, "updated_at": utcnow()}
        return await self._change_draft(draft_id, DraftState.DRAFT, changes, user_id=user_id)

    async def mark_stale_submitting(self, older_than: timedelta) -> int:
        """SUBMITTING drafts untouched for `older_than` become UNKNOWN; returns how many.

        A process killed between claim and answer leaves its draft SUBMITTING forever
        (safe: never re-placed, but invisible). Call at start-up with a margin well above
        the panel request timeout, so a live submission elsewhere is not caught.
        """
        cutoff = utcnow() - older_than
        async with self.session() as s:
            result = await s.exec(
                update(Draft)
                .where(col(Draft.state) == DraftState.SUBMITTING.value, col(Draft.updated_at) < cutoff)
                .values(
                    state=DraftState.UNKNOWN.value,
                    error="interrupted while placing",
                    updated_at=utcnow(),
                )
            )
            count = int(result.rowcount)
        if count:
            self._drafts.clear()
        return count


class _NotHeld(Exception):
    """A claim whose hold did not book: raised to roll the whole transaction back."""

    def __init__(self, booked: Booked) -> None:
        super().__init__(booked.value)
        self.booked = booked
