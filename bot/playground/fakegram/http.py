"""The fake Bot API served over real HTTP, for bot processes started as subprocesses
(`TELEGRAM_API_URL=http://127.0.0.1:PORT`); same rules as the in-process transport."""

from __future__ import annotations

import json

from aiohttp import web

from bot.playground.fakegram.server import BotApi
from bot.playground.fakegram.wire import JSONDict


class FakeBotApiServer:
    """`await start()` returns the root URL to use as TELEGRAM_API_URL."""

    def __init__(self, fake: BotApi) -> None:
        self.fake = fake
        self._runner: web.AppRunner | None = None

    async def start(self, host: str = "127.0.0.1", port: int = 0) -> str:
        app = web.Application()
        app.router.add_route("*", r"/bot{token}/{method}", self._handle)
        self._runner = web.AppRunner(app, access_log=None)
        await self._runner.setup()
        site = web.TCPSite(self._runner, host, port)
        await site.start()
        bound = self._runner.addresses[0][1]
        return f"http://{host}:{bound}"

    async def stop(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    async def _handle(self, request: web.Request) -> web.Response:
        params: JSONDict = dict(request.query)
        if request.can_read_body:
            if request.content_type == "application/json":
                params.update(await request.json())
            else:
                form = await request.post()
                params.update({k: v for k, v in form.items() if isinstance(v, str)})
        status, body = await self.fake.call(request.match_info["method"], params, token=request.match_info["token"])
        return web.Response(status=status, text=json.dumps(body), content_type="application/json")
