"""The watcher: every open order and refill checked with batch calls per key; each
change stored together with its notification (the outbox), never messaged directly."""

from __future__ import annotations

import asyncio
import logging
import os
import random
import socket
import uuid
from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from typing import Any

from bot.domain.panels import Panels
from bot.panel.errors import OutcomeUnknown, PanelRefusal, PanelUnavailable, RefusalKind
from bot.panel.models import OrderStatus, RefillStatus
from bot.store import Notice, Order, PanelAccount, Refill, Store

log = logging.getLogger(__name__)

KIND_ORDER = "order_status"
KIND_REFILL = "refill_status"
KIND_KEY_INVALID = "key_invalid"


def utcnow() -> datetime:
    return datetime.now(timezone.utc)


@dataclass
class CycleReport:
    accounts: int = 0
    orders: int = 0
    refills: int = 0
    changes: int = 0
    notices: int = 0
    failed_accounts: list[int] = field(default_factory=list)
    pending: list[tuple[int, dict[str, Any], Notice | None]] = field(default_factory=list)
    checked: list[int] = field(default_factory=list)
    paused_accounts: list[int] = field(default_factory=list)
    seconds: float = 0.0


def order_payload(order: Order, status: OrderStatus, previous: str) -> dict[str, Any]:
    """What a notification needs to be written later, in the user's language then."""
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
        "charge": str(status.charge if status.charge is not None else order.charge)
        if (status.charge is not None or order.charge is not None) else None,
        "currency": status.currency or order.currency,
        "final": status.is_final,
        # So that the notification carries the order card's buttons.
        "refill": bool(getattr(order, "refill", False)),
        "cancel": bool(getattr(order, "cancel", False)),
        "draft_id": getattr(order, "draft_id", None),
    }


def order_changes(order: Order, status: OrderStatus) -> dict[str, Any]:
    """The columns that differ between the stored order and the panel's answer."""
    changes: dict[str, Any] = {}
    if status.status and status.status != order.status:
        changes["status"] = status.status
    if status.remains is not None and status.remains != order.remains:
        changes["remains"] = status.remains
    if status.start_count is not None and status.start_count != order.start_count:
        changes["start_count"] = status.start_count
    if status.charge is not None and status.charge != order.charge:
        changes["charge"] = status.charge
    if status.currency and status.currency != order.currency:
        changes["currency"] = status.currency
    if status.is_final and not order.final:
        changes["final"] = True
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
    ) -> None:
        self.store = store
        self.panels = panels
        self.poll_seconds = poll_seconds
        self.max_backoff = max_backoff
        self.clock = clock
        self._semaphore = asyncio.Semaphore(concurrency)
        self._failures: dict[int, int] = defaultdict(int)
        self._cycle_start = clock()
        self.owner = owner or f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"
        # Long enough for a slow cycle; a crashed watcher's orders return after it.
        self.lease_seconds = max(120.0, poll_seconds * 2)
        self.stop_requested = False

    def request_stop(self) -> None:
        """The process is stopping: a cycle returns at its next step and leaves what it has
        not done to its leases (they expire, and another watcher or the next start takes it)."""
        self.stop_requested = True

    async def run_cycle(self) -> CycleReport:
        started = asyncio.get_running_loop().time()
        report = CycleReport()
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
        jobs = [
            self._check_account(account, by_account.get(account_id, []), refills_by_account.get(account_id, []), report)
            for account_id, account in accounts.items()
            if not account.paused
        ]
        report.accounts = len(jobs)
        await asyncio.gather(*jobs)
        # Every change of the cycle and its notification, and every lease, in one write.
        # Counted from the cycle's start, so a slow cycle does not stretch the interval.
        next_check = now + timedelta(seconds=self.poll_seconds * 0.9)
        await self.store.apply_checks(self.owner, report.pending, report.checked, next_check)
        report.changes += len(report.pending)
        report.seconds = asyncio.get_running_loop().time() - started
        return report

    async def _check_account(
        self, account: PanelAccount, orders: list[Order], refills: list[tuple[Refill, Order]], report: CycleReport
    ) -> None:
        assert account.id is not None
        async with self._semaphore:
            client = self.panels.client(self.store.reveal_key(account))
            try:
                statuses = await client.statuses([o.panel_order_id for o in orders]) if orders else {}
                refill_statuses = (
                    await client.refill_statuses([r.panel_refill_id for r, _ in refills]) if refills else {}
                )
            except PanelRefusal as refused:
                if refused.kind is RefusalKind.INVALID_KEY:
                    await self._pause(account, report)
                    return
                await self._back_off(account, f"refused: {refused.kind}", report)
                return
            except (PanelUnavailable, OutcomeUnknown) as failure:
                await self._back_off(account, type(failure).__name__, report)
                return
        self._failures.pop(account.id, None)
        report.orders += len(orders)
        report.refills += len(refills)
        for order in orders:
            self._compare(order, statuses.get(order.panel_order_id), report)
        report.checked.extend(o.id for o in orders if o.id is not None)
        for refill, parent in refills:
            await self._apply_refill(refill, parent, refill_statuses.get(refill.panel_refill_id), report)
        next_check = self._cycle_start + timedelta(seconds=self.poll_seconds * 0.9)
        await self.store.release_refills(self.owner, [r.id for r, _ in refills if r.id is not None], next_check)

    def _compare(self, order: Any, status: OrderStatus | None, report: CycleReport) -> None:
        """Queue what changed (stored with the cycle's single write)."""
        if status is None or status.error is not None:
            return
        changes = order_changes(order, status)
        if not changes:
            return
        notice = None
        if "status" in changes:
            notice = Notice(
                user_id=order.user_id,
                kind=KIND_ORDER,
                dedupe_key=f"order:{order.id}:{order.status}>{status.status}",
                payload=order_payload(order, status, order.status),
            )
            report.notices += 1
        changes["last_checked_at"] = self.clock()
        report.pending.append((order.id, changes, notice))

    async def _apply_refill(self, refill: Refill, order: Order, status: RefillStatus | None, report: CycleReport) -> None:
        if status is None or status.error is not None or refill.id is None or not status.status:
            return
        if status.status == refill.status:
            return
        notice = Notice(
            user_id=order.user_id,
            kind=KIND_REFILL,
            dedupe_key=f"refill:{refill.id}:{status.status}",
            payload={"refill_id": refill.panel_refill_id, "order_id": order.panel_order_id, "order_pk": order.id,
                     "service_name": order.service_name, "status": status.status, "final": status.is_final},
        )
        await self.store.update_refill(refill.id, {"status": status.status, "final": status.is_final}, notice=notice)
        report.changes += 1
        report.notices += 1

    async def _back_off(self, account: PanelAccount, reason: str, report: CycleReport) -> None:
        assert account.id is not None
        self._failures[account.id] += 1
        failures = self._failures[account.id]
        delay = min(self.max_backoff, self.poll_seconds * 2 ** (failures - 1)) * random.uniform(0.75, 1.25)
        log.warning("account %s: panel check failed (%s); next try in %.0fs", account.id, reason, delay)
        until = self.clock() + timedelta(seconds=delay)
        await self.store.defer_account_orders(account.id, until)
        report.failed_accounts.append(account.id)

    async def _pause(self, account: PanelAccount, report: CycleReport) -> None:
        """An invalid key: stop watching it and tell its owner once."""
        assert account.id is not None
        log.warning("account %s: the panel refuses its key; watching paused", account.id)
        await self.store.set_account_paused(account.id, True)
        report.paused_accounts.append(account.id)
        if account.user_id is not None:
            await self.store.enqueue_notification(
                Notice(
                    user_id=account.user_id,
                    kind=KIND_KEY_INVALID,
                    dedupe_key=f"key_invalid:{account.id}:{account.key_fingerprint}",
                    payload={"key_hint": account.key_hint},
                )
            )
