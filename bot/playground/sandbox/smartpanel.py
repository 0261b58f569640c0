"""The SmartPanel family's dialect of the sandbox panel, as measured on a running panel
(reference/panel-api.md, "The SmartPanel family"; panel-dumps/smartpanel-replies.txt).

Same books (`PanelState`), other manners: the API at `/api/v1` (`/api/v2` answers an
HTML 403 page), replies pretty-printed as `text/html` after a newline, only `services`,
`add`, `status` and `balance`, every number a string, a second refusal shape
(`{"status":"error","message":...}`), and its own `add` rules: every type but
`custom_comments` is link + quantity (packages too; subscriptions cannot be made),
comments split at commas as well as line breaks, drip-feed intervals from a short list.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from decimal import ROUND_HALF_UP, Decimal
from typing import Any, Final

from bot.panel.fields import FieldInvalid, clean_link, service_type
from bot.panel.models import Service
from bot.panel.status import PENDING
from bot.panel.values import to_int, type_key
from bot.playground.sandbox.state import (
    BAD_LINK,
    DRIPFEED_UNSUPPORTED,
    INCORRECT_ORDER,
    MISSING_PARAMETERS,
    NOT_ENOUGH_FUNDS,
    Account,
    PanelState,
    Refused,
    parse_id,
)

NAME: Final = "smartpanel"
API_PATH: Final = "/api/v1"
OTHER_PATHS: Final = ("/api/v2",)  # answered with the framework's HTML 403 page

INVALID_KEY: Final = "API is Disable for this user or User Not Found! Contact the Support"
INVALID_ACTION: Final = "This action is Invalid"
SERVICE_NOT_FOUND: Final = "Service ID does not exists"
QUANTITY_REQUIRED: Final = "Quantity is required"
QUANTITY_MIN: Final = "Quantity must to be greater than or equal to minimum amount {minimum}"
QUANTITY_MAX: Final = "Quantity must to be less than or equal to maximum amount {maximum}"
COMMENTS_REQUIRED: Final = "Comments field is required"
INVALID_INTERVAL: Final = "Invalid Interval in minutes"
INTERVALS: Final = ("0", "5", "10", "15", "30", "60", "90")
CURRENCY: Final = "USD"  # hard-coded in the panel's balance and status code

FORBIDDEN_PAGE: Final = """<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<title>Error</title>
</head>
<body>
<div id="container">
<h1>An Error Was Encountered</h1>
<p>The action you have requested is not allowed.</p>
</div>
</body>
</html>
"""

_CENT4 = Decimal("0.0001")
_COMMENT_SPLIT = re.compile(r"[,\r\n]+")
_FLAT = "flat"


class _Message(Exception):
    """A refusal in the second shape, `{"status":"error","message": text}`."""

    def __init__(self, text: str) -> None:
        super().__init__(text)
        self.text = text


def money(amount: Decimal) -> str:
    return format(amount.quantize(_CENT4, rounding=ROUND_HALF_UP), "f")


def _snake(type_name: str) -> str:
    return re.sub(r"[\s\-]+", "_", type_name.strip()).lower() or "default"


def catalog(items: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """A catalog as this family serves it: strings everywhere, lowercase snake-case
    types, `dripfeed` "0"/"1", a `desc`, no refill or cancel flags; packages 1..1."""
    served: list[dict[str, Any]] = []
    for item in items:
        service = Service.from_api(item)
        if service is None:
            continue
        package = service_type(service.type).pricing == _FLAT
        served.append({
            "service": str(service.id),
            "name": str(item.get("name", service.name)),
            "category": str(item.get("category", service.category)),
            "rate": money(service.rate),
            "min": "1" if package else str(service.min),
            "max": "1" if package else str(service.max),
            "type": _snake(service.type),
            "desc": str(item.get("desc", item.get("description", "")) or ""),
            "dripfeed": "1" if service.dripfeed else "0",
        })
    return served


def render(reply: Any) -> str:
    """The body as the panel's PHP prints it: a newline, then pretty JSON (escaped
    slashes and Unicode as `json_encode` with JSON_PRETTY_PRINT)."""
    if reply is None:
        return "\n"
    if isinstance(reply, dict) and set(reply) == {"status", "message"}:
        # This one comes from another code path that prints it compact.
        return "\n" + json.dumps(reply, separators=(",", ":"))
    text = json.dumps(reply, indent=4, ensure_ascii=True).replace("/", "\\/")
    return "\n" + text


class SmartPanelDialect:
    """Answers requests on a `PanelState` as a SmartPanel-family panel does."""

    name = NAME
    api_path = API_PATH
    other_paths = OTHER_PATHS

    def __init__(self, state: PanelState) -> None:
        self.state = state

    def dispatch(self, key: str, action: str, fields: Mapping[str, str]) -> Any:
        """The reply (a JSON-able value; None for an empty body) to one request."""
        account = self.state.account(key)
        if account is None:
            return {"error": INVALID_KEY}
        if action == "services":
            return self.state.raw_services or {"status": "success", "data": "Empty Data"}
        if action == "balance":
            self.state.tick()
            return {"status": "success", "balance": money(account.balance), "currency": CURRENCY}
        if action == "add":
            self.state.tick()
            try:
                return {"status": "success", "order": self._add(account, fields)}
            except Refused as refused:
                return {"error": refused.text}
            except _Message as message:
                return {"status": "error", "message": message.text}
        if action == "status":
            self.state.tick()
            return self._status(account, fields)
        return {"error": INVALID_ACTION}

    # --- add -------------------------------------------------------------------------

    def _add(self, account: Account, fields: Mapping[str, str]) -> int:
        raw_service = fields.get("service", "").strip()
        if not raw_service:
            raise Refused(MISSING_PARAMETERS)
        service = self.state.services.get(parse_id(raw_service) or -1)
        if service is None:
            raise Refused(SERVICE_NOT_FOUND)
        try:
            link = clean_link(fields.get("link", ""))
        except FieldInvalid:
            raise Refused(BAD_LINK) from None
        params = {"service": str(service.id), "link": link}
        if type_key(service.type) == "customcomments":
            comments = [c.strip() for c in _COMMENT_SPLIT.split(fields.get("comments", "")) if c.strip()]
            if not comments:
                raise Refused(COMMENTS_REQUIRED)
            quantity = len(comments)
            params["comments"] = "\n".join(comments)
        else:
            raw_quantity = fields.get("quantity", "").strip()
            if not raw_quantity:
                raise Refused(QUANTITY_REQUIRED)
            number = to_int(raw_quantity) if re.fullmatch(r"\d{1,12}", raw_quantity) else None
            if number is None:
                # What PHP's comparison of "abc" with the maximum comes to.
                raise Refused(QUANTITY_MAX.format(maximum=service.max))
            quantity = number
            params["quantity"] = str(quantity)
        runs_raw, interval_raw = fields.get("runs", "").strip(), fields.get("interval", "").strip()
        runs = 1
        if runs_raw or interval_raw:
            if not service.dripfeed:
                raise Refused(DRIPFEED_UNSUPPORTED)
            if interval_raw not in INTERVALS:
                raise _Message(INVALID_INTERVAL)
            runs = int(runs_raw[:9]) if runs_raw.isdigit() else 0
            if runs < 1:
                raise Refused(MISSING_PARAMETERS)
            params.update(runs=str(runs), interval=interval_raw)
        if quantity < service.min:
            raise Refused(QUANTITY_MIN.format(minimum=service.min))
        if quantity * runs > service.max:
            raise Refused(QUANTITY_MAX.format(maximum=service.max))
        flat = service_type(service.type).pricing == _FLAT
        charge = (service.rate if flat else service.rate * quantity * runs / 1000).quantize(
            _CENT4, rounding=ROUND_HALF_UP)
        if charge > account.balance:
            raise Refused(NOT_ENOUGH_FUNDS)
        return self.state.open_order(account, service, params, link=link, quantity=quantity * runs,
                                     charge=charge, counted=not flat)

    # --- status ----------------------------------------------------------------------

    def _status(self, account: Account, fields: Mapping[str, str]) -> Any:
        many = fields.get("orders")
        if many is not None and many.strip():
            # No cap, and each piece is its own key, spaces and all.
            reply: dict[str, Any] = {}
            for piece in many.split(","):
                if piece == "":
                    continue
                try:
                    reply[piece] = self._one(account, piece)
                except Refused as refused:
                    reply[piece] = refused.text
            return reply
        single = fields.get("order")
        if single is None or not single.strip():
            return None  # the panel prints nothing at all
        try:
            return self._one(account, single)
        except Refused as refused:
            return {"error": refused.text}

    def _one(self, account: Account, raw: str) -> dict[str, Any]:
        if parse_id(raw) is None:
            raise Refused(INCORRECT_ORDER)
        order, status, remains, start_count = self.state.order_view(account, raw)
        runs = to_int(order.fields.get("runs"))
        if runs is not None and runs > 1:
            return {"status": status, "runs": str(runs), "orders": []}
        pending = status == PENDING
        return {
            "order": str(order.id),
            "status": status,
            "charge": money(order.charge),
            # Not set until the panel's provider reports it; remains starts at 0.
            "start_count": None if pending else str(start_count),
            "remains": "0" if pending else str(remains),
            "currency": CURRENCY,
        }
