"""The panel client's HTTP transport: httpx's API on aiohttp's connection handling.

The client speaks httpx (requests, responses, timeouts, `MockTransport` in tests); this
transport moves the bytes. httpx's own transport (httpcore) cost about 0.7-1 ms of CPU
per request here, and more the more connections its pool holds; aiohttp's, with its
C parser, about 0.15-0.2 ms (tests/bench/bench_bot.py: a third of the bot's CPU went to
panel requests before). What the exactly-once rules need is kept exact: a failure is
reported as httpx reports it, and in particular only failures before the request was
written are "never sent" (`httpx.ConnectError`, `httpx.ConnectTimeout`,
`httpx.PoolTimeout`); anything after is a read error or a read timeout.

Limits, none of which the panel client meets: aiohttp re-sends GET/PUT/DELETE once on
a dropped kept-alive connection (panel calls are all POST); httpx's `write` timeout has
no aiohttp counterpart (the read timeout covers a stalled request); a transport belongs
to the event loop it was first used on.
"""

from __future__ import annotations

import asyncio
from typing import Any

import aiohttp
import httpx

__all__ = ["AiohttpTransport", "panel_http"]

# Loop iterations before a request (see handle_async_request).
_LOOP_TURNS = 3  # asyncio needs 2 (tests/test_transport.py), uvloop 1; one more for margin
# Headers httpx has already set on the request; aiohttp must not add its own.
_AUTO_HEADERS = ("Accept", "Accept-Encoding", "User-Agent", "Content-Type", "Host", "Connection")


class AiohttpTransport(httpx.AsyncBaseTransport):
    """At most `connections` requests in flight; idle connections are kept alive for
    `keepalive` seconds. The session is made on first use (it needs a running loop)."""

    def __init__(self, *, connections: int = 16, keepalive: float = 15.0) -> None:
        self._connections = connections
        self._keepalive = keepalive
        self._session: aiohttp.ClientSession | None = None

    def _open(self) -> aiohttp.ClientSession:
        if self._session is None or self._session.closed:
            connector = aiohttp.TCPConnector(limit=self._connections, keepalive_timeout=self._keepalive)
            # No cookies (a panel API has no use for them), no decompression here:
            # httpx decodes the body by its Content-Encoding, as with its own transport.
            self._session = aiohttp.ClientSession(
                connector=connector, cookie_jar=aiohttp.DummyCookieJar(), auto_decompress=False,
            )
        return self._session

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        session = self._open()
        timeouts: dict[str, Any] = request.extensions.get("timeout", {})
        connect = _seconds(timeouts.get("connect"))
        pool = _seconds(timeouts.get("pool"))
        timeout = aiohttp.ClientTimeout(
            total=None,
            # aiohttp's `connect` covers waiting for a free connection and making one.
            connect=None if connect is None and pool is None else (connect or 0.0) + (pool or 0.0),
            sock_connect=connect,
            sock_read=_seconds(timeouts.get("read")),
        )
        body = await request.aread()
        # Let the loop take in what arrived on idle connections first: a panel that
        # closed a kept-alive connection must be seen before the request goes out on
        # it, or a request that provably never reached it (an `add`!) would look like
        # one that may have. httpcore checks each idle socket for the same reason.
        for _ in range(_LOOP_TURNS):
            await asyncio.sleep(0)
        headers = [(name.decode("latin-1"), value.decode("latin-1")) for name, value in request.headers.raw]
        try:
            response = await session.request(
                request.method, str(request.url), data=body or None, headers=headers, allow_redirects=False,
                timeout=timeout, skip_auto_headers=_AUTO_HEADERS, compress=None,
            )
        except aiohttp.ConnectionTimeoutError as exc:
            raise httpx.ConnectTimeout(str(exc) or "timed out connecting", request=request) from exc
        except aiohttp.ClientConnectorError as exc:  # DNS, refused, TLS handshake: nothing was sent
            raise httpx.ConnectError(str(exc), request=request) from exc
        except (aiohttp.SocketTimeoutError, asyncio.TimeoutError) as exc:
            raise httpx.ReadTimeout(str(exc) or "timed out reading", request=request) from exc
        except aiohttp.ClientError as exc:  # the request may have been written
            raise httpx.ReadError(f"{type(exc).__name__}: {exc}", request=request) from exc
        try:
            content = await response.read()
        except (aiohttp.SocketTimeoutError, asyncio.TimeoutError) as exc:
            raise httpx.ReadTimeout(str(exc) or "timed out reading", request=request) from exc
        except aiohttp.ClientError as exc:
            raise httpx.ReadError(f"{type(exc).__name__}: {exc}", request=request) from exc
        finally:
            response.release()
        return httpx.Response(
            status_code=response.status,
            # Cookies are dropped here, before httpx's client could keep them: one client
            # serves every account's key, and a panel's API has no use for them.
            headers=[
                (name.decode("latin-1"), value.decode("latin-1"))
                for name, value in response.raw_headers
                if name.lower() != b"set-cookie"
            ],
            content=content,
            request=request,
            extensions={"http_version": b"HTTP/1.1", "reason_phrase": (response.reason or "").encode()},
        )

    async def aclose(self) -> None:
        if self._session is not None:
            await self._session.close()
            self._session = None


def _seconds(value: Any) -> float | None:
    return float(value) if value is not None else None


def panel_http(connections: int = 16) -> httpx.AsyncClient:
    """An httpx client for panel requests on `AiohttpTransport`; redirects are not followed."""
    return httpx.AsyncClient(transport=AiohttpTransport(connections=connections), follow_redirects=False)
