"""Specifications of the bot's memory in own-key mode: catalogs shared between keys
whose panel sends the same one, clients and catalogs bounded, and a big catalog parsed
without holding the other users' updates."""

from __future__ import annotations

import asyncio
import gc
import time
from pathlib import Path

import httpx

from bot import runtime
from bot.domain.panels import Panels
from bot.panel.catalog import Catalog
from bot.playground.sandbox import SandboxPanel

DATA = Path(__file__).parent / "data"
LARGEST = DATA / "smmwiz-services.json"  # 7,230 services, 2 MB


async def test_keys_whose_panel_sends_the_same_catalog_share_one_parsed_copy() -> None:
    loaded: list[Catalog] = []
    async with SandboxPanel(DATA / "smmkings-services.json", speed=0) as sandbox:
        keys = [sandbox.add_account(f"user-key-{n:03d}-abcdefgh") for n in range(20)]
        panels = Panels(sandbox.url, on_catalog=loaded.append)
        try:
            catalogs = await asyncio.gather(*(panels.catalog(key) for key in keys))
            again = await panels.catalog(keys[0])
        finally:
            await panels.aclose()
    assert len(catalogs[0]) == 3131
    assert all(catalog is catalogs[0] for catalog in catalogs) and again is catalogs[0]
    assert loaded == [catalogs[0]]  # parsed once, not once per key
    assert panels.catalogs.catalogs_held() == 1
    assert sum(1 for r in sandbox.requests if r.action == "services") == 20  # each key asked its panel


async def test_a_refresh_that_brings_the_same_catalog_is_not_parsed_again() -> None:
    loaded: list[Catalog] = []
    async with SandboxPanel(DATA / "topsmmuz-services.json", speed=0) as sandbox:
        key = sandbox.add_account("user-key-refresh-abcdefgh")
        panels = Panels(sandbox.url, on_catalog=loaded.append, catalog_ttl=0.05)
        try:
            first = await panels.catalog(key)
            await asyncio.sleep(0.06)
            second = await panels.catalog(key)
        finally:
            await panels.aclose()
    assert second is first and len(loaded) == 1
    assert sum(1 for r in sandbox.requests if r.action == "services") == 2  # the TTL still holds


async def test_panel_clients_and_catalogs_are_bounded_least_recently_used_first() -> None:
    async with SandboxPanel(DATA / "topsmmuz-services.json", speed=0) as sandbox:
        keys = [sandbox.add_account(f"user-key-{n:03d}-abcdefgh") for n in range(6)]
        panels = Panels(sandbox.url, max_clients=3, max_accounts=3)
        try:
            first = panels.client(keys[0])
            for key in keys[1:3]:
                panels.client(key)
            assert panels.client(keys[0]) is first  # used last: kept
            for key in keys[3:]:
                await panels.catalog(key)
            assert len(panels._clients) == 3 and len(panels.catalogs) == 3
            assert panels.client(keys[0]) is not first  # made again on need
            assert len(await panels.catalog(keys[0])) == 917  # loads again on need
        finally:
            await panels.aclose()


async def test_loading_the_largest_real_catalog_holds_the_event_loop_under_50_ms() -> None:
    body = LARGEST.read_bytes()

    def panel(request: httpx.Request) -> httpx.Response:
        return httpx.Response(200, content=body, headers={"Content-Type": "application/json"})

    http = httpx.AsyncClient(transport=httpx.MockTransport(panel))
    panels = Panels("https://panel.example/api/v2", http=http)
    worst = 0.0
    done = False

    async def other_users() -> None:
        # Stands in for the other users' updates: how late each 1 ms tick runs.
        nonlocal worst
        while not done:
            started = time.perf_counter()
            await asyncio.sleep(0.001)
            worst = max(worst, time.perf_counter() - started - 0.001)

    # As the bot runs (bot/runtime.py): what lives long is out of the collector's way.
    runtime.settle_long_lived()
    ticker = asyncio.create_task(other_users())
    try:
        await asyncio.sleep(0.01)
        catalog = await panels.catalog("user-key-0001-abcdefgh")
    finally:
        done = True
        await ticker
        await http.aclose()
        gc.unfreeze()  # the other tests' objects are theirs to collect
    assert len(catalog) == 7230
    print(f"event loop held at most {worst * 1000:.1f} ms")
    assert worst < 0.050, f"the event loop was held {worst * 1000:.0f} ms"


async def test_a_crowd_of_expired_catalogs_is_fetched_a_few_at_a_time_and_their_bodies_freed() -> None:
    body = (DATA / "smmkings-services.json").read_bytes()
    in_flight = most = 0

    async def panel(request: httpx.Request) -> httpx.Response:
        nonlocal in_flight, most
        in_flight += 1
        most = max(most, in_flight)
        await asyncio.sleep(0.002)
        in_flight -= 1
        return httpx.Response(200, content=body)

    http = httpx.AsyncClient(transport=httpx.MockTransport(panel))
    panels = Panels("https://panel.example/api/v2", http=http, on_fetched=runtime.trim_heap)
    thresholds = gc.get_threshold()
    gc.set_threshold(*runtime.GC_THRESHOLDS)  # as the bot runs: collections are rare
    try:
        await asyncio.gather(*(panels.catalog(f"user-key-{n:03d}-abcdefgh") for n in range(40)))
        # httpx's responses are reference cycles: each one still alive holds a 0.9 MB body.
        alive = sum(1 for o in gc.get_objects() if isinstance(o, httpx.Response))
    finally:
        gc.set_threshold(*thresholds)
        await http.aclose()
    assert most <= 4
    assert alive <= 4  # at most those of the last fetches in flight (40 without the collection)
    assert panels.catalogs.catalogs_held() == 1
