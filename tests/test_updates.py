"""How updates are taken in (bot/updates.py): different users at once, each user's own
updates in the order they were sent; a slow panel for one user stalls nobody else."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest
from telegram import Update

from bot.playground.fakegram import FakeTelegram
from bot.updates import PerUserUpdates, sender_of
from tests.harness import TOKEN, World, world


def _updates(*senders: int) -> list[Update]:
    fake = FakeTelegram(TOKEN)
    return [Update.de_json(fake.user(sender).update_dict_for_text(f"hi {i}"), None) for i, sender in enumerate(senders)]


class Recorder:
    """Coroutines standing in for handling an update: each records its start and end
    and, if told, waits for a gate first."""

    def __init__(self) -> None:
        self.events: list[str] = []
        self.running = 0
        self.most = 0

    async def handle(self, name: str, gate: asyncio.Event | None = None) -> None:
        self.events.append(f"start {name}")
        self.running += 1
        self.most = max(self.most, self.running)
        try:
            if gate is not None:
                await gate.wait()
            await asyncio.sleep(0)
        finally:
            self.running -= 1
            self.events.append(f"end {name}")


async def _settle() -> None:
    for _ in range(20):
        await asyncio.sleep(0)


async def test_one_users_updates_run_one_after_the_other_in_the_order_sent() -> None:
    processor = PerUserUpdates(limit=8)
    record = Recorder()
    first, second, third = _updates(7, 7, 7)
    gate = asyncio.Event()
    tasks = [
        asyncio.create_task(processor.process_update(first, record.handle("1", gate))),
        asyncio.create_task(processor.process_update(second, record.handle("2"))),
        asyncio.create_task(processor.process_update(third, record.handle("3"))),
    ]
    await _settle()
    assert record.events == ["start 1"], "the second update started before the first ended"
    gate.set()
    await asyncio.gather(*tasks)
    assert record.events == ["start 1", "end 1", "start 2", "end 2", "start 3", "end 3"]
    assert processor.waiting_senders == 0


async def test_other_users_are_not_held_up_by_a_slow_update() -> None:
    processor = PerUserUpdates(limit=8)
    record = Recorder()
    slow, other = _updates(1, 2)
    gate = asyncio.Event()
    stuck = asyncio.create_task(processor.process_update(slow, record.handle("slow", gate)))
    await _settle()
    await asyncio.wait_for(processor.process_update(other, record.handle("other")), 1.0)
    assert record.events == ["start slow", "start other", "end other"]
    gate.set()
    await stuck


async def test_at_most_limit_updates_run_at_once_and_a_flooding_user_takes_one_place() -> None:
    processor = PerUserUpdates(limit=2)
    record = Recorder()
    gate = asyncio.Event()
    flood = [asyncio.create_task(processor.process_update(u, record.handle(f"flood{i}", gate)))
             for i, u in enumerate(_updates(*[9] * 10))]
    others = [asyncio.create_task(processor.process_update(u, record.handle(f"user{u.effective_user.id}", gate)))
              for u in _updates(1, 2, 3)]
    await _settle()
    # The flooding user holds one place (its first update); its nine others wait for
    # their turn without a place, so one other user got the second place.
    assert record.running == 2
    assert record.events == ["start flood0", "start user1"]
    assert processor.busy == 2
    gate.set()
    await asyncio.gather(*flood, *others)
    assert record.most == 2
    assert [e for e in record.events if e.startswith("start flood")] == [f"start flood{i}" for i in range(10)]
    assert processor.busy == 0 and processor.waiting_senders == 0


async def test_an_update_cancelled_while_waiting_its_turn_leaves_the_others_going() -> None:
    processor = PerUserUpdates(limit=4)
    record = Recorder()
    first, cancelled, third = _updates(5, 5, 5)
    gate = asyncio.Event()
    running = asyncio.create_task(processor.process_update(first, record.handle("1", gate)))
    waiting_coroutine = record.handle("2")
    waiting = asyncio.create_task(processor.process_update(cancelled, waiting_coroutine))
    last = asyncio.create_task(processor.process_update(third, record.handle("3")))
    await _settle()
    waiting.cancel()
    gate.set()
    await asyncio.gather(running, last)
    with pytest.raises(asyncio.CancelledError):
        await waiting
    assert record.events == ["start 1", "end 1", "start 3", "end 3"]
    assert waiting_coroutine.cr_frame is None  # closed, not left un-awaited
    assert processor.waiting_senders == 0


def test_the_sender_is_the_user_else_the_chat() -> None:
    fake = FakeTelegram(TOKEN)
    update = Update.de_json(fake.user(42).update_dict_for_text("hi"), None)
    assert sender_of(update) == 42
    channel_post = Update.de_json({"update_id": 1, "channel_post": {
        "message_id": 1, "date": 0, "chat": {"id": -100123, "type": "channel"}, "text": "x"}}, None)
    assert sender_of(channel_post) == -100123
    assert sender_of(object()) is None


def test_limit_must_be_positive() -> None:
    with pytest.raises(ValueError):
        PerUserUpdates(limit=0)


# --- through the real Application: updates arriving as from getUpdates ---------------------


async def _running(bot: World) -> None:
    assert bot.app is not None
    await bot.app.start()


async def _stop(bot: World) -> None:
    assert bot.app is not None
    if bot.app.running:
        await bot.app.stop()


async def _wait_for(condition: object, timeout: float = 5.0) -> None:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while not condition():  # type: ignore[operator]
        if loop.time() > deadline:
            raise AssertionError("timed out")
        await asyncio.sleep(0.01)


async def test_a_hanging_panel_for_one_user_does_not_stall_the_bot_for_others(tmp_path: Path) -> None:
    async with world(tmp_path) as bot:
        ann, bob = await bot.linked_user(1001), await bot.linked_user(1002)
        await bot.send(ann, "/order 1012")
        await bot.press(ann, "Order")
        await bot.send(ann, "https://instagram.com/nasa")
        await bot.send(ann, "1000")
        assert "Check your order" in ann.last_text
        bot.sandbox.faults.set("add", hang=True)  # the harness's client gives up after ~1 s
        await _running(bot)
        try:
            assert bot.app is not None
            queue = bot.app.update_queue
            ann_had = len(ann.messages)
            await queue.put(ann.update_for_press("Confirm", bot=bot.app.bot))
            await queue.put(ann.update_for_text("/balance", bot=bot.app.bot))
            bob_had = len(bob.messages)
            await queue.put(bob.update_for_text("/balance", bot=bot.app.bot))
            await _wait_for(lambda: len(bob.messages) > bob_had and "Balance" in bob.last_text, 0.9)
            # Bob is answered while Ann's order is still waiting for the panel ...
            assert "may have been placed" not in ann.all_text()
            assert len(ann.messages) == ann_had
            await _wait_for(lambda: len(ann.messages) >= ann_had + 2, 10.0)
            # ... and Ann's /balance was handled after her Confirm, as she sent them.
            first, second = (m.text for m in ann.messages[ann_had:ann_had + 2])
            assert "may have been placed" in first
            assert "Balance" in second
            assert bot.sandbox.count("add") == 1
        finally:
            await _stop(bot)


async def test_a_users_quick_messages_fill_the_form_in_the_order_typed(tmp_path: Path) -> None:
    async with world(tmp_path) as bot:
        ann = await bot.linked_user()
        await bot.send(ann, "/order 1012")
        await bot.press(ann, "Order")
        await _running(bot)
        try:
            assert bot.app is not None
            # Link and quantity arrive in the same getUpdates batch, with a slow panel
            # (the confirm screen asks for the balance) in between.
            bot.sandbox.faults.set("balance", latency=0.3)
            for text in ("https://instagram.com/nasa", "1000"):
                await bot.app.update_queue.put(ann.update_for_text(text, bot=bot.app.bot))
            await _wait_for(lambda: "Check your order" in ann.last_text, 10.0)
            assert "Link: https://instagram.com/nasa" in ann.last_text
            assert "Quantity: 1,000" in ann.last_text
        finally:
            await _stop(bot)
