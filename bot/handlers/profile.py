"""The bot's profile on Telegram, set at start-up: its command menu, description and short
description in every language, and the menu button that opens the commands.

Telegram rate-limits these calls, so each one is read first and set only when it differs: a
restart that changed nothing sends no set call. A failure never stops the bot; what was not set
is tried again at the next start."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from functools import partial

from telegram import Bot, BotCommand, MenuButtonCommands
from telegram.constants import BotDescriptionLimit, MenuButtonType
from telegram.error import BadRequest, TelegramError

from bot.handlers.common import command_descriptions
from bot.i18n import SOURCE_LOCALE, I18n, available_locales

log = logging.getLogger(__name__)

DESCRIPTION_LIMIT = int(BotDescriptionLimit.MAX_DESCRIPTION_LENGTH)  # 512
SHORT_DESCRIPTION_LIMIT = int(BotDescriptionLimit.MAX_SHORT_DESCRIPTION_LENGTH)  # 120
# With the process's rate limiter a flood answer is slept out and retried; the bot must not
# wait that long to start, so the whole profile gets this long and the rest waits for the
# next start.
PROFILE_SECONDS = 30.0


def description(t: I18n, mode: str = "own") -> str:
    """What people see in the empty chat before pressing Start (at most 512 characters)."""
    if mode == "shop":
        return t._(
            "I sell followers, likes, views and more right here in the chat. Top up your wallet with "
            "Telegram Stars, pick a service, send the link and the quantity, see the price and confirm.\n\n"
            "I message you when an order starts, completes or changes, and whatever an order does not "
            "deliver goes back to your wallet.\n\n"
            "Press Start to begin."
        )
    return t._(
        "I place orders on your SMM panel right here in the chat: followers, likes, views and more. "
        "Pick a service, send the link and the quantity, see the price and confirm.\n\n"
        "Check your balance and the status of your orders at any time, and I message you "
        "when an order starts, completes or changes.\n\n"
        "Press Start to begin."
    )


def short_description(t: I18n, mode: str = "own") -> str:
    """The line on the bot's profile page and in shared links (at most 120 characters)."""
    if mode == "shop":
        return t._("Followers, likes and views by chat, paid from a wallet you top up with Stars.")
    return t._("Order followers, likes and views from your SMM panel by chat, and hear when orders change.")


def profile_languages() -> dict[str, I18n]:
    """Telegram's two-letter language code -> our catalog; "" (everyone else) -> English."""
    languages: dict[str, I18n] = {}
    for code in available_locales():
        languages.setdefault(code.split("_")[0], I18n(code))
    languages[""] = I18n(SOURCE_LOCALE)
    return languages


async def register_profile(bot: Bot, mode: str = "own") -> None:
    """Commands, description and short description per language (as `mode` offers them:
    "own", "team" or "shop"), and the menu button."""
    try:
        async with asyncio.timeout(PROFILE_SECONDS):
            await _update_profile(bot, mode)
    except TimeoutError:
        log.warning("Telegram profile: not done after %.0f s; the rest is tried at the next start",
                    PROFILE_SECONDS)


async def _update_profile(bot: Bot, mode: str) -> None:
    steps: list[tuple[str, Callable[[], Awaitable[None]]]] = []
    for language, t in profile_languages().items():
        which = language or "default"
        steps += [
            (f"commands ({which})", partial(_commands, bot, language, t, mode)),
            (f"description ({which})", partial(_description, bot, language, t, mode)),
            (f"short description ({which})", partial(_short_description, bot, language, t, mode)),
        ]
    steps.append(("menu button", partial(_menu_button, bot)))
    for name, step in steps:
        try:
            await step()
        except BadRequest as exc:
            # Refused for this one item (a text Telegram will not take): the others still go.
            log.warning("Telegram profile: %s not set: %s", name, exc.message)
        except TelegramError as exc:
            # Unreachable or flood-limited: every further call would fare the same.
            log.warning("Telegram profile: %s failed (%s: %s); the rest is tried at the next start",
                        name, type(exc).__name__, exc.message)
            return


async def _commands(bot: Bot, language: str, t: I18n, mode: str) -> None:
    wanted = [BotCommand(name, text) for name, text in command_descriptions(t, mode)]
    current = await bot.get_my_commands(language_code=language or None)
    if [(c.command, c.description) for c in current] != [(c.command, c.description) for c in wanted]:
        await bot.set_my_commands(wanted, language_code=language or None)


async def _description(bot: Bot, language: str, t: I18n, mode: str) -> None:
    wanted = description(t, mode)
    current = await bot.get_my_description(language_code=language or None)
    if current.description != wanted:
        await bot.set_my_description(wanted, language_code=language or None)


async def _short_description(bot: Bot, language: str, t: I18n, mode: str) -> None:
    wanted = short_description(t, mode)
    current = await bot.get_my_short_description(language_code=language or None)
    if current.short_description != wanted:
        await bot.set_my_short_description(wanted, language_code=language or None)


async def _menu_button(bot: Bot) -> None:
    """The button next to the message field opens the command list (in every private chat
    that has no button of its own)."""
    current = await bot.get_chat_menu_button()
    if current.type != MenuButtonType.COMMANDS:
        await bot.set_chat_menu_button(menu_button=MenuButtonCommands())
