"""Fake Telegram Bot API transport: run a real PTB Application against in-memory state.

See ``FakeTelegram`` (server state), ``FakeRequest`` (PTB transport) and ``FakeUser`` (driver).
"""

from bot.playground.fakegram.client import FakeUser
from bot.playground.fakegram.html import HtmlParseError, ParsedText, parse_html, utf16_len
from bot.playground.fakegram.request import FakeRequest, parse_bot_url
from bot.playground.fakegram.server import ApiCall, ApiError, FakeChat, FakeMessage, FakeTelegram

__all__ = [
    "ApiCall",
    "ApiError",
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
