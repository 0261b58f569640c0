"""PANEL_URL as operators type it: the panel's address, or with /api/v2 or /api/v1.
The endpoint that answers JSON to `balance` is used; a web page is not an API."""

from __future__ import annotations

import socket
from collections.abc import AsyncIterator

import httpx
import pytest

from bot.panel.client import PanelClient
from bot.panel.endpoint import candidates, describe, discover, resolve_panel_url
from bot.panel.errors import OutcomeUnknown, PanelUnavailable, PanelWebPage
from bot.playground.sandbox import SandboxPanel


@pytest.fixture(params=["seed", "smartpanel"])
async def panel(request: pytest.FixtureRequest) -> AsyncIterator[SandboxPanel]:
    sandbox = SandboxPanel(speed=0, dialect=request.param)
    sandbox.add_account("real-key-0123456789")
    await sandbox.start()
    try:
        yield sandbox
    finally:
        await sandbox.stop()


def test_candidates_from_what_operators_type() -> None:
    assert candidates("https://panel.example") == [
        "https://panel.example/api/v2", "https://panel.example/api/v1", "https://panel.example/api",
        "https://panel.example/"]
    assert candidates("panel.example/") == candidates("https://panel.example")
    assert candidates("https://panel.example/api/v1/") == ["https://panel.example/api/v1", "https://panel.example/api/v2"]
    assert candidates("https://panel.example/api/v2") == ["https://panel.example/api/v2", "https://panel.example/api/v1"]
    assert candidates("https://panel.example/api") == [
        "https://panel.example/api", "https://panel.example/api/v2", "https://panel.example/api/v1"]


@pytest.mark.parametrize("typed", ["base", "/api/v2", "/api/v1", "/api/v2/"])
@pytest.mark.parametrize("key", [None, "real-key-0123456789"])
async def test_the_endpoint_that_answers_json_is_found_whatever_was_typed(
    panel: SandboxPanel, typed: str, key: str | None
) -> None:
    url = panel.base_url if typed == "base" else panel.base_url + typed
    endpoint, tried = await resolve_panel_url(url, key)
    assert endpoint == panel.url
    assert tried[-1].answered_json and not any(a.answered_json for a in tried[:-1])
    if panel.dialect == "smartpanel" and panel.url not in url:
        # /api/v2 answered its HTML 403 page first: tried, not taken.
        assert any(a.url.endswith("/api/v2") and a.web_page_4xx for a in tried)
    line = describe(url, endpoint, tried)
    assert line.startswith(f"Panel API at {panel.url}")
    async with PanelClient(endpoint, "real-key-0123456789") as client:
        assert (await client.balance()).amount > 0


async def test_a_site_that_answers_web_pages_only_is_a_configuration_problem() -> None:
    def site(request: httpx.Request) -> httpx.Response:
        return httpx.Response(403, text="<!DOCTYPE html><title>Forbidden</title>", headers={"Content-Type": "text/html"})

    http = httpx.AsyncClient(transport=httpx.MockTransport(site))
    found = await discover("https://shop.example", "k", http=http)
    assert found.endpoint is None and found.web_pages_only
    assert [a.url for a in found.attempts] == candidates("https://shop.example")
    line = found.line()
    assert line.startswith("The panel answered a web page, check PANEL_URL (https://shop.example): tried ")
    assert "https://shop.example/api/v2 (web page, HTTP 403)" in line and "\n" not in line
    endpoint, tried = await resolve_panel_url("https://shop.example", http=http)
    assert endpoint == "https://shop.example" and len(tried) == 4


async def test_a_read_answered_by_a_4xx_web_page_says_check_panel_url_and_is_not_retried() -> None:
    sent: list[httpx.Request] = []

    def site(request: httpx.Request) -> httpx.Response:
        sent.append(request)
        return httpx.Response(403, text="\n<html><h1>An Error Was Encountered</h1></html>")

    async def no_sleep(_: float) -> None:
        return None

    client = PanelClient("https://panel.example/api/v2", "k-0123456789",
                         http=httpx.AsyncClient(transport=httpx.MockTransport(site)), retries=3, sleep=no_sleep)
    with pytest.raises(PanelWebPage) as failed:
        await client.balance()
    assert isinstance(failed.value, PanelUnavailable)
    assert "the panel answered a web page (HTTP 403), check PANEL_URL" in str(failed.value)
    assert len(sent) == 1
    # An add that met the same page still may have been taken: unknown, never a web-page verdict.
    with pytest.raises(OutcomeUnknown):
        await client.add({"service": "1", "link": "https://a.b/c", "quantity": "100"})


async def test_an_unreachable_panel_is_named_with_what_was_tried() -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    found = await discover(f"http://127.0.0.1:{port}", timeout=2.0)
    assert found.endpoint is None and not found.web_pages_only
    assert found.line().startswith(f"The panel is not reachable at http://127.0.0.1:{port}: tried ")
    assert len(found.attempts) == 1  # the host does not answer: no use trying each path
