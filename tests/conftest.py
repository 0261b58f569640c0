"""Shared fixtures: a running sandbox panel with one funded account."""

from __future__ import annotations

from collections.abc import AsyncIterator
from decimal import Decimal

import pytest

from bot.sandbox import SandboxPanel

TEST_KEY = "test-key-0001"


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
