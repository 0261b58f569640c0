"""Panel clients per account key over one shared HTTP connection pool, with catalogs,
and the panel's API endpoint found from PANEL_URL.

Two URLs: `url` is PANEL_URL as configured, the panel's *name*: stored accounts, panel
facts and catalogs are keyed by it, so that it stays the same whatever the discovery
finds (or fails to find) at a start, and an existing deployment keeps its accounts.
`endpoint` is where requests go: the URL that answered JSON to `balance`
(bot/panel/endpoint.py), or `url` itself until one did.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import logging
from collections import OrderedDict
from collections.abc import Callable
from typing import Any

import httpx

from bot.panel.catalog import MAX_CATALOGS, MAX_PANELS, Catalog, CatalogCache
from bot.panel.client import PanelClient
from bot.panel.endpoint import Discovery, discover
from bot.panel.errors import PanelUnavailable, PanelWebPage
from bot.panel.transport import panel_http

log = logging.getLogger(__name__)

# Requests in flight to the panel at once (more wait for a free connection), all on one
# panel host: enough for a slow panel's round trips to overlap.
PANEL_CONNECTIONS = 32

# `services` replies in flight at once: each is a whole catalog (2 MB for 7,000
# services) held in memory until hashed, so a crowd of expired catalogs must not be
# fetched all at once (the others wait their turn, a few ms each).
CATALOG_FETCHES = 4

# Clients kept for reuse (a few hundred bytes each); one that left is made again on need.
MAX_CLIENTS = 5_000

# At start-up, how long finding the endpoint may hold the start; a panel that does not
# answer within it is asked again in the background (first after FIND_AGAIN_FIRST
# seconds, then twice as long each time, at most FIND_AGAIN_MAX).
FIND_AT_START_SECONDS = 20.0
FIND_AGAIN_FIRST = 30.0
FIND_AGAIN_MAX = 600.0
# Per candidate URL while finding (a panel that takes longer is taken as not answering).
FIND_TIMEOUT = httpx.Timeout(10.0, connect=5.0)


def fingerprint(url: str, key: str) -> str:
    """Identifies an account without holding its key (cache and lookup keys)."""
    return hashlib.sha256(f"{url}\n{key}".encode()).hexdigest()


class Panels:
    """One panel URL; a `PanelClient` per key, all on one `httpx.AsyncClient`, the
    least recently used `max_clients` of them kept. Catalogs: see `CatalogCache` (keys
    whose panel sends the same catalog share one parsed copy; bounded by `max_catalogs`
    distinct ones and `max_accounts` keys)."""

    def __init__(
        self,
        url: str,
        *,
        http: httpx.AsyncClient | None = None,
        catalog_ttl: float = 600.0,
        client_options: dict[str, Any] | None = None,
        on_catalog: Callable[[Catalog], None] | None = None,
        max_clients: int = MAX_CLIENTS,
        max_accounts: int = MAX_PANELS,
        max_catalogs: int = MAX_CATALOGS,
        on_fetched: Callable[[], None] | None = None,
    ) -> None:
        self.url = url
        # Where requests go. `unresolved`: the last search found no endpoint (requests go
        # to PANEL_URL as given meanwhile); a Panels nobody asked to search trusts `url`.
        self.endpoint = url
        self.unresolved = False
        self._proved = False  # some search found the endpoint: a later failed one keeps it
        # The last attempt to find the endpoint (None before the first).
        self.discovery: Discovery | None = None
        self._finding = asyncio.Lock()
        self._finder: asyncio.Task[None] | None = None
        self._own_http = http is None
        self.http = http or panel_http(connections=PANEL_CONNECTIONS)
        self.catalogs = CatalogCache(ttl=catalog_ttl, on_load=on_catalog, max_panels=max_accounts,
                                     max_catalogs=max_catalogs)
        self._options = client_options or {}
        self._max_clients = max(1, max_clients)
        self._clients: OrderedDict[str, PanelClient] = OrderedDict()  # least recently used first
        self._fetches = asyncio.Semaphore(CATALOG_FETCHES)
        # Called after each `services` reply is done with (the bot hands the freed heap
        # back: a crowd of 2 MB replies otherwise leaves ~150 MB resident).
        self._on_fetched = on_fetched

    def client(self, key: str) -> PanelClient:
        fp = fingerprint(self.url, key)
        client = self._clients.get(fp)
        if client is None:
            client = self._clients[fp] = PanelClient(self.endpoint, key, http=self.http, **self._options)
            if len(self._clients) > self._max_clients:
                # Clients share self.http and hold nothing to close: dropping one is free.
                self._clients.popitem(last=False)
        else:
            self._clients.move_to_end(fp)
        return client

    async def catalog(self, key: str) -> Catalog:
        client = self.client(key)

        async def fetch() -> Catalog:
            async with self._fetches:
                try:
                    return await self.catalogs.from_reply(client.services_reply)
                finally:
                    if self._on_fetched is not None:
                        self._on_fetched()

        return await self.catalogs.get(fingerprint(self.url, key), fetch)

    # --- the endpoint ------------------------------------------------------------------

    def use_endpoint(self, endpoint: str) -> None:
        """Send every request to `endpoint` from now on (the clients made so far too)."""
        self.endpoint = endpoint
        for client in self._clients.values():
            client.url = endpoint

    async def find_endpoint(self, key: str | None = None, *, seconds: float | None = None,
                            timeout: httpx.Timeout | float = FIND_TIMEOUT) -> Discovery:
        """Ask the candidates of `url` (bot/panel/endpoint.py) once, within about
        `seconds`; the first that answers JSON becomes the endpoint. `key`: a real key
        (balance is a read) or None for a dummy one. One search at a time."""
        async with self._finding:
            found = await discover(self.url, key, http=self.http, timeout=timeout, seconds=seconds)
            self.discovery = found
            if found.endpoint is not None:
                self.unresolved, self._proved = False, True
                self.use_endpoint(found.endpoint)
            elif not self._proved:
                self.unresolved = True
            return found

    async def find_at_start(self, key: str | None = None, *, seconds: float = FIND_AT_START_SECONDS) -> bool:
        """Start-up: find the endpoint within about `seconds` and log the one line
        saying which URL is used. When none answers JSON the bot still starts, on
        PANEL_URL as given, says so in that line, and keeps looking in the background:
        a panel down at start-up must neither stop the bot nor leave it on a wrong URL
        once the panel is back."""
        found = await self.find_endpoint(key, seconds=seconds)
        if found.endpoint is not None:
            log.info("%s", found.line())
            return True
        log.warning("%s; using PANEL_URL as given until a panel API answers (asked again in %.0fs, then less "
                    "often)", found.line(), FIND_AGAIN_FIRST)
        self.keep_finding(key)
        return False

    def keep_finding(self, key: str | None = None) -> None:
        """Look for the endpoint in the background until found (idempotent): after
        FIND_AGAIN_FIRST seconds, then twice as long each time, at most FIND_AGAIN_MAX."""
        if self._finder is None or self._finder.done():
            self._finder = asyncio.get_running_loop().create_task(
                self._keep_finding(key, FIND_AGAIN_FIRST, FIND_AGAIN_MAX), name="panel-endpoint")

    async def _keep_finding(self, key: str | None, pause: float, most: float) -> None:
        while self.unresolved:
            await asyncio.sleep(pause)
            if not self.unresolved:
                return  # a /connect found it meanwhile
            try:
                found = await self.find_endpoint(key)
            except Exception:  # noqa: BLE001 - the next try may do better; never kill the task silently
                log.warning("looking for the panel API failed", exc_info=True)
                found = None
            if found is not None and found.endpoint is not None:
                log.info("%s: the panel API answered, requests go there from now on", found.line())
                return
            pause = min(pause * 2, most)

    def unusable(self) -> PanelUnavailable | None:
        """When the last look found no endpoint: the error to report (a PanelWebPage
        when the panel's address answered web pages: check PANEL_URL); else None."""
        found = self.discovery
        if not self.unresolved or found is None or found.endpoint is not None or not found.attempts:
            return None
        if found.misconfigured:
            return PanelWebPage(found.line())
        return PanelUnavailable(found.line())

    async def aclose(self) -> None:
        if self._finder is not None:
            self._finder.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._finder
        if self._own_http:
            await self.http.aclose()
