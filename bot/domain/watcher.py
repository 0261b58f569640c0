"""The watcher: every open order and refill checked with batch calls per key; each
change stored together with its notification (the outbox), never messaged directly.

No single account or value can stop it: each account is checked on its own (a key that
no longer decrypts, a refused key, an outage, a write the database refuses: that account
is set aside, the others are stored), numbers are checked against their columns before
they are stored, and a stop request ends a cycle at once, leaving the rest to its leases.
"""

from __future__ import annotations

import asyncio
import logging
import os
import random
import socket
import uuid
from collections import defaultdict
from collections.abc import Callable, Collection
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

from bot.domain.capabilities import NO_REFILL_STATUS, RECHECK, Abilities, PanelFacts
from bot.domain.notices import (
    KIND_ACCOUNT_PAUSED,
    KIND_ACCOUNT_RESUMED,
    KIND_KEY_INVALID,
    KIND_KEY_UNDECRYPTABLE,
    KIND_ORDER,
    KIND_ORDER_LOST,
    KIND_PROGRESS,
    KIND_REFILL,
    KIND_REFILL_LOST,
)
from bot.domain.panels import Panels
from bot.domain.pricing import PriceRules, partial_refund
from bot.domain.shop import currency_digits
from bot.panel.client import PanelClient
from bot.panel.errors import OutcomeUnknown, PanelRefusal, PanelUnavailable, RefusalKind
from bot.panel.status import CANCELED, PARTIAL, REFUNDED, OrderStatus, RefillStatus
from bot.store import PAUSED_INVALID_KEY, DecryptError, Notice, Order, PanelAccount, Refill, Store

log = logging.getLogger(__name__)

__all__ = [
    "KIND_KEY_INVALID", "KIND_ORDER", "KIND_REFILL", "CycleReport", "Watcher", "order_changes", "order_payload",
]

# A per-id error ("Incorrect order ID", "Refill not found") this many checks in a row:
# the panel will not answer for that id, so watching it ends (its owner is told once).
ERRORS_TO_GIVE_UP = 5
# "Invalid API key" this many checks in a row pauses the key even while `balance` still
# answers (a panel that refuses only some actions); one refusal pauses when `balance`
# refuses the key too.
REFUSALS_TO_PAUSE = 3
# A paused key is tried again (one `balance` call) after a pause doubling up to this.
MAX_PAUSE_RETRY = 3600.0
# Progress ("every change" mode): at most one message per order this often, and only
# when at least this share of the quantity was delivered since the last one.
PROGRESS_EVERY = timedelta(minutes=10)
PROGRESS_SHARE = Decimal("0.1")
# Orders are checked every cycle in their first hour, then every 10 minutes, then
# hourly after a week: an order that never finishes does not cost a call every cycle.
YOUNG = timedelta(hours=1)
OLD = timedelta(days=7)
MIDDLE_EVERY = 600.0
OLD_EVERY = 3600.0
# Columns' ranges: a wild number from a panel must not fail the write.
BIGINT_MAX = 2**63 - 1
MONEY_LIMIT = Decimal("1E16")  # Numeric(24, 8)


def utcnow() -> datetime:
    return datetime.now(UTC)


def aware(moment: datetime) -> datetime:
    """SQLite hands datetimes back without their zone; they were stored as UTC."""
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=UTC)


@dataclass
class CycleReport:
    accounts: int = 0
    orders: int = 0
    refills: int = 0
    changes: int = 0
    notices: int = 0
    failed_accounts: list[int] = field(default_factory=list)
    pending: list[tuple[int, dict[str, Any], Notice | None, str | None]] = field(default_factory=list)
    checked: list[int] = field(default_factory=list)
    paused_accounts: list[int] = field(default_factory=list)
    resumed_accounts: list[int] = field(default_factory=list)
    stopped: bool = False
    seconds: float = 0.0


@dataclass
class _Checked:
    """One account's share of a cycle, written with the others' (or alone, if that fails)."""

    account: PanelAccount
    pending: list[tuple[int, dict[str, Any], Notice | None, str | None]] = field(default_factory=list)
    schedule: dict[datetime, list[int]] = field(default_factory=lambda: defaultdict(list))
    orders: int = 0
    refills: int = 0
    notices: int = 0
    ok: bool = False


def _bigint(value: int | None, *, minimum: int = -BIGINT_MAX) -> int | None:
    if value is None or not minimum <= value <= BIGINT_MAX:
        return None
    return value


def _money(value: Decimal | None) -> Decimal | None:
    if value is None or not value.is_finite() or abs(value) >= MONEY_LIMIT:
        return None
    return value


def sane(status: OrderStatus) -> OrderStatus:
    """The panel's numbers that fit their columns; the others as if not given (a remains
    of 10^20, a negative start count, a charge beyond Numeric(24, 8))."""
    remains = _bigint(status.remains)
    start_count = _bigint(status.start_count, minimum=0)
    charge = _money(status.charge)
    if (remains, start_count, charge) == (status.remains, status.start_count, status.charge):
        return status
    log.info("order %s: the panel's numbers do not fit (remains %r, start_count %r, charge %r); left out",
             status.order_id, status.remains, status.start_count, status.charge)
    # The rest (a drip-feed parent's runs, a subscription's posts) is kept as it came.
    return replace(status, charge=charge, start_count=start_count, remains=remains)


def _small(value: int | None) -> int | None:
    return value if value is not None and 0 <= value <= BIGINT_MAX else None


def order_payload(order: Order, status: OrderStatus, previous: str,
                  abilities: Abilities | None = None) -> dict[str, Any]:
    """What a notification needs to be written later, in the user's language then.
    `abilities`: what the order's panel is known to lack, so that the message offers no
    Refill or Cancel button the panel does not have."""
    abilities = abilities or Abilities()
    return {
        "order_pk": order.id,
        "order_id": order.panel_order_id,
        "service_id": order.service_id,
        "service_name": order.service_name,
        "status": status.status,
        "previous": previous,
        "quantity": order.quantity,
        "remains": status.remains,
        "start_count": status.start_count,
        # A shop's customer paid the shop's price, in the shop's currency: never the panel's.
        "charge": _shown_charge(order, status),
        "currency": order.currency if getattr(order, "paid", False) else status.currency or order.currency,
        "refund": str(refund) if (refund := shop_refund(order, status)) else None,
        "final": status.is_final,
        # So that the notification carries the order card's buttons.
        "refill": bool(getattr(order, "refill", False)) and abilities.refill,
        "cancel": bool(getattr(order, "cancel", False)) and abilities.cancel,
        "draft_id": getattr(order, "draft_id", None),
        # So that a drip-feed parent and a subscription are told in their own words.
        "service_type": getattr(order, "service_type", None) or "",
        "runs": _small(status.runs),
        "run_orders": [i for i in status.orders if _small(i) is not None][:100] if status.orders is not None else None,
        "posts": _small(status.posts),
        "expiry": status.expiry if isinstance(status.expiry, bool) else (status.expiry or "")[:100] or None,
    }


def _shown_charge(order: Order, status: OrderStatus) -> str | None:
    if getattr(order, "paid", False):
        return str(order.charge) if order.charge is not None else None
    charge = status.charge if status.charge is not None else order.charge
    return str(charge) if charge is not None else None


# Shop mode: the final statuses that give a customer money back.
_REFUNDING = frozenset({PARTIAL, CANCELED, REFUNDED})


def shop_refund(order: Order, status: OrderStatus) -> Decimal | None:
    """What a shop order's customer gets back when its status becomes final: everything
    for Canceled or Refunded; for Partial the price of `remains` pro rata (rounded in the
    customer's favour), or, for an order without a quantity to count, in the proportion
    the panel's own charge fell. None: nothing back (not a shop order, not final yet, or
    delivered)."""
    if not getattr(order, "paid", False) or order.final or not status.is_final or order.charge is None:
        return None
    if status.status not in _REFUNDING or order.charge <= 0:
        return None
    if status.status != PARTIAL:
        return order.charge
    rules = PriceRules(digits=currency_digits(order.currency) if order.currency else 2)
    remains = _bigint(status.remains, minimum=0)
    if order.quantity and remains is not None:
        refund = partial_refund(rules, order.charge, order.quantity, remains)
    else:
        charged = _money(status.charge)
        cost = getattr(order, "cost", None)
        if charged is None or not cost or cost <= 0 or charged >= cost:
            return None
        refund = min(order.charge, rules.round_refund(order.charge * (cost - max(charged, Decimal(0))) / cost))
    return refund if refund > 0 else None


def order_changes(order: Order, status: OrderStatus) -> dict[str, Any]:
    """The columns that differ between the stored order and the panel's answer (numbers
    that fit no column left out). A shop's order keeps its price and currency: the
    panel's charge is its cost; a refund it gives is `refunded` (booked with the write)."""
    status = sane(status)
    changes: dict[str, Any] = {}
    paid = bool(getattr(order, "paid", False))
    if status.status and status.status != order.status:
        changes["status"] = status.status
    if status.remains is not None and status.remains != order.remains:
        changes["remains"] = status.remains
    if status.start_count is not None and status.start_count != order.start_count:
        changes["start_count"] = status.start_count
    if paid:
        if status.charge is not None and status.charge != getattr(order, "cost", None):
            changes["cost"] = status.charge
    elif status.charge is not None and status.charge != order.charge:
        changes["charge"] = status.charge
    if status.currency and status.currency != order.currency and not paid:
        changes["currency"] = status.currency
    if status.is_final and not order.final:
        changes["final"] = True
        refund = shop_refund(order, status)
        if refund:
            changes["refunded"] = refund
    return changes


class Watcher:
    """One cycle checks every due order and open refill, grouped by key; one key's
    failure backs off that key alone, with jitter, and tells nobody."""

    def __init__(
        self,
        store: Store,
        panels: Panels,
        *,
        poll_seconds: float = 60.0,
        max_backoff: float = 1800.0,
        concurrency: int = 8,
        clock: Callable[[], datetime] = utcnow,
        owner: str | None = None,
        admin_ids: Collection[int] = (),
    ) -> None:
        self.store = store
        self.panels = panels
        self.poll_seconds = poll_seconds
        self.max_backoff = max_backoff
        self.clock = clock
        self.admin_ids = sorted(admin_ids)
        self._semaphore = asyncio.Semaphore(concurrency)
        self._failures: dict[int, int] = defaultdict(int)
        self._cycle_start = clock()
        self.owner = owner or f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"
        # Long enough for a slow cycle; a crashed watcher's orders return after it.
        self.lease_seconds = max(120.0, poll_seconds * 2)
        # A cycle gives up on the keys still unanswered after this, well before their
        # leases expire and another watcher could take (and poll) the same orders.
        self.cycle_deadline = self.lease_seconds * 0.75
        self.stop_requested = False
        self._stop = asyncio.Event()
        # What the panel showed it lacks (no refill_status: its refills are left alone).
        self.facts = PanelFacts(store, panels.url)
        # Whether refill_status answered since this process started: a fact about its
        # absence (stale, or learnt by another process) is dropped once, not every cycle.
        self._refill_status_answered = False

    def request_stop(self) -> None:
        """The process is stopping: a cycle returns at its next step and leaves what it has
        not done to its leases (they expire, and another watcher or the next start takes it)."""
        self.stop_requested = True
        self._stop.set()

    # --- the cycle --------------------------------------------------------------------------

    async def run_cycle(self) -> CycleReport:
        loop = asyncio.get_running_loop()
        started = loop.time()
        report = CycleReport()
        if self.stop_requested:
            report.stopped = True
            return report
        now = self._cycle_start = self.clock()
        # Leased, not just read: a second watcher process skips what this one holds.
        orders = await self.store.lease_due_checks(self.owner, now=now, seconds=self.lease_seconds)
        refills = await self.store.lease_open_refills(self.owner, now=now, seconds=self.lease_seconds)
        refill_orders = await self.store.orders_by_ids(sorted({r.order_id for r in refills}))
        by_account: dict[int, list[Order]] = defaultdict(list)
        for order in orders:
            by_account[order.account_id].append(order)
        refills_by_account: dict[int, list[tuple[Refill, Order]]] = defaultdict(list)
        for refill in refills:
            parent = refill_orders.get(refill.order_id)
            if parent is not None:
                refills_by_account[parent.account_id].append((refill, parent))
        accounts = await self.store.get_accounts(sorted(set(by_account) | set(refills_by_account)))
        tasks: dict[asyncio.Task[Any], PanelAccount] = {
            asyncio.ensure_future(self._guarded(account, by_account.get(account_id, []),
                                                refills_by_account.get(account_id, []), report)): account
            for account_id, account in accounts.items()
            if not account.paused
        }
        retries = await self.store.lease_paused_accounts(PAUSED_INVALID_KEY, now=now, seconds=self.lease_seconds)
        for account in retries:
            tasks[asyncio.ensure_future(self._retry_paused(account, report))] = account
        report.accounts = len(tasks)
        results = await self._wait(tasks, report)
        checked = [r for r in results if r.ok]
        await self._store(checked, report)
        report.seconds = loop.time() - started
        return report

    async def _wait(self, tasks: dict[asyncio.Task[Any], PanelAccount], report: CycleReport) -> list[_Checked]:
        """The accounts' results, until all are in, a stop is requested or the deadline
        passes: the unfinished are cancelled (on a deadline, backed off)."""
        if not tasks:
            return []
        stopping = asyncio.ensure_future(self._stop.wait())
        everything = asyncio.ensure_future(asyncio.wait(list(tasks)))
        try:
            await asyncio.wait({stopping, everything}, timeout=self.cycle_deadline,
                               return_when=asyncio.FIRST_COMPLETED)
        finally:
            stopping.cancel()
            everything.cancel()
        late = [task for task in tasks if not task.done()]
        for task in late:
            task.cancel()
        if late:
            await asyncio.wait(late)
        if self.stop_requested:
            report.stopped = True
        elif late:
            for task in late:
                await self._back_off(tasks[task], f"no answer within {self.cycle_deadline:.0f}s", report)
        return [task.result() for task in tasks if not task.cancelled() and isinstance(task.result(), _Checked)]

    async def _store(self, checked: list[_Checked], report: CycleReport) -> None:
        """Every account's changes and notifications, and every lease, in one write; if
        the database refuses it, account by account, and the refused one backs off."""
        if not checked:
            return
        try:
            report.changes += await self._write(checked)
        except Exception:  # whatever the database refused, find whose it was
            log.warning("storing the cycle in one write failed; storing account by account", exc_info=True)
            for one in checked:
                try:
                    report.changes += await self._write([one])
                except Exception as error:  # one account's values must not stop the rest
                    assert one.account.id is not None
                    log.exception("account %s: its checks could not be stored (%s)", one.account.id,
                                  type(error).__name__)
                    report.notices -= one.notices
                    await self._back_off(one.account, "storing failed", report)
        for one in checked:
            report.orders += one.orders
            report.refills += one.refills
            report.checked.extend(i for ids in one.schedule.values() for i in ids)
            report.pending.extend(one.pending)

    async def _write(self, checked: list[_Checked]) -> int:
        schedule: dict[datetime, list[int]] = defaultdict(list)
        for one in checked:
            for when, ids in one.schedule.items():
                schedule[when].extend(ids)
        pending = [entry for one in checked for entry in one.pending]
        return await self.store.apply_checks(self.owner, pending, schedule)

    def _next_check(self, order: Order, now: datetime) -> datetime:
        """Counted from the cycle's start, so a slow cycle does not stretch the interval."""
        every = self.poll_seconds * 0.9
        created = getattr(order, "created_at", None)
        if created is not None:
            age = now - aware(created)
            if age >= OLD:
                every = max(OLD_EVERY, self.poll_seconds) - self.poll_seconds * 0.1
            elif age >= YOUNG:
                every = max(MIDDLE_EVERY, self.poll_seconds) - self.poll_seconds * 0.1
        return now + timedelta(seconds=every)

    # --- one account --------------------------------------------------------------------------

    def _client(self, account: PanelAccount) -> PanelClient | None:
        try:
            key = self.store.reveal_key(account)
        except DecryptError:
            return None
        return self.panels.client(key)

    async def _guarded(self, account: PanelAccount, orders: list[Order], refills: list[tuple[Refill, Order]],
                       report: CycleReport) -> _Checked | None:
        """One account's check: whatever goes wrong in it stays with it."""
        assert account.id is not None
        try:
            return await self._check_account(account, orders, refills, report)
        except asyncio.CancelledError:
            raise
        except Exception as error:  # the watcher survives any one account
            log.exception("account %s: check failed (%s)", account.id, type(error).__name__)
            try:
                await self._back_off(account, type(error).__name__, report)
            except Exception:  # e.g. the database is gone: the leases expire
                log.warning("account %s: could not back off", account.id, exc_info=True)
            return None

    async def _check_account(
        self, account: PanelAccount, orders: list[Order], refills: list[tuple[Refill, Order]], report: CycleReport
    ) -> _Checked | None:
        assert account.id is not None
        client = self._client(account)
        if client is None:
            await self._undecryptable(account, report)
            return None
        abilities = await self.facts.abilities()
        skipped: list[tuple[Refill, Order]] = []
        if refills and not abilities.refill_status:
            # The panel has no refill_status: nothing to ask until the fact is re-checked.
            refills, skipped = [], refills
        async with self._semaphore:
            try:
                # No retries inside the cycle: the next cycle is the retry, after the backoff.
                statuses = await client.statuses([o.panel_order_id for o in orders], retries=0) if orders else {}
                refill_statuses = await self._refill_statuses(client, refills)
                if refill_statuses is None:
                    refills, skipped = [], skipped + refills
                    refill_statuses = {}
            except PanelRefusal as refused:
                if refused.kind is RefusalKind.INVALID_KEY:
                    await self._refused(account, client, report)
                    return None
                await self._back_off(account, f"refused: {refused.kind}", report)
                return None
            except (PanelUnavailable, OutcomeUnknown) as failure:
                await self._back_off(account, type(failure).__name__, report)
                return None
        self._failures.pop(account.id, None)
        if account.refusals:
            await self.store.reset_refusals(account.id)
        result = _Checked(account, orders=len(orders), refills=len(refills))
        now = self._cycle_start
        for order in orders:
            self._compare(order, statuses.get(order.panel_order_id), result, abilities)
            if order.id is not None:
                result.schedule[self._next_check(order, now)].append(order.id)
        for refill, parent in refills:
            await self._apply_refill(refill, parent, refill_statuses.get(refill.panel_refill_id), result)
        next_check = now + timedelta(seconds=self.poll_seconds * 0.9)
        await self.store.release_refills(self.owner, [r.id for r, _ in refills if r.id is not None], next_check)
        if skipped:
            # Left alone (no error counted, nobody told) until the panel is asked again.
            await self.store.release_refills(self.owner, [r.id for r, _ in skipped if r.id is not None],
                                             now + RECHECK)
        report.notices += result.notices
        result.ok = True
        return result

    async def _refill_statuses(self, client: PanelClient, refills: list[tuple[Refill, Order]]
                               ) -> dict[int, RefillStatus] | None:
        """The refills' statuses; None when the panel showed it has no `refill_status`
        ("This action is Invalid"), which is then remembered for this panel."""
        if not refills:
            return {}
        try:
            answers = await client.refill_statuses([r.panel_refill_id for r, _ in refills], retries=0)
        except PanelRefusal as refused:
            if refused.kind is not RefusalKind.UNSUPPORTED_ACTION:
                raise
            await self._no_refill_status(refused.text)
            return None
        errors = [a.error for a in answers.values() if a.error is not None]
        if answers and len(errors) == len(answers) and all(e.kind is RefusalKind.UNSUPPORTED_ACTION for e in errors):
            await self._no_refill_status(errors[0].text)
            return None
        if not self._refill_status_answered:
            self._refill_status_answered = True
            await self.facts.forget(NO_REFILL_STATUS)
        return answers

    async def _no_refill_status(self, text: str) -> None:
        self._refill_status_answered = False
        if await self.facts.learn(NO_REFILL_STATUS, text[:500]):
            log.warning("panel %s has no refill_status (%r): refills there are not followed; asked again in %s",
                        self.facts.panel_url, text[:200], RECHECK)

    def _compare(self, order: Order, status: OrderStatus | None, result: _Checked,
                 abilities: Abilities | None = None) -> None:
        """Queue what changed (stored with the cycle's write, if the order still has the
        status read now)."""
        assert order.id is not None  # a leased row
        if status is None or status.error is not None or not status.status:
            self._id_error(order, status, result)
            return
        changes = order_changes(order, status)
        status = sane(status)
        if order.check_errors:
            changes["check_errors"] = 0
        now = self._cycle_start
        notice = None
        if "status" in changes:
            notice = Notice(
                user_id=order.user_id,
                kind=KIND_ORDER,
                dedupe_key=f"order:{order.id}:{order.status}>{status.status}",
                payload=order_payload(order, status, order.status, abilities),
            )
            if status.remains is not None:
                # That message shows the progress too: the next is counted from it.
                changes.update(progress_at=now, progress_remains=status.remains)
        elif self._progressed(order, status, now):
            notice = Notice(
                user_id=order.user_id,
                kind=KIND_PROGRESS,
                dedupe_key=f"progress:{order.id}:{status.remains}",
                payload=order_payload(order, status, order.status, abilities),
            )
            changes.update(progress_at=now, progress_remains=status.remains)
        if not changes:
            return
        if notice is not None:
            result.notices += 1
        changes["last_checked_at"] = self.clock()
        result.pending.append((order.id, changes, notice, order.status))

    @staticmethod
    def _progressed(order: Order, status: OrderStatus, now: datetime) -> bool:
        """Delivery moved enough since the last message, and that was long enough ago."""
        quantity = order.quantity
        if status.is_final or order.final or status.remains is None or not quantity or quantity <= 0:
            return False
        last = order.progress_remains if order.progress_remains is not None else quantity
        if abs(last - status.remains) < PROGRESS_SHARE * quantity:
            return False
        return order.progress_at is None or now - aware(order.progress_at) >= PROGRESS_EVERY

    def _id_error(self, order: Order, status: OrderStatus | None, result: _Checked) -> None:
        """The panel would not answer for this id: counted; after a few in a row the order
        is finished with the error, and its owner told once."""
        assert order.id is not None  # a leased row
        error = status.error.text if status is not None and status.error is not None else "no status in the reply"
        errors = (order.check_errors or 0) + 1
        changes: dict[str, Any] = {"check_errors": errors, "last_checked_at": self.clock()}
        notice = None
        if errors >= ERRORS_TO_GIVE_UP:
            log.warning("order %s (panel id %s): %d checks in a row answered %r; no longer watched",
                        order.id, order.panel_order_id, errors, error)
            changes.update(final=True, watch_error=error[:500])
            notice = Notice(
                user_id=order.user_id,
                kind=KIND_ORDER_LOST,
                dedupe_key=f"order_lost:{order.id}",
                payload={"order_pk": order.id, "order_id": order.panel_order_id,
                         "service_name": order.service_name, "error": error[:500],
                         # A shop's customer has no panel to look at: the shop settles it.
                         "shop": bool(getattr(order, "paid", False))},
            )
            result.notices += 1
        result.pending.append((order.id, changes, notice, order.status))

    async def _apply_refill(self, refill: Refill, order: Order, status: RefillStatus | None, result: _Checked) -> None:
        if refill.id is None:
            return
        if status is None or status.error is not None or not status.status:
            error = status.error.text if status is not None and status.error is not None else "no status in the reply"
            errors = refill.check_errors + 1
            if errors < ERRORS_TO_GIVE_UP:
                await self.store.update_refill(refill.id, {"check_errors": errors})
                return
            log.warning("refill %s (panel id %s): %d checks in a row answered %r; no longer watched",
                        refill.id, refill.panel_refill_id, errors, error)
            lost = Notice(
                user_id=order.user_id,
                kind=KIND_REFILL_LOST,
                dedupe_key=f"refill_lost:{refill.id}",
                payload={"refill_id": refill.panel_refill_id, "order_id": order.panel_order_id, "order_pk": order.id,
                         "service_name": order.service_name, "error": error[:500]},
            )
            await self.store.update_refill(refill.id, {"check_errors": errors, "final": True}, notice=lost)
            result.notices += 1
            return
        if status.status == refill.status:
            if refill.check_errors:
                await self.store.update_refill(refill.id, {"check_errors": 0})
            return
        notice = Notice(
            user_id=order.user_id,
            kind=KIND_REFILL,
            dedupe_key=f"refill:{refill.id}:{status.status}",
            payload={"refill_id": refill.panel_refill_id, "order_id": order.panel_order_id, "order_pk": order.id,
                     "service_name": order.service_name, "status": status.status, "final": status.is_final},
        )
        await self.store.update_refill(refill.id, {"status": status.status, "final": status.is_final,
                                                   "check_errors": 0}, notice=notice)
        result.notices += 1

    async def _back_off(self, account: PanelAccount, reason: str, report: CycleReport) -> None:
        assert account.id is not None
        self._failures[account.id] += 1
        failures = self._failures[account.id]
        delay = min(self.max_backoff, self.poll_seconds * 2 ** (failures - 1)) * random.uniform(0.75, 1.25)
        log.warning("account %s: panel check failed (%s); next try in %.0fs", account.id, reason, delay)
        until = self.clock() + timedelta(seconds=delay)
        await self.store.defer_account_orders(account.id, until)
        report.failed_accounts.append(account.id)

    # --- keys: undecryptable, refused, paused and back ---------------------------------------------

    async def _undecryptable(self, account: PanelAccount, report: CycleReport) -> None:
        """SECRET_KEY no longer opens the stored key: paused, its owner asked once to link
        it again (team mode: the bot re-links from PANEL_KEY at its next start)."""
        assert account.id is not None
        notice = None
        if account.user_id is not None:
            notice = Notice(
                user_id=account.user_id,
                kind=KIND_KEY_UNDECRYPTABLE,
                dedupe_key=f"{KIND_KEY_UNDECRYPTABLE}:{account.id}:{account.key_fingerprint}",
                payload={"key_hint": account.key_hint},
            )
        if await self.store.pause_undecryptable(account.id, notice):
            log.warning("panel account %s: the stored key cannot be decrypted with the configured SECRET_KEY; check "
                        "SECRET_KEY (to change it, rotate: SECRET_KEY=new,old). Not watched until linked again",
                        account.id)
        report.paused_accounts.append(account.id)
        report.failed_accounts.append(account.id)

    async def _refused(self, account: PanelAccount, client: PanelClient, report: CycleReport) -> None:
        """"Invalid API key": a pause needs confirmation, `balance` refusing the key too or
        a few refusals in a row; until then it is an outage like any other."""
        assert account.id is not None
        try:
            await client.balance(retries=0)
            confirmed = False
        except PanelRefusal as refused:
            confirmed = refused.kind is RefusalKind.INVALID_KEY
        except (PanelUnavailable, OutcomeUnknown):
            confirmed = False
        refusals = await self.store.count_refusal(account.id)
        if confirmed or refusals >= REFUSALS_TO_PAUSE:
            await self._pause(account, report)
            return
        await self._back_off(account, f"the key was refused ({refusals} in a row), not confirmed", report)

    def _admin_notices(self, kind: str, account: PanelAccount, episode: str) -> list[Notice]:
        payload = {"account_id": account.id, "key_hint": account.key_hint, "team": account.user_id is None,
                   "owner": account.user_id}
        return [Notice(user_id=admin, kind=kind, dedupe_key=f"{kind}:{account.id}:{episode}:{admin}", payload=payload)
                for admin in self.admin_ids]

    def _pause_delay(self, tries: int) -> float:
        delay: float = min(MAX_PAUSE_RETRY, self.poll_seconds * 2.0**tries)
        return delay * random.uniform(0.9, 1.1)

    async def _pause(self, account: PanelAccount, report: CycleReport) -> None:
        """A confirmed invalid key: not watched, tried again with backoff; its owner and
        the admins told once (the pause is a conditional write: one watcher makes it)."""
        assert account.id is not None
        now = self.clock()
        episode = now.isoformat()
        notices = self._admin_notices(KIND_ACCOUNT_PAUSED, account, episode)
        if account.user_id is not None:
            notices.append(Notice(
                user_id=account.user_id,
                kind=KIND_KEY_INVALID,
                dedupe_key=f"key_invalid:{account.id}:{account.key_fingerprint}:{episode}",
                payload={"key_hint": account.key_hint},
            ))
        retry_at = now + timedelta(seconds=self._pause_delay(0))
        if await self.store.pause_account(account.id, PAUSED_INVALID_KEY, retry_at, notices):
            log.warning("account %s (%s): the panel refuses its key (confirmed); watching paused, tried again "
                        "with backoff", account.id, "team" if account.user_id is None else "own key")
            report.notices += len(notices)
        self._failures.pop(account.id, None)
        report.paused_accounts.append(account.id)

    async def _retry_paused(self, account: PanelAccount, report: CycleReport) -> None:
        """One `balance` call on a paused key: the first success resumes it."""
        assert account.id is not None
        try:
            client = self._client(account)
            if client is None:
                await self._undecryptable(account, report)
                return
            async with self._semaphore:
                try:
                    await client.balance(retries=0)
                    works = True
                except (PanelRefusal, PanelUnavailable, OutcomeUnknown):
                    works = False
            if works:
                notices = self._admin_notices(KIND_ACCOUNT_RESUMED, account, self.clock().isoformat())
                if await self.store.resume_account(account.id, PAUSED_INVALID_KEY, notices):
                    log.warning("account %s: the panel accepts its key again; watching resumed", account.id)
                    report.notices += len(notices)
                    report.resumed_accounts.append(account.id)
                return
            tries = account.refusals + 1
            delay = self._pause_delay(tries)
            await self.store.retry_account_at(account.id, self.clock() + timedelta(seconds=delay), tries=tries)
            log.info("account %s: its key is still refused; next try in %.0fs", account.id, delay)
        except asyncio.CancelledError:
            raise
        except Exception as error:  # the watcher survives any one account
            log.exception("account %s: retrying its paused key failed (%s)", account.id, type(error).__name__)
