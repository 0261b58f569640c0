"""The bot's Telegram profile, set at start-up: description and short description per language,
the command menus, and the menu button; only what changed, and never at the cost of starting."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest
from telegram.error import TimedOut

from bot.playground.fakegram import utf16_len
from bot.handlers import profile
from bot.handlers.profile import (
    DESCRIPTION_LIMIT,
    SHORT_DESCRIPTION_LIMIT,
    description,
    short_description,
)
from bot.i18n import I18n, available_locales
from tests.harness import PG_URL, World, world

DATABASES = ["sqlite", pytest.param("postgresql", marks=pytest.mark.skipif(not PG_URL, reason="TEST_DATABASE_URL not set"))]

# Telegram's two-letter codes of our catalogs (pt_BR is "pt"), and "" for everyone else.
LANGUAGES = {code.split("_")[0] for code in available_locales()} | {""}
SETTERS = ("setMyCommands", "setMyDescription", "setMyShortDescription", "setChatMenuButton")


def set_calls(bot: World) -> list[tuple[str, str | None]]:
    return [(c.method, c.params.get("language_code")) for c in bot.fake.calls
            if c.method in SETTERS]


async def test_description_and_short_description_are_set_in_every_language(tmp_path: Path) -> None:
    async with world(tmp_path) as bot:
        assert set(bot.fake.descriptions) == LANGUAGES
        assert set(bot.fake.short_descriptions) == LANGUAGES
        english = bot.fake.visible_description("en")
        assert "followers, likes, views" in english and english.endswith("Press Start to begin.")
        assert "SMM panel" in bot.fake.visible_short_description("en")
        # A Russian speaker sees the Russian catalog's texts; anyone else sees English.
        assert bot.fake.visible_description("ru") == description(I18n("ru"))
        assert bot.fake.visible_short_description("ru") == short_description(I18n("ru"))
        assert bot.fake.visible_description("pt-br") == description(I18n("pt_BR"))
        assert bot.fake.visible_description("de") == english


async def test_the_menu_button_shows_the_commands(tmp_path: Path) -> None:
    async with world(tmp_path) as bot:
        ann = bot.user(1001)
        await bot.send(ann, "/start")
        assert bot.fake.menu_button() == {"type": "commands"}
        assert bot.fake.menu_button(ann.id) == {"type": "commands"}
        assert bot.fake.visible_commands("en", chat_id=ann.id)


@pytest.mark.parametrize("db", DATABASES)
async def test_a_restart_that_changed_nothing_sets_nothing(tmp_path: Path, db: str) -> None:
    async with world(tmp_path, db=db) as bot:
        assert len(set_calls(bot)) == 3 * len(LANGUAGES) + 1  # the first start sets everything
        bot.fake.reset_calls()
        await bot.restart()
        assert set_calls(bot) == []
        # It did look: each language's texts and commands, and the menu button.
        assert len(bot.fake.calls_to("getMyDescription")) == len(LANGUAGES)
        assert len(bot.fake.calls_to("getMyShortDescription")) == len(LANGUAGES)
        assert len(bot.fake.calls_to("getMyCommands")) == len(LANGUAGES)
        assert len(bot.fake.calls_to("getChatMenuButton")) == 1


async def test_a_restart_sets_only_what_differs(tmp_path: Path) -> None:
    async with world(tmp_path) as bot:
        russian = bot.fake.descriptions["ru"]
        # Changed by hand in BotFather, or an older release's texts.
        await bot.fake.call("setMyDescription", {"description": "Старое описание", "language_code": "ru"})
        await bot.fake.call("setMyShortDescription", {"short_description": ""})
        await bot.fake.call("setMyCommands", {"commands": [{"command": "order", "description": "viejo"}],
                                              "language_code": "es"})
        await bot.fake.call("setChatMenuButton", {"menu_button": {"type": "default"}})
        assert bot.fake.descriptions["ru"] == "Старое описание" and "" not in bot.fake.short_descriptions
        bot.fake.reset_calls()
        await bot.restart()
        assert sorted(set_calls(bot), key=str) == sorted(
            [("setMyDescription", "ru"), ("setMyShortDescription", None), ("setMyCommands", "es"),
             ("setChatMenuButton", None)], key=str)
        assert bot.fake.descriptions["ru"] == russian
        assert bot.fake.menu_button() == {"type": "commands"}


async def test_a_refused_text_is_skipped_and_the_rest_still_set(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    async with world(tmp_path) as bot:
        bot.fake.descriptions.clear()
        bot.fake.short_descriptions.clear()
        bot.fake.inject_error("setMyDescription", 400, "Bad Request: description is too long")
        with caplog.at_level(logging.WARNING, logger="bot.handlers.profile"):
            await bot.restart()
        assert "description (en) not set: Description is too long" in caplog.text
        assert set(bot.fake.descriptions) == LANGUAGES - {"en"}
        assert set(bot.fake.short_descriptions) == LANGUAGES
        ann = bot.user(1001)
        await bot.send(ann, "/start")
        assert "link your panel" in ann.last_text
        # The next start sets what was missing.
        bot.fake.reset_calls()
        await bot.restart()
        assert set_calls(bot) == [("setMyDescription", "en")]


@pytest.mark.parametrize("failure", ["timeout", "flood"])
async def test_an_unreachable_or_flooded_telegram_does_not_stop_the_bot(
    tmp_path: Path, caplog: pytest.LogCaptureFixture, failure: str
) -> None:
    async with world(tmp_path) as bot:
        bot.fake.descriptions.clear()
        bot.fake.short_descriptions.clear()
        if failure == "timeout":
            bot.fake.fail_transport("getMyDescription", TimedOut())
        else:
            bot.fake.fail_next("setMyShortDescription", retry_after=3600)
        bot.fake.reset_calls()
        with caplog.at_level(logging.WARNING, logger="bot.handlers.profile"):
            await bot.restart()
        assert "the rest is tried at the next start" in caplog.text
        # It stopped asking at the first such failure: no call piling on a Telegram in trouble.
        # (English goes first: commands, description, short description; the menu button last.)
        assert [c for c in bot.fake.calls if c.params.get("language_code") not in (None, "en")] == []
        assert bot.fake.calls_to("getChatMenuButton") == []
        ann = bot.user(1001)
        await bot.send(ann, "/start")
        assert "link your panel" in ann.last_text
        await bot.restart()
        assert set(bot.fake.descriptions) == set(bot.fake.short_descriptions) == LANGUAGES


async def test_a_profile_that_takes_too_long_is_left_for_the_next_start(
    tmp_path: Path, caplog: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch
) -> None:
    async with world(tmp_path) as bot:
        bot.fake.descriptions.clear()
        monkeypatch.setattr(profile, "PROFILE_SECONDS", 0.0)
        with caplog.at_level(logging.WARNING, logger="bot.handlers.profile"):
            await bot.restart()
        assert "Telegram profile: not done after 0 s" in caplog.text
        assert bot.fake.descriptions == {}
        ann = bot.user(1001)
        await bot.send(ann, "/start")
        assert "link your panel" in ann.last_text


@pytest.mark.parametrize("locale", available_locales())
def test_every_translation_fits_telegrams_limits(locale: str) -> None:
    t = I18n(locale)
    for text, limit in ((description(t), DESCRIPTION_LIMIT), (short_description(t), SHORT_DESCRIPTION_LIMIT)):
        assert text.strip(), locale
        # Counted in UTF-16 units, the stricter count: an emoji is two.
        assert utf16_len(text) <= limit, f"{locale}: {utf16_len(text)} > {limit}: {text!r}"
        # Telegram drops control characters: a text carrying one would differ at every start.
        assert all(ch == "\n" or ord(ch) >= 32 for ch in text), locale


async def test_each_mode_lists_its_own_commands_and_a_shop_describes_itself_as_one(tmp_path: Path) -> None:
    from tests.harness import KEY

    async with world(tmp_path) as bot:
        own = [c["command"] for c in bot.fake.visible_commands("en", chat_id=1001)]
        assert "connect" in own and "topup" not in own and "wallet" not in own
    async with world(tmp_path / "team", panel_key=KEY, allowed_users="1001") as bot:
        team = [c["command"] for c in bot.fake.visible_commands("en", chat_id=1001)]
        assert "connect" not in team and "topup" not in team
    async with world(tmp_path / "shop", mode="shop", panel_key=KEY, stars_per_unit="50") as bot:
        shop = {c["command"]: c["description"] for c in bot.fake.visible_commands("en", chat_id=1001)}
        assert "connect" not in shop and "topup" in shop and "wallet" in shop
        assert shop["balance"] == "Your wallet"
        assert "panel" not in bot.fake.visible_short_description("en").lower()
        assert "Stars" in bot.fake.visible_description("en")
        ann = bot.user(1001)
        await bot.send(ann, "/help")
        assert "/topup" in ann.last_text and "/connect" not in ann.last_text and "SMM panel" not in ann.last_text
