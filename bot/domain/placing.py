"""Exactly-once order placement: the draft row is the guard, `add` is sent at most once."""

from __future__ import annotations

import enum
import logging
from dataclasses import dataclass
from typing import Any

from bot.panel.catalog import Catalog
from bot.panel.client import PanelClient
from bot.panel.errors import OutcomeUnknown, PanelRefusal, PanelUnavailable, Refusal
from bot.panel.fields import FieldInvalid, build_add_params, quote, total_quantity
from bot.panel.models import Service
from bot.store import KEEP, DraftState, Order, Store

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


@dataclass(frozen=True, slots=True)
class PlaceResult:
    outcome: Outcome
    order: Order | None = None
    refusal: Refusal | None = None
    invalid: FieldInvalid | None = None
    service: Service | None = None
    retry_after: float | None = None
    panel_order_id: int | None = None


def service_of(snapshot: dict[str, Any]) -> Service:
    service = Service.from_api(snapshot)
    if service is None:
        raise ValueError("draft without a service snapshot")
    return service


def _terms_changed(before: Service, now: Service) -> bool:
    return (before.rate, before.min, before.max, before.type_key, before.dripfeed) != (
        now.rate, now.min, now.max, now.type_key, now.dripfeed
    )


async def place_draft(
    store: Store, client: PanelClient, catalog: Catalog, draft_id: int, user_id: int,
    *, currency: str | None = None, flow_when_placed: dict[str, Any] | None = KEEP,
) -> PlaceResult:
    """Re-check the draft against the catalog, claim it with one conditional update and
    send `add` once. Every path leaves the draft in a state that says what happened.
    `flow_when_placed`: the user's conversation state to store with the placed order."""
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

    if not await store.claim_draft(draft_id, user_id):
        return PlaceResult(Outcome.ALREADY)
    # From here on the request may leave: no failure is raised to the caller, whose
    # generic answer ("try again") would invite a real duplicate. A cancellation (the
    # process stopping) still propagates; the draft then stays SUBMITTING, which the
    # next start turns into UNKNOWN.
    try:
        order_id = await client.add(params)
    except OutcomeUnknown as unknown:
        log.warning("draft %s: add outcome unknown (%s)", draft_id, unknown.reason)
        await _finish(store, draft_id, DraftState.UNKNOWN, error=unknown.reason)
        return PlaceResult(Outcome.UNKNOWN, service=current)
    except PanelRefusal as refusal:
        await _finish(store, draft_id, DraftState.DRAFT, error=refusal.text)
        return PlaceResult(Outcome.REFUSED, refusal=refusal.refusal, service=current)
    except PanelUnavailable as unavailable:
        await _finish(store, draft_id, DraftState.DRAFT, error=unavailable.reason)
        return PlaceResult(Outcome.UNAVAILABLE, service=current, retry_after=unavailable.retry_after)
    except Exception:
        # A bug or an unexpected failure: the request may have left, so it must never be
        # re-sent automatically.
        log.exception("draft %s: add failed unexpectedly; the order may have been placed", draft_id)
        await _finish(store, draft_id, DraftState.UNKNOWN, error="interrupted")
        return PlaceResult(Outcome.UNKNOWN, service=current)

    # Written before recording: if the database is gone, this line is the only place
    # that keeps the panel's order id.
    log.warning("draft %s (user %s): the panel placed order %s; recording it", draft_id, user_id, order_id)
    price = quote(current, params)
    try:
        order = await store.record_placement(
            draft_id,
            panel_order_id=order_id,
            service_name=current.name,
            service_type=current.type,
            link=params.get("link") or params.get("username"),
            quantity=total_quantity(current, params),
            fields=params,
            charge=None if price.per_post else price.high,
            currency=currency,
            status="Pending",
            refill=current.refill,
            cancel=current.cancel,
            flow=flow_when_placed,
        )
    except Exception:
        log.exception("draft %s (user %s): panel order %s was placed but could not be recorded", draft_id, user_id,
                      order_id)
        # The panel has the order; keep its id on the draft so nobody orders it again.
        await _finish(store, draft_id, DraftState.UNKNOWN, order_id=order_id, error="not recorded")
        return PlaceResult(Outcome.UNRECORDED, service=current, panel_order_id=order_id)
    log.info("draft %s placed as order %s", draft_id, order_id)
    return PlaceResult(Outcome.PLACED, order=order, service=current, panel_order_id=order_id)


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
