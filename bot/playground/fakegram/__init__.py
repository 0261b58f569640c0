"""Fake Telegram Bot API transport: run a real PTB Application against in-memory state.

``FakeTelegram`` (the Bot API and its users), ``FakeRequest`` (the PTB transport) and
``FakeUser`` (a user's side of the chat); ``FakeBotApiServer`` (http.py) serves it over HTTP.
"""

from bot.playground.fakegram.chats import FakeChat, FakeMessage
from bot.playground.fakegram.client import FakeUser
from bot.playground.fakegram.html import (
    HtmlParseError,
    ParsedText,
    parse_html,
    utf16_len,
)
from bot.playground.fakegram.request import FakeRequest, parse_bot_url
from bot.playground.fakegram.server import BotApi
from bot.playground.fakegram.telegram import FakeTelegram
from bot.playground.fakegram.wire import ApiCall, ApiError

__all__ = [
    "ApiCall",
    "ApiError",
    "BotApi",
    "FakeChat",
    "FakeMessage",
    "FakeRequest",
    "FakeTelegram",
    "FakeUser",
    "HtmlParseError",
    "ParsedText",
    "parse_bot_url",
    "parse_html",
    "utf16_len",
]
