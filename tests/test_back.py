"""Back from a service card returns to the list and page it was opened from: page 3 of a
category, or the search results, not page 1 of the category."""

from __future__ import annotations

from pathlib import Path

from tests.harness import world

DATA = Path(__file__).parent / "data"


async def test_back_from_a_card_opened_on_page_three_of_a_category_returns_to_page_three(tmp_path: Path) -> None:
    async with world(tmp_path, catalog=DATA / "smmwiz-services.json", balance="1000") as bot:
        ann = await bot.linked_user()
        await bot.send(ann, "/order")
        await bot.press(ann, ann.last_buttons[0][0][0])  # the first platform
        # A category with at least three pages of services.
        categories = [label for row in ann.last_buttons for label, _ in row if "▶" not in label and "⬅" not in label]
        for name in categories:
            await bot.press(ann, name)
            if any("Next ▶" in label for row in ann.last_buttons for label, _ in row):
                await bot.press(ann, "Next ▶")
                if any("Next ▶" in label for row in ann.last_buttons for label, _ in row):
                    break
            await bot.press(ann, "⬅ Categories")
        else:
            raise AssertionError("no category with three pages")
        await bot.press(ann, "Next ▶")
        page_three = ann.last_buttons
        await bot.press(ann, page_three[0][0][0])
        assert "Rate per 1000" in ann.last_text
        await bot.press(ann, "◀ Back")
        assert ann.last_buttons == page_three


async def test_back_from_a_card_opened_from_search_results_returns_to_those_results(tmp_path: Path) -> None:
    async with world(tmp_path) as bot:
        ann = await bot.linked_user()
        await bot.send(ann, "instagram followers")
        results_text, results = ann.last_text, ann.last_buttons
        assert "matching «instagram followers»" in results_text
        await bot.press(ann, results[1][0][0])
        assert "Rate per 1000" in ann.last_text
        await bot.press(ann, "◀ Back")
        assert "matching «instagram followers»" in ann.last_text
        assert ann.last_buttons == results


async def test_a_card_opened_by_its_number_backs_to_its_category(tmp_path: Path) -> None:
    async with world(tmp_path) as bot:
        ann = await bot.linked_user()
        await bot.send(ann, "/order 1011")
        await bot.press(ann, "◀ Back")
        assert "choose a service" in ann.last_text
