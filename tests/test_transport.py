"""The panel client's transport (bot/panel/transport.py) against real local HTTP servers.

What the exactly-once rules depend on is how failures come out: before the request was
written they are `httpx.ConnectError` / `httpx.ConnectTimeout` / `httpx.PoolTimeout`
("never sent"); after, `httpx.ReadError` / `httpx.ReadTimeout` ("may have been sent").
"""

from __future__ import annotations

import asyncio
import gzip
import json
import socket
import threading
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field

import httpx
import pytest
import uvloop
from aiohttp import web

import bot.panel.transport as transport_module
from bot.panel.transport import AiohttpTransport, panel_http

NEVER_SENT = (httpx.ConnectError, httpx.ConnectTimeout, httpx.PoolTimeout)

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


@dataclass
class Seen:
    """A request as the server received it."""

    method: str
    path: str
    headers: list[tuple[str, str]]
    body: bytes

    def named(self, name: str) -> list[str]:
        return [value for key, value in self.headers if key.lower() == name.lower()]


@dataclass
class Server:
    url: str
    seen: list[Seen] = field(default_factory=list)


def _route(server: Server, handler: Handler) -> Handler:
    async def record(request: web.Request) -> web.StreamResponse:
        server.seen.append(
            Seen(
                method=request.method,
                path=request.path_qs,
                headers=[(k.decode("latin-1"), v.decode("latin-1")) for k, v in request.raw_headers],
                body=await request.read(),
            )
        )
        return await handler(request)

    return record


@asynccontextmanager
async def serve(handler: Handler) -> AsyncIterator[Server]:
    """An aiohttp server on this loop, on a free port of 127.0.0.1; every request goes to
    `handler` after being recorded in `server.seen`."""
    server = Server(url="")
    app = web.Application()
    app.router.add_route("*", "/{tail:.*}", _route(server, handler))
    runner = web.AppRunner(app, shutdown_timeout=1.0, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    host, port = runner.addresses[0][:2]
    server.url = f"http://{host}:{port}"
    try:
        yield server
    finally:
        await runner.cleanup()


class ThreadedServer:
    """An aiohttp server on its own loop in its own thread (as a panel is another
    process): it can be stopped while this test's loop does not run at all."""

    def __init__(self, handler: Handler) -> None:
        self.server = Server(url="")
        self._handler = handler
        self._loop = asyncio.new_event_loop()
        self._runner: web.AppRunner | None = None
        self._thread = threading.Thread(target=self._loop.run_forever, daemon=True)

    def start(self) -> Server:
        self._thread.start()
        asyncio.run_coroutine_threadsafe(self._start(), self._loop).result(timeout=5)
        return self.server

    async def _start(self) -> None:
        app = web.Application()
        app.router.add_route("*", "/{tail:.*}", _route(self.server, self._handler))
        self._runner = web.AppRunner(app, shutdown_timeout=1.0, access_log=None)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        host, port = self._runner.addresses[0][:2]
        self.server.url = f"http://{host}:{port}"

    def stop(self) -> None:
        """Close the listening socket and every connection (kept-alive ones included);
        blocks the calling thread (and so its loop) until done."""
        if self._runner is not None:
            runner, self._runner = self._runner, None
            asyncio.run_coroutine_threadsafe(runner.cleanup(), self._loop).result(timeout=5)
        if self._thread.is_alive():
            self._loop.call_soon_threadsafe(self._loop.stop)
            self._thread.join(timeout=5)
        if not self._loop.is_closed() and not self._loop.is_running():
            self._loop.close()


async def ok_json(request: web.Request) -> web.StreamResponse:
    return web.json_response({"ok": True, "path": request.path})


def free_port() -> int:
    """A port nothing listens on (bound once, then closed)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
    return port


# --- what goes out and what comes back -------------------------------------------------


async def test_post_form_arrives_as_httpx_encoded_it_and_response_comes_back() -> None:
    async def handler(request: web.Request) -> web.StreamResponse:
        return web.Response(
            status=201, reason="Made", body=b'{"order": 23501}',
            headers={"Content-Type": "application/json", "X-Panel": "yes"},
        )

    async with serve(handler) as server:
        async with httpx.AsyncClient(transport=AiohttpTransport()) as client:
            response = await client.post(
                f"{server.url}/api/v2?x=1",
                data={"key": "k-1", "action": "add", "link": "https://t.me/a b&c"},
                headers={"User-Agent": "smm-bot/1.0", "Accept": "application/json"},
            )

    assert len(server.seen) == 1
    seen = server.seen[0]
    assert seen.method == "POST"
    assert seen.path == "/api/v2?x=1"
    # The body as httpx encoded it.
    sent = response.request
    assert seen.body == sent.content
    assert seen.body == b"key=k-1&action=add&link=https%3A%2F%2Ft.me%2Fa+b%26c"
    # The request's own headers, each once, and nothing aiohttp would add by itself
    # (its own User-Agent, Accept, Accept-Encoding...).
    assert seen.named("User-Agent") == ["smm-bot/1.0"]
    assert seen.named("Accept") == ["application/json"]
    assert seen.named("Host") == [sent.url.netloc.decode()]
    assert seen.named("Content-Type") == ["application/x-www-form-urlencoded"]
    assert seen.named("Content-Length") == [str(len(seen.body))]
    assert seen.named("Transfer-Encoding") == []
    received = sorted((k.lower(), v) for k, v in seen.headers)
    expected = sorted((k.decode().lower(), v.decode()) for k, v in sent.headers.raw)
    assert received == expected
    # The response as the server sent it.
    assert isinstance(response, httpx.Response)
    assert response.status_code == 201
    assert response.reason_phrase == "Made"
    assert response.http_version == "HTTP/1.1"
    assert response.headers["x-panel"] == "yes"
    assert response.headers["content-type"] == "application/json"
    assert response.content == b'{"order": 23501}'
    assert response.json() == {"order": 23501}


async def test_panel_http_sends_default_httpx_headers_only() -> None:
    async with serve(ok_json) as server:
        async with panel_http() as client:
            response = await client.post(f"{server.url}/api/v2", data={"action": "balance"})
    assert response.json() == {"ok": True, "path": "/api/v2"}
    seen = server.seen[0]
    ua = seen.named("User-Agent")
    assert ua == [f"python-httpx/{httpx.__version__}"]  # httpx's, not aiohttp's
    for name in ("Host", "Accept", "Accept-Encoding", "Connection", "User-Agent", "Content-Type"):
        assert len(seen.named(name)) == 1, (name, seen.headers)


async def test_gzip_response_is_decoded_once_by_httpx() -> None:
    payload = {"balance": "100.84", "currency": "USD"}
    inner = gzip.compress(b"inner")

    async def handler(request: web.Request) -> web.StreamResponse:
        # A body compressed twice, labelled once: decoding it twice would be wrong.
        plain = inner if request.path == "/nested" else json.dumps(payload).encode()
        return web.Response(
            body=gzip.compress(plain),
            headers={"Content-Encoding": "gzip", "Content-Type": "application/json"},
        )

    async with serve(handler) as server:
        async with httpx.AsyncClient(transport=AiohttpTransport()) as client:
            response = await client.post(f"{server.url}/api", data={"action": "balance"})
            nested = await client.get(f"{server.url}/nested")
    assert response.headers["content-encoding"] == "gzip"
    assert response.json() == payload
    assert nested.content == inner


async def test_redirect_is_returned_not_followed() -> None:
    async def handler(request: web.Request) -> web.StreamResponse:
        if request.path == "/elsewhere":
            return web.Response(text="followed")
        return web.Response(status=302, headers={"Location": "/elsewhere"})

    async with serve(handler) as server:
        transport = AiohttpTransport()
        # Even a client that follows redirects gets the transport's 302 only when
        # asked: the transport itself never follows.
        raw = await transport.handle_async_request(httpx.Request("POST", f"{server.url}/api", data={"a": "1"}))
        await transport.aclose()
        async with panel_http() as client:
            response = await client.post(f"{server.url}/api", data={"a": "1"})
    assert raw.status_code == 302
    assert raw.headers["location"] == "/elsewhere"
    assert response.status_code == 302
    assert response.headers["location"] == "/elsewhere"
    assert response.is_redirect
    assert [seen.path for seen in server.seen] == ["/api", "/api"]


async def test_set_cookie_is_not_sent_back() -> None:
    async def handler(request: web.Request) -> web.StreamResponse:
        response = web.Response(text="{}")
        response.set_cookie("session", "abc123")
        return response

    async with serve(handler) as server:
        transport = AiohttpTransport()
        try:
            first = await transport.handle_async_request(httpx.Request("POST", f"{server.url}/api"))
            second = await transport.handle_async_request(httpx.Request("POST", f"{server.url}/api"))
        finally:
            await transport.aclose()
    assert "set-cookie" not in first.headers  # dropped before httpx's client could keep it
    assert second.status_code == 200
    assert len(server.seen) == 2
    assert server.seen[1].named("Cookie") == []


async def test_panel_http_does_not_send_cookies_back() -> None:
    """One client serves every account's key: a cookie one account got must not go out
    with another's requests (httpx's client would keep it in its own jar)."""
    async def handler(request: web.Request) -> web.StreamResponse:
        response = web.Response(text="{}")
        response.set_cookie("session", "abc123")
        return response

    async with serve(handler) as server:
        async with panel_http() as client:
            await client.post(f"{server.url}/api", data={"key": "account-a"})
            await client.post(f"{server.url}/api", data={"key": "account-b"})
    assert server.seen[1].named("Cookie") == []


# --- failures: never sent ----------------------------------------------------------------


async def test_connection_refused_is_connect_error() -> None:
    url = f"http://127.0.0.1:{free_port()}/api"
    async with panel_http() as client:
        with pytest.raises(httpx.ConnectError):
            await client.post(url, data={"action": "add"})


async def test_waiting_for_a_free_connection_times_out_as_never_sent() -> None:
    release = asyncio.Event()

    async def handler(request: web.Request) -> web.StreamResponse:
        if request.path == "/slow":
            await release.wait()
        return web.json_response({"ok": True})

    async with serve(handler) as server:
        client = httpx.AsyncClient(
            transport=AiohttpTransport(connections=1), timeout=httpx.Timeout(5, pool=0.2, connect=0.2),
        )
        try:
            first = asyncio.create_task(client.post(f"{server.url}/slow", data={"n": "1"}))
            while not server.seen:  # the first request holds the only connection
                await asyncio.sleep(0.005)
            started = time.monotonic()
            with pytest.raises((httpx.ConnectTimeout, httpx.PoolTimeout)):
                await client.post(f"{server.url}/fast", data={"n": "2"})
            assert time.monotonic() - started < 0.9
            assert [seen.path for seen in server.seen] == ["/slow"]  # the second never went out
            release.set()
            assert (await first).json() == {"ok": True}
        finally:
            release.set()
            await client.aclose()
    assert [seen.path for seen in server.seen] == ["/slow"]


async def _stale_keepalive_is_connect_error() -> None:
    threaded = ThreadedServer(ok_json)
    server = threaded.start()
    try:
        async with panel_http() as client:
            first = await client.post(f"{server.url}/api", data={"action": "balance"})
            assert first.json()["ok"] is True
            # The connection is now idle in the pool. The panel goes away (closing it)
            # while this loop is busy elsewhere: the close is in the kernel's buffers,
            # not seen by the loop yet.
            threaded.stop()
            time.sleep(0.05)
            with pytest.raises(httpx.ConnectError):
                await client.post(f"{server.url}/api", data={"action": "add"})
    finally:
        threaded.stop()
    assert len(server.seen) == 1


async def test_closed_kept_alive_connection_is_connect_error_not_read_error() -> None:
    await _stale_keepalive_is_connect_error()


def test_closed_kept_alive_connection_is_connect_error_on_uvloop() -> None:
    with asyncio.Runner(loop_factory=uvloop.new_event_loop) as runner:
        runner.run(_stale_keepalive_is_connect_error())


async def test_closed_kept_alive_connection_needs_the_loop_turns(monkeypatch: pytest.MonkeyPatch) -> None:
    """Without the loop turns before a request, the same case is a ReadError: a request
    that provably never reached the panel would look as if it might have. (This checks
    that the test above tests something.)"""
    monkeypatch.setattr(transport_module, "_LOOP_TURNS", 0)
    with pytest.raises(httpx.ReadError):
        await _stale_keepalive_is_connect_error()


def test_closed_kept_alive_connection_needs_the_loop_turns_on_uvloop(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(transport_module, "_LOOP_TURNS", 0)
    with asyncio.Runner(loop_factory=uvloop.new_event_loop) as runner:
        with pytest.raises(httpx.ReadError):
            runner.run(_stale_keepalive_is_connect_error())


# --- failures: may have been sent ----------------------------------------------------------


async def test_server_that_never_answers_is_read_timeout() -> None:
    release = asyncio.Event()

    async def handler(request: web.Request) -> web.StreamResponse:
        await release.wait()
        return web.Response()

    async with serve(handler) as server:
        try:
            async with panel_http() as client:
                started = time.monotonic()
                with pytest.raises(httpx.ReadTimeout):
                    await client.post(f"{server.url}/api", data={"action": "add"}, timeout=httpx.Timeout(5, read=0.3))
                assert time.monotonic() - started < 0.9
        finally:
            release.set()
    assert len(server.seen) == 1  # it was sent


async def test_connection_closed_mid_request_is_a_read_error() -> None:
    async def handler(request: web.Request) -> web.StreamResponse:
        assert request.transport is not None
        request.transport.close()
        raise asyncio.CancelledError  # nothing more to answer with

    async with serve(handler) as server:
        async with panel_http() as client:
            with pytest.raises(httpx.TransportError) as caught:
                await client.post(f"{server.url}/api", data={"action": "add"})
    assert not isinstance(caught.value, NEVER_SENT)
    assert isinstance(caught.value, (httpx.ReadError, httpx.RemoteProtocolError))
    assert len(server.seen) == 1


# --- the session -----------------------------------------------------------------------------


async def test_aclose_closes_the_session_and_a_new_one_is_opened_after() -> None:
    async with serve(ok_json) as server:
        transport = AiohttpTransport()
        client = httpx.AsyncClient(transport=transport)
        try:
            assert (await client.post(f"{server.url}/a")).status_code == 200
            session = transport._session
            assert session is not None and not session.closed
            await transport.aclose()
            assert session.closed
            assert transport._session is None
            # Used again: a new session.
            assert (await transport.handle_async_request(httpx.Request("POST", f"{server.url}/b"))).status_code == 200
            assert transport._session is not None and transport._session is not session
            assert not transport._session.closed
        finally:
            await client.aclose()
        assert transport._session is None
    assert [seen.path for seen in server.seen] == ["/a", "/b"]
