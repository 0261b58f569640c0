"""/order starts with what the user ordered lately (up to three services, newest first),
listed in the message so that look-alikes read apart, one tap to a new order with the last
details, then the platforms."""

from __future__ import annotations

from pathlib import Path

import pytest

from bot.i18n import I18n
from tests.harness import PG_URL, world
from tests.test_watching import place

DATA = Path(__file__).parent / "data"
DATABASES = ["sqlite", pytest.param("postgresql", marks=pytest.mark.skipif(not PG_URL, reason="TEST_DATABASE_URL not set"))]


def again(labels: list[list[tuple[str, str | None]]]) -> list[tuple[str, str | None]]:
    return [(label, data) for row in labels for label, data in row if label.startswith("🔁")]


@pytest.mark.parametrize("db", DATABASES)
async def test_order_starts_with_the_services_ordered_lately_newest_first_each_once(tmp_path: Path, db: str) -> None:
    async with world(tmp_path, db=db, balance="1000") as bot:
        ann = await bot.linked_user()
        await bot.send(ann, "/order")
        assert "order again" not in ann.last_text and not again(ann.last_buttons)  # nothing ordered yet
        for n, service_id in enumerate((1011, 1012, 1011, 1013, 1014)):
            await place(bot, ann, service_id, link=f"https://instagram.com/user{n}", quantity="100")
        await bot.send(ann, "/order")
        text = ann.last_text
        assert "Or order again what you ordered lately, with the same details:" in text
        lines = [line for line in text.splitlines() if line.startswith("🔁")]
        assert [line.split(" #")[-1].split(" ")[0] for line in lines] == ["1014", "1013", "1011"]
        assert lines[0].startswith("🔁 1. Instagram Followers 🇺🇸 USA") and lines[0].endswith("· $6.80")
        buttons = again(ann.last_buttons)
        assert [label for label, _ in buttons] == ["🔁 1", "🔁 2", "🔁 3"]
        assert all(data and data.startswith("a:") for _, data in buttons)
        # The platforms follow.
        assert any(data.startswith("c:") for row in ann.last_buttons for _, data in row if data)


@pytest.mark.parametrize("db", DATABASES)
async def test_one_tap_orders_again_with_the_last_details(tmp_path: Path, db: str) -> None:
    async with world(tmp_path, db=db, balance="1000") as bot:
        ann = await bot.linked_user()
        await place(bot, ann, 1012, link="https://instagram.com/nasa", quantity="200")
        await bot.send(ann, "/order")
        await bot.press(ann, "🔁 1")
        assert "Check your order" in ann.last_text
        assert "https://instagram.com/nasa" in ann.last_text and "200" in ann.last_text


async def test_look_alike_services_ordered_lately_read_apart(tmp_path: Path) -> None:
    # A real catalog's run: the same first 80 characters, "30 Days ♻️" / "365 Days ♻️" /
    # "No Refill ⚠️" in the middle, the same end.
    async with world(tmp_path, catalog=DATA / "vtechsmm-services.json", balance="100000") as bot:
        ann = await bot.linked_user()
        for service_id in (8622, 8623, 8624):
            await place(bot, ann, service_id, link="https://facebook.com/nasa", quantity="10")
        await bot.send(ann, "/order")
        lines = [line for line in ann.last_text.splitlines() if line.startswith("🔁")]
        assert len(lines) == 3 and len({line.split(" · $")[0] for line in lines}) == 3
        assert "365 Days ♻️" in lines[0] and "30 Days ♻️" in lines[1] and "No Refill ⚠️" in lines[2]
        await bot.press(ann, "🔁 3")
        assert "Check your order" in ann.last_text and "No Refill ⚠️" in ann.last_text


async def test_recent_services_are_in_the_users_language(tmp_path: Path) -> None:
    t = I18n("ru")
    async with world(tmp_path, balance="1000") as bot:
        ann = await bot.linked_user()
        await place(bot, ann, 1012, quantity="100")
        assert bot.store is not None
        await bot.store.set_locale(ann.id, "ru")
        await bot.send(ann, "/order")
        assert t._("Or order again what you ordered lately, with the same details:") in ann.last_text
        assert t._("🛒 <b>New order</b>: choose a platform.").replace("<b>", "").replace("</b>", "") in ann.last_text
        line = next(line for line in ann.last_text.splitlines() if line.startswith("🔁"))
        assert line.endswith("· 2,45\xa0$"), line
