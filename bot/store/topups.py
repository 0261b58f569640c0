"""Shop mode's top-ups, referrals and an admin's hand bookings (issue 13): each payment,
bonus, credit, debit and refund is one ledger entry with a unique reference, booked in the
transaction that changes what it pays for, with its notice to the customer.

Exactly once, and in which order (the crash windows):
- A payment: the top-up's credit (`topup:<charge id>`), its state PAID, the inviter's
  bonus (`referral:<charge id>`) and the notices are one transaction. Telegram delivers
  `successful_payment` again until the bot has taken it in; the second time the reference
  is there (DUPLICATE) and nothing is booked or queued again, whichever process sees it.
  The payer's notice is queued due in RECEIPT_SECONDS: the handler's reply settles it
  (`settle_receipt`), so the payer hears once, and still hears when the process dies
  between the commit and the reply.
- A refund of Stars: the wallet is debited (`topup_refund:<charge id>:<attempt>`, never
  below zero) and the top-up marked REFUNDED first, in one transaction; only then is
  Telegram asked to send the Stars back. A crash in between leaves a REFUNDED top-up whose
  Stars Telegram still holds: asking again (`/refund_topup` once more) repeats only the
  Telegram call, which Telegram refunds at most once per charge. When Telegram refuses,
  `undo_refund` gives the money back (`...:<attempt>:undo`) and the top-up is PAID again,
  so a later attempt books under a new attempt number. The other order (Telegram first)
  could return Stars the wallet has spent meanwhile: the shop would pay twice.
- An admin's credit or debit is named after the admin's message (`credit:<admin>:<message>`):
  Telegram's re-delivery of that message books nothing twice, a second command books again.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass
from datetime import timedelta
from decimal import ROUND_DOWN, Decimal

from sqlalchemy import Connection, func, select
from sqlmodel import col
from sqlmodel import select as select_rows

from bot.store.engine import StoreEngine, upsert
from bot.store.ledger import LEDGER, Booked, Movement, book, wallet_balance
from bot.store.models import Topup, TopupState, metadata, utcnow
from bot.store.outbox import NOTIFICATIONS, Notice

__all__ = ["KIND_WALLET", "RECEIPT_SECONDS", "Booking", "Linked", "Payment", "Refund", "Refunding", "TopupsRoom", "round_down"]

TOPUPS = metadata.tables["topups"]
REFERRALS = metadata.tables["referrals"]
ORDERS = metadata.tables["orders"]

# The notices' kind: bot.domain.notices.KIND_WALLET (the store sits below the domain and
# cannot import it; tests/test_shop_wallet.py checks the two agree).
KIND_WALLET = "wallet"

# The payer's notice of a payment waits this long for the handler's reply to settle it.
RECEIPT_SECONDS = 60.0


def round_down(amount: Decimal, digits: int) -> Decimal:
    """`amount` to the currency's minor unit, in the shop's favour (a referral bonus)."""
    return amount.quantize(Decimal(1).scaleb(-digits), rounding=ROUND_DOWN)


@dataclass(frozen=True)
class Payment:
    """What became of a successful payment. `booked`: BOOKED (credited now), DUPLICATE
    (credited before: a re-delivery) or None (it names no top-up of this payer in this
    currency and total: nothing booked; the money is with the shop and needs an admin)."""

    booked: Booked | None
    topup_id: int | None = None
    amount: Decimal = Decimal(0)
    balance: Decimal = Decimal(0)
    # The dedupe key of the payer's notice, to settle once replied (a re-delivery answered
    # after a crash that cut the first reply short settles it too).
    receipt: str | None = None
    inviter: int | None = None
    bonus: Decimal = Decimal(0)


@dataclass(frozen=True)
class Booking:
    """An admin's credit or debit: how it went and the wallet after it."""

    booked: Booked
    balance: Decimal


class Linked(enum.Enum):
    """What became of `/start ref_<code>`."""

    LINKED = "linked"
    ALREADY = "already"  # this customer was linked before (to anyone): nothing changed
    SELF = "self"
    NOT_NEW = "not_new"  # an existing customer (orders or wallet entries) is nobody's referral
    UNKNOWN = "unknown"  # the code names nobody who has used the bot
    CIRCLE = "circle"  # the inviter was invited by this customer


class Refunding(enum.Enum):
    """The store's half of a refund of Stars."""

    DEBITED = "debited"  # the wallet gave the amount back and the top-up is REFUNDED: ask Telegram now
    REFUNDED = "refunded"  # REFUNDED before: only Telegram's half may be missing
    SHORT = "short"  # the wallet no longer holds the amount: nothing changed
    NOT_PAID = "not_paid"  # pending: nothing was paid
    NOT_STARS = "not_stars"  # a card payment: refunded through the provider, not here
    UNKNOWN = "unknown"


@dataclass(frozen=True)
class Refund:
    outcome: Refunding
    topup: Topup | None = None
    balance: Decimal = Decimal(0)
    attempt: int = 0


def _queue(conn: Connection, notice: Notice, *, delay: float = 0.0) -> None:
    """Queue `notice` in this transaction, due now or after `delay` seconds."""
    now = utcnow()
    conn.execute(upsert(conn.dialect.name, NOTIFICATIONS).values(
        user_id=notice.user_id, kind=notice.kind, payload=dict(notice.payload), dedupe_key=notice.dedupe_key,
        created_at=now, next_attempt_at=now + timedelta(seconds=delay), attempts=0,
    ).on_conflict_do_nothing(index_elements=["dedupe_key"]))


def wallet_notice(user_id: int, reference: str, reason: str, amount: Decimal, currency: str,
                  note: str | None = None) -> Notice:
    """The customer's KIND_WALLET notice of one movement, once per reference."""
    payload: dict[str, object] = {"amount": str(amount), "currency": currency, "reason": reason}
    if note:
        payload["note"] = note
    return Notice(user_id, KIND_WALLET, f"wallet:{reference}", payload)


class _Undo(Exception):
    """Raised inside a write to roll it back and say why."""

    def __init__(self, result: object) -> None:
        super().__init__()
        self.result = result


def _topup(conn: Connection, topup_id: int) -> Topup | None:
    row = conn.execute(select(TOPUPS).where(TOPUPS.c.id == topup_id)).mappings().first()
    return Topup.model_validate(dict(row)) if row is not None else None


def _refund_attempts(conn: Connection, user_id: int, charge_id: str) -> int:
    """How many times this charge's amount was taken out of the wallet for a refund."""
    prefix = f"topup_refund:{charge_id}:"
    references = conn.execute(select(LEDGER.c.reference).where(LEDGER.c.user_id == user_id,
                                                                LEDGER.c.kind == "topup_refund")).scalars()
    return sum(1 for reference in references if reference.startswith(prefix))


class TopupsRoom(StoreEngine):
    """Top-ups from the invoice to the payment or its refund; referrals; hand bookings."""

    # --- top-ups ---------------------------------------------------------------------------

    async def create_topup(self, user_id: int, amount: Decimal, currency: str, total: int) -> Topup:
        """A pending top-up: `amount` for the wallet, `total` to pay in `currency`'s smallest units."""

        def write(conn: Connection) -> int:
            done = conn.execute(TOPUPS.insert().values(user_id=user_id, amount=amount, currency=currency, total=total,
                                                       state=TopupState.PENDING.value, created_at=utcnow())
                                .returning(TOPUPS.c.id))
            return int(done.scalar_one())

        topup_id = await self._run(write)
        topup = await self.topup(topup_id)
        assert topup is not None
        return topup

    async def topup(self, topup_id: int) -> Topup | None:
        return await self._run(lambda conn: _topup(conn, topup_id), write=False)

    async def topups_of(self, user_id: int, *, limit: int = 10) -> list[Topup]:
        """The customer's paid and refunded top-ups, newest first (for admins)."""
        async with self._read() as s:
            rows = await s.exec(select_rows(Topup).where(col(Topup.user_id) == user_id,
                                                         col(Topup.state) != TopupState.PENDING.value)
                                .order_by(col(Topup.id).desc()).limit(limit))
            return list(rows.all())

    async def pay_topup(self, topup_id: int, user_id: int, charge_id: str, provider_charge_id: str | None,
                        currency: str, total: int, *, shop_currency: str, referral_percent: Decimal,
                        digits: int) -> Payment:
        """Credit a successful payment exactly once (see the module's docstring)."""
        reference = f"topup:{charge_id}"

        def write(conn: Connection) -> Payment:
            topup = _topup(conn, topup_id)
            if topup is None or topup.user_id != user_id or topup.currency != currency or topup.total != total:
                return Payment(None)
            # The wallet's lock first (book takes it): two processes with the same payment
            # go one after the other, and the second finds the reference booked.
            booked = book(conn, Movement(user_id, topup.amount, "topup", reference, note=f"#{topup_id}"))
            receipt = wallet_notice(user_id, reference, "topup", topup.amount, shop_currency)
            if booked is not Booked.BOOKED:
                return Payment(Booked.DUPLICATE, topup_id, topup.amount, wallet_balance(conn, user_id),
                               receipt.dedupe_key)
            now = utcnow()
            paid = conn.execute(TOPUPS.update().where(TOPUPS.c.id == topup_id,
                                                      TOPUPS.c.state == TopupState.PENDING.value)
                                .values(state=TopupState.PAID.value, charge_id=charge_id,
                                        provider_charge_id=provider_charge_id or None, paid_at=now))
            paid_id = topup_id
            if paid.rowcount != 1:
                # The same invoice paid twice (Pay pressed twice): each payment is a top-up of its own.
                paid_id = int(conn.execute(TOPUPS.insert().values(
                    user_id=user_id, amount=topup.amount, currency=currency, total=total, state=TopupState.PAID.value,
                    charge_id=charge_id, provider_charge_id=provider_charge_id or None, created_at=now, paid_at=now,
                ).returning(TOPUPS.c.id)).scalar_one())
            _queue(conn, receipt, delay=RECEIPT_SECONDS)
            inviter = conn.execute(select(REFERRALS.c.inviter_id).where(REFERRALS.c.user_id == user_id)).scalar()
            bonus = round_down(topup.amount * referral_percent / 100, digits) if inviter is not None else Decimal(0)
            if inviter is not None and bonus > 0:
                bonus_reference = f"referral:{charge_id}"
                book(conn, Movement(int(inviter), bonus, "referral", bonus_reference, note=f"{user_id}"))
                _queue(conn, wallet_notice(int(inviter), bonus_reference, "referral", bonus, shop_currency))
            return Payment(Booked.BOOKED, paid_id, topup.amount, wallet_balance(conn, user_id), receipt.dedupe_key,
                           int(inviter) if inviter is not None and bonus > 0 else None, bonus if bonus > 0 else Decimal(0))

        return await self._run(write)

    async def settle_receipt(self, dedupe_key: str) -> bool:
        """The payer was answered: their delayed notice of the payment is not sent."""

        def write(conn: Connection) -> bool:
            done = conn.execute(NOTIFICATIONS.update().where(NOTIFICATIONS.c.dedupe_key == dedupe_key,
                                                             NOTIFICATIONS.c.sent_at.is_(None),
                                                             NOTIFICATIONS.c.claimed_by.is_(None))
                                .values(sent_at=utcnow()))
            return bool(done.rowcount == 1)

        return await self._run(write)

    # --- refunds of Stars -----------------------------------------------------------------------

    async def refund_topup(self, topup_id: int, *, shop_currency: str) -> Refund:
        """The store's half of a refund: the wallet gives the amount back, never below zero,
        and the top-up becomes REFUNDED, in one transaction. Telegram's half follows."""

        def write(conn: Connection) -> Refund:
            topup = _topup(conn, topup_id)
            if topup is None:
                return Refund(Refunding.UNKNOWN)
            if topup.state == TopupState.REFUNDED.value:
                return Refund(Refunding.REFUNDED, topup)
            if topup.state != TopupState.PAID.value or not topup.charge_id:
                return Refund(Refunding.NOT_PAID, topup)
            if topup.currency != "XTR":
                return Refund(Refunding.NOT_STARS, topup)
            marked = conn.execute(TOPUPS.update().where(TOPUPS.c.id == topup_id,
                                                        TOPUPS.c.state == TopupState.PAID.value)
                                  .values(state=TopupState.REFUNDED.value, refunded_at=utcnow()))
            if marked.rowcount != 1:  # another admin's refund committed first
                return Refund(Refunding.REFUNDED, topup)
            attempt = 1 + _refund_attempts(conn, topup.user_id, topup.charge_id)
            booked = book(conn, Movement(topup.user_id, -topup.amount, "topup_refund",
                                         f"topup_refund:{topup.charge_id}:{attempt}", note=f"#{topup_id}"))
            if booked is Booked.SHORT:
                raise _Undo(Refund(Refunding.SHORT, topup, wallet_balance(conn, topup.user_id)))
            return Refund(Refunding.DEBITED, topup, wallet_balance(conn, topup.user_id), attempt)

        try:
            return await self._run(write)
        except _Undo as undo:
            assert isinstance(undo.result, Refund)
            return undo.result

    async def last_refund_attempt(self, topup_id: int) -> int | None:
        """The number of the top-up's last refund attempt (None: never refunded)."""

        def read(conn: Connection) -> int | None:
            topup = _topup(conn, topup_id)
            if topup is None or not topup.charge_id:
                return None
            return _refund_attempts(conn, topup.user_id, topup.charge_id) or None

        return await self._run(read, write=False)

    async def undo_refund(self, topup_id: int, attempt: int) -> bool:
        """Telegram refused to send the Stars back: the wallet gets the amount again and the
        top-up is PAID again, in one transaction. False when that was done already."""

        def write(conn: Connection) -> bool:
            topup = _topup(conn, topup_id)
            if topup is None or topup.state != TopupState.REFUNDED.value:
                return False
            reference = f"topup_refund:{topup.charge_id}:{attempt}"
            if book(conn, Movement(topup.user_id, topup.amount, "topup_refund_undo", f"{reference}:undo",
                                   note=f"#{topup_id}")) is not Booked.BOOKED:
                return False
            conn.execute(TOPUPS.update().where(TOPUPS.c.id == topup_id)
                         .values(state=TopupState.PAID.value, refunded_at=None))
            return True

        return await self._run(write)

    async def refund_sent(self, topup: Topup, shop_currency: str) -> bool:
        """Telegram sent the Stars back: tell the customer (once)."""
        notice = wallet_notice(topup.user_id, f"topup_refund:{topup.charge_id}", "topup_refund", -topup.amount,
                               shop_currency)
        return await self._run(lambda conn: _queued(conn, notice))

    # --- an admin's credit or debit ---------------------------------------------------------

    async def adjust_wallet(self, admin_id: int, user_id: int, amount: Decimal, reason: str, reference: str,
                            *, shop_currency: str) -> Booking:
        """Credit (`amount` > 0) or debit (< 0) a wallet by hand, with who and why, and the
        customer's notice, in one transaction; a debit never takes it below zero (SHORT)."""
        kind = "credit" if amount > 0 else "debit"

        def write(conn: Connection) -> Booking:
            booked = book(conn, Movement(user_id, amount, kind, reference, actor=admin_id, note=reason))
            if booked is Booked.BOOKED:
                _queue(conn, wallet_notice(user_id, reference, kind, amount, shop_currency, reason))
            return Booking(booked, wallet_balance(conn, user_id))

        return await self._run(write)

    # --- referrals ------------------------------------------------------------------------------

    async def link_referral(self, user_id: int, inviter_id: int) -> Linked:
        """Make `inviter_id` the inviter of a new customer: one who has no orders and no
        wallet entries yet, once, never themselves, never their own inviter's inviter."""
        if user_id == inviter_id:
            return Linked.SELF
        users = metadata.tables["users"]

        def write(conn: Connection) -> Linked:
            if conn.execute(select(REFERRALS.c.user_id).where(REFERRALS.c.user_id == user_id)).first() is not None:
                return Linked.ALREADY
            if conn.execute(select(users.c.telegram_id).where(users.c.telegram_id == inviter_id)).first() is None:
                return Linked.UNKNOWN
            if conn.execute(select(REFERRALS.c.user_id).where(REFERRALS.c.user_id == inviter_id,
                                                              REFERRALS.c.inviter_id == user_id)).first() is not None:
                # Two wallets each other's inviter would lock each other's bonus bookings.
                return Linked.CIRCLE
            has_orders = conn.execute(select(ORDERS.c.id).where(ORDERS.c.user_id == user_id).limit(1)).first()
            has_entries = conn.execute(select(LEDGER.c.id).where(LEDGER.c.user_id == user_id).limit(1)).first()
            if has_orders is not None or has_entries is not None:
                return Linked.NOT_NEW
            done = conn.execute(upsert(conn.dialect.name, REFERRALS)
                                .values(user_id=user_id, inviter_id=inviter_id, created_at=utcnow())
                                .on_conflict_do_nothing(index_elements=["user_id"]))
            return Linked.LINKED if done.rowcount == 1 else Linked.ALREADY

        return await self._run(write)

    async def referral_earnings(self, inviter_id: int) -> tuple[int, Decimal]:
        """How many customers this one invited, and what their top-ups earned them."""

        def read(conn: Connection) -> tuple[int, Decimal]:
            invited = conn.execute(select(func.count()).select_from(REFERRALS)
                                   .where(REFERRALS.c.inviter_id == inviter_id)).scalar_one()
            amounts = conn.execute(select(LEDGER.c.amount).where(LEDGER.c.user_id == inviter_id,
                                                                 LEDGER.c.kind == "referral")).scalars()
            return int(invited), sum((Decimal(str(a)) for a in amounts), Decimal(0))

        return await self._run(read, write=False)


def _queued(conn: Connection, notice: Notice) -> bool:
    _queue(conn, notice)
    return True
