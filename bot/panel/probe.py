"""What `python -m bot check-panel` finds out about a panel: its endpoint, which
actions it has, its catalog, currency and reply times. Harmless inputs only: reads,
and refill/cancel of an order id that does not exist; `add` is never sent (it would
place an order). No telegram here."""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any, Final

import httpx

from bot.panel.client import PanelClient
from bot.panel.endpoint import Discovery, discover
from bot.panel.errors import (
    OutcomeUnknown,
    PanelError,
    PanelRefusal,
    PanelUnavailable,
    RefusalKind,
)
from bot.panel.fields import service_type
from bot.panel.models import Balance, Service
from bot.panel.transport import panel_http

# An id no panel has given out (the top of a 32-bit column): asking about it changes nothing.
MISSING_ID: Final = 2147483646
ACTIONS: Final = ("services", "balance", "status", "add", "refill", "refill_status", "cancel")
# What the bot cannot work without (add is presumed: it cannot be tried harmlessly).
NEEDED: Final = ("services", "balance", "status")
# Refusals that prove the action exists: it looked for the order or refill and found none.
_EXISTS: Final = frozenset({
    RefusalKind.INCORRECT_ORDER, RefusalKind.INCORRECT_REFILL, RefusalKind.REFILL_DISABLED,
    RefusalKind.REFILL_NOT_COMPLETED,
})

YES: Final = "yes"
NO: Final = "no"
UNCLEAR: Final = "unclear"
NOT_TRIED: Final = "not tried"


@dataclass(frozen=True, slots=True)
class ActionCheck:
    action: str
    verdict: str  # YES, NO, UNCLEAR or NOT_TRIED
    detail: str = ""
    seconds: float | None = None


@dataclass(slots=True)
class PanelReport:
    discovery: Discovery
    checks: dict[str, ActionCheck] = field(default_factory=dict)
    services: list[Service] | None = None
    balance: Balance | None = None
    key_refused: bool = False

    @property
    def endpoint(self) -> str | None:
        return self.discovery.endpoint

    @property
    def usable(self) -> bool:
        """The bot can work with it: an API answers, the key is taken, and services,
        balance and status answer."""
        return (
            self.endpoint is not None and not self.key_refused
            and all(self.checks.get(a, ActionCheck(a, NO)).verdict == YES for a in NEEDED)
        )

    @property
    def missing(self) -> list[str]:
        return [a for a in ACTIONS if a in self.checks and self.checks[a].verdict == NO]

    def types(self) -> Counter[str]:
        return Counter(s.type for s in self.services or [])

    def unknown_types(self) -> Counter[str]:
        return Counter(s.type for s in self.services or [] if not service_type(s.type).known)

    def categories(self) -> int:
        return len({s.category for s in self.services or []})


async def _timed(call: Callable[[], Awaitable[Any]]) -> tuple[Any, BaseException | None, float]:
    started = time.perf_counter()
    try:
        result = await call()
    except PanelError as exc:
        return None, exc, time.perf_counter() - started
    return result, None, time.perf_counter() - started


def _verdict(action: str, failure: BaseException | None, success: str) -> ActionCheck:
    if failure is None:
        return ActionCheck(action, YES, success)
    if isinstance(failure, PanelRefusal):
        if failure.kind is RefusalKind.UNSUPPORTED_ACTION:
            return ActionCheck(action, NO, failure.text)
        if failure.kind in _EXISTS:
            return ActionCheck(action, YES, failure.text)
        return ActionCheck(action, UNCLEAR, failure.text)
    if isinstance(failure, OutcomeUnknown):
        return ActionCheck(action, UNCLEAR, failure.reason)
    if isinstance(failure, PanelUnavailable):
        return ActionCheck(action, UNCLEAR, failure.reason)
    return ActionCheck(action, UNCLEAR, str(failure))


async def check_panel(
    url: str, key: str, *, http: httpx.AsyncClient | None = None, timeout: float = 20.0
) -> PanelReport:
    """Find the endpoint, then ask each action once."""
    own = http is None
    client_http = http or panel_http(connections=4)
    try:
        found = await discover(url, key, http=client_http, timeout=min(timeout, 10.0))
        report = PanelReport(found)
        if found.endpoint is None:
            return report
        async with PanelClient(found.endpoint, key, http=client_http, timeout=timeout, retries=0) as client:
            await _ask_each(client, report)
        return report
    finally:
        if own:
            await client_http.aclose()


async def _ask_each(client: PanelClient, report: PanelReport) -> None:
    services, failure, seconds = await _timed(client.services)
    if failure is None:
        report.services = services
        check = ActionCheck("services", YES, f"{len(services)} services", seconds)
    else:
        check = _with_time(_verdict("services", failure, ""), seconds)
    report.checks["services"] = check
    _note_key(report, failure)

    balance, failure, seconds = await _timed(client.balance)
    if failure is None:
        report.balance = balance
    report.checks["balance"] = _with_time(
        _verdict("balance", failure, f"{balance.amount} {balance.currency}".strip() if balance else ""), seconds)
    _note_key(report, failure)

    _, failure, seconds = await _timed(lambda: client.status(MISSING_ID))
    report.checks["status"] = _with_time(_verdict("status", failure, "answered"), seconds)
    _note_key(report, failure)

    report.checks["add"] = ActionCheck("add", NOT_TRIED, "it would place an order")

    _, failure, seconds = await _timed(lambda: client.refill(MISSING_ID))
    report.checks["refill"] = _with_time(_verdict("refill", failure, "answered"), seconds)

    _, failure, seconds = await _timed(lambda: client.refill_status(MISSING_ID))
    report.checks["refill_status"] = _with_time(_verdict("refill_status", failure, "answered"), seconds)

    cancels, failure, seconds = await _timed(lambda: client.cancels([MISSING_ID]))
    if failure is None and cancels[MISSING_ID].error is not None:
        # A per-order refusal inside the batch: the action looked for the order.
        failure = PanelRefusal(cancels[MISSING_ID].error)
    report.checks["cancel"] = _with_time(_verdict("cancel", failure, "answered"), seconds)


def _with_time(check: ActionCheck, seconds: float) -> ActionCheck:
    return ActionCheck(check.action, check.verdict, check.detail, seconds)


def _note_key(report: PanelReport, failure: BaseException | None) -> None:
    if isinstance(failure, PanelRefusal) and failure.kind is RefusalKind.INVALID_KEY:
        report.key_refused = True
