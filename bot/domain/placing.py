"""Exactly-once order placement: the draft row is the guard, `add` is sent at most once."""

from __future__ import annotations

import enum
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from bot.domain.capabilities import NO_SUBSCRIPTIONS, PACKAGE_NEEDS_QUANTITY, Abilities, PanelFacts
from bot.domain.shop import Funds, Sale
from bot.panel.catalog import Catalog
from bot.panel.client import PanelClient
from bot.panel.errors import OutcomeUnknown, PanelRefusal, PanelUnavailable, Refusal
from bot.panel.fields import FieldInvalid, build_add_params, form_fields, quote, service_type, total_quantity
from bot.panel.models import Service
from bot.panel.values import type_key
from bot.store import KEEP, DraftState, Order, Store
from bot.store.ledger import Booked

log = logging.getLogger(__name__)


class Outcome(enum.Enum):
    PLACED = "placed"  # the panel gave an order id
    ALREADY = "already"  # another tap / process claimed this draft first
    REFUSED = "refused"  # the panel said no; the draft is editable again
    UNAVAILABLE = "unavailable"  # the request provably did not go through; editable again
    UNKNOWN = "unknown"  # the request may have gone through: check the panel
    UNRECORDED = "unrecorded"  # the panel gave an order id, but storing it failed
    INVALID = "invalid"  # a field no longer passes (e.g. the service's limits changed)
    CHANGED = "changed"  # price or limits changed since the confirm screen
    GONE = "gone"  # the service is no longer in the catalog
    NOT_OFFERED = "not_offered"  # the panel cannot create this type through its API (subscriptions)
    # Shop mode: nothing was claimed, nothing moved.
    SHORT = "short"  # the customer's wallet holds less than the price
    SOLD_OUT = "sold_out"  # the operator's panel balance cannot pay the panel for it now
    UNPRICED = "unpriced"  # a subscription without a number of posts has no price to hold


@dataclass(frozen=True, slots=True)
class PlaceResult:
    outcome: Outcome
    order: Order | None = None
    refusal: Refusal | None = None
    invalid: FieldInvalid | None = None
    service: Service | None = None
    retry_after: float | None = None
    panel_order_id: int | None = None
    price: Decimal | None = None  # shop mode: what the customer pays (held, then charged)


def service_of(snapshot: dict[str, Any]) -> Service:
    service = Service.from_api(snapshot)
    if service is None:
        raise ValueError("draft without a service snapshot")
    return service


# Types a panel of the SmartPanel family orders as link + quantity: it wants a quantity
# for them ("Quantity is required"), and a package's price is per package whatever it is.
PACKAGE_TYPES = frozenset({type_key("Package"), type_key("Custom Comments Package")})
SUBSCRIPTIONS = "Subscriptions"


def is_package(service: Service) -> bool:
    return service.type_key in PACKAGE_TYPES


def is_subscription(service: Service) -> bool:
    return service_type(service.type).name == SUBSCRIPTIONS


def package_quantity(service: Service) -> str:
    """The quantity a package is sent with where the panel wants one: its min (1 there)."""
    return str(max(service.min, 1))


def _wants_quantity(service: Service, params: dict[str, str], refused: Refusal) -> bool:
    return is_package(service) and "quantity" not in params and refused.field == "quantity" and refused.missing


def _cannot_subscribe(service: Service, params: dict[str, str], refused: Refusal) -> bool:
    """A subscription refused for a field subscriptions do not have (`Bad Link`,
    `Quantity is required`): the panel orders it as another type, so it cannot make one."""
    return (is_subscription(service) and refused.field is not None
            and refused.field not in {spec.name for spec in form_fields(service, params)})


def _terms_changed(before: Service, now: Service) -> bool:
    return (before.rate, before.min, before.max, before.type_key, before.dripfeed) != (
        now.rate, now.min, now.max, now.type_key, now.dripfeed
    )


async def place_draft(
    store: Store, client: PanelClient, catalog: Catalog, draft_id: int, user_id: int,
    *, currency: str | None = None, flow_when_placed: dict[str, Any] | None = KEEP,
    facts: PanelFacts | None = None, sale: Sale | None = None,
    funds: Callable[[Decimal], Awaitable[Funds]] | None = None, shown: Decimal | None = None,
) -> PlaceResult:
    """Re-check the draft against the catalog, claim it with one conditional update and
    send `add` once. Every path leaves the draft in a state that says what happened.
    `flow_when_placed`: the user's conversation state to store with the placed order.
    `facts`: what this panel is known to want or lack, learnt here from its refusals.

    One exception to "once": a package refused with `Quantity is required` is sent again,
    once, with quantity = the service's min. The refusal proves nothing was created, and
    the draft is still claimed by this call, so no other tap can send it meanwhile.

    Shop mode (`sale`; `catalog` is then the shop's, at its rates): the claim holds the
    price on the customer's wallet in the same transaction (SHORT: not enough, nothing
    claimed); a price above `shown` (what the confirm screen said: the prices changed
    since) is CHANGED, nothing claimed; `funds(cost)` first turns the order away (SOLD_OUT) when the operator's panel
    balance cannot pay the panel. Placed keeps the hold as the charge; a refusal or a
    request that provably did not leave gives it back with the draft's state; UNKNOWN
    keeps it until an admin reconciles the draft."""
    draft = await store.get_draft(draft_id, user_id)
    if draft is None or draft.state != DraftState.DRAFT:
        return PlaceResult(Outcome.ALREADY)
    snapshot = service_of(draft.service)
    current = catalog.get(snapshot.id)
    if current is None:
        return PlaceResult(Outcome.GONE, service=snapshot)
    if _terms_changed(snapshot, current):
        await store.update_draft_values(draft_id, user_id, dict(draft.values), service=current.to_dict())
        return PlaceResult(Outcome.CHANGED, service=current)
    try:
        params = build_add_params(current, draft.values)
    except FieldInvalid as problem:
        return PlaceResult(Outcome.INVALID, invalid=problem, service=current)
    abilities = await facts.abilities() if facts is not None else Abilities()
    if is_subscription(current) and not abilities.subscriptions:
        return PlaceResult(Outcome.NOT_OFFERED, service=current)
    sent = dict(params)
    if is_package(current) and abilities.package_needs_quantity:
        sent["quantity"] = package_quantity(current)

    price = quote(current, params)
    cost: Decimal | None = None
    if sale is not None:
        on_panel = sale.panel.get(current.id)
        if on_panel is None:
            return PlaceResult(Outcome.GONE, service=snapshot)
        price = sale.rules.charge(price)
        if price.per_post:
            return PlaceResult(Outcome.UNPRICED, service=current)
        if shown is not None and price.high > shown:
            return PlaceResult(Outcome.CHANGED, service=current, price=price.high)
        cost = quote(on_panel, params).high
        if funds is not None and await funds(cost) is Funds.SHORT:
            return PlaceResult(Outcome.SOLD_OUT, service=current, price=price.high)
        held = await store.claim_draft_with_hold(draft_id, user_id, price.high)
        if held is None:
            return PlaceResult(Outcome.ALREADY)
        if held is not Booked.BOOKED:
            return PlaceResult(Outcome.SHORT, service=current, price=price.high)
    elif not await store.claim_draft(draft_id, user_id):
        return PlaceResult(Outcome.ALREADY)
    # From here on the request may leave: no failure is raised to the caller, whose
    # generic answer ("try again") would invite a real duplicate. A cancellation (the
    # process stopping) still propagates; the draft then stays SUBMITTING, which the
    # next start turns into UNKNOWN.
    for attempt in (1, 2):
        try:
            order_id = await client.add(sent)
        except OutcomeUnknown as unknown:
            log.warning("draft %s: add outcome unknown (%s)", draft_id, unknown.reason)
            await _finish(store, draft_id, DraftState.UNKNOWN, error=unknown.reason)
            return PlaceResult(Outcome.UNKNOWN, service=current)
        except PanelRefusal as refusal:
            if attempt == 1 and _wants_quantity(current, sent, refusal.refusal):
                await _learn(facts, PACKAGE_NEEDS_QUANTITY, refusal.text)
                sent["quantity"] = package_quantity(current)
                log.info("draft %s: the panel wants a quantity for packages; sending it again with quantity %s",
                         draft_id, sent["quantity"])
                continue
            if _cannot_subscribe(current, sent, refusal.refusal):
                await _learn(facts, NO_SUBSCRIPTIONS, refusal.text)
                await _finish(store, draft_id, DraftState.FAILED, error=refusal.text)
                return PlaceResult(Outcome.NOT_OFFERED, refusal=refusal.refusal, service=current)
            await _finish(store, draft_id, DraftState.DRAFT, error=refusal.text)
            return PlaceResult(Outcome.REFUSED, refusal=refusal.refusal, service=current)
        except PanelUnavailable as unavailable:
            # Provably not sent (connect error, 429 before the panel acted); on a second
            # attempt the first was a refusal, so still nothing was created.
            await _finish(store, draft_id, DraftState.DRAFT, error=unavailable.reason)
            return PlaceResult(Outcome.UNAVAILABLE, service=current, retry_after=unavailable.retry_after)
        except Exception:
            # A bug or an unexpected failure: the request may have left, so it must never be
            # re-sent automatically.
            log.exception("draft %s: add failed unexpectedly; the order may have been placed", draft_id)
            await _finish(store, draft_id, DraftState.UNKNOWN, error="interrupted")
            return PlaceResult(Outcome.UNKNOWN, service=current)
        break

    # Written before recording: if the database is gone, this line is the only place
    # that keeps the panel's order id.
    log.warning("draft %s (user %s): the panel placed order %s; recording it", draft_id, user_id, order_id)
    shop: dict[str, Any] = {} if sale is None else {"paid": True, "cost": cost}
    try:
        order = await store.record_placement(
            draft_id,
            panel_order_id=order_id,
            service_name=current.name,
            service_type=current.type,
            link=params.get("link") or params.get("username"),
            quantity=total_quantity(current, params),
            fields=sent,  # what the panel got, a package's added quantity too
            charge=None if price.per_post else price.high,
            currency=sale.currency if sale is not None else currency,
            status="Pending",
            refill=current.refill,
            cancel=current.cancel,
            flow=flow_when_placed,
            **shop,
        )
    except Exception:
        log.exception("draft %s (user %s): panel order %s was placed but could not be recorded", draft_id, user_id,
                      order_id)
        # The panel has the order; keep its id on the draft so nobody orders it again.
        await _finish(store, draft_id, DraftState.UNKNOWN, order_id=order_id, error="not recorded")
        return PlaceResult(Outcome.UNRECORDED, service=current, panel_order_id=order_id)
    log.info("draft %s placed as order %s", draft_id, order_id)
    return PlaceResult(Outcome.PLACED, order=order, service=current, panel_order_id=order_id,
                       price=price.high if sale is not None else None)


async def _learn(facts: PanelFacts | None, name: str, detail: str) -> None:
    """Remember what the panel showed; a failure to store it must not fail a placement
    whose request has left."""
    if facts is None:
        return
    try:
        await facts.learn(name, detail)
    except Exception:
        log.exception("could not store the panel fact %s", name)


async def _finish(store: Store, draft_id: int, state: DraftState, *, order_id: int | None = None,
                  error: str | None = None) -> bool:
    """finish_draft that never raises: False when the draft's state could not be written
    (it then stays SUBMITTING, shown as UNKNOWN after the next start)."""
    try:
        await store.finish_draft(draft_id, state, order_id=order_id, error=error)
    except Exception:
        log.exception("draft %s: could not store its state %s", draft_id, state.value)
        return False
    return True
