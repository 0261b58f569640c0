"""The panel client's errors, and the one place that classifies a panel's error text."""

from __future__ import annotations

import enum
import re
from dataclasses import dataclass


class RefusalKind(enum.StrEnum):
    INVALID_KEY = "invalid_key"
    NOT_ENOUGH_FUNDS = "not_enough_funds"
    QUANTITY = "quantity"
    DUPLICATE_ORDER = "duplicate_order"
    INCORRECT_SERVICE = "incorrect_service"
    INCORRECT_ORDER = "incorrect_order"
    INCORRECT_REFILL = "incorrect_refill"
    REFILL_DISABLED = "refill_disabled"
    REFILL_NOT_COMPLETED = "refill_not_completed"
    BAD_LINK = "bad_link"
    DRIPFEED_UNSUPPORTED = "dripfeed_unsupported"
    INCORRECT_REQUEST = "incorrect_request"
    # The panel has no such action ("This action is Invalid"): a capability, not a
    # mistake in the request; worth remembering per panel.
    UNSUPPORTED_ACTION = "unsupported_action"
    # A field the panel wants and did not get ("Comments field is required"); `field`
    # names it when the text does.
    MISSING_FIELD = "missing_field"
    # A field's value the panel does not accept ("Invalid Interval in minutes").
    INVALID_FIELD = "invalid_field"
    OTHER = "other"


class PanelError(Exception):
    """Anything the panel client raises."""


class PanelUnavailable(PanelError):
    """The panel could not be reached or answered garbage: connect error, timeout,
    5xx, 429, an HTML page, malformed JSON. Nothing the panel *decided*."""

    def __init__(
        self,
        reason: str,
        *,
        status_code: int | None = None,
        retry_after: float | None = None,
    ) -> None:
        super().__init__(reason)
        self.reason = reason
        self.status_code = status_code
        self.retry_after = retry_after


class PanelWebPage(PanelUnavailable):
    """A read answered by a web page with HTTP 4xx: the URL leads to a site, not to its
    API (a wrong PANEL_URL or path, or a firewall). Waiting will not help: check
    PANEL_URL. Still a `PanelUnavailable`, so callers that do not tell it apart keep
    working."""


class OutcomeUnknown(PanelError):
    """A write (`add`, `refill`, `cancel`) may have reached the panel but no usable
    answer came back. It must not be sent again: the panel may have acted on it."""

    def __init__(self, action: str, reason: str) -> None:
        super().__init__(f"{action}: outcome unknown ({reason})")
        self.action = action
        self.reason = reason


@dataclass(frozen=True, slots=True)
class Refusal:
    """A panel's refusal as data: its own text and what it means."""

    text: str
    kind: RefusalKind
    minimum: int | None = None
    maximum: int | None = None
    step: bool = False
    # The `add` field the refusal is about, when its text says (a form can then tell
    # whether the user can fix it); `missing` when the panel wanted it and got none.
    field: str | None = None
    missing: bool = False


class PanelRefusal(PanelError):
    """The panel answered and said no. `text` is the panel's own words."""

    def __init__(self, refusal: Refusal) -> None:
        super().__init__(refusal.text)
        self.refusal = refusal

    @property
    def text(self) -> str:
        return self.refusal.text

    @property
    def kind(self) -> RefusalKind:
        return self.refusal.kind

    @property
    def minimum(self) -> int | None:
        return self.refusal.minimum

    @property
    def maximum(self) -> int | None:
        return self.refusal.maximum


# Ordered: the first pattern that matches decides. Lower-cased text is matched.
_PATTERNS: tuple[tuple[RefusalKind, re.Pattern[str]], ...] = tuple(
    (kind, re.compile(pattern))
    for kind, pattern in (
        (RefusalKind.UNSUPPORTED_ACTION, r"this action is invalid|invalid action|unknown action|action (?:is )?not (?:supported|allowed|available)"),
        (RefusalKind.INVALID_KEY, r"invalid api key|invalid_key|invalid key|wrong api key|api key is (?:invalid|wrong|incorrect)|api is disable|user not found"),
        (RefusalKind.NOT_ENOUGH_FUNDS, r"not enough funds|not_enough_funds|insufficient"),
        (RefusalKind.DUPLICATE_ORDER, r"active order with this link|link_duplicate"),
        (RefusalKind.INCORRECT_SERVICE, r"incorrect service|incorrect_service_id|service id does not exist|service not found"),
        (RefusalKind.REFILL_DISABLED, r"refill is disabled|refill_disabled"),
        (RefusalKind.REFILL_NOT_COMPLETED, r"refill task is not completed"),
        (RefusalKind.INCORRECT_REFILL, r"refill not found|incorrect refill"),
        (RefusalKind.INCORRECT_ORDER, r"incorrect order|order not found|incorrect_order"),
        (RefusalKind.DRIPFEED_UNSUPPORTED, r"drip-?feed"),
        (
            RefusalKind.QUANTITY,
            r"quantity|min_quantity|max_quantity|neworder\.error\.increment|minimum amount|maximum amount",
        ),
        (RefusalKind.BAD_LINK, r"bad link|neworder\.error\.link$|incorrect link|invalid link"),
        (
            RefusalKind.INCORRECT_REQUEST,
            r"incorrect request|missing required parameter|is required parameter",
        ),
        (RefusalKind.MISSING_FIELD, r"\b(?:field )?is required|\brequired field|\bmissing\b"),
        (RefusalKind.INVALID_FIELD, r"^(?:invalid|incorrect|wrong|bad) [a-z_ ]+|is (?:invalid|incorrect|not valid)"),
    )
)

# The `add` fields of every type (bot/panel/fields.py), as a refusal's text may name them.
_FIELDS = (
    "type_of_traffic", "google_keyword", "referring_url", "answer_number", "old_posts", "quantity", "interval",
    "comments", "usernames", "username", "hashtags", "hashtag", "keywords", "groups", "country", "device",
    "expiry", "posts", "delay", "media", "runs", "link", "min", "max",
)
_FIELD_WORDS = tuple((name, re.compile(r"\b" + name.replace("_", "[ _]") + r"\b")) for name in _FIELDS)
_KIND_FIELDS = {
    RefusalKind.QUANTITY: "quantity",
    RefusalKind.BAD_LINK: "link",
    RefusalKind.DRIPFEED_UNSUPPORTED: "runs",
}
_MISSING = re.compile(r"\bis required\b(?! parameter)|\brequired field|\bmissing\b")


def _field_in(lowered: str) -> str | None:
    for name, pattern in _FIELD_WORDS:
        if pattern.search(lowered):
            return name
    return None

_NUMBER = re.compile(r"(\d[\d,. ]*)")


def _number_in(text: str) -> int | None:
    match = _NUMBER.search(text)
    if not match:
        return None
    digits = re.sub(r"\D", "", match.group(1).split(".")[0])
    return int(digits) if digits else None


def classify(text: object) -> Refusal:
    """Turn a panel's error text into a `Refusal` with its kind and parsed numbers."""
    raw = str(text).strip() if text is not None else ""
    lowered = raw.lower()
    kind = RefusalKind.OTHER
    for candidate, pattern in _PATTERNS:
        if pattern.search(lowered):
            kind = candidate
            break
    if kind in (RefusalKind.MISSING_FIELD, RefusalKind.INVALID_FIELD):
        return Refusal(raw, kind, field=_field_in(lowered), missing=kind is RefusalKind.MISSING_FIELD)
    field = _KIND_FIELDS.get(kind)
    if kind is not RefusalKind.QUANTITY:
        return Refusal(raw, kind, field=field)
    if _MISSING.search(lowered):
        return Refusal(raw, kind, field=field, missing=True)
    number = _number_in(lowered)
    if "increment" in lowered or "multiple" in lowered:
        return Refusal(raw, kind, step=True, field=field)
    if re.search(r"less than minimal|greater than or equal|min_quantity|minimum", lowered):
        return Refusal(raw, kind, minimum=number, field=field)
    if re.search(r"more than maximum|less than or equal|max_quantity|maximum", lowered):
        return Refusal(raw, kind, maximum=number, field=field)
    return Refusal(raw, kind, field=field)
