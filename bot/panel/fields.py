"""The service types' `add` fields as one table of data, with per-field validation.

The same table builds `add` requests (client), validates them (sandbox) and drives the
chat forms (handlers). Validation errors carry a code and parameters, never prose, so
that each caller words them in its own language.
"""

from __future__ import annotations

import enum
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from decimal import Decimal
from urllib.parse import urlsplit

from bot.panel.models import Service
from bot.panel.values import type_key


def _(text: str) -> str:
    """Marks a field's label for extraction (pybabel, tests/test_i18n.py); the label is
    the English msgid, translated where it is shown (`t._(spec.label)`), so that this
    package stays free of Telegram and of any language."""
    return text


class FieldKind(enum.StrEnum):
    LINK = "link"
    INTEGER = "integer"
    TEXT = "text"
    LINES = "lines"
    CHOICE = "choice"
    DATE = "date"


class Range(enum.StrEnum):
    """Where an integer field's bounds come from."""

    NONE = "none"  # any positive integer (>= minimum)
    SERVICE = "service"  # the service's min..max


# The seed's list of subscription delays, in minutes.
DELAYS: tuple[str, ...] = (
    "0", "5", "10", "15", "30", "60", "90", "120", "150", "180", "210", "240",
    "270", "300", "360", "420", "480", "540", "600",
)
DEVICES: tuple[str, ...] = ("1", "2", "3", "4", "5")  # Desktop, Android, iOS, Mixed mobile, Mixed
TRAFFIC_TYPES: tuple[str, ...] = ("1", "2", "3")  # Google keyword, Custom referrer, Blank
# Drip-feed intervals (minutes) offered as buttons: the ones every panel we know takes
# (the SmartPanel family takes only these); another typed value is still sent.
INTERVALS: tuple[str, ...] = ("0", "5", "10", "15", "30", "60", "90")

# Quick picks offered for a date field, in days from today (typing a date still works).
DATE_PICKS: tuple[int, ...] = (7, 30, 90)

MAX_LINK_LENGTH = 2000
MAX_TEXT_LENGTH = 500
MAX_LINES_TOTAL = 20000
MAX_RUNS = 1000
MAX_INTERVAL = 60 * 24 * 30  # a month, in minutes


@dataclass(frozen=True, slots=True)
class FieldSpec:
    """One `add` parameter: its API name, kind, whether it is required, and limits.
    `label` is what a person reads for it (an English msgid): the API name never is."""

    name: str
    kind: FieldKind
    label: str = ""  # every field of the type table has one (tests/test_words.py)
    required: bool = True
    range: Range = Range.NONE
    minimum: int = 1
    choices: tuple[str, ...] = ()
    # Count of lines must lie within the service's min..max (the quantity is derived).
    lines_are_quantity: bool = False
    # Asked for only when another field has one of these values.
    when: tuple[str, tuple[str, ...]] | None = None
    dripfeed: bool = False  # only for services that offer drip-feed
    # Common values of a typed field, offered as buttons (typing another still works).
    presets: tuple[str, ...] = ()

    @property
    def buttons(self) -> tuple[str, ...]:
        """The values the form offers as buttons: a choice's list, or a typed field's presets."""
        return self.choices or self.presets


@dataclass(frozen=True, slots=True)
class ServiceType:
    name: str
    fields: tuple[FieldSpec, ...]
    known: bool = True
    # How the charge is computed: "quantity" (rate x quantity / 1000), "lines"
    # (rate x line count / 1000), "flat" (rate per package), "subscription" (per post).
    pricing: str = "quantity"

    def field(self, name: str) -> FieldSpec | None:
        for spec in self.fields:
            if spec.name == name:
                return spec
        return None


LINK = FieldSpec("link", FieldKind.LINK, _("Link"))
QUANTITY = FieldSpec("quantity", FieldKind.INTEGER, _("Quantity"), range=Range.SERVICE)
RUNS = FieldSpec("runs", FieldKind.INTEGER, _("Runs"), required=False, minimum=2, dripfeed=True)
INTERVAL = FieldSpec(
    "interval", FieldKind.INTEGER, _("Interval (minutes)"), required=False, minimum=0, dripfeed=True, presets=INTERVALS
)
USERNAME = FieldSpec("username", FieldKind.TEXT, _("Username"))
COMMENTS = _("Comments")
USERNAMES = _("Usernames")


def _lines(name: str, label: str, *, as_quantity: bool = False) -> FieldSpec:
    return FieldSpec(name, FieldKind.LINES, label, lines_are_quantity=as_quantity)


SERVICE_TYPES: tuple[ServiceType, ...] = (
    ServiceType("Default", (LINK, QUANTITY, RUNS, INTERVAL)),
    ServiceType("Package", (LINK,), pricing="flat"),
    ServiceType("SEO", (LINK, QUANTITY, _lines("keywords", _("Keywords")))),
    ServiceType("Custom Comments", (LINK, _lines("comments", COMMENTS, as_quantity=True)), pricing="lines"),
    ServiceType("Custom Comments Package", (LINK, _lines("comments", COMMENTS)), pricing="flat"),
    ServiceType("Mentions", (LINK, QUANTITY, _lines("usernames", USERNAMES))),
    ServiceType("Mentions with Hashtags", (LINK, QUANTITY, _lines("usernames", USERNAMES), _lines("hashtags", _("Hashtags")))),
    ServiceType("Mentions Custom List", (LINK, _lines("usernames", USERNAMES, as_quantity=True)), pricing="lines"),
    ServiceType("Mentions Hashtag", (LINK, QUANTITY, FieldSpec("hashtag", FieldKind.TEXT, _("Hashtag")))),
    ServiceType("Mentions User Followers", (LINK, QUANTITY, USERNAME)),
    ServiceType("Mentions Media Likers", (LINK, QUANTITY, FieldSpec("media", FieldKind.LINK, _("Media link")))),
    ServiceType("Comment Likes", (LINK, QUANTITY, USERNAME)),
    ServiceType("Comment Replies", (LINK, USERNAME, _lines("comments", COMMENTS, as_quantity=True)), pricing="lines"),
    ServiceType("Poll", (LINK, QUANTITY, FieldSpec("answer_number", FieldKind.INTEGER, _("Poll answer number")))),
    ServiceType("Invites from Groups", (LINK, QUANTITY, _lines("groups", _("Groups")))),
    ServiceType(
        "Subscriptions",
        (
            USERNAME,
            FieldSpec("min", FieldKind.INTEGER, _("Minimum per new post"), range=Range.SERVICE),
            FieldSpec("max", FieldKind.INTEGER, _("Maximum per new post"), range=Range.SERVICE),
            FieldSpec("posts", FieldKind.INTEGER, _("New posts to serve"), required=False, minimum=0),
            FieldSpec("old_posts", FieldKind.INTEGER, _("Existing posts to include"), required=False, minimum=0),
            FieldSpec("delay", FieldKind.CHOICE, _("Delay"), choices=DELAYS),
            FieldSpec("expiry", FieldKind.DATE, _("Expiry date"), required=False),
        ),
        pricing="subscription",
    ),
    ServiceType(
        "Web Traffic",
        (
            LINK,
            QUANTITY,
            FieldSpec("country", FieldKind.TEXT, _("Country")),
            FieldSpec("device", FieldKind.CHOICE, _("Device"), choices=DEVICES),
            FieldSpec("type_of_traffic", FieldKind.CHOICE, _("Traffic source"), choices=TRAFFIC_TYPES),
            FieldSpec("google_keyword", FieldKind.TEXT, _("Google keyword"), when=("type_of_traffic", ("1",))),
            FieldSpec("referring_url", FieldKind.LINK, _("Referring page"), when=("type_of_traffic", ("2",))),
            RUNS,
            INTERVAL,
        ),
    ),
)

UNKNOWN_TYPE = ServiceType("Unknown", (LINK, QUANTITY), known=False)


def field_label(name: str) -> str | None:
    """The label (English msgid) of an `add` field named `name` in any type, or None
    for a name the table does not have (a panel's own field)."""
    for kind in SERVICE_TYPES:
        spec = kind.field(name)
        if spec is not None:
            return spec.label
    return None


def date_picks(today: date) -> tuple[str, ...]:
    """A date field's quick picks, as `add` sends dates: `DATE_PICKS` days from today."""
    return tuple((today + timedelta(days=days)).strftime("%d/%m/%Y") for days in DATE_PICKS)


def parse_date(value: str) -> date | None:
    """A cleaned date value (`dd/mm/yyyy`) as a date; None when it is not one."""
    try:
        return datetime.strptime(value, "%d/%m/%Y").date()
    except ValueError:
        return None


_BY_KEY: dict[str, ServiceType] = {type_key(t.name): t for t in SERVICE_TYPES}


def service_type(name: str) -> ServiceType:
    """The type table's entry for a panel's `type` string, or `UNKNOWN_TYPE`."""
    return _BY_KEY.get(type_key(name or "Default"), UNKNOWN_TYPE)


def form_fields(service: Service, values: Mapping[str, str] | None = None) -> list[FieldSpec]:
    """The fields to ask for this service, in order, given what is entered so far:
    drip-feed fields only where the service offers drip-feed, conditional fields only
    when their condition holds."""
    values = values or {}
    result = []
    for spec in service_type(service.type).fields:
        if spec.dripfeed and not service.dripfeed:
            continue
        if spec.when is not None:
            other, allowed = spec.when
            if (values.get(other) or "").strip() not in allowed:
                continue
        result.append(spec)
    return result


# --- validation -----------------------------------------------------------------------


class FieldInvalid(ValueError):
    """A value the panel would refuse. `code` names the problem; `params` its numbers."""

    def __init__(self, field_name: str, code: str, **params: object) -> None:
        super().__init__(f"{field_name}: {code} {params}")
        self.field = field_name
        self.code = code
        self.params = params


# ASCII digits only: `\d` also matches "٣" or "３", which int() would read as numbers.
_INTEGER = re.compile(r"^[+]?[0-9]{1,12}$")
_DATE = re.compile(r"^([0-9]{1,2})[/.\-]([0-9]{1,2})[/.\-]([0-9]{4})$")
_HOST = re.compile(r"^(?=.{1,253}$)([a-z0-9\u00a1-\uffff]([a-z0-9\u00a1-\uffff\-]{0,61}[a-z0-9\u00a1-\uffff])?\.)+[a-z\u00a1-\uffff]{2,63}$|^localhost$|^\d{1,3}(\.\d{1,3}){3}$")


def clean_link(raw: str, field_name: str = "link") -> str:
    text = raw.strip()
    if not text:
        raise FieldInvalid(field_name, "required")
    if any(ch.isspace() for ch in text):
        raise FieldInvalid(field_name, "link_spaces")
    if len(text) > MAX_LINK_LENGTH:
        raise FieldInvalid(field_name, "too_long", maximum=MAX_LINK_LENGTH)
    if "://" not in text:
        # People paste `instagram.com/name` or `t.me/name`; a scheme is implied.
        text = "https://" + text
    try:
        parts = urlsplit(text)
        host = (parts.hostname or "").lower()
    except ValueError:
        raise FieldInvalid(field_name, "link_invalid") from None
    if parts.scheme.lower() not in ("http", "https"):
        raise FieldInvalid(field_name, "link_scheme")
    if not host or not _HOST.match(host):
        raise FieldInvalid(field_name, "link_invalid")
    return text


def _has_range(service: Service) -> bool:
    """A usable min..max: real catalogs have max 0 (missing) and min > max; then the
    panel alone decides."""
    return 0 < service.max and service.min <= service.max


def _clean_integer(spec: FieldSpec, raw: str, service: Service) -> int:
    text = raw.strip().replace(" ", "").replace("\u00a0", "").replace("_", "")
    if re.fullmatch(r"[0-9]{1,3}(,[0-9]{3})+", text):
        text = text.replace(",", "")
    if not _INTEGER.match(text):
        raise FieldInvalid(spec.name, "not_integer")
    value = int(text)
    if spec.range is Range.SERVICE:
        low, high = service.min, service.max
        if _has_range(service) and not low <= value <= high:
            raise FieldInvalid(spec.name, "out_of_range", minimum=low, maximum=high)
        if value < 1:
            raise FieldInvalid(spec.name, "too_small", minimum=1)
        return value
    if value < spec.minimum:
        raise FieldInvalid(spec.name, "too_small", minimum=spec.minimum)
    if spec.name == "runs" and value > MAX_RUNS:
        raise FieldInvalid(spec.name, "too_large", maximum=MAX_RUNS)
    if spec.name == "interval" and value > MAX_INTERVAL:
        raise FieldInvalid(spec.name, "too_large", maximum=MAX_INTERVAL)
    return value


def split_lines(raw: str) -> list[str]:
    return [line.strip() for line in raw.replace("\r\n", "\n").replace("\r", "\n").split("\n") if line.strip()]


def _clean_lines(spec: FieldSpec, raw: str, service: Service) -> str:
    lines = split_lines(raw)
    if not lines:
        raise FieldInvalid(spec.name, "required")
    if sum(len(line) + 1 for line in lines) > MAX_LINES_TOTAL:
        raise FieldInvalid(spec.name, "too_long", maximum=MAX_LINES_TOTAL)
    if spec.lines_are_quantity and _has_range(service):
        low, high = service.min, service.max
        if not low <= len(lines) <= high:
            raise FieldInvalid(spec.name, "line_count", count=len(lines), minimum=low, maximum=high)
    return "\n".join(lines)


def _clean_date(spec: FieldSpec, raw: str, today: date) -> str:
    match = _DATE.match(raw.strip())
    if not match:
        raise FieldInvalid(spec.name, "date_format")
    day, month, year = (int(g) for g in match.groups())
    try:
        when = date(year, month, day)
    except ValueError:
        raise FieldInvalid(spec.name, "date_invalid") from None
    if when <= today:
        raise FieldInvalid(spec.name, "date_past")
    return when.strftime("%d/%m/%Y")


def clean_value(spec: FieldSpec, raw: str, service: Service, *, today: date | None = None) -> str:
    """Validate one field's raw text and return the value as `add` sends it."""
    if spec.kind is FieldKind.LINK:
        return clean_link(raw, spec.name)
    if spec.kind is FieldKind.INTEGER:
        return str(_clean_integer(spec, raw, service))
    if spec.kind is FieldKind.LINES:
        return _clean_lines(spec, raw, service)
    if spec.kind is FieldKind.CHOICE:
        value = raw.strip()
        if value not in spec.choices:
            raise FieldInvalid(spec.name, "choice", choices=", ".join(spec.choices))
        return value
    if spec.kind is FieldKind.DATE:
        return _clean_date(spec, raw, today or datetime.now().date())
    text = raw.strip()
    if not text:
        raise FieldInvalid(spec.name, "required")
    if len(text) > MAX_TEXT_LENGTH:
        raise FieldInvalid(spec.name, "too_long", maximum=MAX_TEXT_LENGTH)
    return text


def check_together(service: Service, values: Mapping[str, str]) -> None:
    """Rules across fields: subscription min <= max; drip-feed runs and interval together."""
    if "min" in values and "max" in values and int(values["min"]) > int(values["max"]):
        raise FieldInvalid("max", "min_above_max", minimum=int(values["min"]))
    if ("runs" in values) != ("interval" in values):
        missing = "interval" if "runs" in values else "runs"
        raise FieldInvalid(missing, "required")


def build_add_params(
    service: Service, values: Mapping[str, str], *, today: date | None = None
) -> dict[str, str]:
    """The `add` request's fields (without key and action) for `values` entered as
    text: every field validated, skipped optionals left out, nothing outside the
    type's list sent. Raises `FieldInvalid` on the first problem."""
    params = {"service": str(service.id)}
    for spec in form_fields(service, values):
        raw = values.get(spec.name)
        if raw is None or raw.strip() == "":
            if spec.required:
                raise FieldInvalid(spec.name, "required")
            continue
        params[spec.name] = clean_value(spec, raw, service, today=today)
    check_together(service, params)
    return params


# --- quantity and price -----------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Quote:
    """What an order will cost: `low == high` except for subscriptions (per post)."""

    total_quantity: int | None
    low: Decimal
    high: Decimal
    per_post: bool = False
    notes: tuple[str, ...] = field(default=())


def total_quantity(service: Service, values: Mapping[str, str]) -> int | None:
    kind = service_type(service.type)
    for spec in kind.fields:
        if spec.lines_are_quantity and values.get(spec.name):
            return len(split_lines(values[spec.name]))
    if "quantity" in values and values["quantity"]:
        quantity = int(values["quantity"])
        runs = int(values["runs"]) if values.get("runs") else 1
        return quantity * runs
    return None


def quote(service: Service, values: Mapping[str, str]) -> Quote:
    """The price of `values` (already cleaned) at the service's rate per 1000."""
    kind = service_type(service.type)
    thousand = Decimal(1000)
    if kind.pricing == "flat":
        return Quote(1, service.rate, service.rate)
    if kind.pricing == "subscription":
        low = service.rate * int(values.get("min") or service.min) / thousand
        high = service.rate * int(values.get("max") or service.max) / thousand
        posts = int(values["posts"]) if values.get("posts") else 0
        if posts > 0:
            return Quote(None, low * posts, high * posts)
        return Quote(None, low, high, per_post=True)
    quantity = total_quantity(service, values) or 0
    price = service.rate * quantity / thousand
    return Quote(quantity, price, price)
