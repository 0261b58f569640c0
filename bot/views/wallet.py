"""How shop mode's wallet reads: the balance with the last movements and the referral link,
the top-up amounts to choose from, and what each kind of movement is called."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from decimal import Decimal

from telegram import InlineKeyboardMarkup

from bot.i18n import I18n
from bot.store.models import LedgerEntry
from bot.views.callback_data import ShowTopup, TopupAmount, TopupOther
from bot.views.markup import button, clip, esc, keyboard

NOTE_CHARS = 80  # of an admin's reason, in the list of movements


def kind_name(t: I18n, kind: str) -> str:
    """A ledger entry's kind in words."""
    names = {
        "topup": t._("Top-up"),
        "hold": t._("Order paid"),
        "release": t._("Order not placed: money back"),
        "refund": t._("Order refund"),
        "credit": t._("Credit from the shop"),
        "debit": t._("Debit by the shop"),
        "referral": t._("Referral bonus"),
        "topup_refund": t._("Top-up refunded"),
        "topup_refund_undo": t._("Top-up refund reversed"),
    }
    return names.get(kind, kind)


@dataclass(frozen=True)
class Referrals:
    """What /wallet shows about referrals: the link, how many joined, what they earned."""

    link: str
    percent: Decimal
    invited: int
    earned: Decimal


def wallet_screen(t: I18n, balance: Decimal, currency: str, movements: Sequence[LedgerEntry],
                  referrals: Referrals | None) -> tuple[str, InlineKeyboardMarkup]:
    """The balance, the last movements (newest first) and the referral link."""
    lines = [t._("👛 <b>Your wallet</b>: {balance}", balance=t.money(balance, currency))]
    if movements:
        lines += ["", t._("Last movements:")]
        for entry in movements:
            sign = "+" if entry.amount > 0 else "−"
            line = f"{sign}{t.money(abs(entry.amount), currency)} · {esc(kind_name(t, entry.kind))} · " \
                   f"{t.datetime(entry.created_at)}"
            if entry.kind in ("credit", "debit") and entry.note:
                line += f" · {esc(clip(entry.note, NOTE_CHARS))}"
            lines.append(line)
    else:
        lines += ["", t._("No movements yet. Top up to start ordering.")]
    if referrals is not None:
        lines += ["", t._("🎁 Invite friends: you get {percent} of every top-up they make.",
                          percent=t.percent(referrals.percent / 100)),
                  t._("Your link: {link}", link=esc(referrals.link)),
                  t.ngettext("{n} customer joined through it; you earned {earned}.",
                             "{n} customers joined through it; you earned {earned}.", referrals.invited,
                             earned=t.money(referrals.earned, currency))]
    return "\n".join(lines), keyboard([[button(t._("💳 Top up"), ShowTopup())]])


@dataclass(frozen=True)
class Option:
    """A preset top-up: the amount, its minor units (the button's data) and its Stars."""

    amount: Decimal
    minor: int
    stars: int | None  # None: paid by card, in the amount's own currency


def topup_screen(t: I18n, currency: str, options: Sequence[Option]) -> tuple[str, InlineKeyboardMarkup]:
    """The amounts to choose from, and "Other amount"."""
    rows = []
    for option in options:
        label = t.money(option.amount, currency, html=False)
        if option.stars is not None:
            label = t._("{amount} for {stars} ⭐", amount=label, stars=t.number(option.stars))
        rows.append([button(label, TopupAmount(option.minor))])
    rows.append([button(t._("✏️ Other amount"), TopupOther())])
    return t._("💳 How much do you want to add to your wallet?"), keyboard(rows)
