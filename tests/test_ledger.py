"""Shop mode's ledger (bot/store/ledger.py): a wallet is the sum of its entries, money out
never takes it below zero however many bookings race, a reference is booked once, and a
draft's claim and its hold are one transaction; on SQLite and PostgreSQL."""

from __future__ import annotations

import asyncio
from decimal import Decimal

from bot.store import DraftState, Store
from bot.store.ledger import Booked, Movement
from tests.test_store import Backend, _draft, backend, store  # noqa: F401  (fixtures)

ANN = 7_000_000_001


async def test_a_wallet_is_the_sum_of_its_entries_exactly(store: Store) -> None:
    assert await store.balance(ANN) == 0
    assert await store.book(Movement(ANN, Decimal("10.10"), "topup", "charge:1")) is Booked.BOOKED
    assert await store.book(Movement(ANN, Decimal("0.20"), "topup", "charge:2")) is Booked.BOOKED
    assert await store.book(Movement(ANN, Decimal("-0.30"), "hold", "order:1:hold")) is Booked.BOOKED
    assert await store.balance(ANN) == Decimal("10.00")
    kinds = [(m.kind, m.amount) for m in await store.movements(ANN)]
    assert kinds == [("hold", Decimal("-0.3")), ("topup", Decimal("0.2")), ("topup", Decimal("10.1"))]


async def test_a_reference_is_booked_once(store: Store) -> None:
    topup = Movement(ANN, Decimal("5"), "topup", "charge:stx123")
    assert await store.book(topup) is Booked.BOOKED
    assert await store.book(topup) is Booked.DUPLICATE  # Telegram delivered the payment again
    assert await store.balance(ANN) == Decimal("5")


async def test_money_out_never_takes_a_wallet_below_zero(store: Store) -> None:
    await store.book(Movement(ANN, Decimal("1.00"), "topup", "charge:1"))
    assert await store.book(Movement(ANN, Decimal("-1.01"), "hold", "order:1:hold")) is Booked.SHORT
    assert await store.book(Movement(ANN, Decimal("-1.00"), "hold", "order:2:hold")) is Booked.BOOKED
    assert await store.balance(ANN) == 0


async def test_racing_holds_cannot_overdraw_a_wallet(backend: Backend, store: Store) -> None:
    """40 holds of 10 against a wallet of 100, from two processes at once: exactly ten."""
    other = backend.open()
    await store.book(Movement(ANN, Decimal("100"), "topup", "charge:1"))
    holds = [(store if i % 2 else other).book(Movement(ANN, Decimal("-10"), "hold", f"order:{i}:hold"))
             for i in range(40)]
    results = await asyncio.gather(*holds)
    assert results.count(Booked.BOOKED) == 10 and results.count(Booked.SHORT) == 30
    assert await store.balance(ANN) == 0
    assert await other.balance(ANN) == 0


async def test_a_claim_and_its_hold_are_one_transaction(store: Store) -> None:
    draft_id, _account = await _draft(store, ANN)
    second_id, _account = await _draft(store, ANN)
    await store.book(Movement(ANN, Decimal("5"), "topup", "charge:1"))
    assert await store.claim_draft_with_hold(draft_id, ANN, Decimal(3)) is Booked.BOOKED
    assert await store.claim_draft_with_hold(draft_id, ANN, Decimal(3)) is None  # a second tap
    assert await store.claim_draft_with_hold(second_id, ANN, Decimal(3)) is Booked.SHORT
    second = await store.get_draft(second_id, ANN)
    assert second is not None and second.state == DraftState.DRAFT  # the claim went back with it
    first = await store.get_draft(draft_id, ANN)
    assert first is not None and first.state == DraftState.SUBMITTING
    assert await store.balance(ANN) == Decimal("2")


async def test_racing_confirms_hold_no_more_than_the_wallet(backend: Backend, store: Store) -> None:
    other = backend.open()
    drafts = [(await _draft(store, ANN))[0] for _ in range(10)]
    await store.book(Movement(ANN, Decimal("50"), "topup", "charge:1"))
    claims = [(store if i % 2 else other).claim_draft_with_hold(draft_id, ANN, Decimal(10))
              for i, draft_id in enumerate(drafts)]
    results = await asyncio.gather(*claims)
    assert results.count(Booked.BOOKED) == 5 and results.count(Booked.SHORT) == 5
    assert await store.balance(ANN) == 0


async def test_a_refused_draft_gets_its_hold_back_and_holds_anew_on_the_next_confirm(store: Store) -> None:
    """Refused (back to DRAFT) releases the hold with the state change; the next Confirm
    holds again under a reference of its own, and a placed one keeps its hold."""
    draft_id, _account = await _draft(store, ANN)
    await store.book(Movement(ANN, Decimal("10"), "topup", "charge:1"))
    assert await store.claim_draft_with_hold(draft_id, ANN, Decimal(4)) is Booked.BOOKED
    assert await store.balance(ANN) == Decimal(6)
    assert await store.finish_draft(draft_id, DraftState.DRAFT, error="Not enough funds")
    assert await store.balance(ANN) == Decimal(10)
    assert await store.claim_draft_with_hold(draft_id, ANN, Decimal(4)) is Booked.BOOKED
    assert await store.balance(ANN) == Decimal(6)
    assert await store.finish_draft(draft_id, DraftState.UNKNOWN, error="timeout")  # the hold stays
    assert await store.balance(ANN) == Decimal(6)
    references = sorted(entry.reference for entry in await store.movements(ANN))
    assert references == ["charge:1", f"draft:{draft_id}:{ANN}:hold:1", f"draft:{draft_id}:{ANN}:hold:2",
                          f"draft:{draft_id}:{ANN}:release:1"]


async def test_a_draft_id_given_again_after_pruning_holds_for_its_new_owner(store: Store) -> None:
    """SQLite may give the id of a deleted (pruned) draft to the next one: another
    customer's Confirm of that id must hold, not find the old hold's reference taken."""
    bob = ANN + 1
    draft_id, _account = await _draft(store, ANN)
    await store.book(Movement(ANN, Decimal("10"), "topup", "charge:1"))
    await store.book(Movement(bob, Decimal("10"), "topup", "charge:2"))
    assert await store.claim_draft_with_hold(draft_id, ANN, Decimal(4)) is Booked.BOOKED
    assert await store.finish_draft(draft_id, DraftState.DRAFT, error="refused")
    from bot.store.drafts import DRAFTS  # the prune's own delete, for this one row

    async with store.session() as s:
        await s.exec(DRAFTS.delete().where(DRAFTS.c.id == draft_id))  # type: ignore[call-overload]
    again, _account = await _draft(store, bob)
    if again != draft_id:
        return  # this database does not give ids again (PostgreSQL's sequences)
    assert await store.claim_draft_with_hold(again, bob, Decimal(4)) is Booked.BOOKED
    assert await store.balance(bob) == Decimal(6) and await store.balance(ANN) == Decimal(10)
