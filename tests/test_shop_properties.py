"""Shop mode's money, as a property: whatever customers, the panel, the watcher and the
admins do, in whatever order, every wallet stays at or above zero, every wallet is the
sum of its entries, the customers' money adds up (top-ups − what orders kept − what
unclear orders hold), each movement is booked once, and no hold outlives what it was for.

Hypothesis drives random sequences of steps over three customers against the real
Application, the fake Telegram, the sandbox panel and a real database (SQLite; also
PostgreSQL when TEST_DATABASE_URL is set): top-ups (booked, and paid in Stars through
/topup, some delivered twice), an admin refunding Stars, orders confirmed (placed, refused,
provably not sent, unclear), second taps and two taps at once on one Confirm, two
drafts of one wallet confirmed at once, /cancel, admins settling unclear orders (placed
or failed, and a second time), final statuses (Completed, Partial with any remains,
Canceled, Refunded) and progress seen by a watcher cycle, a cycle that sees nothing new,
and restarts. A Python model follows every step; after each one the store is read back
with plain SQL and compared with it."""

from __future__ import annotations

import asyncio
import re
import tempfile
from collections import Counter, defaultdict
from contextlib import AsyncExitStack
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from decimal import ROUND_CEILING, Decimal
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, event, settings
from hypothesis import strategies as st
from hypothesis.stateful import (
    RuleBasedStateMachine,
    initialize,
    invariant,
    precondition,
    rule,
    run_state_machine_as_test,
)
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine
from telegram import Update

from bot.playground.fakegram import FakeUser
from bot.store import admin as admin_store
from bot.store.db import make_engine
from bot.store.ledger import Movement
from tests.harness import KEY, PG_URL, World, world
from tests.test_shop_wallet import deliver_again
from tests.test_watching import cycle, deps

ADMIN = 42
CUSTOMERS = (1001, 1002, 1003)
SHOP = {"mode": "shop", "panel_key": KEY, "stars_per_unit": "50", "admin_ids": str(ADMIN), "shop_markup": "30"}
# The panel's rates of the sandbox's services (bot/playground/sandbox/catalog.py), the
# shop's 30 % on top, and the quantities tried: the model prices orders on its own.
RATES = {1012: Decimal("2.45"), 1013: Decimal("0.32")}
QUANTITIES = {1012: (100, 3000), 1013: (10, 5000)}
MARKUP = Decimal("1.30")
CENT = Decimal("0.01")
TOPUPS = [Decimal(x) for x in ("0.01", "0.50", "1", "2.50", "3.19", "5", "10", "25")]
# How the panel answers an `add`: takes it, refuses it (nothing created), 429 before it
# acts (nothing created), or takes it and the answer is lost (502: the order exists).
ANSWERS = ("ok", "refused", "unavailable", "unclear")
MOSTLY_OK = ("ok", "ok", "ok") + ANSWERS
FINAL = ("Completed", "Partial", "Canceled", "Refunded")
# /topup's presets as the buttons say them (TOPUP_AMOUNTS 5 and 10 at STARS_PER_UNIT 50).
STARS_PRESETS = ("$5.00 for 250 ⭐", "$10.00 for 500 ⭐")


def price_of(service: int, quantity: int) -> Decimal:
    """The customer's price: the panel's rate + 30 %, per 1000, rounded up to the cent."""
    return (RATES[service] * MARKUP * quantity / 1000).quantize(CENT, rounding=ROUND_CEILING)


def refund_of(status: str, price: Decimal, quantity: int, remains: int) -> Decimal:
    """What a final status gives back: all of it for Canceled / Refunded, the undelivered
    share for Partial (rounded up in the customer's favour, at most the price)."""
    if status in ("Canceled", "Refunded"):
        return price
    if status != "Partial" or remains <= 0:
        return Decimal(0)
    if remains >= quantity:
        return price
    return min(price, (price * remains / quantity).quantize(CENT, rounding=ROUND_CEILING))


@dataclass
class DraftModel:
    id: int
    user: int
    service: int
    quantity: int
    price: Decimal
    link: str
    message: dict[str, Any]  # the confirm screen as Telegram sent it, to press Confirm on again
    data: str  # the Confirm button's callback data
    state: str = "DRAFT"
    panel_order: int | None = None  # the sandbox's order id, once the panel has one
    final: bool = False
    refund: Decimal = Decimal(0)


def amount(value: object) -> Decimal:
    return Decimal(str(value))


class ShopMoney(RuleBasedStateMachine):
    """The steps and the model. `db`: set by the test that runs the machine."""

    db = "sqlite"

    def __init__(self) -> None:
        super().__init__()
        self.loop = asyncio.new_event_loop()
        self.tmp = tempfile.TemporaryDirectory(prefix="shop-props-")
        self.stack = AsyncExitStack()
        self.bot: World = self.run(self.stack.enter_async_context(world(Path(self.tmp.name), db=self.db,
                                                                        balance="1000000", **SHOP)))
        self.sql: AsyncEngine = make_engine(self.bot.db_url, schema=self.bot.schema)
        self.wallets: dict[int, Decimal] = {user: Decimal(0) for user in CUSTOMERS}
        self.topups: dict[str, tuple[int, Decimal]] = {}
        # Top-ups paid in Stars through /topup: top-up id -> (customer, amount, charge id),
        # and the charge ids an admin refunded.
        self.stars: dict[int, tuple[int, Decimal, str]] = {}
        self.refunded: set[str] = set()
        self.drafts: dict[int, DraftModel] = {}
        self.panel_orders = 0  # orders the sandbox has made: every `add` that got through
        self.links = 0
        self.now = datetime.now(UTC)

    # --- plumbing --------------------------------------------------------------------------

    def run(self, work: Any) -> Any:
        return self.loop.run_until_complete(work)

    def teardown(self) -> None:
        async def close() -> None:
            await self.sql.dispose()
            await self.stack.aclose()

        try:
            self.run(close())
        finally:
            self.loop.close()
            self.tmp.cleanup()

    def user(self, user_id: int) -> FakeUser:
        return self.bot.user(user_id)

    def press_update(self, draft: DraftModel) -> dict[str, Any]:
        """A fresh tap on the draft's Confirm button (the same button pressed again: the
        bot took the keyboard away meanwhile, a quick second tap or a redelivery still
        comes)."""
        user = self.user(draft.user)
        fake = user.fake
        query_id = fake.next_query_id()
        fake.callback_queries[query_id] = {"id": query_id, "user_id": user.id, "chat_id": user.id,
                                           "message_id": draft.message["message_id"], "data": draft.data,
                                           "answered": False, "answer": None}
        return {"update_id": fake.next_update_id(),
                "callback_query": {"id": query_id, "from": user.user_dict(), "message": draft.message,
                                   "chat_instance": f"{user.id}{fake.bot_id}", "data": draft.data}}

    async def process(self, *updates: dict[str, Any]) -> None:
        app = self.bot.app
        assert app is not None
        await asyncio.gather(*(app.process_update(Update.de_json(u, app.bot)) for u in updates))

    def set_answer(self, answer: str) -> None:
        faults = self.bot.sandbox.faults
        if answer == "refused":
            faults.set("add", error="Link is invalid")
        elif answer == "unavailable":
            faults.set("add", rate_limit=0)
        elif answer == "unclear":
            faults.set("add", http_status=502)

    async def draft_states(self) -> dict[int, str]:
        async with self.sql.connect() as conn:
            rows = await conn.execute(text("SELECT id, state FROM drafts"))
            return {row.id: row.state for row in rows}

    async def confirm(self, drafts: list[DraftModel], answer: str, *, taps: int = 1) -> None:
        """Press Confirm on `drafts` (each `taps` times) at once, with the panel answering
        `answer`; then follow in the model what the bot did."""
        before_orders = len(self.bot.sandbox.orders(KEY))
        self.set_answer(answer)
        try:
            await self.process(*(self.press_update(d) for d in drafts for _ in range(taps)))
        finally:
            self.bot.sandbox.faults.clear()
        states = await self.draft_states()
        made = len(self.bot.sandbox.orders(KEY)) - before_orders
        open_ = [d for d in drafts if d.state == "DRAFT"]
        # Which of the open ones went through is the race's to decide; the model checks that
        # what happened is what a wallet of this balance allows: the ones through fit in
        # it, and each left behind did not fit in what they left.
        through = [d for d in open_ if states[d.id] != "DRAFT"]
        for d in drafts:
            if d not in open_:
                assert states[d.id] == d.state, f"a second tap changed draft {d.id}: {d.state} -> {states[d.id]}"
        for user in {d.user for d in open_}:
            mine = [d for d in open_ if d.user == user]
            spent = sum((d.price for d in through if d.user == user), Decimal(0))
            wallet = self.wallets[user]
            if answer in ("ok", "unclear"):
                assert spent <= wallet, f"user {user}: {spent} placed from a wallet of {wallet}"
                for d in mine:
                    if d not in through:
                        assert wallet - spent < d.price, f"draft {d.id} ({d.price}) not placed from {wallet - spent}"
            else:
                assert not any(d.user == user for d in through), "a refused / unsent order moved"
        expected_state = {"ok": "PLACED", "unclear": "UNKNOWN"}.get(answer, "DRAFT")
        for d in drafts:
            event(f"confirm: {answer} x{len(drafts) * taps} -> "
                  f"{'second tap' if d not in open_ else states[d.id] if d in through else 'short' if answer in ('ok', 'unclear') else 'back to DRAFT'}")
        for d in through:
            assert states[d.id] == expected_state, f"draft {d.id}: {states[d.id]} after {answer}"
            d.state = expected_state
            self.wallets[d.user] -= d.price
        assert made == len(through), f"{made} panel orders for {len(through)} drafts through"
        self.panel_orders += made
        by_link = {o.link: o.id for o in self.bot.sandbox.orders(KEY)}
        for d in through:
            d.panel_order = by_link[d.link]  # each draft its own link

    # --- steps -----------------------------------------------------------------------------

    @initialize(money=st.lists(st.sampled_from(TOPUPS), min_size=len(CUSTOMERS), max_size=len(CUSTOMERS)))
    def start(self, money: list[Decimal]) -> None:
        """Each customer starts with a top-up of their own."""
        for user, first in zip(CUSTOMERS, money, strict=True):
            self.top_up(user, first)

    @rule(user=st.sampled_from(CUSTOMERS), money=st.sampled_from(TOPUPS))
    def top_up(self, user: int, money: Decimal) -> None:
        reference = f"topup:{len(self.topups) + 1}"
        assert self.bot.store is not None
        self.run(self.bot.store.book(Movement(user, money, "topup", reference)))
        self.topups[reference] = (user, money)
        self.wallets[user] += money

    @rule(user=st.sampled_from(CUSTOMERS), preset=st.sampled_from(STARS_PRESETS), again=st.booleans())
    def pay_stars(self, user: int, preset: str, again: bool) -> None:
        """/topup, a preset, Pay: the wallet is credited once, even when Telegram delivers
        the payment again (`again`)."""
        self.run(self._pay_stars(user, preset, again))

    async def _pay_stars(self, user_id: int, preset: str, again: bool) -> None:
        user, app = self.user(user_id), self.bot.app
        assert app is not None
        await self.bot.send(user, "/topup")
        await self.bot.press(user, preset)
        charge = await user.pay(app)
        assert charge is not None, user.last_text
        if again:
            await deliver_again(self.bot, user, charge)
        money = Decimal(preset.split(" ")[0].lstrip("$"))
        self.topups[f"topup:{charge.id}"] = (user_id, money)
        self.stars[int(charge.payload.split(":")[1])] = (user_id, money, charge.id)
        self.wallets[user_id] += money
        event(f"stars top-up{' delivered twice' if again else ''}")

    @precondition(lambda self: any(charge not in self.refunded for _u, _m, charge in self.stars.values()))
    @rule(pick=st.integers(0, 1000))
    def refund_stars(self, pick: int) -> None:
        """An admin's /refund_topup: the Stars go back only while the wallet holds the
        amount (holds of unclear or placed orders count as spent)."""
        waiting = sorted((i, t) for i, t in self.stars.items() if t[2] not in self.refunded)
        topup_id, (user, money, charge) = waiting[pick % len(waiting)]
        admin = self.user(ADMIN)
        self.run(self.bot.send(admin, f"/refund_topup {topup_id}"))
        if self.wallets[user] >= money:
            assert admin.last_text.startswith(f"✅ Top-up #{topup_id} refunded"), admin.last_text
            assert self.bot.fake.payments.charges[charge].refunded
            self.wallets[user] -= money
            self.refunded.add(charge)
            event("stars refunded")
        else:
            assert admin.last_text.startswith("❌ Not refunded"), admin.last_text
            assert not self.bot.fake.payments.charges[charge].refunded
            event("stars refund refused: spent")

    @rule(user=st.sampled_from(CUSTOMERS), service=st.sampled_from(sorted(RATES)), data=st.data(),
          answer=st.sampled_from(MOSTLY_OK), taps=st.sampled_from((1, 1, 1, 2)))
    def order(self, user: int, service: int, data: st.DataObject, answer: str, taps: int) -> None:
        """A new order filled in through the bot and confirmed (twice at once: `taps`)."""
        low, high = QUANTITIES[service]
        quantity = data.draw(st.integers(low, high), label="quantity")
        draft = self.run(self._fill_in(user, service, quantity))
        self.run(self.confirm([draft], answer, taps=taps))

    async def _fill_in(self, user_id: int, service: int, quantity: int) -> DraftModel:
        user = self.user(user_id)
        await self.bot.send(user, f"/order {service}")
        await self.bot.press(user, "Order")
        self.links += 1
        link = f"https://instagram.com/shop{self.links}"
        await self.bot.send(user, link)
        await self.bot.send(user, str(quantity))
        while "Check your order" not in user.last_text:
            await self.bot.press(user, "Skip")
        screen = user.keyboard_message
        assert screen is not None
        [data] = [b["callback_data"] for row in screen.inline_keyboard for b in row if b.get("text") == "Confirm"]
        draft_id = int(data.split(":")[1])
        price = price_of(service, quantity)
        shown = re.search(r"Price: \$([\d,.]+)", screen.text)
        assert shown and Decimal(shown.group(1).replace(",", "")) == price, (screen.text, price)
        model = DraftModel(draft_id, user_id, service, quantity, price, link, screen.to_api(), data)
        self.drafts[draft_id] = model
        return model

    @precondition(lambda self: any(d.state == "DRAFT" for d in self.drafts.values()))
    @rule(pick=st.integers(0, 1000), answer=st.sampled_from(MOSTLY_OK))
    def confirm_again(self, pick: int, answer: str) -> None:
        """Confirm pressed again on a draft still open (refused, not sent or short before)."""
        open_ = [d for d in self.drafts.values() if d.state == "DRAFT"]
        self.run(self.confirm([open_[pick % len(open_)]], answer))

    @precondition(lambda self: any(d.state != "DRAFT" for d in self.drafts.values()))
    @rule(pick=st.integers(0, 1000), answer=st.sampled_from(ANSWERS))
    def second_tap(self, pick: int, answer: str) -> None:
        """Confirm pressed on a draft that is no longer open: nothing moves, nothing is sent."""
        done = [d for d in self.drafts.values() if d.state != "DRAFT"]
        self.run(self.confirm([done[pick % len(done)]], answer))

    @precondition(lambda self: len({d.user for d in self.drafts.values() if d.state == "DRAFT"})
                  < sum(1 for d in self.drafts.values() if d.state == "DRAFT"))
    @rule(pick=st.integers(0, 1000), answer=st.sampled_from(("ok", "ok", "unclear")))
    def two_drafts_at_once(self, pick: int, answer: str) -> None:
        """Two open drafts of one wallet confirmed at the same moment."""
        by_user: dict[int, list[DraftModel]] = defaultdict(list)
        for d in self.drafts.values():
            if d.state == "DRAFT":
                by_user[d.user].append(d)
        pairs = [ds for ds in by_user.values() if len(ds) > 1]
        mine = pairs[pick % len(pairs)]
        self.run(self.confirm(mine[-2:], answer))

    @rule(user=st.sampled_from(CUSTOMERS))
    def cancel(self, user: int) -> None:
        """/cancel: the form the customer is on (if any) is dropped; no money moves."""
        before = self.run(self.draft_states())
        self.run(self.bot.send(self.user(user), "/cancel"))
        after = self.run(self.draft_states())
        changed = [i for i in after if after[i] != before[i]]
        assert len(changed) <= 1, changed
        for i in changed:
            assert (before[i], after[i]) == ("DRAFT", "ABANDONED") and self.drafts[i].user == user
            self.drafts[i].state = "ABANDONED"
            event("cancel: abandoned")

    @precondition(lambda self: any(d.state == "UNKNOWN" for d in self.drafts.values()))
    @rule(pick=st.integers(0, 1000), placed=st.booleans(), twice=st.booleans())
    def settle(self, pick: int, placed: bool, twice: bool) -> None:
        """An admin settles an unclear order: placed (its panel id) or failed; perhaps a
        second time, which must change nothing."""
        unclear = [d for d in self.drafts.values() if d.state == "UNKNOWN"]
        draft = unclear[pick % len(unclear)]
        store = self.bot.store
        assert store is not None and draft.panel_order is not None
        if placed:
            # As /admin's "Mark placed" records it (bot/handlers/admin.py record_order_id).
            order = self.run(admin_store.mark_placed(store, draft.id, draft.panel_order, link=draft.link,
                                                     quantity=draft.quantity, currency="USD"))
            assert order.paid and order.charge == draft.price
            draft.state = "PLACED"
        else:
            assert self.run(admin_store.mark_failed(store, draft.id))
            draft.state = "FAILED"
            self.wallets[draft.user] += draft.price
        event(f"settled: {draft.state}")
        if twice:
            assert not self.run(admin_store.mark_failed(store, draft.id))

    @precondition(lambda self: any(d.state == "PLACED" and not d.final for d in self.drafts.values()))
    @rule(pick=st.integers(0, 1000), status=st.sampled_from(FINAL + ("In progress",)), data=st.data())
    def panel_status(self, pick: int, status: str, data: st.DataObject) -> None:
        """The panel's order moves on (any remains for Partial); a watcher cycle sees it."""
        self._panel_status(pick, status, data)

    @precondition(lambda self: any(d.state == "PLACED" and not d.final for d in self.drafts.values()))
    @rule(pick=st.integers(0, 1000), data=st.data())
    def partial(self, pick: int, data: st.DataObject) -> None:
        """Partial, the one with arithmetic in it, more often."""
        self._panel_status(pick, "Partial", data)

    def _panel_status(self, pick: int, status: str, data: st.DataObject) -> None:
        open_ = [d for d in self.drafts.values() if d.state == "PLACED" and not d.final]
        draft = open_[pick % len(open_)]
        assert draft.panel_order is not None
        remains = {"Completed": 0, "Canceled": draft.quantity, "Refunded": draft.quantity}.get(status)
        if remains is None:
            remains = data.draw(st.integers(0, draft.quantity), label="remains")
        self.bot.sandbox.set_status(draft.panel_order, status, remains=remains)
        told = self.refund_messages(draft)
        self.watch()
        event(f"status: {status}")
        if status in FINAL:
            draft.final = True
            draft.refund = refund_of(status, draft.price, draft.quantity, remains)
            self.wallets[draft.user] += draft.refund
            if draft.refund > 0:
                money = f"${draft.refund:,.2f} went back to your wallet"
                assert self.refund_messages(draft) == told + 1, self.user(draft.user).last_text
                assert money in self.user(draft.user).all_text()

    def refund_messages(self, draft: DraftModel) -> int:
        """The messages that told the draft's owner its order gave money back."""
        return sum(1 for m in self.user(draft.user).messages
                   if f"Order #{draft.panel_order}:" in m.text and "went back to your wallet" in m.text)

    @rule()
    def watch(self) -> None:
        """A watcher cycle (and a sending pass), a day after the one before: every open
        order is due; a cycle that finds nothing new must move nothing."""
        self.now += timedelta(days=1)
        deps(self.bot).sender.per_chat_seconds = 0.0  # its pause between one chat's messages is real time
        self.run(cycle(self.bot, now=self.now))

    @rule()
    def restart(self) -> None:
        """A new bot process on the same database (a deploy)."""
        self.run(self.bot.restart())

    # --- what must always hold -------------------------------------------------------------

    @invariant()
    def the_money_adds_up(self) -> None:
        self.run(self._check())

    async def _check(self) -> None:
        store = self.bot.store
        assert store is not None
        async with self.sql.connect() as conn:
            entries = (await conn.execute(text(
                "SELECT id, user_id, amount, kind, reference FROM ledger_entries ORDER BY id"))).all()
            drafts = {row.id: row for row in await conn.execute(text("SELECT id, user_id, state FROM drafts"))}
            orders = (await conn.execute(text(
                "SELECT id, draft_id, user_id, paid, charge, refunded, final FROM orders"))).all()

        # One reference, one entry; each kind its sign.
        references = Counter(e.reference for e in entries)
        assert all(n == 1 for n in references.values()), [r for r, n in references.items() if n > 1]
        sums: dict[int, Decimal] = defaultdict(Decimal)
        holds: dict[tuple[int, str], Decimal] = {}
        releases: dict[tuple[int, str], Decimal] = {}
        refunds: dict[int, tuple[int, Decimal]] = {}
        for e in entries:
            money = amount(e.amount)
            sums[e.user_id] += money
            if e.kind == "topup":
                assert self.topups.get(e.reference) == (e.user_id, money), e
            elif e.kind == "topup_refund":
                match = re.fullmatch(r"topup_refund:(\w+):1", e.reference)
                assert match and match.group(1) in self.refunded, e
                assert self.topups[f"topup:{match.group(1)}"] == (e.user_id, -money), e
            elif e.kind in ("hold", "release"):
                # draft:{id}:{owner}:hold|release:{attempt} (the owner: a draft id used again
                # after pruning is another draft)
                match = re.fullmatch(r"draft:(\d+):(\d+):(hold|release):(\d+)", e.reference)
                assert match and match.group(3) == e.kind and int(match.group(2)) == e.user_id, e
                draft_id, attempt = int(match.group(1)), match.group(4)
                assert drafts[draft_id].user_id == e.user_id, e
                if e.kind == "hold":
                    assert money < 0, e
                    holds[(draft_id, attempt)] = -money
                else:
                    assert money > 0 and holds.get((draft_id, attempt)) == money, f"release without its hold: {e}"
                    releases[(draft_id, attempt)] = money
            elif e.kind == "refund":
                match = re.fullmatch(r"order:(\d+):refund", e.reference)
                assert match and money > 0, e
                refunds[int(match.group(1))] = (e.user_id, money)
            else:
                raise AssertionError(f"an entry of an unknown kind: {e}")

        # The wallets: never below zero, the store's balance is the sum of the entries, and
        # both are what the model says.
        for user in CUSTOMERS:
            assert sums[user] >= 0, f"user {user}'s wallet is {sums[user]}"
            assert await store.balance(user) == sums[user], (user, sums[user])
            assert sums[user] == self.wallets[user], f"user {user}: store {sums[user]}, model {self.wallets[user]}"
        assert set(sums) <= set(CUSTOMERS), sums

        # Holds: each draft has at most one open; only a draft whose order is placed or
        # unclear keeps one, of its price.
        open_holds: dict[int, list[Decimal]] = defaultdict(list)
        for (draft_id, attempt), money in holds.items():
            if (draft_id, attempt) not in releases:
                open_holds[draft_id].append(money)
        for draft_id, row in drafts.items():
            model = self.drafts[draft_id]
            assert row.state == model.state, f"draft {draft_id}: store {row.state}, model {model.state}"
            held = open_holds.get(draft_id, [])
            if row.state in ("PLACED", "UNKNOWN"):
                assert held == [model.price], f"draft {draft_id} ({row.state}) holds {held}, price {model.price}"
            else:
                assert held == [], f"draft {draft_id} ({row.state}) still holds {held}"

        # Orders: paid at the draft's price, its hold the charge, a refund only when final,
        # at most the price, booked exactly as stored.
        by_draft = {o.draft_id: o for o in orders}
        assert len(by_draft) == len(orders)
        placed = {i for i, d in self.drafts.items() if d.state == "PLACED"}
        assert set(by_draft) == placed, (sorted(by_draft), sorted(placed))
        kept: dict[int, Decimal] = defaultdict(Decimal)
        for o in orders:
            model = self.drafts[o.draft_id]
            charge, refunded = amount(o.charge), amount(o.refunded or 0)
            assert o.paid and charge == model.price, o
            assert Decimal(0) <= refunded <= charge, o
            assert bool(o.final) == model.final, o
            assert refunded == model.refund, f"order {o.id}: refunded {refunded}, model {model.refund}"
            if refunded:
                assert refunds.get(o.id) == (o.user_id, refunded), (o, refunds.get(o.id))
            else:
                assert o.id not in refunds, o
            kept[o.user_id] += charge - refunded
        assert set(refunds) <= {o.id for o in orders}, refunds

        # Conservation: what customers paid in is in their wallets, in orders (net of
        # refunds) or held for orders whose outcome is unclear.
        unclear: dict[int, Decimal] = defaultdict(Decimal)
        for draft_id, row in drafts.items():
            if row.state == "UNKNOWN":
                unclear[row.user_id] += sum(open_holds[draft_id], Decimal(0))
        for user in CUSTOMERS:
            paid_in = sum((m for u, m in self.topups.values() if u == user), Decimal(0)) \
                - sum((m for u, m, charge in self.stars.values() if u == user and charge in self.refunded), Decimal(0))
            assert sums[user] == paid_in - kept[user] - unclear[user], (user, sums[user], paid_in, kept[user])

        # Exactly once on the panel: one order for every `add` that got through, none more.
        assert len(self.bot.sandbox.orders(KEY)) == self.panel_orders


def _machine(db: str, examples: int, steps: int) -> None:
    class Machine(ShopMoney):
        pass

    Machine.db = db
    run_state_machine_as_test(Machine, settings=settings(
        max_examples=examples, stateful_step_count=steps, deadline=None, derandomize=False,
        suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much]))


def test_shop_money_holds_on_sqlite() -> None:
    _machine("sqlite", examples=40, steps=50)


@pytest.mark.skipif(not PG_URL, reason="TEST_DATABASE_URL not set")
def test_shop_money_holds_on_postgresql() -> None:
    _machine("postgresql", examples=20, steps=50)


async def test_an_unclear_order_an_admin_marks_placed_keeps_the_shops_currency(tmp_path: Path) -> None:
    """The shop sells in EUR from a panel that bills in USD: the order an admin records
    through /admin's "Mark placed" was paid in euros, and says so (its hold is its charge)."""
    async with world(tmp_path, **{**SHOP, "shop_currency": "EUR"}) as bot:
        assert bot.store is not None
        await bot.store.book(Movement(CUSTOMERS[0], Decimal(10), "topup", "topup:1"))
        ann = bot.user(CUSTOMERS[0])
        await bot.send(ann, "/order 1012")
        await bot.press(ann, "Order")
        await bot.send(ann, "https://instagram.com/nasa")
        await bot.send(ann, "1000")
        while "Check your order" not in ann.last_text:
            await bot.press(ann, "Skip")
        bot.sandbox.faults.set("add", http_status=502)
        await bot.press(ann, "Confirm")
        bot.sandbox.faults.clear()
        [draft] = await admin_store.unknown_drafts(bot.store)
        panel_id = bot.sandbox.orders(KEY)[-1].id
        admin = bot.user(ADMIN)
        await bot.send(admin, "/admin")
        await bot.press(admin, "Unknown drafts")
        await bot.press(admin, f"Mark #{draft.id} placed")
        await bot.send(admin, str(panel_id))
        assert f"recorded as order #{panel_id}" in admin.last_text
        order = await bot.store.get_order(ann.id, panel_id)
        assert order is not None and order.paid and order.charge == Decimal("3.19")
        assert order.currency == "EUR", order.currency
