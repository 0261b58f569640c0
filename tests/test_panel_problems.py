"""One wording wherever the panel gives no usable answer (bot/views/texts.py:
panel_problem): the user hears that it is not answering and that nothing changed, or
what its refusal means, whichever screen asked."""

from __future__ import annotations

from pathlib import Path

from tests.harness import world
from tests.test_watching import place

DOWN = "⏳ The panel is not answering right now. Nothing was changed; please try again in a minute."


async def test_balance_status_and_refresh_say_the_same_when_the_panel_is_down(tmp_path: Path) -> None:
    async with world(tmp_path, catalog_ttl=0.0) as bot:
        ann = await bot.linked_user()
        order = await place(bot, ann)
        bot.sandbox.faults.set("*", http_status=502)
        await bot.send(ann, "/balance")
        assert ann.last_text == DOWN
        await bot.send(ann, f"/status {order.panel_order_id} 99")
        assert ann.last_text == DOWN
        await bot.send(ann, f"/status {order.panel_order_id}")
        assert ann.last_text.endswith(DOWN) and f"#{order.panel_order_id}" in ann.last_text  # the stored card


async def test_a_refused_key_is_said_in_words_on_every_screen(tmp_path: Path) -> None:
    async with world(tmp_path, catalog_ttl=0.0) as bot:
        ann = await bot.linked_user()
        order = await place(bot, ann)
        bot.sandbox.faults.set("*", error="Invalid API key")
        for command in ("/balance", f"/status {order.panel_order_id} 99"):
            await bot.send(ann, command)
            assert ann.last_text == "The panel does not accept this API key. Link a valid key with /connect.", command
