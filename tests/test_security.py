"""Abuse and secrets: flood limits with a clear reply, and neither the bot token nor a
panel key ever in the logs or in the database as plain text."""

from __future__ import annotations

import asyncio
import logging
from datetime import timedelta
from pathlib import Path

import pytest

from bot.domain.limits import RateLimit
from tests.harness import KEY, TOKEN, world
from tests.test_watching import cycle, place


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def test_a_bucket_allows_a_burst_then_about_one_a_second() -> None:
    clock = Clock()
    limit = RateLimit(rate=1.0, burst=3, clock=clock)
    assert [limit.allow(1) for _ in range(4)] == [True, True, True, False]
    assert limit.should_warn(1) and not limit.should_warn(1)
    assert limit.allow(2)  # other users are not affected
    clock.now += 1.0
    assert limit.allow(1) and not limit.allow(1)


def test_buckets_of_users_gone_quiet_are_forgotten_but_a_flooding_user_stays_limited() -> None:
    clock = Clock()
    limit = RateLimit(rate=1.0, burst=3, clock=clock)
    for _ in range(4):
        limit.allow(42)  # a flood: the bucket is empty
    for user in range(2000):  # many users within 0.2 s: every bucket is still in use
        clock.now += 0.0001
        limit.allow(100_000 + user)
    assert len(limit) == 2001
    assert not limit.allow(42)  # sweeping never lets a flooder off
    clock.now += 10.0  # all of them have refilled
    for user in range(2000):
        clock.now += 0.0001
        limit.allow(200_000 + user)
    assert len(limit) == 2000  # only the new ones: the quiet ones were dropped
    assert limit.allow(200_000) and limit.allow(200_000) and not limit.allow(200_000)


async def test_a_flood_of_messages_gets_one_clear_reply_and_nothing_is_lost(tmp_path: Path) -> None:
    async with world(tmp_path, flood_limits=True) as bot:
        ann = await bot.linked_user()
        await bot.send(ann, "/order 1012")
        await bot.press(ann, "Order")
        await bot.send(ann, "https://instagram.com/nasa")
        for _ in range(40):
            await bot.send(ann, "hello")
        warnings = [m.text for m in ann.messages if "too fast" in m.text]
        assert len(warnings) == 1
        assert len(ann.messages) < 40  # the flood was not answered message by message
        deps = bot.app.bot_data["deps"]  # type: ignore[union-attr]
        deps.updates_limit = RateLimit(rate=1000.0, burst=1000)
        await bot.send(ann, "/order 1012")  # the user may carry on; the earlier link is in its draft
        assert "Service: 1012" in ann.last_text


async def test_a_flood_of_orders_is_stopped_with_a_clear_reply(tmp_path: Path) -> None:
    async with world(tmp_path, balance="1000") as bot:
        ann = await bot.linked_user()
        deps = bot.app.bot_data["deps"]  # type: ignore[union-attr]
        deps.orders_limit = RateLimit(rate=1 / 30, burst=5)
        for i in range(5):
            await place(bot, ann, link=f"https://instagram.com/f{i}")
        await bot.send(ann, "/order 1012")
        await bot.press(ann, "Order")
        await bot.send(ann, "https://instagram.com/f6")
        await bot.send(ann, "1000")
        await bot.press(ann, "Confirm")
        assert "several orders in a short time" in ann.last_text
        assert bot.sandbox.count("add") == 5
        assert [b[0] for b in ann.last_buttons[0]] == ["Confirm"]  # the draft waits, editable


async def test_neither_the_token_nor_the_key_reach_the_logs_or_the_database(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    async with world(tmp_path) as bot:
        ann = await bot.linked_user()
        order = await place(bot, ann)
        bot.sandbox.set_status(order.panel_order_id, "Completed", remains=0)
        await cycle(bot)
        bot.sandbox.faults.set("status", http_status=502)
        await cycle(bot)
        bot.sandbox.faults.set("add", http_status=502)
        await place_unknown(bot, ann)
        db = Path(bot.db_url.split("///")[1])
        files = [db, *db.parent.glob(db.name + "-*")]  # with the WAL
        blob = b"".join(p.read_bytes() for p in files if p.exists())
    logs = caplog.text
    assert len(logs) > 1000  # DEBUG logging did run
    for secret in (TOKEN, KEY, TOKEN.split(":")[1]):
        assert secret not in logs
        assert secret.encode() not in blob
    assert KEY not in ann.all_text()


async def place_unknown(bot, ann) -> None:  # type: ignore[no-untyped-def]
    await bot.send(ann, "/order 1012")
    await bot.press(ann, "Order")
    await bot.send(ann, "https://instagram.com/unknown")
    await bot.send(ann, "1000")
    await bot.press(ann, "Confirm")
    assert "may have been placed" in ann.last_text


PASTED_KEY = "0123456789abcdef0123456789abcdef"


async def test_keys_pasted_while_polling_are_not_in_the_debug_logs_nor_in_any_repr(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """Updates come in as polling brings them (getUpdates, the update queue, PTB's own
    DEBUG lines), with one key at the key prompt and one pasted into a form field."""
    caplog.set_level(logging.DEBUG)
    async with world(tmp_path) as bot:
        bot.sandbox.add_account(PASTED_KEY, balance="7")
        app = bot.app
        assert app is not None and app.updater is not None
        await app.start()
        await app.updater.start_polling(poll_interval=0, timeout=timedelta(seconds=1))
        ann = bot.user()
        try:
            for text in ("/start", KEY, "/order 1012"):
                ann.push_text(text)
                await ann.wait_for_reply(timeout=5)
            ann.push_press("Order")
            await ann.wait_for_reply(timeout=5)
            ann.push_text(PASTED_KEY)
            await ann.wait_for_reply(timeout=5)
            assert "looks like a panel API key" in ann.last_text
            ann.push_press("🔑 Link this key")
            for _ in range(500):
                if "✅ Linked" in ann.last_text:
                    break
                await asyncio.sleep(0.01)
            assert "✅ Linked" in ann.last_text
        finally:
            await app.updater.stop()
            await app.stop()
        linked = await app.bot_data["deps"].accounts.linked(ann.id)
        shown = repr(linked) + str(linked) + repr(linked.account) + repr(linked.client)
    logs = caplog.text
    assert "Processing update" in logs and "getUpdates" in logs  # PTB's DEBUG lines ran
    for secret in (KEY, PASTED_KEY, TOKEN):
        assert secret not in logs
        assert secret not in shown


async def test_a_payment_providers_token_is_not_in_the_debug_logs(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """Shop mode's PAYMENT_PROVIDER_TOKEN goes to Telegram with every card invoice."""
    provider = "284685063:TEST:provider"
    caplog.set_level(logging.DEBUG)
    async with world(tmp_path, mode="shop", panel_key=KEY, payment_provider_token=provider,
                     payment_currency="USD") as bot:
        ann = bot.user(1001)
        await bot.send(ann, "/topup")
        await bot.press(ann, "$5.00")
        assert bot.app is not None
        assert await ann.pay(bot.app) is not None
        assert bot.fake.calls_to("sendInvoice")
    assert len(caplog.text) > 1000 and provider not in caplog.text
    assert provider not in ann.all_text()
