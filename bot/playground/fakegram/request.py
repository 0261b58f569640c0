"""PTB ``BaseRequest`` that answers Bot API calls from a ``FakeTelegram`` instead of the network."""

from __future__ import annotations

import asyncio
import json
from typing import Any
from urllib.parse import urlsplit

from telegram.request import BaseRequest, RequestData

from bot.playground.fakegram.documents import UPLOADS, Upload
from bot.playground.fakegram.server import BotApi
from bot.playground.fakegram.wire import JSONDict

__all__ = ["FakeRequest", "parse_bot_url"]


def parse_bot_url(url: str) -> tuple[str | None, str]:
    """Split ``https://api.telegram.org/bot<token>/<method>`` into ``(token, method)``.

    PTB builds the URL as ``f"{base_url}{token}/{method}"`` (or via ``{token}`` in a custom
    ``base_url``), so the method is the last path segment and the token the one before it.
    """
    path = urlsplit(url).path.rstrip("/")
    head, _, method = path.rpartition("/")
    token_segment = head.rpartition("/")[2]
    token = token_segment.removeprefix("bot") if token_segment else None
    return (token or None), method


def _decode_parameters(request_data: RequestData | None) -> JSONDict:
    if request_data is None:
        return {}
    # `parameters` keeps JSON types (dicts for reply_markup etc.); a JSON round trip turns
    # tuples into lists so the fake sees exactly what Telegram would decode.
    decoded: JSONDict = json.loads(json.dumps(request_data.parameters))
    if request_data.contains_files:
        decoded[UPLOADS] = {name: _upload(part) for name, part in request_data.multipart_data.items()}
    return decoded


def _upload(part: tuple[object, ...]) -> Upload:
    """A multipart part as (file name, bytes, MIME type); PTB may hand over a file handle."""
    name, content = part[0], part[1]
    mime = part[2] if len(part) > 2 else None
    data = content if isinstance(content, bytes) else content.read() if hasattr(content, "read") else b""
    return str(name or ""), bytes(data), str(mime or "")


class FakeRequest(BaseRequest):
    """Transport for ``ApplicationBuilder().request(...)`` / ``.get_updates_request(...)``,
    answered by a ``FakeTelegram`` (or any ``BotApi``).

    Use one instance per slot: PTB shuts each request object down separately.
    """

    __slots__ = ("_fake", "_latency", "_read_timeout")

    def __init__(
        self, fake: BotApi, *, read_timeout: float | None = 5.0, latency: float = 0.0
    ) -> None:
        self._fake = fake
        self._read_timeout = read_timeout
        self._latency = latency

    @property
    def fake(self) -> BotApi:
        return self._fake

    @property
    def read_timeout(self) -> float | None:
        return self._read_timeout

    async def initialize(self) -> None:
        return None

    async def shutdown(self) -> None:
        return None

    async def do_request(
        self,
        url: str,
        method: str,
        request_data: RequestData | None = None,
        # The fake has no timeouts to apply (PTB's own type for them is private).
        read_timeout: Any = BaseRequest.DEFAULT_NONE,
        write_timeout: Any = BaseRequest.DEFAULT_NONE,
        connect_timeout: Any = BaseRequest.DEFAULT_NONE,
        pool_timeout: Any = BaseRequest.DEFAULT_NONE,
    ) -> tuple[int, bytes]:
        # Always yield once, as a real HTTP round trip would, so concurrency bugs still show.
        await asyncio.sleep(self._latency)
        token, api_method = parse_bot_url(url)
        if method != "POST" or not api_method:
            # File downloads (GET on the file URL) are not modelled.
            body = {"ok": False, "error_code": 404, "description": "Not Found"}
            return 404, json.dumps(body).encode()
        params = _decode_parameters(request_data)
        fault = self._fake.take_transport_fault(api_method)
        if fault is not None and not fault[1]:
            raise fault[0]
        status, body = await self._fake.call(api_method, params, token=token)
        if fault is not None:
            raise fault[0]  # handled by Telegram, but the answer never arrives
        return status, json.dumps(body, ensure_ascii=False).encode("utf-8")
