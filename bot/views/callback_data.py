"""Every button's callback data, one typed class per kind: how it is written into a button
(`encode`), read back from a press (`decode`) and matched by its handler (`PATTERN`)."""

from __future__ import annotations

import re
import string
import types
from collections.abc import Callable
from dataclasses import dataclass
from typing import (
    Annotated,
    Any,
    ClassVar,
    Literal,
    Self,
    TypeVar,
    get_args,
    get_origin,
    get_type_hints,
)

from telegram import Update

# Telegram's limit on a button's callback data; every kind is checked against it when its
# class is made, at its fields' longest.
MAX_BYTES = 64
# Ids, pages and indexes: 0 or a positive number of at most 18 digits (a BIGINT holds it),
# without leading zeros, so that each press has one spelling and "①", "²" or a 20-digit
# number is nobody's data.
DIGITS = 18
NUMBER = rf"(?:0|[1-9][0-9]{{0,{DIGITS - 1}}})"

OrdersShown = Literal["a", "o", "f"]  # all, open, finished
NotificationMode = Literal["all", "final", "off"]


@dataclass(frozen=True)
class Letters:
    """A text field of ASCII letters and "_" (a locale code), between `shortest` and `longest` long."""

    shortest: int
    longest: int


class _Field:
    """How one field is written into the data and read back."""

    regex: str
    longest: int

    def read(self, text: str) -> object:
        return text

    def write(self, value: object) -> str:
        return str(value)


class _Number(_Field):
    """An `int` field."""

    regex = NUMBER
    longest = DIGITS

    def read(self, text: str) -> object:
        return int(text)

    def write(self, value: object) -> str:
        # bool is an int to Python, but no field means True or False.
        return str(value) if isinstance(value, int) and not isinstance(value, bool) else "?"


class _OneOf(_Field):
    """A `Literal[...]` field: one of its values, as written."""

    def __init__(self, values: tuple[str, ...]) -> None:
        self.regex = "(?:" + "|".join(re.escape(v) for v in values) + ")"
        self.longest = max(len(v.encode()) for v in values)


class _Letters(_Field):
    """An `Annotated[str, Letters(...)]` field."""

    def __init__(self, letters: Letters) -> None:
        self.regex = f"[A-Za-z_]{{{letters.shortest},{letters.longest}}}"
        self.longest = letters.longest


class _Optional(_Field):
    """Another kind's data after a colon, or nothing (the "Back" of a service card)."""

    def __init__(self, kinds: tuple[type[Callback], ...]) -> None:
        self.kinds = kinds
        self.regex = "(?::(?:" + "|".join(kind.UNNAMED for kind in kinds) + "))?"
        self.longest = 1 + max(kind.LONGEST for kind in kinds)

    def read(self, text: str) -> object:
        if not text:
            return None
        return next(found for kind in self.kinds if (found := kind.decode(text[1:])) is not None)

    def write(self, value: object) -> str:
        if value is None:
            return ""
        return ":" + value.encode() if isinstance(value, self.kinds) else "?"


def _field_of(name: str, hint: Any) -> _Field:
    if hint is int:
        return _Number()
    if get_origin(hint) is Literal:
        return _OneOf(get_args(hint))
    if get_origin(hint) is Annotated and get_args(hint)[0] is str:
        letters = next((a for a in get_args(hint)[1:] if isinstance(a, Letters)), None)
        if letters is not None:
            return _Letters(letters)
    if isinstance(hint, types.UnionType) and type(None) in get_args(hint):
        kinds = tuple(k for k in get_args(hint) if k is not type(None))
        if kinds and all(isinstance(k, type) and issubclass(k, Callback) for k in kinds):
            return _Optional(kinds)
    raise TypeError(f"field {name}: no way to put {hint!r} into callback data")


C = TypeVar("C", bound="Callback")
KINDS: list[type[Callback]] = []


class Callback:
    """One kind of button press. A subclass is a frozen dataclass that names its data's
    layout, `class OpenOrder(Callback, data="O:{order}")`; its pattern, its longest length
    and the reading of each field follow from the fields' types."""

    DATA: ClassVar[str]
    PATTERN: ClassVar[re.Pattern[str]]  # for CallbackQueryHandler(pattern=...)
    UNNAMED: ClassVar[str]  # the pattern without groups, to nest in another kind's
    LONGEST: ClassVar[int]  # bytes, at the fields' longest
    FIELDS: ClassVar[dict[str, _Field]]
    _PARTS: ClassVar[list[tuple[str, str | None]]]

    def __init_subclass__(cls, data: str, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        hints = get_type_hints(cls, include_extras=True)
        fields = {name: _field_of(name, hint) for name, hint in hints.items() if get_origin(hint) is not ClassVar}
        parts = [(literal, name) for literal, name, _spec, _conversion in string.Formatter().parse(data)]
        if [name for _, name in parts if name] != list(fields):
            raise TypeError(f"{cls.__name__}: {data!r} must name the fields {list(fields)} in order")
        cls.DATA = data
        cls.FIELDS = fields
        cls._PARTS = parts
        cls.UNNAMED = "".join(re.escape(lit) + (f"(?:{fields[n].regex})" if n else "") for lit, n in parts)
        cls.PATTERN = re.compile(
            "".join(re.escape(lit) + (f"(?P<{n}>{fields[n].regex})" if n else "") for lit, n in parts) + r"\Z"
        )
        cls.LONGEST = sum(len(lit.encode()) + (fields[n].longest if n else 0) for lit, n in parts)
        if cls.LONGEST > MAX_BYTES:
            raise TypeError(f"{cls.__name__}: up to {cls.LONGEST} bytes, over Telegram's {MAX_BYTES}")
        KINDS.append(cls)

    def encode(self) -> str:
        """The button's callback data; a field out of range (a negative page, a 19-digit
        id) is a bug here, not a button that answers "no longer valid" later."""
        data = "".join(lit + (self.FIELDS[n].write(getattr(self, n)) if n else "") for lit, n in self._PARTS)
        if self.PATTERN.fullmatch(data) is None:
            raise ValueError(f"{self!r} cannot be a button's data")
        return data

    @classmethod
    def decode(cls, data: object) -> Self | None:
        """The press's data as this kind, or None for anything this kind never writes."""
        found = cls.PATTERN.fullmatch(data) if isinstance(data, str) else None
        if found is None:
            return None
        make: Callable[..., Self] = cls
        return make(**{name: field.read(found[name]) for name, field in cls.FIELDS.items()})

    @classmethod
    def of(cls, update: Update) -> Self:
        """The data of the button pressed in `update`, for a handler registered with this
        kind's PATTERN (so it always decodes)."""
        query = update.callback_query
        assert query is not None
        pressed = cls.decode(query.data)
        assert pressed is not None, f"{cls.__name__} handler called for {query.data!r}"
        return pressed


def decode_any(data: object) -> Callback | None:
    """The press's data as whichever kind wrote it, or None (forged, or an older bot's)."""
    return next((found for kind in KINDS if (found := kind.decode(data)) is not None), None)


async def answer(update: Update, kind: type[C]) -> C:
    """Stop the pressed button's spinner and read its data as `kind`."""
    query = update.callback_query
    assert query is not None
    await query.answer()
    return kind.of(update)


# --- the main menu, the language, a pasted key ----------------------------------------------


@dataclass(frozen=True)
class ShowBalance(Callback, data="m:b"):
    """💰 Balance in the main menu."""


@dataclass(frozen=True)
class RecentOrders(Callback, data="m:o"):
    """📋 Orders in the main menu: the open orders and the last finished ones."""


@dataclass(frozen=True)
class SetLanguage(Callback, data="l:{code}"):
    """A language in /language."""

    code: Annotated[str, Letters(2, 10)]


@dataclass(frozen=True)
class LinkPastedKey(Callback, data="K:y"):
    """🔑 Link this key, under a key pasted where it did not belong."""


@dataclass(frozen=True)
class ForgetPastedKey(Callback, data="K:n"):
    """No, under a key pasted where it did not belong."""


# --- browsing the catalog ---------------------------------------------------------------------


@dataclass(frozen=True)
class PlatformPage(Callback, data="p:{page}"):
    """A page of the catalog's platforms (🛒 New order, ⬅ Platforms, paging)."""

    page: int


@dataclass(frozen=True)
class CategoryPage(Callback, data="c:{platform}:{page}"):
    """A page of one platform's categories; `platform` indexes the catalog's platforms."""

    platform: int
    page: int


@dataclass(frozen=True)
class ServicePage(Callback, data="s:{category}:{page}"):
    """A page of one category's services; `category` indexes the catalog's categories."""

    category: int
    page: int


@dataclass(frozen=True)
class SearchPage(Callback, data="q:{page}"):
    """A page of the last search's results (the words are kept in the user's flow)."""

    page: int


@dataclass(frozen=True)
class OpenService(Callback, data="v:{service}{back}"):
    """A numbered service in a list: its card, whose Back returns to `back` (the list page
    it was opened from; none: the first page of its category)."""

    service: int
    back: ServicePage | SearchPage | None = None


# --- the order form and the confirm screen ---------------------------------------------------


@dataclass(frozen=True)
class StartOrder(Callback, data="n:{service}"):
    """Order, on a service card: a new draft."""

    service: int


@dataclass(frozen=True)
class SkipField(Callback, data="k:{draft}:{field}"):
    """Skip, under an optional field's prompt; `field` indexes the service's fields."""

    draft: int
    field: int


@dataclass(frozen=True)
class ChooseValue(Callback, data="h:{draft}:{field}:{choice}"):
    """One of the values offered under a field's prompt (a choice, a preset, a date)."""

    draft: int
    field: int
    choice: int


@dataclass(frozen=True)
class EditOrder(Callback, data="e:{draft}"):
    """✏️ Edit on the confirm screen: which field to change."""

    draft: int


@dataclass(frozen=True)
class EditField(Callback, data="f:{draft}:{field}"):
    """A field in the edit menu, or ✏️ Change after a refusal: that field's prompt again."""

    draft: int
    field: int


@dataclass(frozen=True)
class BackToConfirm(Callback, data="b:{draft}"):
    """◀ Back in the edit menu: the confirm screen again."""

    draft: int


@dataclass(frozen=True)
class ConfirmOrder(Callback, data="y:{draft}"):
    """Confirm: place the order on the panel."""

    draft: int


@dataclass(frozen=True)
class CancelDraft(Callback, data="x:{draft}"):
    """✖ Cancel on a prompt or the confirm screen: the draft is dropped."""

    draft: int


@dataclass(frozen=True)
class OrderAgain(Callback, data="a:{draft}"):
    """🔁 Order again: a new draft with the same service and fields."""

    draft: int


# --- orders ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class OpenOrder(Callback, data="O:{order}"):
    """#123 in a list, or 📦 Open order under a notification: the order's card."""

    order: int


@dataclass(frozen=True)
class RefreshOrder(Callback, data="r:{order}"):
    """🔄 Refresh on an order card (and "No, keep it"): the card, redrawn."""

    order: int


@dataclass(frozen=True)
class RefillOrder(Callback, data="R:{order}"):
    """♻️ Refill on an order card."""

    order: int


@dataclass(frozen=True)
class AskCancelOrder(Callback, data="C:{order}"):
    """✖ Cancel order on an order card: asks first."""

    order: int


@dataclass(frozen=True)
class CancelOrder(Callback, data="Y:{order}"):
    """Yes, cancel it: the cancel request to the panel."""

    order: int


@dataclass(frozen=True)
class OrdersPage(Callback, data="L:{shown}:{page}"):
    """A page of /orders: all, open or finished ones."""

    shown: OrdersShown
    page: int


@dataclass(frozen=True)
class SetNotifications(Callback, data="M:{mode}"):
    """A choice in /notifications."""

    mode: NotificationMode


# --- admins (ADMIN_IDS; checked again on every press) ---------------------------------------


@dataclass(frozen=True)
class AdminOverview(Callback, data="Ao"):
    """◀ Overview and 🔄 Refresh: the admin overview."""


@dataclass(frozen=True)
class UnknownDrafts(Callback, data="Au:{page}"):
    """A page of the drafts sent without a clear answer."""

    page: int


@dataclass(frozen=True)
class MarkPlaced(Callback, data="Ap:{draft}"):
    """Mark #n placed: asks for the panel's order id."""

    draft: int


@dataclass(frozen=True)
class MarkFailed(Callback, data="Af:{draft}:{page}"):
    """Mark #n failed, then the same page of unknown drafts again."""

    draft: int
    page: int


@dataclass(frozen=True)
class AskBroadcast(Callback, data="Ab"):
    """📣 Broadcast: asks for the text."""


@dataclass(frozen=True)
class SendBroadcast(Callback, data="As:{admin}.{message}"):
    """📣 Send under a broadcast preview; the broadcast is named after the admin's message."""

    admin: int
    message: int

    @property
    def broadcast_id(self) -> str:
        return f"{self.admin}.{self.message}"


@dataclass(frozen=True)
class LeaveAdminStep(Callback, data="Ax"):
    """✖ Cancel on an admin prompt or preview."""


# --- shop mode: the wallet and top-ups -------------------------------------------------------


@dataclass(frozen=True)
class ShowTopup(Callback, data="Wt"):
    """💳 Top up under the wallet: the amounts to choose from."""


@dataclass(frozen=True)
class TopupAmount(Callback, data="Wa:{minor}"):
    """A preset amount under /topup, in the shop currency's minor units (500: 5.00 USD);
    checked again like a typed amount, so a forged one buys nothing it should not."""

    minor: int


@dataclass(frozen=True)
class TopupOther(Callback, data="Wo"):
    """✏️ Other amount under /topup: asks for a typed amount."""
# --- shop mode's prices and figures (admins; checked again on every press) ------------------

# Which rule a button changes: a category (its index in the panel catalog's categories,
# with `tag`, a checksum of its name, so that a press after the catalog changed cannot
# change another category) or a service (its id; `tag` 0); "m" the markup, "n" the minimum.
PriceScope = Literal["c", "s"]
ClearScope = Literal["c", "s", "m", "n"]
RuleKind = Literal["p", "f"]  # a percent, or a fixed price per 1000
Shown = Literal["h", "v"]  # hidden from customers, or visible


@dataclass(frozen=True)
class ShopPrices(Callback, data="Ph"):
    """💲 Prices on the admin overview (and ◀ Prices): the price rules, and leaving a price prompt."""


@dataclass(frozen=True)
class AskMarkup(Callback, data="Pm"):
    """Set markup: asks for the global markup in percent."""


@dataclass(frozen=True)
class AskMinimum(Callback, data="Pn"):
    """Set minimum: asks for the minimum charge per order."""


@dataclass(frozen=True)
class PriceCategories(Callback, data="Pc:{page}"):
    """A page of the panel catalog's categories, to price one."""

    page: int


@dataclass(frozen=True)
class PriceCategory(Callback, data="Pk:{category}:{tag}"):
    """A category's price card."""

    category: int
    tag: int


@dataclass(frozen=True)
class FindService(Callback, data="Pi"):
    """A service by id: asks for the id."""


@dataclass(frozen=True)
class AskRule(Callback, data="Pa:{what}:{scope}:{target}:{tag}"):
    """Set percent / Set price per 1000 on a category's or a service's card."""

    what: RuleKind
    scope: PriceScope
    target: int
    tag: int


@dataclass(frozen=True)
class ShowRule(Callback, data="Pv:{shown}:{scope}:{target}:{tag}"):
    """Hide / Show on a category's or a service's card."""

    shown: Shown
    scope: PriceScope
    target: int
    tag: int


@dataclass(frozen=True)
class ClearRule(Callback, data="Px:{scope}:{target}:{tag}"):
    """Clear the price rule (a category's, a service's; the markup's or the minimum's back to the default)."""

    scope: ClearScope
    target: int
    tag: int


@dataclass(frozen=True)
class PriceChanges(Callback, data="Pl"):
    """Recent changes: the audit of price rules."""


@dataclass(frozen=True)
class PriceList(Callback, data="Pd"):
    """Price list: what customers pay, as a file."""


@dataclass(frozen=True)
class ShopFigures(Callback, data="Pf"):
    """📊 Figures on the admin overview."""
