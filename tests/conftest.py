"""Shared fixtures: a running sandbox panel with one funded account."""

from __future__ import annotations

import asyncio
import os
from collections.abc import AsyncIterator
from decimal import Decimal
from typing import Any

import pytest

from bot.playground.sandbox import SandboxPanel

TEST_KEY = "test-key-0001"


# Test modules whose tests also run on uvloop, the loop of the bot's own processes
# (bot/runtime.py): where the transport's timing matters (what counts as "never sent").
BOTH_LOOPS = {"test_client_sandbox.py", "test_updates.py"}


def pytest_asyncio_loop_factories(config: Any, item: Any) -> Any:
    """asyncio's own loop for every test; uvloop as well for BOTH_LOOPS (or for every
    test with TEST_EVENT_LOOP=uvloop)."""
    if os.environ.get("TEST_EVENT_LOOP") == "uvloop":
        return {"uvloop": _uvloop_factory()}
    if item.path.name in BOTH_LOOPS:
        return {"asyncio": asyncio.new_event_loop, "uvloop": _uvloop_factory()}
    return {"asyncio": asyncio.new_event_loop}


def _uvloop_factory() -> Any:
    import uvloop

    return uvloop.new_event_loop


class FixtureSandbox(SandboxPanel):
    """A started sandbox that also names its account's key."""

    test_key: str = TEST_KEY


@pytest.fixture
async def sandbox() -> AsyncIterator[FixtureSandbox]:
    """A started sandbox panel: built-in catalog, speed 1, and the account
    `test-key-0001` with 100 USD (also `sandbox.test_key`)."""
    panel = FixtureSandbox(speed=1.0, seed=0, currency="USD")
    panel.test_key = panel.add_account(TEST_KEY, Decimal("100"), "USD")
    await panel.start()
    try:
        yield panel
    finally:
        await panel.stop()


@pytest.fixture
def panel_key(sandbox: FixtureSandbox) -> str:
    """The API key of the sandbox's funded account."""
    return sandbox.test_key
