"""After placing: an order refreshed from the panel, a refill and a cancel requested —
each press one request at most (the claim protocol below), each outcome typed. No
Telegram here: the handlers turn an outcome into a screen.

The claim: `claim_order_action` marks the order in one conditional update, so a second
press (or a re-delivered update) while a request is out finds it taken. A refusal or no
answer releases it; an answer that may have reached the panel (`OutcomeUnknown`) keeps
it until it expires, so that a refill is not requested twice in quick succession.
"""

from __future__ import annotations

import asyncio
import enum
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Protocol

from bot.domain.accounts import Accounts
from bot.domain.capabilities import ACTION_FACTS, Abilities, PanelFacts
from bot.domain.watcher import order_changes
from bot.panel.client import PanelClient
from bot.panel.errors import OutcomeUnknown, PanelRefusal, PanelUnavailable, RefusalKind
from bot.panel.status import COMPLETED, PARTIAL, OrderStatus
from bot.store import Order, Store

# A refresh waits this long for the panel, then shows the order as stored.
REFRESH_DEADLINE = 8.0
# Everything assumed until a panel shows otherwise.
ASSUMED = Abilities()


class Actionable(Protocol):
    """What decides which actions an order offers: a stored `Order`, or the same fields
    carried by a notification."""

    @property
    def refill(self) -> bool: ...
    @property
    def cancel(self) -> bool: ...
    @property
    def final(self) -> bool: ...
    @property
    def status(self) -> str | None: ...


def can_refill(order: Actionable, abilities: Abilities = ASSUMED) -> bool:
    """A finished (Completed or Partial) order of a service with refill, on a panel that has it."""
    return bool(order.refill and abilities.refill and order.final and order.status in (COMPLETED, PARTIAL))


def can_cancel(order: Actionable, abilities: Abilities = ASSUMED) -> bool:
    """An unfinished order of a service with cancel, on a panel that has it."""
    return bool(order.cancel and abilities.cancel and not order.final)


@dataclass(frozen=True)
class Refreshed:
    """The order as stored after asking the panel; `live` its answer, or `problem` why
    there is none (the panel down or refusing; None too when the user has no account)."""

    order: Order
    live: OrderStatus | None = None
    problem: PanelUnavailable | PanelRefusal | TimeoutError | None = None


async def refresh(store: Store, accounts: Accounts, user_id: int, order: Order) -> Refreshed:
    """Ask the panel for the order's live status and store what changed: the user sees
    the change now, so the watcher has nothing left to announce."""
    linked = await accounts.linked(user_id)
    if linked is None:
        return Refreshed(order)
    try:
        status = await asyncio.wait_for(linked.client.status(order.panel_order_id), REFRESH_DEADLINE)
    except (PanelUnavailable, PanelRefusal, TimeoutError) as error:
        return Refreshed(order, problem=error)
    changes = order_changes(order, status)
    if changes and order.id is not None:
        await store.update_order(order.id, {**changes, "last_checked_at": datetime.now(UTC)})
        order = order.model_copy(update=changes)
    return Refreshed(order, live=status)


class Asked(enum.Enum):
    """What became of a refill or cancel request."""

    SENT = "sent"  # the panel took it (a refill's id in `refill_id`)
    NOT_OFFERED = "not offered"  # the panel has no such action (`news`: learnt just now)
    NOT_NOW = "not now"  # the order's state does not allow it
    BUSY = "busy"  # a request for this order is already on its way
    NO_ACCOUNT = "no account"  # the user has no panel account linked
    UNCLEAR = "unclear"  # no clear answer: it may have been taken; the claim stays
    REFUSED = "refused"  # the panel said no (`refusal`)
    UNAVAILABLE = "unavailable"  # the panel did not answer; nothing was sent


@dataclass(frozen=True)
class Request:
    outcome: Asked
    order: Order
    refill_id: int | None = None
    refusal: PanelRefusal | None = None
    news: bool = False


async def request_refill(store: Store, accounts: Accounts, facts: PanelFacts, user_id: int, order: Order) -> Request:
    """One `refill` call for a finished order; the refill is stored, to be watched."""
    async def call(client: PanelClient) -> int:
        return await client.refill(order.panel_order_id)

    request = await _once(store, accounts, facts, user_id, order, "refill", can_refill, call)
    if request.outcome is Asked.SENT and request.refill_id is not None and order.id is not None:
        await store.add_refill(order.id, request.refill_id)
    return request


async def request_cancel(store: Store, accounts: Accounts, facts: PanelFacts, user_id: int, order: Order) -> Request:
    """One `cancel` call for an unfinished order; its outcome arrives through the watcher."""
    async def call(client: PanelClient) -> None:
        await client.cancel(order.panel_order_id)

    return await _once(store, accounts, facts, user_id, order, "cancel", can_cancel, call)


class _Call(Protocol):
    async def __call__(self, client: PanelClient, /) -> int | None: ...


async def _once(store: Store, accounts: Accounts, facts: PanelFacts, user_id: int, order: Order, action: str,
                allowed: Callable[[Actionable, Abilities], bool], call: _Call) -> Request:
    """What refill and cancel share: allowed now, claimed so that one press sends one
    request, then the panel's answer. A panel that answers it has no such `action` is
    remembered (its buttons go); one that answers at all has it again."""
    if order.id is None:
        return Request(Asked.NOT_NOW, order)
    abilities = await facts.abilities()
    if not getattr(abilities, action):
        return Request(Asked.NOT_OFFERED, order)
    if not allowed(order, abilities):
        return Request(Asked.NOT_NOW, order)
    if not await store.claim_order_action(order.id, user_id):
        return Request(Asked.BUSY, order)
    linked = await accounts.linked(user_id)
    if linked is None:
        await store.release_order_action(order.id)
        return Request(Asked.NO_ACCOUNT, order)
    try:
        result = await call(linked.client)
    except OutcomeUnknown:
        return Request(Asked.UNCLEAR, order)
    except PanelRefusal as refused:
        await store.release_order_action(order.id)
        if refused.kind is RefusalKind.UNSUPPORTED_ACTION:
            news = await facts.learn(ACTION_FACTS[action], refused.text[:500])
            return Request(Asked.NOT_OFFERED, order, refusal=refused, news=news)
        return Request(Asked.REFUSED, order, refusal=refused)
    except PanelUnavailable:
        await store.release_order_action(order.id)
        return Request(Asked.UNAVAILABLE, order)
    await facts.forget(ACTION_FACTS[action])
    return Request(Asked.SENT, order, refill_id=result)
