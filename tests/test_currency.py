"""Prices carry the account's currency on every catalog screen, in team mode too: the
team account is made before any balance is asked, so the catalog once showed "0.9 · …"
while /balance showed "$"."""

from __future__ import annotations

from pathlib import Path

from tests.harness import KEY, world


async def _first_service_buttons(bot, user) -> list[str]:  # type: ignore[no-untyped-def]
    await bot.send(user, "/order")
    await bot.press(user, user.last_buttons[0][0][0])
    await bot.press(user, user.last_buttons[0][0][0])
    assert "choose a service" in user.last_text
    return [label for row in user.last_buttons for label, _data in row]


async def test_team_mode_catalog_prices_carry_the_currency_before_anyone_asked_the_balance(tmp_path: Path) -> None:
    async with world(tmp_path, panel_key=KEY, allowed_users="1001") as bot:
        member = bot.user(1001)
        await bot.send(member, "/start")
        labels = await _first_service_buttons(bot, member)
        assert labels[0].startswith("$0.90 · "), labels
        await bot.send(member, "/order 1011")
        assert "Rate per 1000: $0.90" in member.last_text
        await bot.send(member, "/search tiktok views")
        assert all(label.startswith("$") for row in member.last_buttons[:-1] for label, _ in row if "·" in label)


async def test_team_mode_catalog_shows_plain_prices_when_the_panel_cannot_say_its_currency(tmp_path: Path) -> None:
    async with world(tmp_path, panel_key=KEY, allowed_users="1001") as bot:
        bot.sandbox.faults.set("balance", http_status=502)
        member = bot.user(1001)
        await bot.send(member, "/start")
        labels = await _first_service_buttons(bot, member)
        assert labels[0].startswith("0.9 · "), labels  # the catalog still shows, without a symbol
        bot.sandbox.faults.clear()
        await bot.send(member, "/balance")
        labels = await _first_service_buttons(bot, member)
        assert labels[0].startswith("$0.90 · "), labels


async def test_the_currency_is_stored_once_learnt(tmp_path: Path) -> None:
    async with world(tmp_path, panel_key=KEY, allowed_users="1001") as bot:
        member = bot.user(1001)
        await bot.send(member, "/order 1011")
        assert bot.store is not None
        account = await bot.store.account_for(None, bot.sandbox.url)
        assert account is not None and account.currency == "USD"
