"""The Bot API of one bot, in memory: the method table, one call in and Telegram's answer
out (status + JSON body), and the knobs tests set and the state they read."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from typing import Any

from bot.playground.fakegram.chats import FakeChat, FakeMessage
from bot.playground.fakegram.documents import Documents
from bot.playground.fakegram.faults import Faults
from bot.playground.fakegram.keyboards import answer_callback_query
from bot.playground.fakegram.messages import Messages
from bot.playground.fakegram.payments import Payments
from bot.playground.fakegram.profile import BotProfile
from bot.playground.fakegram.updates import UpdateQueue
from bot.playground.fakegram.wire import ApiCall, ApiError, JSONDict

__all__ = ["BotApi"]

_LOGGER = logging.getLogger(__name__)

# A Bot API method: the request's parameters in, the answer's `result` out.
Method = Callable[[JSONDict], Any]


class BotApi:
    """The Bot API of a single bot: its chats and messages (messages.py), its profile
    (profile.py), the updates waiting for it (updates.py); plus knobs to make it misbehave
    (faults.py, and the flood model of limits.py).

    Attributes tests typically read: ``calls`` (every request), ``chats``, ``payments``,
    ``callback_queries``, ``commands``, ``descriptions``, ``short_descriptions``,
    ``menu_buttons``, ``count_429``, ``webhook_url``.
    """

    def __init__(
        self,
        token: str | None = None,
        *,
        bot_username: str = "fakegram_bot",
        bot_first_name: str = "Fakegram Bot",
        strict_html: bool = True,
        enforce_flood_limits: bool = False,
        clock: Callable[[], float] = time.monotonic,
        wall_clock: Callable[[], float] = time.time,
    ) -> None:
        self.token: str | None = token
        self.bot_id: int = self._bot_id_from(token) if token else 0
        self.bot_username = bot_username
        self.bot_first_name = bot_first_name
        self.strict_html = strict_html
        self.clock = clock
        self.wall_clock = wall_clock

        # The flood model's limits (limits.py), off unless asked for.
        self.enforce_flood_limits = enforce_flood_limits
        self.flood_window: float = 1.0
        self.flood_global_per_second: float = 30.0
        self.flood_per_chat_per_second: float = 1.0
        self.flood_per_chat_burst: int = 3

        self.calls: list[ApiCall] = []
        self.count_429: int = 0  # answers of 429, from the flood model or injected
        self.callback_queries: dict[str, JSONDict] = {}
        self.closed: bool = False
        self._next_query_id = 1
        self._messages = Messages(self)
        self._profile = BotProfile(is_user=self._messages.is_user)
        self.payments = Payments(self._messages, self.bot_user, clock)
        self.documents = Documents(self._messages, self.bot_user)
        self._updates = UpdateQueue(clock)
        self._faults = Faults()
        self._methods = self._method_table()

    # ------------------------------------------------------------------ identity

    @staticmethod
    def _bot_id_from(token: str) -> int:
        head = token.split(":", 1)[0]
        return int(head) if head.isdigit() else 1

    def bot_user(self) -> JSONDict:
        return {
            "id": self.bot_id,
            "is_bot": True,
            "first_name": self.bot_first_name,
            "username": self.bot_username,
        }

    # ------------------------------------------------------------------ state tests read

    @property
    def chats(self) -> dict[int, FakeChat]:
        return self._messages.chats

    @property
    def changes(self) -> list[tuple[int, int, str]]:
        """``(chat_id, message_id, kind)`` in order: how the client tells what a handler produced."""
        return self._messages.changes

    @property
    def commands(self) -> dict[tuple[str, str], list[JSONDict]]:
        """By (scope as JSON, language code) as setMyCommands keeps them."""
        return self._profile.commands

    @property
    def descriptions(self) -> dict[str, str]:
        return self._profile.descriptions

    @property
    def short_descriptions(self) -> dict[str, str]:
        return self._profile.short_descriptions

    @property
    def menu_buttons(self) -> dict[int | None, JSONDict]:
        return self._profile.menu_buttons

    @property
    def webhook_url(self) -> str:
        return self._updates.webhook_url

    @property
    def pending_updates(self) -> list[JSONDict]:
        return self._updates.pending

    # ------------------------------------------------------------------ test knobs

    def group(self, chat_id: int, title: str = "Team chat", *, supergroup: bool = False) -> FakeChat:
        """Get or create a group chat the bot is a member of (``chat_id`` negative)."""
        existing = self.chats.get(chat_id)
        if existing is not None:
            return existing
        chat = FakeChat(id=chat_id, first_name=title, type="supergroup" if supergroup else "group")
        self.chats[chat_id] = chat
        return chat

    def block(self, user_id: int) -> None:
        """The user blocks the bot: sends to them now fail with 403."""
        self._messages.chat(user_id).blocked = True

    def unblock(self, user_id: int) -> None:
        self._messages.chat(user_id).blocked = False

    def fail_next(self, method: str, retry_after: int = 1, count: int = 1) -> None:
        """Make the next ``count`` calls of ``method`` ("*" = any) fail with 429."""
        self.inject_error(
            method,
            429,
            f"Too Many Requests: retry after {retry_after}",
            parameters={"retry_after": retry_after},
            count=count,
        )

    def inject_error(
        self,
        method: str,
        status: int,
        description: str,
        *,
        parameters: JSONDict | None = None,
        count: int = 1,
    ) -> None:
        """Make the next ``count`` calls of ``method`` ("*" = any) fail with this error."""
        self._faults.add_error(method, ApiError(status, description, parameters), count)

    def fail_transport(self, method: str, error: BaseException, *, delivered: bool = False, count: int = 1) -> None:
        """Make the next ``count`` calls of ``method`` ("*" = any) raise ``error`` in the bot's
        transport (``FakeRequest``), as a network or a library would. With ``delivered`` the
        call is handled first and only its answer is lost: a ``TimedOut`` after Telegram
        delivered the message."""
        self._faults.add_transport(method, error, delivered, count)

    def take_transport_fault(self, method: str) -> tuple[BaseException, bool] | None:
        """The transport fault for this call, if one is set: ``(error, delivered)``."""
        return self._faults.take_transport(method)

    def push_update(self, update: JSONDict) -> JSONDict:
        """Queue an update for getUpdates (assigns ``update_id`` if missing); thread-safe."""
        return self._updates.push(update)

    def next_update_id(self) -> int:
        return self._updates.next_update_id()

    def next_query_id(self) -> str:
        query_id = self._next_query_id
        self._next_query_id += 1
        return f"{self.bot_id or 1}{query_id:08d}"

    def add_user_message(
        self, sender: JSONDict, text: str, entities: list[JSONDict], *, chat_id: int | None = None
    ) -> FakeMessage:
        """Store a message the user ``sender`` sent (used by the client driver); in their
        private chat unless ``chat_id`` names a group."""
        return self._messages.add_user_message(sender, text, entities, chat_id=chat_id)

    def edit_user_message(self, chat_id: int, message_id: int, text: str) -> FakeMessage:
        """The user edits a message they sent (used by the client driver)."""
        return self._messages.edit_user_message(chat_id, message_id, text)

    # ------------------------------------------------------------------ inspection

    def calls_to(self, method: str) -> list[ApiCall]:
        return [c for c in self.calls if c.method.lower() == method.lower()]

    def last_call(self, method: str | None = None) -> ApiCall | None:
        calls = self.calls_to(method) if method else self.calls
        return calls[-1] if calls else None

    def reset_calls(self) -> None:
        self.calls.clear()

    def messages(
        self, chat_id: int, *, from_bot: bool | None = True, include_deleted: bool = False
    ) -> list[FakeMessage]:
        chat = self.chats.get(chat_id)
        if chat is None:
            return []
        return [
            m
            for m in chat.messages.values()
            if (include_deleted or not m.deleted) and (from_bot is None or m.from_bot == from_bot)
        ]

    def message(self, chat_id: int, message_id: int) -> FakeMessage | None:
        chat = self.chats.get(chat_id)
        return chat.messages.get(message_id) if chat else None

    def get_commands(self, language_code: str = "", scope: JSONDict | None = None) -> list[JSONDict]:
        """Exactly what getMyCommands would return for this scope/language (no fallback)."""
        return self._profile.get_commands(language_code, scope)

    def visible_commands(self, language_code: str | None, chat_id: int | None = None) -> list[JSONDict]:
        """What a private-chat user sees, in Telegram's documented order: chat scope,
        all_private_chats, default; each with the user's language first, then without."""
        return self._profile.visible_commands(language_code, chat_id)

    def visible_description(self, language_code: str | None) -> str:
        """The description a user with this language sees in the empty chat."""
        return self._profile.visible_description(language_code)

    def visible_short_description(self, language_code: str | None) -> str:
        """The short description on the bot's profile for a user with this language."""
        return self._profile.visible_short_description(language_code)

    def menu_button(self, chat_id: int | None = None) -> JSONDict:
        """What getChatMenuButton returns: the chat's own button, else the default one."""
        return self._profile.menu_button(chat_id)

    # ------------------------------------------------------------------ dispatch

    async def call(
        self, method: str, params: JSONDict | None = None, *, token: str | None = None
    ) -> tuple[int, JSONDict]:
        """Handle one Bot API request; returns ``(http_status, json_body)``."""
        params = dict(params or {})
        if token is not None:
            if self.token is None:
                # First token seen wins, so any ApplicationBuilder().token(...) just works.
                self.token = token
                self.bot_id = self._bot_id_from(token)
            elif token != self.token:
                body: JSONDict = {"ok": False, "error_code": 401, "description": "Unauthorized"}
                self._record(method, params, 401, body)
                return 401, body
        try:
            result = await self._dispatch(method, params)
        except ApiError as exc:
            if exc.status == 429:
                self.count_429 += 1
            body = exc.payload()
            self._record(method, params, exc.status, body)
            return exc.status, body
        body = {"ok": True, "result": result}
        self._record(method, params, 200, body)
        return 200, body

    def _record(self, method: str, params: JSONDict, status: int, body: JSONDict) -> None:
        self.calls.append(ApiCall(method, params, status, body, self.clock()))
        if status != 200 and method.lower() != "getupdates":
            _LOGGER.info("fakegram %s -> %s %s", method, status, body.get("description"))

    async def _dispatch(self, method: str, params: JSONDict) -> Any:
        name = method.lower()
        self._faults.raise_error(name)
        if name == "getupdates":
            return await self._updates.get_updates(params)
        handler = self._methods.get(name)
        if handler is None:
            _LOGGER.warning(
                "fakegram: Bot API method %r is not implemented in the fake (params=%r)",
                method,
                params,
            )
            raise ApiError.bad_request(f"method not implemented in fake: {method}")
        return handler(params)

    def _method_table(self) -> dict[str, Method]:
        """The methods the fake implements, by lower-case name (getUpdates, the one that
        waits, is dispatched on its own)."""
        messages, profile, updates = self._messages, self._profile, self._updates
        return {
            "getme": self._get_me,
            "sendmessage": messages.send_message,
            "editmessagetext": messages.edit_message_text,
            "editmessagereplymarkup": messages.edit_message_reply_markup,
            "deletemessage": messages.delete_message,
            "sendchataction": messages.send_chat_action,
            "answercallbackquery": self._answer_callback_query,
            "sendinvoice": self.payments.send_invoice,
            "answerprecheckoutquery": self.payments.answer_pre_checkout_query,
            "refundstarpayment": self.payments.refund_star_payment,
            "senddocument": self.documents.send_document,
            "setmycommands": profile.set_my_commands,
            "getmycommands": profile.get_my_commands,
            "deletemycommands": profile.delete_my_commands,
            "setmydescription": profile.set_my_description,
            "getmydescription": profile.get_my_description,
            "setmyshortdescription": profile.set_my_short_description,
            "getmyshortdescription": profile.get_my_short_description,
            "setchatmenubutton": profile.set_chat_menu_button,
            "getchatmenubutton": profile.get_chat_menu_button,
            "deletewebhook": updates.delete_webhook,
            "setwebhook": updates.set_webhook,
            "getwebhookinfo": updates.get_webhook_info,
            "close": self._close,
            "logout": self._close,
        }

    # ------------------------------------------------------------------ methods of its own

    def _get_me(self, params: JSONDict) -> JSONDict:
        return {
            **self.bot_user(),
            "can_join_groups": True,
            "can_read_all_group_messages": False,
            "supports_inline_queries": False,
            "can_connect_to_business": False,
            "has_main_web_app": False,
        }

    def _answer_callback_query(self, params: JSONDict) -> bool:
        return answer_callback_query(self.callback_queries, params)

    def _close(self, params: JSONDict) -> bool:
        self.closed = True
        return True
