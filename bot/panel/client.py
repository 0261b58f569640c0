"""The API v2 client: one `_call()` that sends and classifies, one method per action.

Reads retry on transient failures; writes (`add`, `refill`, `cancel`) are re-sent only
when the request provably never left this machine, because the panel has no
idempotency key and a second `add` is a second order.
"""

from __future__ import annotations

import asyncio
import email.utils
import json
import logging
import random
import time
from collections.abc import Awaitable, Callable, Iterable, Mapping
from typing import Any, Final

import httpx

from bot.panel.catalog import parse_services
from bot.panel.errors import (
    OutcomeUnknown,
    PanelRefusal,
    PanelUnavailable,
    PanelWebPage,
    Refusal,
    RefusalKind,
    classify,
)
from bot.panel.models import Balance, Service
from bot.panel.status import KNOWN_STATUSES, CancelResult, OrderStatus, RefillStatus, normalize_status
from bot.panel.transport import panel_http
from bot.panel.values import clean_text, to_decimal, to_int

log = logging.getLogger(__name__)

BATCH_LIMIT: Final = 100
USER_AGENT: Final = (
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 "
    "(KHTML, like Gecko) Chrome/126.0 Safari/537.36"
)
DEFAULT_TIMEOUT: Final = httpx.Timeout(connect=5.0, read=20.0, write=10.0, pool=5.0)
READS: Final = frozenset({"services", "status", "refill_status", "balance"})
# These never put a byte of the request on the wire, so re-sending cannot duplicate.
_NEVER_SENT: Final = (httpx.ConnectError, httpx.ConnectTimeout, httpx.PoolTimeout)


class _Secret:
    """Holds the API key so that it cannot leak through a repr, a log or a traceback."""

    __slots__ = ("_value",)

    def __init__(self, value: str) -> None:
        self._value = value

    def reveal(self) -> str:
        return self._value

    def __repr__(self) -> str:
        return "_Secret('…')" if len(self._value) <= 8 else f"_Secret('…{self._value[-4:]}')"

    __str__ = __repr__


class _Failure(Exception):
    """A transport-level failure, with whether the request may have reached the panel."""

    def __init__(self, reason: str, *, sent: bool, status_code: int | None = None,
                 retry_after: float | None = None, refused: bool = False, web_page: bool = False) -> None:
        super().__init__(reason)
        self.reason = reason
        self.sent = sent
        self.status_code = status_code
        self.retry_after = retry_after
        # The server said it did not process the request (429, 3xx): safe, not unknown.
        self.refused = refused
        # An HTML page with HTTP 4xx: a site, not its API (see PanelWebPage).
        self.web_page = web_page


def _retry_after(value: str | None) -> float | None:
    if not value:
        return None
    value = value.strip()
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return max(0.0, when.timestamp() - time.time())


def _chunks(ids: Iterable[int]) -> list[list[int]]:
    unique = list(dict.fromkeys(int(i) for i in ids))
    return [unique[i : i + BATCH_LIMIT] for i in range(0, len(unique), BATCH_LIMIT)]


_FAILED = frozenset({"error", "fail", "failed", "failure"})
# What may sit beside a status/message refusal: never an order's data.
_REFUSAL_KEYS = frozenset({"status", "message", "msg", "error", "code"})


def _refusal_text(payload: Any, success_key: str | None) -> str | None:
    """The panel's words when the reply is a refusal, else None. Two shapes:
    `{"error": ...}` alone or without the success key (the seed's), and
    `{"status": "error", "message": ...}` (SmartPanel forks). An order whose own
    status is "Error" has its data beside it and is not a refusal."""
    if not isinstance(payload, dict):
        return None
    if "error" in payload and (len(payload) == 1 or success_key is None or success_key not in payload):
        return str(payload["error"])
    status = payload.get("status")
    if not isinstance(status, str) or status.strip().lower() not in _FAILED:
        return None
    message = payload.get("message", payload.get("msg", payload.get("error")))
    if message is None or isinstance(message, (dict, list)):
        return None
    if set(payload) <= _REFUSAL_KEYS or (success_key not in (None, "status") and success_key not in payload):
        return str(message)
    return None


def _nested_error(value: Any) -> str | None:
    if isinstance(value, dict) and "error" in value:
        return str(value["error"])
    return None


class PanelClient:
    """An async client for one panel account (URL + key) on an injected `httpx.AsyncClient`."""

    def __init__(
        self,
        url: str,
        key: str,
        *,
        http: httpx.AsyncClient | None = None,
        timeout: httpx.Timeout | float | None = None,
        retries: int = 2,
        backoff: float = 0.5,
        max_backoff: float = 8.0,
        max_retry_after: float = 30.0,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
    ) -> None:
        self.url = url
        self._key = _Secret(key)
        self._own_http = http is None
        self._http = http or panel_http(connections=20)
        if timeout is None:
            self._timeout = DEFAULT_TIMEOUT
        elif isinstance(timeout, httpx.Timeout):
            self._timeout = timeout
        else:
            self._timeout = httpx.Timeout(timeout)
        self._retries = retries
        self._backoff = backoff
        self._max_backoff = max_backoff
        self._max_retry_after = max_retry_after
        self._sleep = sleep
        self.calls = 0  # HTTP requests sent, for figures and tests

    def __repr__(self) -> str:
        return f"PanelClient(url={self.url!r}, key={self._key!r})"

    async def aclose(self) -> None:
        if self._own_http:
            await self._http.aclose()

    async def __aenter__(self) -> PanelClient:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.aclose()

    # --- transport ---------------------------------------------------------------------

    async def _send(self, action: str, fields: Mapping[str, str],
                    decode: Callable[[bytes], Any] = json.loads) -> Any:
        data = {"key": self._key.reveal(), "action": action, **fields}
        self.calls += 1
        try:
            response = await self._http.post(
                self.url,
                data=data,
                headers={"User-Agent": USER_AGENT, "Accept": "application/json"},
                timeout=self._timeout,
                follow_redirects=False,
            )
        except _NEVER_SENT as exc:
            raise _Failure(f"cannot connect: {type(exc).__name__}", sent=False) from None
        except httpx.TimeoutException as exc:
            raise _Failure(f"timed out: {type(exc).__name__}", sent=True) from None
        except httpx.HTTPError as exc:
            raise _Failure(f"connection failed: {type(exc).__name__}", sent=True) from None

        status = response.status_code
        if status == 429:
            raise _Failure("rate limited (HTTP 429)", sent=True, status_code=status,
                           retry_after=_retry_after(response.headers.get("Retry-After")), refused=True)
        if 300 <= status < 400:
            raise _Failure(f"redirected (HTTP {status}); check the panel URL", sent=True,
                           status_code=status, refused=True)
        if status >= 500:
            raise _Failure(f"server error (HTTP {status})", sent=True, status_code=status,
                           retry_after=_retry_after(response.headers.get("Retry-After")))
        try:
            payload = decode(response.content)
        except (ValueError, UnicodeDecodeError):
            body = response.content.lstrip()[:1].lower()
            html = body == b"<"
            if html and 400 <= status < 500:
                raise _Failure(f"the panel answered a web page (HTTP {status}), check PANEL_URL", sent=True,
                               status_code=status, web_page=True) from None
            kind = "an HTML page" if html else "malformed JSON"
            raise _Failure(f"answered {kind} (HTTP {status})", sent=True, status_code=status) from None
        if status >= 400 and not (isinstance(payload, dict) and "error" in payload):
            raise _Failure(f"HTTP {status}", sent=True, status_code=status)
        return payload

    def _delay(self, attempt: int, retry_after: float | None) -> float:
        if retry_after is not None:
            return retry_after
        base: float = min(self._max_backoff, self._backoff * (2**attempt))
        return base * (0.5 + random.random() / 2)

    async def _call(self, action: str, fields: Mapping[str, str], success_key: str | None = None,
                    *, retries: int | None = None, decode: Callable[[bytes], Any] = json.loads) -> Any:
        """Send one action, retrying where that is safe, and raise the classified error.
        `retries` overrides the client's own count for this call (the watcher's cycle is
        its retry: 0)."""
        is_read = action in READS
        limit = self._retries if retries is None else retries
        attempt = 0
        while True:
            try:
                payload = await self._send(action, fields, decode)
                break
            except _Failure as failure:
                # A web page is a wrong URL, not a passing fault: asking again will not help.
                retryable = (is_read and not failure.web_page) or not failure.sent
                too_long = failure.retry_after is not None and failure.retry_after > self._max_retry_after
                if retryable and attempt < limit and not too_long:
                    delay = self._delay(attempt, failure.retry_after)
                    log.info("panel %s failed (%s); retry %d in %.1fs", action, failure.reason, attempt + 1, delay)
                    attempt += 1
                    await self._sleep(delay)
                    continue
                if not is_read and failure.sent and not failure.refused:
                    log.warning("panel %s: outcome unknown (%s)", action, failure.reason)
                    raise OutcomeUnknown(action, failure.reason) from None
                log.warning("panel %s unavailable: %s", action, failure.reason)
                unavailable = PanelWebPage if failure.web_page else PanelUnavailable
                raise unavailable(
                    failure.reason, status_code=failure.status_code, retry_after=failure.retry_after
                ) from None
        refused = _refusal_text(payload, success_key)
        if refused is not None:
            raise PanelRefusal(self._classify(refused))
        return payload

    def _classify(self, text: object) -> Refusal:
        """A panel's error text as a refusal, with our own key blotted out should the
        panel echo it back ("Invalid API key: ...")."""
        key = self._key.reveal()
        raw = str(text)
        return classify(raw.replace(key, "…") if key and key in raw else raw)

    def _garbled(self, action: str, payload: Any) -> Exception:
        """An unusable success reply: for a write the panel may have acted on it."""
        reason = f"unexpected reply: {str(payload)[:120]}"
        if action in READS:
            return PanelUnavailable(reason)
        return OutcomeUnknown(action, reason)

    # --- catalog and account --------------------------------------------------------------

    async def services(self) -> list[Service]:
        payload = await self._call("services", {})
        return parse_services(payload)

    async def services_reply(self, decode: Callable[[bytes], Any]) -> Any:
        """`services` with the reply's bytes handed to `decode` instead of `json.loads`
        (a catalog cache recognises a reply it has parsed before); retries, refusals and
        errors as for any read."""
        return await self._call("services", {}, decode=decode)

    async def balance(self, *, retries: int | None = None) -> Balance:
        payload = await self._call("balance", {}, "balance", retries=retries)
        amount = to_decimal(payload.get("balance")) if isinstance(payload, dict) else None
        if amount is None:
            raise self._garbled("balance", payload)
        return Balance(amount, clean_text(payload.get("currency")) or "")

    # --- orders -----------------------------------------------------------------------------

    async def add(self, params: Mapping[str, str]) -> int:
        """Place an order from ready `add` fields (see `fields.build_add_params`).
        Sent once; see `OutcomeUnknown`."""
        payload = await self._call("add", dict(params), "order")
        order_id = to_int(payload.get("order")) if isinstance(payload, dict) else None
        if order_id is None:
            raise self._garbled("add", payload)
        return order_id

    async def status(self, order_id: int) -> OrderStatus:
        payload = await self._call("status", {"order": str(order_id)}, "status")
        if isinstance(payload, dict) and "status" not in payload and str(order_id) in payload:
            payload = payload[str(order_id)]  # a panel that answers in the batch shape
        result = OrderStatus.from_api(order_id, payload)
        if result.error is not None:
            raise PanelRefusal(result.error)
        if result.status is None:
            raise self._garbled("status", payload)
        return result

    async def statuses(self, order_ids: Iterable[int], *, retries: int | None = None) -> dict[int, OrderStatus]:
        """Statuses of any number of orders, in calls of at most 100 ids. Per-id errors
        come back as `OrderStatus.error`, not as exceptions."""
        results: dict[int, OrderStatus] = {}
        for chunk in _chunks(order_ids):
            payload = await self._call("status", {"orders": ",".join(map(str, chunk))}, retries=retries)
            items = self._by_id(payload, "order")
            if len(chunk) == 1 and chunk[0] not in items and isinstance(payload, dict) and "status" in payload:
                items = {chunk[0]: payload}
            for order_id in chunk:
                item = items.get(order_id)
                results[order_id] = (
                    OrderStatus.from_api(order_id, item)
                    if item is not None
                    else OrderStatus(order_id, error=classify("Incorrect order ID"))
                )
        return results

    @staticmethod
    def _by_id(payload: Any, id_key: str) -> dict[int, Any]:
        """Batch replies come keyed by id strings, or as a list of objects with an id."""
        items: dict[int, Any] = {}
        if isinstance(payload, dict):
            for key, value in payload.items():
                number = to_int(key)
                if number is not None:
                    items[number] = value
        elif isinstance(payload, list):
            for entry in payload:
                if isinstance(entry, dict):
                    number = to_int(entry.get(id_key))
                    if number is not None:
                        items[number] = entry
        return items

    # --- refills ------------------------------------------------------------------------------

    async def refill(self, order_id: int) -> int:
        payload = await self._call("refill", {"order": str(order_id)}, "refill")
        value = payload.get("refill") if isinstance(payload, dict) else None
        error = _nested_error(value)
        if error is not None:
            raise PanelRefusal(self._classify(error))
        refill_id = to_int(value)
        if refill_id is None:
            raise self._garbled("refill", payload)
        return refill_id

    async def refill_status(self, refill_id: int) -> RefillStatus:
        payload = await self._call("refill_status", {"refill": str(refill_id)}, "status")
        value = payload.get("status") if isinstance(payload, dict) else None
        error = _nested_error(value)
        if error is not None:
            raise PanelRefusal(self._classify(error))
        if not isinstance(value, str) or not value.strip():
            raise self._garbled("refill_status", payload)
        return RefillStatus(refill_id, normalize_status(value))

    async def refill_statuses(self, refill_ids: Iterable[int], *, retries: int | None = None) -> dict[int, RefillStatus]:
        results: dict[int, RefillStatus] = {}
        for chunk in _chunks(refill_ids):
            payload = await self._call("refill_status", {"refills": ",".join(map(str, chunk))}, retries=retries)
            items = self._by_id(payload, "refill")
            for refill_id in chunk:
                entry = items.get(refill_id)
                value = entry.get("status") if isinstance(entry, dict) else entry
                error = _nested_error(value)
                if entry is None:
                    results[refill_id] = RefillStatus(refill_id, error=classify("Refill not found"))
                elif error is not None:
                    results[refill_id] = RefillStatus(refill_id, error=self._classify(error))
                elif isinstance(value, str) and normalize_status(value) not in KNOWN_STATUSES and self._classify(value).kind is not RefusalKind.OTHER:
                    # A bare error string where a status belongs (SmartPanel style).
                    results[refill_id] = RefillStatus(refill_id, error=self._classify(value))
                else:
                    results[refill_id] = RefillStatus(refill_id, normalize_status(value))
        return results

    # --- cancel ---------------------------------------------------------------------------------

    async def cancel(self, order_id: int) -> CancelResult:
        """Request a cancel; raises `PanelRefusal` when the panel refuses it."""
        result = (await self.cancels([order_id]))[order_id]
        if result.error is not None:
            raise PanelRefusal(result.error)
        return result

    async def cancels(self, order_ids: Iterable[int]) -> dict[int, CancelResult]:
        results: dict[int, CancelResult] = {}
        for chunk in _chunks(order_ids):
            payload = await self._call("cancel", {"orders": ",".join(map(str, chunk))})
            items = self._by_id(payload, "order")
            if not items and not isinstance(payload, (list, dict)):
                raise self._garbled("cancel", payload)
            for order_id in chunk:
                entry = items.get(order_id)
                value = entry.get("cancel") if isinstance(entry, dict) else entry
                error = _nested_error(value) or (value if isinstance(value, str) and to_int(value) is None else None)
                if entry is None:
                    results[order_id] = CancelResult(order_id, error=classify("Incorrect order ID"))
                elif error is not None:
                    results[order_id] = CancelResult(order_id, error=self._classify(error))
                else:
                    results[order_id] = CancelResult(order_id, ok=bool(to_int(value)) or value is True)
        return results
