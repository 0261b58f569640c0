"""How a notification reads: an order's or a refill's new status (with its delivery
progress), an order lost, an account paused or working again, an operator's broadcast."""

from __future__ import annotations

from collections.abc import Mapping
from decimal import Decimal
from types import SimpleNamespace

from telegram import InlineKeyboardMarkup

from bot.domain.notices import (
    KIND_ACCOUNT_PAUSED,
    KIND_ACCOUNT_RESUMED,
    KIND_BROADCAST,
    KIND_SHOP_LOW_BALANCE,
    KIND_SHOP_OUT_OF_FUNDS,
    KIND_KEY_INVALID,
    KIND_KEY_UNDECRYPTABLE,
    KIND_ORDER,
    KIND_ORDER_LOST,
    KIND_PROGRESS,
    KIND_REFILL,
    KIND_REFILL_LOST,
    KIND_WALLET,
)
from bot.i18n import I18n
from bot.store import Notification
from bot.views.callback_data import OpenOrder
from bot.views.markup import button, clip, esc, keyboard
from bot.views.orders import card_buttons, has_started, status_details
from bot.views.texts import status_name

ERROR_LIMIT = 200  # characters of a panel's error text quoted to a user


def render(t: I18n, notification: Notification) -> tuple[str, InlineKeyboardMarkup | None]:
    """The message for one stored change, written now in the user's language. Anything
    from the panel or a user in the payload is escaped; so is money (see I18n.money)."""
    data = notification.payload
    kind = notification.kind
    if kind in (KIND_ORDER, KIND_PROGRESS):
        return _order_notice(t, data, progress=kind == KIND_PROGRESS)
    if kind == KIND_REFILL:
        text = t._("♻️ Refill #{refill_id} of order #{order_id}: <b>{status}</b>", refill_id=esc(data["refill_id"]),
                   order_id=esc(data["order_id"]), status=esc(status_name(t, data.get("status"))))
        return text, _open_order(t, data)
    if kind == KIND_ORDER_LOST and data.get("shop"):
        return t._(
            "⚠️ I stopped following order #{order_id}: the panel says “{error}”. Please send this order "
            "number to the shop's support: they will check it and settle what you paid.",
            order_id=esc(data["order_id"]), error=esc(clip(str(data.get("error") or ""), ERROR_LIMIT)),
        ), _open_order(t, data)
    if kind == KIND_ORDER_LOST:
        return t._(
            "⚠️ I stopped following order #{order_id}: the panel says “{error}”. Check it on the panel.",
            order_id=esc(data["order_id"]), error=esc(clip(str(data.get("error") or ""), ERROR_LIMIT)),
        ), _open_order(t, data)
    if kind == KIND_REFILL_LOST:
        return t._(
            "⚠️ I stopped following refill #{refill_id} of order #{order_id}: the panel says “{error}”. "
            "Check it on the panel.",
            refill_id=esc(data["refill_id"]), order_id=esc(data["order_id"]),
            error=esc(clip(str(data.get("error") or ""), ERROR_LIMIT)),
        ), _open_order(t, data)
    if kind == KIND_KEY_INVALID:
        return t._(
            "🔑 The panel no longer accepts your API key {hint}, so I stopped checking your orders. "
            "Send /connect with a valid key to continue.", hint=esc(data.get("key_hint", ""))
        ), None
    if kind == KIND_KEY_UNDECRYPTABLE:
        return t._(
            "🔑 I can no longer read your saved API key {hint}, so I stopped checking your orders. "
            "Please link it again with /connect.", hint=esc(data.get("key_hint", ""))
        ), None
    if kind in (KIND_ACCOUNT_PAUSED, KIND_ACCOUNT_RESUMED):
        return _account_notice(t, data, paused=kind == KIND_ACCOUNT_PAUSED), None
    if kind == KIND_BROADCAST:
        return esc(str(data.get("text", ""))), None
    if kind == KIND_SHOP_OUT_OF_FUNDS and data.get("balance") is None:
        return t._("🛑 Shop: the panel refused an order for lack of funds on the panel balance. Top up the panel "
                   "account; customers hear the service is temporarily unavailable until then."), None
    if kind == KIND_SHOP_OUT_OF_FUNDS:
        return t._("🛑 Shop: an order was turned away because the panel balance ({balance}) cannot pay for it. "
                   "Top up the panel account; customers hear the service is temporarily unavailable until then.",
                   balance=t.money(Decimal(str(data.get("balance") or 0)), _text(data, "currency"))), None
    if kind == KIND_SHOP_LOW_BALANCE:
        return t._("⚠️ Shop: the panel balance is down to {balance}, below the warning level {low}. "
                   "Top up the panel account before orders are turned away.",
                   balance=t.money(Decimal(str(data.get("balance") or 0)), _text(data, "currency")),
                   low=t.money(Decimal(str(data.get("low") or 0)), _text(data, "currency"))), None
    if kind == KIND_WALLET:
        return _wallet_notice(t, data), None
    raise ValueError(f"unknown notification kind {kind!r}")


def _order_notice(t: I18n, data: Mapping[str, object], *, progress: bool) -> tuple[str, InlineKeyboardMarkup | None]:
    quantity, remains, start_count = _int(data, "quantity"), _int(data, "remains"), _int(data, "start_count")
    status = _text(data, "status")
    # A fresh Pending order's remains is no measure of delivery (notifications queued
    # before that was known may still say 0): progress only once the order started.
    if progress and quantity is not None and remains is not None and quantity > 0 and has_started(status, start_count):
        delivered = min(quantity, max(0, quantity - remains))
        head = t._("📦 Order #{order_id}: {delivered} of {quantity} delivered ({percent})", order_id=esc(data["order_id"]),
                   delivered=t.number(delivered), quantity=t.number(quantity), percent=t.percent(Decimal(delivered) / quantity))
    else:
        head = t._("📦 Order #{order_id}: <b>{status}</b>", order_id=esc(data["order_id"]),
                   status=esc(status_name(t, status)))
    lines = [head, t._("Service: {id} · {name}", id=esc(data.get("service_id", "")), name=esc(data.get("service_name", "")))]
    if not progress:
        run_orders = data.get("run_orders")
        lines += status_details(
            t, status=status, quantity=quantity, remains=remains, start_count=start_count,
            service_type=str(data.get("service_type") or ""),
            runs=_int(data, "runs"),
            run_orders=[i for i in run_orders if isinstance(i, int)] if isinstance(run_orders, list) else None,
            posts=_int(data, "posts"),
            expiry=data.get("expiry"), card=False,
        )
        if data.get("charge") is not None:
            lines.append(t._("Charge: {charge}", charge=t.money(Decimal(str(data["charge"])), _text(data, "currency"))))
        if data.get("refund") is not None:
            lines.append(t._("💳 {amount} went back to your wallet.",
                             amount=t.money(Decimal(str(data["refund"])), _text(data, "currency"))))
    pk = _int(data, "order_pk")
    if not pk:
        return "\n".join(lines), None
    # The order card's own buttons, as the order stands after this change (the watcher
    # left out the ones this panel showed it does not have).
    order = SimpleNamespace(id=pk, refill=bool(data.get("refill")), cancel=bool(data.get("cancel")),
                            final=bool(data.get("final")), status=status, draft_id=data.get("draft_id"))
    rows = [[button(t._("📦 Open order"), OpenOrder(pk))], *card_buttons(t, order)[1:]]
    return "\n".join(lines), keyboard(rows)


def _open_order(t: I18n, data: Mapping[str, object]) -> InlineKeyboardMarkup | None:
    pk = _int(data, "order_pk")
    return keyboard([[button(t._("📦 Open order"), OpenOrder(pk))]]) if pk else None


def _int(data: Mapping[str, object], key: str) -> int | None:
    """A number of the payload, None where it holds none (a payload is JSON, written earlier)."""
    value = data.get(key)
    return value if isinstance(value, int) else None


def _text(data: Mapping[str, object], key: str) -> str | None:
    """A text of the payload, None where it holds none."""
    value = data.get(key)
    return value if isinstance(value, str) else None


def _account_notice(t: I18n, data: Mapping[str, object], *, paused: bool) -> str:
    """To admins: a panel account whose key the panel refuses (confirmed), or accepts again."""
    hint = esc(data.get("key_hint") or "")
    if data.get("team"):
        if paused:
            return t._(
                "⏸ The team panel account (key {hint}) is paused: the panel refuses its key. Orders placed on it "
                "are not checked meanwhile. I try the key again automatically, with growing pauses, and tell you "
                "when it works again. If the key was changed on the panel, set the new one in PANEL_KEY and restart.",
                hint=hint)
        return t._("▶️ The team panel account (key {hint}) works again: the panel accepts its key, and its orders "
                   "are checked again.", hint=hint)
    owner = esc(data.get("owner") or "")
    if paused:
        return t._(
            "⏸ The panel account of user {owner} (key {hint}) is paused: the panel refuses the key. Its orders "
            "are not checked meanwhile; the user was asked to link a valid key. I also try the key again "
            "automatically, with growing pauses, and tell you when it works again.", owner=owner, hint=hint)
    return t._("▶️ The panel account of user {owner} (key {hint}) works again: the panel accepts the key, and its "
               "orders are checked again.", owner=owner, hint=hint)


def _wallet_notice(t: I18n, data: Mapping[str, object]) -> str:
    """Shop mode, to the customer: money in or out of their wallet, and why."""
    amount = t.money(abs(Decimal(str(data.get("amount") or 0))), _text(data, "currency"))
    note = esc(clip(_text(data, "note") or "", ERROR_LIMIT))
    match data.get("reason"):
        case "topup":
            return t._("💰 {amount} added to your wallet. Thank you!", amount=amount)
        case "referral":
            return t._("🎁 Referral bonus: {amount} added to your wallet for a top-up by someone you invited.",
                       amount=amount)
        case "credit":
            return t._("💰 The shop added {amount} to your wallet: {reason}", amount=amount, reason=note)
        case "debit":
            return t._("💸 The shop took {amount} from your wallet: {reason}", amount=amount, reason=note)
        case "release":
            return t._("↩️ An order you confirmed turned out not to be placed: {amount} went back to your wallet.",
                       amount=amount)
        case "topup_refund":
            return t._("↩️ Your top-up of {amount} was refunded: the Stars are back in your Telegram account, "
                       "and the amount left your wallet.", amount=amount)
    return t._("👛 Your wallet changed by {amount}.", amount=amount)
