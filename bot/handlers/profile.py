"""The bot's profile on Telegram, set at start-up: its command menu in every language."""

from __future__ import annotations

from telegram import Bot, BotCommand

from bot.handlers.common import command_descriptions
from bot.i18n import I18n, available_locales


async def register_profile(bot: Bot) -> None:
    """The command menu in every language we have (and the default without a language)."""
    for code in available_locales():
        commands = [BotCommand(name, text) for name, text in command_descriptions(I18n(code))]
        await bot.set_my_commands(commands, language_code=code.split("_")[0])
    default = [BotCommand(name, text) for name, text in command_descriptions(I18n("en"))]
    await bot.set_my_commands(default)
