"""/order starts with what the user ordered lately (up to three services, newest first),
one tap to a new order with the last details, then the platforms."""

from __future__ import annotations

from pathlib import Path

from tests.harness import world
from tests.test_watching import place


async def test_order_starts_with_the_services_ordered_lately_newest_first_each_once(tmp_path: Path) -> None:
    async with world(tmp_path, balance="1000") as bot:
        ann = await bot.linked_user()
        await bot.send(ann, "/order")
        assert "order again" not in ann.last_text  # nothing ordered yet: the platforms only
        for n, service_id in enumerate((1011, 1012, 1011, 1013, 1014)):
            await place(bot, ann, service_id, link=f"https://instagram.com/user{n}", quantity="100")
        await bot.send(ann, "/order")
        assert "Or order again what you ordered lately" in ann.last_text
        again = [(label, data) for row in ann.last_buttons for label, data in row if label.startswith("🔁")]
        assert len(again) == 3
        assert "Instagram Followers 🇺🇸 USA" in again[0][0]  # 1014, the newest
        assert again[0][0].startswith("🔁 $6.80 · ")
        assert all(data.startswith("a:") for _, data in again)
        # The platforms follow.
        assert any(data.startswith("c:") for row in ann.last_buttons for _, data in row if data)


async def test_one_tap_orders_again_with_the_last_details(tmp_path: Path) -> None:
    async with world(tmp_path, balance="1000") as bot:
        ann = await bot.linked_user()
        await place(bot, ann, 1012, link="https://instagram.com/nasa", quantity="200")
        await bot.send(ann, "/order")
        label = next(label for row in ann.last_buttons for label, _ in row if label.startswith("🔁"))
        await bot.press(ann, label)
        assert "Check your order" in ann.last_text
        assert "https://instagram.com/nasa" in ann.last_text and "200" in ann.last_text


async def test_recent_services_are_in_the_users_language(tmp_path: Path) -> None:
    async with world(tmp_path, balance="1000") as bot:
        ann = await bot.linked_user()
        await place(bot, ann, 1012, quantity="100")
        assert bot.store is not None
        await bot.store.set_locale(ann.id, "ru")
        await bot.send(ann, "/order")
        assert "Или закажите снова" in ann.last_text or "Or order again" not in ann.last_text
        label = next(label for row in ann.last_buttons for label, _ in row if label.startswith("🔁"))
        assert label.startswith("🔁 2,45\xa0$ · "), label
