"""The bot on real panels' catalogs (tests/data): every screen a customer can reach by
browsing stays within Telegram's rules (the fake refuses bad HTML, over-long texts,
long callback data and too many buttons), whatever the names contain."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.harness import world

DATA = Path(__file__).resolve().parent / "data"
CATALOGS = ["smmwiz-services.json", "vtechsmm-services.json", "smmkings-services.json", "topsmmuz-services.json"]


@pytest.mark.parametrize("catalog", CATALOGS)
async def test_browsing_a_real_catalog_obeys_telegrams_rules(tmp_path: Path, catalog: str) -> None:
    async with world(tmp_path, catalog=DATA / catalog, balance="1000000") as bot:
        ann = await bot.linked_user()
        await bot.send(ann, "/order")
        platforms = [label for row in ann.last_buttons for label, data in row if data and data.startswith("c:")]
        assert platforms
        for label in platforms[:8]:
            await bot.send(ann, "/order")
            await bot.press(ann, label)
            categories = [lbl for row in ann.last_buttons for lbl, data in row if data and data.startswith("s:")]
            await bot.press(ann, categories[0])
            services = [lbl for row in ann.last_buttons for lbl, data in row if data and data.startswith("v:")]
            assert services
            if any(lbl.startswith("Next") for row in ann.last_buttons for lbl, _ in row):
                await bot.press(ann, "Next ▶")
            await bot.press(ann, [lbl for row in ann.last_buttons for lbl, d in row if d and d.startswith("v:")][0])
            assert "Rate per 1000" in ann.last_text
            await bot.press(ann, "Order")
            assert "✏️ " in ann.last_text
            await bot.send(ann, "/cancel")
        for query in ("instagram followers", "telegram", "youtube views", "&", "<b>", "💎"):
            await bot.send(ann, query)
        # Every service card of the first hundred services renders.
        for item in bot.sandbox.services[:100]:
            await bot.send(ann, str(item["service"]))
            assert "Service:" in ann.last_text
