"""Payments as Telegram runs them, for shop mode's tests (issue 13): invoices
(sendInvoice, in Telegram Stars `XTR` or through a provider), the pre-checkout query the
bot must answer within 10 s, the successful payment, and refundStarPayment; each refused
where Telegram refuses it."""

from __future__ import annotations

import secrets
from collections.abc import Callable
from dataclasses import dataclass

from bot.playground.fakegram.chats import FakeMessage
from bot.playground.fakegram.keyboards import read_markup
from bot.playground.fakegram.messages import Messages
from bot.playground.fakegram.wire import ApiError, JSONDict, as_bool, as_int, as_json

__all__ = ["PRE_CHECKOUT_SECONDS", "Charge", "Payments", "PreCheckout", "STARS"]

STARS = "XTR"
# Telegram drops a pre-checkout query the bot has not answered within this many seconds.
PRE_CHECKOUT_SECONDS = 10.0
MAX_STARS = 10_000  # per invoice
QUERY_TOO_OLD = "query is too old and response timeout expired or query ID is invalid"


@dataclass
class PreCheckout:
    """A user pressed Pay: the query the bot must answer, and its answer once given."""

    id: str
    user: JSONDict
    message: FakeMessage
    asked_at: float
    ok: bool | None = None
    error_message: str | None = None


@dataclass
class Charge:
    """A payment that went through; Stars ones can be refunded once."""

    id: str
    user_id: int
    currency: str
    amount: int
    payload: str
    refunded: bool = False


class Payments:
    """The bot's invoices, pre-checkout queries and charges."""

    def __init__(self, messages: Messages, bot_user: Callable[[], JSONDict], clock: Callable[[], float]) -> None:
        self._messages = messages
        self._bot_user = bot_user
        self._clock = clock
        self.pre_checkouts: dict[str, PreCheckout] = {}
        self.charges: dict[str, Charge] = {}
        self._next_query = 1

    # ------------------------------------------------------------------ Bot API methods

    def send_invoice(self, params: JSONDict) -> JSONDict:
        chat = self._messages.chat(params.get("chat_id"))
        title, description = str(params.get("title") or ""), str(params.get("description") or "")
        payload, currency = str(params.get("payload") or ""), str(params.get("currency") or "")
        if not 1 <= len(title) <= 32:
            raise ApiError.bad_request("INVOICE_TITLE_INVALID" if title else "title is empty")
        if not 1 <= len(description) <= 255:
            raise ApiError.bad_request("INVOICE_DESCRIPTION_INVALID")
        if not 1 <= len(payload.encode("utf-8")) <= 128:
            raise ApiError.bad_request("INVOICE_PAYLOAD_INVALID")
        prices = as_json(params.get("prices"), "prices")
        if not isinstance(prices, list) or not prices:
            raise ApiError.bad_request("can't parse prices JSON object")
        amounts = [self._amount(price) for price in prices]
        token = params.get("provider_token") or ""
        if currency == STARS:
            if token:
                raise ApiError.bad_request("PROVIDER_TOKEN_INVALID")  # Stars take no provider
            if len(prices) != 1:
                raise ApiError.bad_request("STARS_INVOICE_INVALID")  # exactly one price in Stars
            if not 1 <= amounts[0] <= MAX_STARS:
                raise ApiError.bad_request("STARS_AMOUNT_INVALID")
        else:
            if not token:
                raise ApiError.bad_request("PAYMENT_PROVIDER_INVALID")
            if len(currency) != 3 or not currency.isupper():
                raise ApiError.bad_request("CURRENCY_INVALID")
        markup = read_markup(params)
        self._messages.admit_send(chat, "sendinvoice")
        invoice = {"title": title, "description": description, "start_parameter": str(params.get("start_parameter") or ""),
                   "currency": currency, "total_amount": sum(amounts), "payload": payload}
        message = self._messages.add_message(chat, self._bot_user(), kind="sent", invoice=invoice,
                                             reply_markup=markup)
        return message.to_api()

    def answer_pre_checkout_query(self, params: JSONDict) -> bool:
        query = self.pre_checkouts.get(str(params.get("pre_checkout_query_id", "")))
        if query is None or query.ok is not None or self._clock() - query.asked_at > PRE_CHECKOUT_SECONDS:
            raise ApiError.bad_request(QUERY_TOO_OLD)
        ok = as_bool(params.get("ok"))
        error = params.get("error_message")
        if not ok and not error:
            raise ApiError.bad_request("error_message is required when ok is false")  # told to the user
        query.ok, query.error_message = ok, None if ok else str(error)
        return True

    def refund_star_payment(self, params: JSONDict) -> bool:
        user_id = as_int(params.get("user_id"), "user_id")
        charge = self.charges.get(str(params.get("telegram_payment_charge_id", "")))
        if charge is None or charge.user_id != user_id or charge.currency != STARS:
            raise ApiError.bad_request("CHARGE_NOT_FOUND")
        if charge.refunded:
            raise ApiError.bad_request("CHARGE_ALREADY_REFUNDED")
        charge.refunded = True
        return True

    # ------------------------------------------------------------------ the user's side

    def pre_checkout_update(self, user: JSONDict, invoice_message: FakeMessage) -> tuple[PreCheckout, JSONDict]:
        """The user pressed Pay on an invoice: the query, and the update that carries it."""
        invoice = invoice_message.invoice
        if invoice is None:
            raise ValueError("not an invoice")
        query = PreCheckout(f"{self._next_query:012d}", user, invoice_message, self._clock())
        self._next_query += 1
        self.pre_checkouts[query.id] = query
        update = {"pre_checkout_query": {"id": query.id, "from": user, "currency": invoice["currency"],
                                         "total_amount": invoice["total_amount"],
                                         "invoice_payload": invoice["payload"]}}
        return query, update

    def payment_update(self, query: PreCheckout, *, charge_id: str | None = None) -> tuple[Charge, JSONDict]:
        """Telegram took the money after the bot said yes in time: the service message that
        says so (`charge_id` to deliver the same payment twice, as a re-delivery does)."""
        if query.ok is not True:
            raise ValueError("the bot has not accepted this pre-checkout query")
        invoice = query.message.invoice
        assert invoice is not None
        charge = self.charges.get(charge_id or "")
        if charge is None:
            charge = Charge(charge_id or f"stxfake{secrets.token_hex(12)}", query.user["id"], invoice["currency"],
                            invoice["total_amount"], invoice["payload"])
            self.charges[charge.id] = charge
        chat = self._messages.chat(query.user["id"])
        paid = {"currency": charge.currency, "total_amount": charge.amount, "invoice_payload": charge.payload,
                "telegram_payment_charge_id": charge.id,
                "provider_payment_charge_id": "" if charge.currency == STARS else f"prov_{charge.id}"}
        message = self._messages.add_message(chat, query.user, kind="user", successful_payment=paid)
        return charge, {"message": message.to_api()}

    # ------------------------------------------------------------------ helpers

    @staticmethod
    def _amount(price: object) -> int:
        if not isinstance(price, dict) or not str(price.get("label") or ""):
            raise ApiError.bad_request("can't parse prices JSON object")
        amount = price.get("amount")
        if not isinstance(amount, int) or isinstance(amount, bool) or amount <= 0:
            raise ApiError.bad_request("CURRENCY_TOTAL_AMOUNT_INVALID")
        return amount
