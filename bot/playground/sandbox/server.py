"""The sandbox panel's HTTP side: an aiohttp app answering API v2 at `/api/v2`, with
faults, a request log, and `SandboxPanel`, the handle tests and the CLI hold."""

from __future__ import annotations

import asyncio
import json
import math
import time
from collections.abc import Callable
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path
from types import TracebackType
from typing import Any

from aiohttp import web

from bot.playground.sandbox import faults as fault_pages
from bot.playground.sandbox import smartpanel
from bot.playground.sandbox.catalog import builtin_catalog, load_catalog
from bot.playground.sandbox.faults import Fault, Faults
from bot.playground.sandbox.state import (
    BATCH_LIMIT,
    INCORRECT_REQUEST,
    INVALID_KEY,
    Account,
    Order,
    PanelState,
    Refill,
    Refused,
    money,
    parse_id,
    split_ids,
)

API_PATH = "/api/v2"
MAX_LOGGED_REQUESTS = 200_000
SEED = "seed"
DIALECTS = (SEED, smartpanel.NAME)


@dataclass(frozen=True, slots=True)
class RequestRecord:
    """One request as the panel received it. The key itself is never kept."""

    action: str
    fields: dict[str, str]  # every form and query field except `key`
    key_hint: str  # the key's last 4 characters
    time: float  # wall clock, time.time()
    method: str = "POST"


_Reply = Any  # a JSON-able value
_Handler = Callable[[Account, dict[str, str]], _Reply]


def _dumps(value: _Reply) -> str:
    return json.dumps(value, ensure_ascii=False, separators=(",", ":"))


class SandboxPanel:
    """A local SMM panel speaking API v2 over real HTTP, for tests, demos and benchmarks.

    `catalog` is a list of service dicts, a path to a services JSON file, or None for
    the built-in catalog. `speed` scales real time (0 stops it; `advance` moves it).
    `dialect` is "seed" (the API document the bot was built from) or "smartpanel"
    (that family's path, reply shapes and rules, see `bot/playground/sandbox/smartpanel.py`)."""

    def __init__(
        self,
        catalog: list[dict[str, Any]] | str | Path | None = None,
        *,
        speed: float = 1.0,
        seed: int = 0,
        currency: str = "USD",
        dialect: str = SEED,
    ) -> None:
        if dialect not in DIALECTS:
            raise ValueError(f"unknown dialect {dialect!r} (one of {', '.join(DIALECTS)})")
        if catalog is None:
            items = builtin_catalog()
        elif isinstance(catalog, (str, Path)):
            items = load_catalog(catalog)
        else:
            items = [dict(item) for item in catalog]  # updates must not touch the caller's
        if dialect == smartpanel.NAME:
            items = smartpanel.catalog(items)
        self.dialect = dialect
        self.state = PanelState(items, speed=speed, seed=seed, currency=currency)
        self._smart = smartpanel.SmartPanelDialect(self.state) if dialect == smartpanel.NAME else None
        self.api_path = smartpanel.API_PATH if self._smart is not None else API_PATH
        self.faults = Faults()
        self.requests: list[RequestRecord] = []
        self._services_body: str | None = None
        self._runner: web.AppRunner | None = None
        self._url: str | None = None
        self._stopping = asyncio.Event()
        self._actions: dict[str, _Handler] = {
            "add": self._add,
            "status": self._status,
            "refill": self._refill,
            "refill_status": self._refill_status,
            "cancel": self._cancel,
            "balance": self._balance,
        }

    # --- lifecycle -------------------------------------------------------------------------

    async def start(self, host: str = "127.0.0.1", port: int = 0) -> str:
        """Listen on host:port (0 picks a free port); returns the API URL."""
        if self._runner is not None:
            raise RuntimeError("the sandbox is already running")
        self._stopping = asyncio.Event()
        app = web.Application(client_max_size=4 * 1024 * 1024)
        app.router.add_route("*", self.api_path, self._handle)
        app.router.add_route("*", self.api_path + "/", self._handle)
        if self._smart is not None:
            for path in self._smart.other_paths:
                app.router.add_route("*", path, _forbidden)
                app.router.add_route("*", path + "/", _forbidden)
        # No access log: a benchmark's thousands of requests must not cost stdout.
        runner = web.AppRunner(app, access_log=None, shutdown_timeout=2.0)
        await runner.setup()
        site = web.TCPSite(runner, host, port)
        try:
            await site.start()
        except BaseException:
            await runner.cleanup()
            raise
        self._runner = runner
        bound_host, bound_port = runner.addresses[0][:2]
        shown = host if host not in ("0.0.0.0", "::", "") else "127.0.0.1"
        if ":" in shown:
            shown = f"[{shown}]"
        self._url = f"http://{shown}:{bound_port}{self.api_path}"
        return self._url

    async def stop(self) -> None:
        """Stop listening and release every hung request."""
        self._stopping.set()
        self.faults.release_hung()
        runner, self._runner = self._runner, None
        if runner is not None:
            await runner.cleanup()

    async def __aenter__(self) -> SandboxPanel:
        await self.start()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.stop()

    @property
    def url(self) -> str:
        """The API endpoint (…/api/v2, or …/api/v1 in the SmartPanel dialect)."""
        if self._url is None:
            raise RuntimeError("the sandbox is not started")
        return self._url

    @property
    def base_url(self) -> str:
        """The panel's address without the API path, as an operator may type it."""
        return self.url[: -len(self.api_path)]

    # --- accounts, orders and time for tests --------------------------------------------

    def add_account(
        self, key: str | None = None, balance: Decimal | str | int = Decimal("100"), currency: str | None = None
    ) -> str:
        """Open an account; a random key when none is given. Returns the key."""
        return self.state.add_account(key, balance, currency)

    @property
    def keys(self) -> list[str]:
        return list(self.state.accounts)

    def balance(self, key: str) -> Decimal:
        self.state.tick()
        return self.state.accounts[key].balance

    def currency(self, key: str) -> str:
        return self.state.accounts[key].currency

    def set_balance(self, key: str, amount: Decimal | str | int) -> None:
        self.state.accounts[key].balance = Decimal(amount)

    def orders(self, key: str) -> list[Order]:
        return self.state.orders(key)

    def order(self, order_id: int) -> Order:
        return self.state.order(order_id)

    def refills(self, key: str) -> list[Refill]:
        return self.state.refills(key)

    def set_status(self, order_id: int, status: str, remains: int | None = None) -> None:
        self.state.set_status(order_id, status, remains)

    def set_refill_status(self, refill_id: int, status: str) -> None:
        self.state.set_refill_status(refill_id, status)

    def advance(self, seconds: float) -> None:
        """Move the virtual clock forward; due finishes, refunds and cancels happen now."""
        self.state.advance(seconds)

    @property
    def speed(self) -> float:
        return self.state.clock.speed

    @speed.setter
    def speed(self, value: float) -> None:
        self.state.clock.speed = value

    def update_service(self, service_id: int, **changes: Any) -> dict[str, Any]:
        """Change a service as served, e.g. `update_service(1012, rate="9.99")`."""
        item = self.state.update_service(service_id, **changes)
        self._services_body = None
        return item

    def remove_service(self, service_id: int) -> None:
        self.state.remove_service(service_id)
        self._services_body = None

    @property
    def services(self) -> list[dict[str, Any]]:
        """The raw service dicts served by `services`, as loaded."""
        return self.state.raw_services

    # --- request log ---------------------------------------------------------------------

    def calls(self, action: str) -> list[RequestRecord]:
        return [record for record in self.requests if record.action == action]

    def count(self, action: str) -> int:
        return sum(1 for record in self.requests if record.action == action)

    # --- HTTP ----------------------------------------------------------------------------

    async def _handle(self, request: web.Request) -> web.StreamResponse:
        fields: dict[str, str] = dict(request.query)
        if request.method == "POST" and request.can_read_body:
            form = await request.post()
            for name, value in form.items():
                if isinstance(value, str):
                    fields[name] = value
        key = fields.pop("key", "")
        action = fields.get("action", "").strip()
        if len(self.requests) >= MAX_LOGGED_REQUESTS:
            # A long-running CLI sandbox must not grow without bound.
            del self.requests[: MAX_LOGGED_REQUESTS // 2]
        self.requests.append(RequestRecord(action, fields, key[-4:], time.time(), request.method))

        fault = self.faults.take(action) if self.faults else None
        if fault is None:
            return self._json_response(self._dispatch(key, action, fields))
        return await self._faulty(fault, key, action, fields)

    async def _faulty(self, fault: Fault, key: str, action: str, fields: dict[str, str]) -> web.StreamResponse:
        if fault.latency > 0:
            try:
                await asyncio.wait_for(self._stopping.wait(), fault.latency)
            except TimeoutError:
                pass
        if fault.rate_limit is not None:
            return web.Response(
                status=429,
                text=_dumps({"error": "Too Many Requests"}),
                content_type="application/json",
                headers={"Retry-After": str(max(0, math.ceil(fault.rate_limit)))},
            )
        if fault.error is not None:
            return self._json_response(self._encode({"error": fault.error}))
        # The panel does the work before the reply goes wrong: the dangerous case.
        body = self._dispatch(key, action, fields)
        if fault.hang:
            if not self._stopping.is_set():
                await self.faults.wait_released()
            return _html_response(fault_pages.error_page(504), 504)
        if fault.http_status is not None:
            return _html_response(fault_pages.error_page(fault.http_status), fault.http_status)
        if fault.html:
            return _html_response(fault_pages.CDN_PAGE, 200)
        if fault.malformed:
            return self._json_response(fault_pages.truncate(body))
        return self._json_response(body)

    def _encode(self, reply: _Reply) -> str:
        return smartpanel.render(reply) if self._smart is not None else _dumps(reply)

    def _json_response(self, body: str) -> web.Response:
        if self._smart is not None:
            # This family sends its JSON as a web page (text/html), after a newline.
            return web.Response(text=body, content_type="text/html", charset="UTF-8")
        return _json_response(body)

    def _dispatch(self, key: str, action: str, fields: dict[str, str]) -> str:
        """The JSON text a panel answers to one request."""
        if self._smart is not None:
            if action == "services" and self.state.account(key) is not None:
                if self._services_body is None:
                    self._services_body = self._encode(self._smart.dispatch(key, action, fields))
                return self._services_body
            return self._encode(self._smart.dispatch(key, action, fields))
        account = self.state.account(key)
        if account is None:
            return _dumps({"error": INVALID_KEY})
        if action == "services":
            # 7,000 services encode to 2 MB: encode them once.
            if self._services_body is None:
                self._services_body = _dumps(self.state.raw_services)
            return self._services_body
        handler = self._actions.get(action)
        if handler is None:
            return _dumps({"error": INCORRECT_REQUEST})
        self.state.tick()
        return _dumps(handler(account, fields))

    # --- actions -------------------------------------------------------------------------

    def _add(self, account: Account, fields: dict[str, str]) -> _Reply:
        try:
            return {"order": self.state.add_order(account, fields)}
        except Refused as refusal:
            return {"error": refusal.text}

    def _status(self, account: Account, fields: dict[str, str]) -> _Reply:
        many = _batch(fields.get("orders"))
        if many is None:
            try:
                return self.state.order_status(account, fields.get("order", ""))
            except Refused as refusal:
                return {"error": refusal.text}
        if len(many) > BATCH_LIMIT:
            return {"error": INCORRECT_REQUEST}
        reply: dict[str, Any] = {}
        for raw in many:
            try:
                reply[raw] = self.state.order_status(account, raw)
            except Refused as refusal:
                reply[raw] = {"error": refusal.text}
        return reply

    def _refill(self, account: Account, fields: dict[str, str]) -> _Reply:
        many = _batch(fields.get("orders"))
        if many is None:
            try:
                return {"refill": str(self.state.create_refill(account, fields.get("order", "")))}
            except Refused as refusal:
                return {"error": refusal.text}
        return _each(many, lambda raw: self.state.create_refill(account, raw), "order", "refill")

    def _refill_status(self, account: Account, fields: dict[str, str]) -> _Reply:
        many = _batch(fields.get("refills"))
        if many is None:
            try:
                return {"status": self.state.refill_status(account, fields.get("refill", ""))}
            except Refused as refusal:
                return {"error": refusal.text}
        return _each(many, lambda raw: self.state.refill_status(account, raw), "refill", "status")

    def _cancel(self, account: Account, fields: dict[str, str]) -> _Reply:
        def cancel(raw: str) -> int:
            self.state.cancel_order(account, raw)
            return 1  # requested; the order's status tells the outcome

        many = _batch(fields.get("orders"))
        if many is None:
            try:
                return {"cancel": cancel(fields.get("order", ""))}
            except Refused as refusal:
                return {"error": refusal.text}
        return _each(many, cancel, "order", "cancel")

    def _balance(self, account: Account, fields: dict[str, str]) -> _Reply:
        return {"balance": money(account.balance), "currency": account.currency}


def _each(many: list[str], act: Callable[[str], Any], id_key: str, value_key: str) -> _Reply:
    """A batch reply in the seed's list shape: each id with its result, or the panel's
    error for that id as data."""
    if len(many) > BATCH_LIMIT:
        return {"error": INCORRECT_REQUEST}
    reply: list[dict[str, Any]] = []
    for raw in many:
        try:
            outcome: Any = act(raw)
        except Refused as refusal:
            outcome = {"error": refusal.text}
        reply.append({id_key: _id_or_text(raw), value_key: outcome})
    return reply


def _batch(raw: str | None) -> list[str] | None:
    """The ids of a batch field, or None when the single-id field is meant."""
    if raw is None or not raw.strip():
        return None
    return split_ids(raw)


def _id_or_text(raw: str) -> int | str:
    number = parse_id(raw)
    return raw if number is None else number


async def _forbidden(request: web.Request) -> web.Response:
    return _html_response(smartpanel.FORBIDDEN_PAGE, 403)


def _json_response(body: str) -> web.Response:
    return web.Response(text=body, content_type="application/json")


def _html_response(body: str, status: int) -> web.Response:
    return web.Response(text=body, status=status, content_type="text/html")
