"""The conversation's states: which prompt a user is answering, as typed values.

A state is kept in the user's row (`users.flow`, a small JSON object) and written in the
same transaction as the draft value it goes with; tests/test_conversation.py says why
this is not PTB's `ConversationHandler`. The stored names are those earlier versions
wrote, so a restart across an upgrade resumes every user where they were.
"""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import timedelta
from decimal import Decimal
from enum import StrEnum
from typing import ClassVar

from bot.handlers.context import BotContext


class Step(StrEnum):
    """The stored name of each state (`flow["step"]`)."""

    BROWSE = "browse"
    KEY = "key"
    FIELD = "field"
    CONFIRM = "confirm"
    ADMIN_ORDER_ID = "admin_order_id"
    ADMIN_BROADCAST = "admin_broadcast"
    ADMIN_BROADCAST_READY = "admin_broadcast_ready"
    TOPUP = "topup"
    ADMIN_PRICE = "admin_price"
    ADMIN_PRICE_SERVICE = "admin_price_service"


@dataclass(frozen=True)
class Browsing:
    """Looking through the catalog; `query` is the last search, for its pages and Back."""

    step: ClassVar[Step] = Step.BROWSE
    query: str | None = None


@dataclass(frozen=True)
class AwaitingKey:
    """/start or /connect asked for the panel API key: the next text is the key."""

    step: ClassVar[Step] = Step.KEY


@dataclass(frozen=True)
class FillingField:
    """The order form asks one field of a draft; `returning`: asked from the edit menu
    or after a refusal, so the answer leads back to the confirm screen."""

    step: ClassVar[Step] = Step.FIELD
    draft: int
    field: str
    returning: bool = False
    # When the form last moved (epoch seconds; None for states stored before it was kept).
    since: int | None = dataclasses.field(default=None, compare=False)
    # The message whose text answered the previous field: Telegram delivers an update
    # again after a crash, and that text must not answer this field too.
    after: int | None = dataclasses.field(default=None, compare=False)


@dataclass(frozen=True)
class Confirming:
    """The confirm screen of a draft is shown: Confirm, Edit or Cancel."""

    step: ClassVar[Step] = Step.CONFIRM
    draft: int
    since: int | None = dataclasses.field(default=None, compare=False)
    after: int | None = dataclasses.field(default=None, compare=False)
    # Shop mode: the price the screen showed, the most Confirm may charge.
    price: str | None = None


@dataclass(frozen=True)
class AwaitingOrderId:
    """An admin pressed "Mark placed" on an UNKNOWN draft: the next text is the panel's order id."""

    step: ClassVar[Step] = Step.ADMIN_ORDER_ID
    target: int


@dataclass(frozen=True)
class WritingBroadcast:
    """An admin pressed Broadcast: the next text is the message to send."""

    step: ClassVar[Step] = Step.ADMIN_BROADCAST


@dataclass(frozen=True)
class ReviewingBroadcast:
    """The preview of `text` is shown with Send; a new text replaces it."""

    step: ClassVar[Step] = Step.ADMIN_BROADCAST_READY
    broadcast: str
    text: str


@dataclass(frozen=True)
class EnteringTopup:
    """Shop mode: "Other amount" under /topup asked for an amount; the next text is it."""

    step: ClassVar[Step] = Step.TOPUP


@dataclass(frozen=True)
class EnteringPrice:
    """Shop mode: an admin asked to set a price rule; the next text is its value. `scope`
    and `key` name the rule as the store does ("markup", "minimum", "category" + its name,
    "service" + its id); `what`: "percent" or "per_1000"."""

    step: ClassVar[Step] = Step.ADMIN_PRICE
    scope: str
    key: str
    what: str


@dataclass(frozen=True)
class FindingService:
    """Shop mode: an admin pressed "A service by id": the next text is the service id."""

    step: ClassVar[Step] = Step.ADMIN_PRICE_SERVICE


State = (Browsing | AwaitingKey | FillingField | Confirming | AwaitingOrderId | WritingBroadcast | ReviewingBroadcast
         | EnteringTopup | EnteringPrice | FindingService)
FormState = FillingField | Confirming
ADMIN_STATES = (AwaitingOrderId, WritingBroadcast, ReviewingBroadcast, EnteringPrice, FindingService)
PRICE_SCOPES = ("markup", "minimum", "category", "service")
PRICE_KINDS = ("percent", "per_1000")

# An order form nobody answered for this long is closed (its draft abandoned) when its
# owner comes back: PTB's `conversation_timeout`, for forms kept in the database.
FORM_TIMEOUT = timedelta(hours=24)


def encode(state: State | None, *, now: float | None = None) -> dict[str, object] | None:
    """The JSON object stored for `state` (None clears it)."""
    match state:
        case None:
            return None
        case Browsing(query=query):
            return {"step": Step.BROWSE.value} if query is None else {"step": Step.BROWSE.value, "q": query}
        case AwaitingKey():
            return {"step": Step.KEY.value}
        case FillingField(draft=draft, field=name, returning=returning, after=after):
            return {"step": Step.FIELD.value, "draft": draft, "field": name, "return": returning,
                    "at": int(time.time() if now is None else now)} | ({} if after is None else {"after": after})
        case Confirming(draft=draft, after=after, price=price):
            return {"step": Step.CONFIRM.value, "draft": draft,
                    "at": int(time.time() if now is None else now)} | ({} if after is None else {"after": after}) \
                | ({} if price is None else {"price": price})
        case AwaitingOrderId(target=target):
            return {"step": Step.ADMIN_ORDER_ID.value, "target": target}
        case WritingBroadcast():
            return {"step": Step.ADMIN_BROADCAST.value}
        case ReviewingBroadcast(broadcast=broadcast, text=text):
            return {"step": Step.ADMIN_BROADCAST_READY.value, "broadcast": broadcast, "text": text}
        case EnteringTopup():
            return {"step": Step.TOPUP.value}
        case EnteringPrice(scope=scope, key=key, what=what):
            return {"step": Step.ADMIN_PRICE.value, "scope": scope, "key": key, "what": what}
        case FindingService():
            return {"step": Step.ADMIN_PRICE_SERVICE.value}


def decode(raw: Mapping[str, object] | None) -> State | None:
    """The state a stored object stands for; None for nothing, or for anything malformed
    (a state no longer understood is dropped rather than guessed at)."""
    if not raw:
        return None
    step = raw.get("step")
    draft, at, answered = raw.get("draft"), raw.get("at"), raw.get("after")
    since = at if isinstance(at, int) and _is_id(at) else None
    after = answered if isinstance(answered, int) and _is_id(answered) else None
    if step == Step.BROWSE:
        query = raw.get("q")
        return Browsing(query if isinstance(query, str) and query else None)
    if step == Step.KEY:
        return AwaitingKey()
    if step == Step.FIELD and _is_id(draft) and isinstance(raw.get("field"), str):
        return FillingField(draft=int(str(draft)), field=str(raw["field"]), returning=raw.get("return") is True,
                            since=since, after=after)
    if step == Step.CONFIRM and _is_id(draft):
        price = raw.get("price")
        return Confirming(draft=int(str(draft)), since=since, after=after,
                          price=price if isinstance(price, str) and _is_amount(price) else None)
    if step == Step.ADMIN_ORDER_ID and _is_id(raw.get("target")):
        return AwaitingOrderId(target=int(str(raw["target"])))
    if step == Step.ADMIN_BROADCAST:
        return WritingBroadcast()
    if step == Step.ADMIN_BROADCAST_READY and isinstance(raw.get("broadcast"), str) and isinstance(raw.get("text"), str):
        return ReviewingBroadcast(broadcast=str(raw["broadcast"]), text=str(raw["text"]))
    if step == Step.TOPUP:
        return EnteringTopup()
    if step == Step.ADMIN_PRICE and raw.get("scope") in PRICE_SCOPES and raw.get("what") in PRICE_KINDS \
            and isinstance(raw.get("key"), str):
        return EnteringPrice(scope=str(raw["scope"]), key=str(raw["key"]), what=str(raw["what"]))
    if step == Step.ADMIN_PRICE_SERVICE:
        return FindingService()
    return None


def _is_amount(text: str) -> bool:
    try:
        return Decimal(text).is_finite()
    except ArithmeticError:
        return False


def _is_id(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def answered_before(state: FillingField, message_id: int) -> bool:
    """True for a message at or before the one that answered the previous field: the
    same text delivered again, not an answer to this field."""
    return state.after is not None and message_id <= state.after


def expired(state: State | None, *, now: float | None = None) -> bool:
    """True for an order form left unanswered longer than FORM_TIMEOUT."""
    if not isinstance(state, FillingField | Confirming) or state.since is None:
        return False
    return (time.time() if now is None else now) - state.since > FORM_TIMEOUT.total_seconds()


async def current(context: BotContext) -> State | None:
    """The state of the user this update is from (read from the user's cached row)."""
    return decode(await context.deps.store.get_flow(context.user.telegram_id))


async def enter(context: BotContext, state: State | None) -> None:
    """Make `state` the user's state (None: no prompt is open). Nothing is written when
    the user is already in that state (a page turned, the same prompt shown again)."""
    user_id = context.user.telegram_id
    if state is not None and await current(context) == state:
        return
    await context.deps.store.set_flow(user_id, encode(state))


def draft_of(state: State | None) -> int | None:
    """The draft an order-form state is about."""
    return state.draft if isinstance(state, FillingField | Confirming) else None
