"""Orders and refills: an order placed from a draft, its status as the watcher and Refresh
read it from the panel, the refill and cancel requests made for it, and the watcher's leases."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Mapping, Sequence
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any

from sqlalchemy import ColumnElement, bindparam, func, insert, update
from sqlalchemy import select as core_select
from sqlalchemy.engine import Connection
from sqlalchemy.ext.asyncio import AsyncConnection
from sqlmodel import col, select

from bot.store.accounts import ACCOUNTS
from bot.store.drafts import (
    DraftColumns,
    DraftsRoom,
    DraftStateError,
    draft_of,
    draft_params,
    draft_update,
)
from bot.store.engine import IdQuery
from bot.store.ledger import Movement, book, open_hold
from bot.store.models import DraftState, Order, PanelAccount, Refill, metadata, utcnow
from bot.store.outbox import Notice, enqueue, insert_notices
from bot.store.users import KEEP, Flow, write_flow

__all__ = ["CHECK_COLUMNS", "ORDERS", "OrderCheck", "OrdersRoom"]

ORDERS = metadata.tables["orders"]
_INSERT_ORDER = insert(ORDERS).returning(*ORDERS.c)
_ACCOUNT_CURRENCY = core_select(ACCOUNTS.c.currency).where(ACCOUNTS.c.id == bindparam("aid"))

ORDER_COLUMNS = frozenset(Order.model_fields) - {"id"}
_ORDER_MUTABLE = ORDER_COLUMNS - {"account_id", "panel_order_id", "user_id", "draft_id", "created_at"}
_REFILL_MUTABLE = frozenset({"status", "final", "updated_at", "lease_owner", "lease_until", "check_errors"})
# What the watcher reads of an order to check it and to announce a change.
CHECK_COLUMNS = ("id", "panel_order_id", "account_id", "user_id", "service_id", "service_name", "service_type",
                 "quantity", "charge", "currency", "status", "start_count", "remains", "final", "refill", "cancel",
                 "draft_id", "check_errors", "progress_at", "progress_remains", "created_at", "paid", "cost")
# Rows per statement in a cycle's write: far below the backends' limits on bound parameters.
_CHUNK = 5000
_NOTICES_CHUNK = 500

OrderCheck = tuple[int, Mapping[str, object], Notice | None, str | None]
"""One order's outcome of a status check, for `apply_checks`: (order id, the columns to
write, the notice to queue or None, the status the watcher read or None)."""


async def _book_refunds(conn: AsyncConnection, written: Sequence[tuple[int, Mapping[str, object]]]) -> None:
    """Shop mode: the refunds of orders whose final status was just written, booked to
    their owners' wallets in the same transaction, once per order whoever writes it."""
    refunds = {order_id: values["refunded"] for order_id, values in written if values.get("refunded")}
    if not refunds:
        return
    rows = await conn.execute(core_select(ORDERS.c.id, ORDERS.c.user_id).where(ORDERS.c.id.in_(list(refunds))))
    owners = {row.id: row.user_id for row in rows}

    def write(sync: Connection) -> None:
        for order_id, amount in refunds.items():
            assert isinstance(amount, Decimal)
            book(sync, Movement(owners[order_id], amount, "refund", f"order:{order_id}:refund"))

    await conn.run_sync(write)


def check_order_fields(fields: Mapping[str, object], allowed: frozenset[str]) -> None:
    """TypeError for a name that is not one of the `allowed` Order columns."""
    unknown = set(fields) - allowed
    if unknown:
        raise TypeError(f"unknown Order fields: {', '.join(sorted(unknown))}")


def _open_filter(open_only: bool | None) -> list[ColumnElement[bool]]:
    if open_only is None:
        return []
    return [col(Order.final) == (not open_only)]


class OrdersRoom(DraftsRoom):
    """Orders and their refills. Built on the drafts' room: an order is recorded in the
    transaction that marks its draft PLACED (`record_placement`)."""

    async def record_placement(
        self, draft_id: int, panel_order_id: int, *, from_state: DraftState = DraftState.SUBMITTING,
        flow: Flow | None = KEEP, **fields: object
    ) -> Order:
        """Draft `from_state` (SUBMITTING, or UNKNOWN when an admin reconciles it) ->
        PLACED and its Order row, in one transaction.

        user_id, account_id, service_id and fields (the draft's values) come from the
        draft; service_name / service_type / refill / cancel from its snapshot; the
        currency from the account; the order is due for a check now. Any Order column
        given in `fields` overrides. Raises DraftStateError (and stores nothing) unless
        the draft is in `from_state`, and IntegrityError if the account already has that
        panel order id; if the insert fails the draft keeps its state. `flow`: the
        draft owner's conversation state, stored in the same transaction.
        """
        check_order_fields(fields, ORDER_COLUMNS - {"panel_order_id", "draft_id"})
        now = utcnow()
        placed: DraftColumns = {"state": DraftState.PLACED.value, "order_id": panel_order_id, "error": None,
                                "updated_at": now}
        claim = draft_update(from_state.value, tuple(placed), by_user=False, returning=True)
        params = draft_params(draft_id, None, placed)

        def write(conn: Connection) -> Order:
            row = conn.execute(claim, params).first()
            if row is None:
                raise DraftStateError(f"draft {draft_id} is not {from_state.value}")
            draft = draft_of(row)
            if "currency" in fields:
                currency = fields["currency"]
            else:
                currency = conn.execute(_ACCOUNT_CURRENCY, {"aid": draft.account_id}).scalar()
            service = draft.service or {}
            values: dict[str, Any] = {
                "user_id": draft.user_id,
                "account_id": draft.account_id,
                "service_id": draft.service_id,
                "service_name": str(service.get("name") or ""),
                "service_type": str(service.get("type") or ""),
                "fields": dict(draft.values or {}),
                "currency": currency,
                "refill": bool(service.get("refill")),
                "cancel": bool(service.get("cancel")),
                "status": "Pending",
                "next_check_at": now,
            }
            if "paid" not in fields:
                # An admin marking an UNKNOWN shop order placed: its hold becomes the charge.
                hold = open_hold(conn, draft_id, draft.user_id)
                if hold is not None:
                    values.update(paid=True, charge=hold.amount)  # the caller gives the shop's currency
            values.update(fields)
            order = Order(panel_order_id=panel_order_id, draft_id=draft_id, **values)
            stored = Order(**conn.execute(_INSERT_ORDER, order.model_dump(exclude={"id"})).one()._mapping)
            if flow is not KEEP:
                write_flow(conn, draft.user_id, flow)
            return stored

        known = self._drafts.get(draft_id)
        owner = known["user_id"] if known is not None else None
        try:
            order = await self._run(
                write, forget=lambda: self._forget(user=owner if flow is not KEEP else None, draft=draft_id))
        except BaseException:
            if flow is not KEEP and owner is None:
                self._users.clear()  # whose flow it may have written is not known here
            raise
        self._cached_draft_changed(draft_id, True, placed)
        if flow is not KEEP:
            self._remember_user_values(order.user_id, {"flow": flow})
        return order

    # --- reading -----------------------------------------------------------------------

    async def get_order(self, user_id: int, panel_order_id: int) -> Order | None:
        """The user's order with that panel id (the newest, should two panels share ids)."""
        async with self._read() as s:
            query = (
                select(Order)
                .where(col(Order.user_id) == user_id, col(Order.panel_order_id) == panel_order_id)
                .order_by(col(Order.id).desc())
            )
            return (await s.exec(query)).first()

    async def order_by_id(self, order_id: int) -> Order | None:
        async with self._read() as s:
            return await s.get(Order, order_id)

    async def orders_by_ids(self, order_ids: list[int]) -> dict[int, Order]:
        if not order_ids:
            return {}
        async with self._read() as s:
            rows = (await s.exec(select(Order).where(col(Order.id).in_(order_ids)))).all()
            return {order.id: order for order in rows if order.id is not None}

    async def orders_for(
        self, user_id: int, *, open_only: bool | None = None, limit: int = 10, offset: int = 0
    ) -> list[Order]:
        """Newest first. open_only: True = not final, False = final only, None = all."""
        async with self._read() as s:
            query = (
                select(Order)
                .where(col(Order.user_id) == user_id, *_open_filter(open_only))
                .order_by(col(Order.created_at).desc(), col(Order.id).desc())
                .limit(limit)
                .offset(offset)
            )
            return list((await s.exec(query)).all())

    async def count_orders(self, user_id: int, open_only: bool | None = None) -> int:
        async with self._read() as s:
            query = (
                select(func.count())
                .select_from(Order)
                .where(col(Order.user_id) == user_id, *_open_filter(open_only))
            )
            return int((await s.exec(query)).one())

    # --- status ------------------------------------------------------------------------

    async def update_order(
        self, order_id: int, changes: Mapping[str, object], *, notice: Notice | None = None
    ) -> bool:
        """Apply `changes` (status, remains, final, next_check_at...) and queue `notice`
        in the same transaction, so a stored change is never left unannounced."""
        check_order_fields(changes, _ORDER_MUTABLE)
        # A status read before a final one was stored (a slow watcher, a lagging panel
        # replica) must not reopen the order: it would never be watched again.
        guard = [col(Order.final) == False] if "status" in changes and not changes.get("final") else []  # noqa: E712
        async with self.session() as s:
            result = await s.exec(
                update(Order).where(col(Order.id) == order_id, *guard).values({"updated_at": utcnow(), **changes})
            )
            if result.rowcount != 1:
                return False
            await _book_refunds(await s.connection(), [(order_id, changes)])
            if notice is not None:
                await enqueue(s, notice)
            return True

    def _due_orders(self, now: datetime, limit: int) -> IdQuery:
        """Ids of the open orders of unpaused accounts whose check is due and that no
        watcher holds, the longest-waiting first."""
        return (
            select(Order.id)
            .join(PanelAccount, col(PanelAccount.id) == col(Order.account_id))
            .where(
                col(Order.final) == False,  # noqa: E712 (SQL comparison)
                col(PanelAccount.paused) == False,  # noqa: E712
                col(Order.next_check_at).is_(None) | (col(Order.next_check_at) <= now),
                col(Order.lease_until).is_(None) | (col(Order.lease_until) < now),
            )
            .order_by(col(Order.next_check_at).asc().nulls_first(), col(Order.id).asc())
            .limit(limit)
        )

    async def lease_due_checks(
        self, owner: str, *, now: datetime | None = None, seconds: float = 120.0, limit: int = 100_000
    ) -> list[Any]:
        """Take the due open orders no other watcher holds, for `seconds`, as plain rows
        with only the CHECK_COLUMNS (building 10,000 ORM objects a cycle was most of the
        watcher's CPU); the watcher reads them as it reads an `Order`. One UPDATE over a
        `SELECT ... FOR UPDATE SKIP LOCKED`, so two watchers never share an order."""
        now = now or utcnow()
        due = self._due_orders(now, limit)
        if self.dialect == "postgresql":
            # Whole accounts, not single orders: the first watcher to reach an account
            # takes all its due orders (a transaction-scoped advisory lock per account,
            # in this schema's lock space), so two watchers scanning at once do not each
            # take part of it and both spend status calls on it.
            namespace = func.hashtext(f"smm-bot-watch:{self._schema or 'public'}")
            due = due.where(func.pg_try_advisory_xact_lock(namespace, col(Order.account_id)))
            due = due.with_for_update(skip_locked=True, of=Order)
        statement = (
            update(ORDERS)
            .where(ORDERS.c.id.in_(due.scalar_subquery()))
            .values(lease_owner=owner, lease_until=now + timedelta(seconds=seconds))
            .returning(*(ORDERS.c[name] for name in CHECK_COLUMNS))
        )
        async with self.session() as s:
            result = await (await s.connection()).execute(statement)
            return sorted(result.all(), key=lambda row: row.id)

    async def apply_checks(
        self, owner: str, changes: Sequence[OrderCheck], checked: Mapping[datetime, Sequence[int]]
    ) -> int:
        """Store a watcher cycle's changes with their notifications and release its leases,
        in one transaction: per-order transactions cost a cycle seconds, and concurrent
        writers queue behind SQLite's single lock.

        `changes`: see `OrderCheck`. With the status the watcher read, a change is stored
        (and announced) only if the order still has that status and is not final: a
        Refresh that stored a newer answer meanwhile wins. A final order's columns are
        never written. `checked`: the order ids by their next check time; the leases
        `owner` holds on them are released. Returns how many changes were stored."""
        schedule = {when: list(ids) for when, ids in checked.items() if ids}
        if not changes and not schedule:
            return 0
        now = utcnow()
        async with self.session() as s:
            conn = await s.connection()
            conditional = [order_id for order_id, _values, _notice, status_read in changes if status_read is not None]
            current: dict[int, tuple[str, bool]] = {}
            for start in range(0, len(conditional), _CHUNK):
                query = core_select(ORDERS.c.id, ORDERS.c.status, ORDERS.c.final).where(
                    ORDERS.c.id.in_(conditional[start : start + _CHUNK]))
                if self.dialect == "postgresql":
                    query = query.with_for_update(of=ORDERS)
                current.update({row.id: (row.status, row.final) for row in await conn.execute(query)})
            kept = [
                entry for entry in changes
                if entry[3] is None or current.get(entry[0]) == (entry[3], False)
            ]
            # Orders whose changes touch the same columns go in one executemany.
            groups: dict[tuple[str, ...], list[dict[str, object]]] = defaultdict(list)
            for order_id, values, _notice, _read in kept:
                groups[tuple(sorted(values))].append(
                    {"b_id": order_id, "b_updated_at": now, **{f"b_{k}": v for k, v in values.items()}})
            for keys, params in groups.items():
                statement = (
                    update(ORDERS)
                    .where(ORDERS.c.id == bindparam("b_id"), ORDERS.c.final == False)  # noqa: E712
                    .values({"updated_at": bindparam("b_updated_at"), **{k: bindparam(f"b_{k}") for k in keys}})
                )
                await conn.execute(statement, params)
            await _book_refunds(conn, [(order_id, values) for order_id, values, _notice, _read in kept])
            notices = [notice for _id, _values, notice, _read in kept if notice is not None]
            for start in range(0, len(notices), _NOTICES_CHUNK):
                await conn.execute(insert_notices(self.dialect, notices[start : start + _NOTICES_CHUNK], now))
            for when, ids in schedule.items():
                for start in range(0, len(ids), _CHUNK):
                    await conn.execute(
                        update(ORDERS)
                        .where(ORDERS.c.id.in_(ids[start : start + _CHUNK]), ORDERS.c.lease_owner == owner)
                        .values(lease_owner=None, lease_until=None, next_check_at=when)
                    )
            return len(kept)

    async def defer_account_orders(self, account_id: int, until: datetime) -> int:
        """Back off from an account's open orders (panel outage): one statement."""
        async with self.session() as s:
            result = await s.exec(
                update(Order)
                .where(col(Order.account_id) == account_id, col(Order.final) == False)  # noqa: E712
                .values(next_check_at=until, lease_owner=None, lease_until=None)
            )
            return int(result.rowcount)

    # --- refill and cancel requests ------------------------------------------------------

    async def claim_order_action(self, order_id: int, user_id: int, *, seconds: float = 30.0) -> bool:
        """One conditional update: True for the single press that may send a refill or
        cancel request for this order now; False for a double tap or a foreign order."""
        now = utcnow()
        async with self.session() as s:
            result = await s.exec(
                update(Order)
                .where(
                    col(Order.id) == order_id,
                    col(Order.user_id) == user_id,
                    col(Order.action_until).is_(None) | (col(Order.action_until) < now),
                )
                .values(action_until=now + timedelta(seconds=seconds))
            )
            return bool(result.rowcount == 1)

    async def release_order_action(self, order_id: int) -> None:
        async with self.session() as s:
            await s.exec(update(Order).where(col(Order.id) == order_id).values(action_until=None))

    # --- refills -----------------------------------------------------------------------

    async def add_refill(self, order_id: int, panel_refill_id: int, status: str = "Pending") -> Refill:
        refill = Refill(order_id=order_id, panel_refill_id=panel_refill_id, status=status)
        async with self.session() as s:
            s.add(refill)
            await s.flush()
            await s.refresh(refill)
        return refill

    async def update_refill(
        self, refill_id: int, changes: Mapping[str, object], *, notice: Notice | None = None
    ) -> bool:
        unknown = set(changes) - _REFILL_MUTABLE
        if unknown:
            raise TypeError(f"unknown Refill fields: {', '.join(sorted(unknown))}")
        async with self.session() as s:
            result = await s.exec(
                update(Refill).where(col(Refill.id) == refill_id).values({"updated_at": utcnow(), **changes})
            )
            if result.rowcount != 1:
                return False
            if notice is not None:
                await enqueue(s, notice)
            return True

    async def lease_open_refills(
        self, owner: str, *, now: datetime | None = None, seconds: float = 120.0, limit: int = 100_000
    ) -> list[Refill]:
        """Take the unfinished refills no other watcher holds, for `seconds`."""
        now = now or utcnow()
        due = (
            select(Refill.id)
            .where(
                col(Refill.final) == False,  # noqa: E712
                col(Refill.lease_until).is_(None) | (col(Refill.lease_until) < now),
            )
            .order_by(col(Refill.id))
            .limit(limit)
        )
        return await self._take(Refill, due, lease_owner=owner, lease_until=now + timedelta(seconds=seconds))

    async def release_refills(self, owner: str, refill_ids: list[int], until: datetime | None = None) -> None:
        """Give refills back; with `until`, nobody takes them again before then."""
        if not refill_ids:
            return
        async with self.session() as s:
            await s.exec(
                update(Refill)
                .where(col(Refill.id).in_(refill_ids), col(Refill.lease_owner) == owner)
                .values(lease_owner=None if until is None else owner, lease_until=until)
            )
