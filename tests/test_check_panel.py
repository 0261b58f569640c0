"""`python -m bot check-panel`: what a panel owner runs first. Run as a subprocess
against the sandbox in both dialects; the key comes from PANEL_KEY or a prompt, never
from the command line, and is never printed."""

from __future__ import annotations

import asyncio
import os
import sys
from collections.abc import AsyncIterator
from decimal import Decimal

import pytest

from bot.playground.sandbox import SandboxPanel

KEY = "k_live_owner_0123456789abcdef"


@pytest.fixture(params=["seed", "smartpanel"])
async def panel(request: pytest.FixtureRequest) -> AsyncIterator[SandboxPanel]:
    sandbox = SandboxPanel(speed=0, dialect=request.param)
    sandbox.add_account(KEY, Decimal("42.5"))
    await sandbox.start()
    try:
        yield sandbox
    finally:
        await sandbox.stop()


async def check_panel(*args: str, key: str | None = KEY, stdin: str = "") -> tuple[int, str, str]:
    env = {k: v for k, v in os.environ.items() if k not in ("PANEL_KEY", "PANEL_URL")}
    if key is not None:
        env["PANEL_KEY"] = key
    process = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "bot", "check-panel", *args, env=env,
        stdin=asyncio.subprocess.PIPE, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
    )
    out, err = await asyncio.wait_for(process.communicate(stdin.encode()), 60)
    assert process.returncode is not None
    return process.returncode, out.decode(), err.decode()


async def test_check_panel_on_a_seed_panel_finds_every_action(panel: SandboxPanel) -> None:
    if panel.dialect != "seed":
        pytest.skip("seed only")
    code, out, err = await check_panel("--panel-url", panel.base_url)
    assert code == 0, out + err
    assert KEY not in out + err
    assert f"Endpoint      {panel.url}" in out
    for action in ("services", "balance", "status", "refill", "refill_status", "cancel"):
        line = next(line for line in out.splitlines() if line.startswith(action + " "))
        assert " yes" in line, line
    assert "add           not tried (it would place an order)" in out
    assert f"{len(panel.services)} services" in out
    assert "Currency      USD" in out
    assert "Balance       42.50000 USD" in out
    assert "The bot can work with this panel." in out
    # Nothing was ordered, refilled or cancelled.
    assert panel.orders(KEY) == [] and panel.refills(KEY) == []
    assert {r.action for r in panel.requests} == {"balance", "services", "status", "refill", "refill_status", "cancel"}


async def test_check_panel_on_a_smartpanel_finds_api_v1_and_no_refills(panel: SandboxPanel) -> None:
    if panel.dialect != "smartpanel":
        pytest.skip("smartpanel only")
    code, out, err = await check_panel("--panel-url", panel.base_url + "/api/v2")
    assert code == 0, out + err
    assert f"Endpoint      {panel.url}" in out
    assert "/api/v2 (web page, HTTP 403)" in out
    for action in ("refill", "refill_status", "cancel"):
        line = next(line for line in out.splitlines() if line.startswith(action + " "))
        assert "no: This action is Invalid" in line, line
    assert "Balance       42.5000 USD" in out
    assert "types: default" in out and "custom_comments" in out
    assert "it offers no refills or cancels through its API (refill, refill_status, cancel" in out


async def test_check_panel_names_types_the_bot_does_not_know(panel: SandboxPanel) -> None:
    panel.update_service(int(panel.services[0]["service"]), type="Story Views Magic")
    code, out, _ = await check_panel("--panel-url", panel.url)
    assert code == 0
    line = next(line for line in out.splitlines() if line.startswith("Unknown types"))
    assert "Story Views Magic" in line or "story_views_magic" in line


async def test_a_refused_key_is_not_a_working_panel(panel: SandboxPanel) -> None:
    code, out, err = await check_panel("--panel-url", panel.base_url, key="wrong-key-00000000")
    assert code == 1
    assert "wrong-key-00000000" not in out + err
    assert "Key           refused" in out


async def test_the_key_is_read_from_stdin_when_not_in_the_environment(panel: SandboxPanel) -> None:
    code, out, err = await check_panel("--panel-url", panel.url, key=None, stdin=KEY + "\n")
    assert code == 0, out + err
    assert KEY not in out + err


async def test_a_web_site_is_not_a_panel() -> None:
    from aiohttp import web

    async def page(_request: web.Request) -> web.Response:
        return web.Response(status=404, text="<html>Not here</html>", content_type="text/html")

    app = web.Application()
    app.router.add_route("*", "/{tail:.*}", page)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = runner.addresses[0][1]
    try:
        code, out, _ = await check_panel("--panel-url", f"http://127.0.0.1:{port}")
    finally:
        await runner.cleanup()
    assert code == 1
    assert "The panel answered a web page, check PANEL_URL" in out


async def test_no_key_on_the_command_line() -> None:
    code, _, err = await check_panel("--panel-url", "http://127.0.0.1:1", "--key", "abc")
    assert code == 2 and "abc" not in err.replace("--key", "")
