"""Panel clients per account key over one shared HTTP connection pool, with catalogs."""

from __future__ import annotations

import asyncio
import hashlib
from collections import OrderedDict
from collections.abc import Callable
from typing import Any

import httpx

from bot.panel.catalog import MAX_CATALOGS, MAX_PANELS, Catalog, CatalogCache
from bot.panel.client import PanelClient
from bot.panel.transport import panel_http

# Requests in flight to the panel at once (more wait for a free connection), all on one
# panel host: enough for a slow panel's round trips to overlap.
PANEL_CONNECTIONS = 32

# `services` replies in flight at once: each is a whole catalog (2 MB for 7,000
# services) held in memory until hashed, so a crowd of expired catalogs must not be
# fetched all at once (the others wait their turn, a few ms each).
CATALOG_FETCHES = 4

# Clients kept for reuse (a few hundred bytes each); one that left is made again on need.
MAX_CLIENTS = 5_000


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
            client = self._clients[fp] = PanelClient(self.url, key, http=self.http, **self._options)
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

    async def aclose(self) -> None:
        if self._own_http:
            await self.http.aclose()
