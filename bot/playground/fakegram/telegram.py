"""``FakeTelegram``: the in-memory Bot API together with the people who talk to the bot,
and a PTB ``ApplicationBuilder`` wired to it."""

from __future__ import annotations

from functools import cached_property
from typing import Any

from telegram.ext import ApplicationBuilder

from bot.playground.fakegram.chats import FakeChat
from bot.playground.fakegram.client import FakeUser
from bot.playground.fakegram.request import FakeRequest
from bot.playground.fakegram.server import BotApi

__all__ = ["FakeTelegram"]


class FakeTelegram(BotApi):
    """One bot's Telegram: its Bot API (``BotApi``, which knows chats, not people) and the
    users who talk to the bot."""

    @cached_property
    def users(self) -> dict[int, FakeUser]:
        """The users ``user()`` made, by id."""
        return {}

    def user(
        self,
        user_id: int,
        first_name: str = "Ann",
        language_code: str | None = "en",
        *,
        username: str | None = None,
        last_name: str | None = None,
    ) -> FakeUser:
        """Get or create a user (and their private chat with the bot)."""
        existing = self.users.get(user_id)
        if existing is not None:
            return existing
        created = FakeUser(
            self,
            user_id,
            first_name=first_name,
            language_code=language_code,
            username=username,
            last_name=last_name,
        )
        self.users[user_id] = created
        self.chats[user_id] = FakeChat(
            id=user_id, first_name=first_name, username=username, last_name=last_name
        )
        return created

    def application_builder(
        self, token: str | None = None
    ) -> ApplicationBuilder[Any, Any, Any, Any, Any, Any]:
        """A PTB ``ApplicationBuilder`` wired to this fake (token defaults to the fake's)."""
        token = token or self.token or "123456:FAKE-TOKEN"
        return (
            ApplicationBuilder()
            .token(token)
            .request(FakeRequest(self))
            .get_updates_request(FakeRequest(self))
        )
