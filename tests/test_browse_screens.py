"""Every page of every category of the five real catalogs, walked through the real
Application as a customer would (the fake Telegram enforces 4,096 characters, 100 buttons
and 64-byte callback data): each page lists all its services, no two entries reading the
same, numbered buttons 1..n, prices with the account's currency, nothing trimmed."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from bot.playground.fakegram import FakeUser
from bot.views.markup import MAX_TEXT
from bot.panel.catalog import Catalog, parse_services
from tests.harness import World, world

DATA = Path(__file__).resolve().parent / "data"
CATALOGS = sorted(p.name for p in DATA.glob("*-services.json"))


def labels(user: FakeUser, prefix: str) -> list[str]:
    return [label for row in user.last_buttons for label, data in row if data and data.startswith(prefix)]


async def pages(bot: World, user: FakeUser, prefix: str) -> list[list[str]]:
    """The labels of buttons whose data start with `prefix` on this list and its next pages."""
    found = [labels(user, prefix)]
    while "Next ▶" in [label for row in user.last_buttons for label, _ in row]:
        await bot.press(user, "Next ▶")
        found.append(labels(user, prefix))
    return found


async def goto(bot: World, user: FakeUser, page: int, label: str) -> None:
    for _ in range(page):
        await bot.press(user, "Next ▶")
    await bot.press(user, label)


@pytest.mark.parametrize("catalog_file", CATALOGS)
async def test_every_page_of_every_category_renders_within_limits_and_reads_apart(tmp_path: Path, catalog_file: str) -> None:
    catalog = Catalog(parse_services(json.loads((DATA / catalog_file).read_text())))
    async with world(tmp_path, catalog=DATA / catalog_file, balance="1000") as bot:
        ann = await bot.linked_user()
        await bot.send(ann, "/order")
        platform_pages = await pages(bot, ann, "c:")
        seen_ids: set[int] = set()
        longest = 0
        for p, platform_labels in enumerate(platform_pages):
            for platform in platform_labels:
                await bot.send(ann, "/order")
                await goto(bot, ann, p, platform)
                category_pages = await pages(bot, ann, "s:")
                for c, category_labels in enumerate(category_pages):
                    assert len(set(category_labels)) == len(category_labels), category_labels
                    for category in category_labels:
                        await bot.send(ann, "/order")
                        await goto(bot, ann, p, platform)
                        await goto(bot, ann, c, category)
                        while True:
                            text = ann.last_text
                            longest = max(longest, len(text))
                            assert len(text) <= MAX_TEXT and not text.endswith("\n…")
                            entries = [line for line in text.splitlines() if line[:1].isdigit() and ". " in line]
                            assert entries, text
                            assert len({line.split(". ", 1)[1] for line in entries}) == len(entries), entries
                            ids = [int(line.rsplit("#", 1)[1]) for line in entries]
                            assert all(catalog.get(i) is not None for i in ids)
                            seen_ids.update(ids)
                            numbers = [label.removeprefix("🚫 ") for label in labels(ann, "v:")]
                            assert numbers == [str(n) for n in range(1, len(entries) + 1)]
                            assert "$" in text
                            if "Next ▶" not in [label for row in ann.last_buttons for label, _ in row]:
                                break
                            await bot.press(ann, "Next ▶")
        # Every service of the catalog was on some page.
        assert seen_ids == {s.id for s in catalog}
        assert longest < MAX_TEXT // 2  # 8 a page leaves room: the longest real page is ~1,450
