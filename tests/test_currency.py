"""Prices carry the account's currency on every catalog screen, in team mode too: the
team account is made before any balance is asked, so the catalog once showed "0.9 · …"
while /balance showed "$"."""

from __future__ import annotations

from pathlib import Path

from tests.harness import KEY, world


async def _first_service_line(bot, user) -> str:  # type: ignore[no-untyped-def]
    """The price line of the first service listed in the first category."""
    await bot.send(user, "/order")
    await bot.press(user, user.last_buttons[0][0][0])
    await bot.press(user, user.last_buttons[0][0][0])
    assert "choose a service" in user.last_text
    lines = user.last_text.splitlines()
    first = next(i for i, line in enumerate(lines) if line.startswith("1. "))
    return lines[first + 1].strip()


async def test_team_mode_catalog_prices_carry_the_currency_before_anyone_asked_the_balance(tmp_path: Path) -> None:
    async with world(tmp_path, panel_key=KEY, allowed_users="1001") as bot:
        member = bot.user(1001)
        await bot.send(member, "/start")
        assert (await _first_service_line(bot, member)).startswith("$0.90 · ")
        await bot.send(member, "/order 1011")
        assert "Rate per 1000: $0.90" in member.last_text
        await bot.send(member, "/search tiktok views")
        prices = [line.strip() for line in member.last_text.splitlines() if line.startswith("    ")]
        assert prices and all(line.startswith("$") for line in prices)


async def test_team_mode_catalog_shows_plain_prices_when_the_panel_cannot_say_its_currency(tmp_path: Path) -> None:
    async with world(tmp_path, panel_key=KEY, allowed_users="1001") as bot:
        bot.sandbox.faults.set("balance", http_status=502)
        member = bot.user(1001)
        await bot.send(member, "/start")
        # The catalog still shows, without a symbol.
        assert (await _first_service_line(bot, member)).startswith("0.9 · ")
        bot.sandbox.faults.clear()
        await bot.send(member, "/balance")
        assert (await _first_service_line(bot, member)).startswith("$0.90 · ")


async def test_the_currency_is_stored_once_learnt(tmp_path: Path) -> None:
    async with world(tmp_path, panel_key=KEY, allowed_users="1001") as bot:
        member = bot.user(1001)
        await bot.send(member, "/order 1011")
        assert bot.store is not None
        account = await bot.store.account_for(None, bot.sandbox.url)
        assert account is not None and account.currency == "USD"
