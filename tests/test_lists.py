"""Lists you can tell apart: real catalogs have runs of services whose names share their
first 60 characters and differ only at the end ("… No Refill", "… 30 Days ♻️",
"… Lifetime ♻️"), so a page lists its services in the message (number, name, id, price,
marks, min–max) with short numbered buttons, within Telegram's limits."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from bot.handlers.browse import LISTED_NAME, LISTED_NAME_MAX, listed_name, listed_names
from bot.views.markup import MAX_TEXT, PAGE_SIZE
from bot.panel.catalog import Catalog, parse_services
from tests.harness import world

DATA = Path(__file__).resolve().parent / "data"
CATALOGS = sorted(p.name for p in DATA.glob("*-services.json"))


def test_a_long_name_keeps_its_start_and_its_distinguishing_end() -> None:
    base = "Facebook Followers [ Worldwide 🌎 ] [ Max 5M ] | HQ Accounts | Instant Start | Speed 50K/Day | "
    names = [base + end for end in ("No Refill", "30 Days ♻️", "365 Days ♻️", "Lifetime ♻️")]
    shown = [listed_name(name * 1) for name in names]
    assert all(len(s) <= LISTED_NAME for s in shown)
    assert len(set(shown)) == 4
    assert all(s.startswith("Facebook Followers") for s in shown)
    assert listed_name("Short name") == "Short name"
    # Two names that differ only in the middle are shown whole rather than alike.
    middle = ["A" * 100 + " Drop 0-3% " + "B" * 60, "A" * 100 + " Drop 0-9% " + "B" * 60, "Other"]
    shown = listed_names(middle)
    assert len(set(shown)) == 3 and shown[:2] == middle[:2] and all(len(s) <= LISTED_NAME_MAX for s in shown)


@pytest.mark.parametrize("catalog_file", CATALOGS)
def test_every_page_of_every_real_catalog_tells_its_services_apart_within_telegrams_limit(catalog_file: str) -> None:
    catalog = Catalog(parse_services(json.loads((DATA / catalog_file).read_text())))
    pages = 0
    for category in catalog.categories:
        items = catalog.in_category(category)
        for start in range(0, len(items), PAGE_SIZE):
            page = items[start:start + PAGE_SIZE]
            pages += 1
            full = [s.name for s in page]
            shown = listed_names(full)
            # Names that differ are shown differently.
            assert len(set(shown)) == len(set(full)), (category, shown)
            # What a page can cost at most: header (category clipped to 200) + each line with
            # its id, price, min–max and marks (generous widths), far below 4,096.
            worst = 260 + sum(len(f"{i}. {name} #{s.id}\n    ") + 90 for i, (s, name) in enumerate(zip(page, shown), 1))
            assert worst < MAX_TEXT
    assert pages > 50


async def test_look_alike_services_on_one_page_are_told_apart_by_the_text_and_numbered_buttons(tmp_path: Path) -> None:
    async with world(tmp_path, catalog=DATA / "vtechsmm-services.json", balance="1000") as bot:
        ann = await bot.linked_user()
        await bot.send(ann, "facebook live stream views concurrent")
        text = ann.last_text
        entries = [line for line in text.splitlines() if line[:1].isdigit() and ". " in line]
        assert len(entries) >= 4
        names = [line.split(". ", 1)[1] for line in entries]
        assert len(set(names)) == len(names)
        prefixes = {name[:60] for name in names}
        assert len(prefixes) < len(names)  # the catalog's look-alikes are on this page...
        numbers = [label for row in ann.last_buttons for label, data in row if data and data.startswith("v:")]
        assert numbers == [str(i) for i in range(1, len(entries) + 1)]  # ...with short numbered buttons
        await bot.press(ann, "2")
        assert "Rate per 1000" in ann.last_text and names[1].split(" #")[-1].rstrip() in ann.last_text


async def test_the_list_shows_price_limits_and_refill_cancel_marks_in_the_users_language(tmp_path: Path) -> None:
    async with world(tmp_path) as bot:
        ann = await bot.linked_user()
        await bot.send(ann, "/search instagram followers")
        lines = ann.last_text.splitlines()
        first = next(i for i, line in enumerate(lines) if line.startswith("1. "))
        assert "#1011" in lines[first]
        assert lines[first + 1].strip().startswith("$0.90 · 50–50,000") and "♻️ refill" in lines[first + 1]
        ru = await bot.linked_user(1002, language_code="ru")
        await bot.send(ru, "/search instagram followers")
        lines = ru.last_text.splitlines()
        first = next(i for i, line in enumerate(lines) if line.startswith("1. "))
        assert "50–50\xa0000" in lines[first + 1]
