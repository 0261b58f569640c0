"""In-memory Bot API server for one bot: chats, messages, callback queries, commands, updates.

``FakeTelegram.call(method, params)`` answers exactly like Telegram would (status + JSON body).
"""

from __future__ import annotations

import asyncio
import copy
import json
import logging
import math
import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from bot.playground.fakegram.html import HtmlParseError, parse_html, utf16_len

if TYPE_CHECKING:
    from telegram.ext import ApplicationBuilder

    from bot.playground.fakegram.client import FakeUser

__all__ = [
    "ApiCall",
    "ApiError",
    "FakeChat",
    "FakeMessage",
    "FakeTelegram",
    "MAX_DESCRIPTION_LENGTH",
    "MAX_MESSAGE_LENGTH",
    "MAX_SHORT_DESCRIPTION_LENGTH",
]

_LOGGER = logging.getLogger(__name__)

JSONDict = dict[str, Any]

MAX_MESSAGE_LENGTH = 4096
MAX_CALLBACK_DATA_BYTES = 64
MAX_INLINE_BUTTONS = 100
MAX_INLINE_BUTTONS_PER_ROW = 8
MAX_CALLBACK_ANSWER_LENGTH = 200
MAX_DESCRIPTION_LENGTH = 512
MAX_SHORT_DESCRIPTION_LENGTH = 120
MENU_BUTTON_TYPES = frozenset({"commands", "web_app", "default"})

QUERY_INVALID = "query is too old and response timeout expired or query ID is invalid"
NOT_MODIFIED = (
    "message is not modified: specified new message content and reply markup are exactly "
    "the same as a content and reply markup of the current message"
)

# Methods counted by the optional flood model (roughly what Telegram throttles per chat).
FLOOD_METHODS = frozenset({"sendmessage", "editmessagetext", "editmessagereplymarkup"})

CHAT_ACTIONS = frozenset(
    {
        "typing", "upload_photo", "record_video", "upload_video", "record_voice",
        "upload_voice", "upload_document", "choose_sticker", "find_location",
        "record_video_note", "upload_video_note",
    }
)

_TRIM = " \t\r\n"



def json_copy(value: Any) -> Any:
    """A copy of JSON-shaped data (dicts, lists, scalars): what deepcopy gives, at a
    fraction of its cost, for the fake's every message."""
    if isinstance(value, dict):
        return {key: json_copy(item) for key, item in value.items()}
    if isinstance(value, list):
        return [json_copy(item) for item in value]
    return value

class ApiError(Exception):
    """A Bot API error reply; FakeTelegram turns it into ``{"ok": false, ...}``."""

    def __init__(
        self, status: int, description: str, parameters: JSONDict | None = None
    ) -> None:
        super().__init__(description)
        self.status = status
        self.description = description
        self.parameters = parameters

    @classmethod
    def bad_request(cls, text: str) -> ApiError:
        return cls(400, f"Bad Request: {text}")

    def payload(self) -> JSONDict:
        body: JSONDict = {"ok": False, "error_code": self.status, "description": self.description}
        if self.parameters:
            body["parameters"] = self.parameters
        return body


@dataclass
class ApiCall:
    """One request as the fake saw it; ``response`` is the JSON body that was returned."""

    method: str
    params: JSONDict
    status: int
    response: JSONDict
    at: float

    @property
    def ok(self) -> bool:
        return self.status == 200

    @property
    def result(self) -> Any:
        return self.response.get("result")

    @property
    def description(self) -> str | None:
        return self.response.get("description")


@dataclass(repr=False)
class FakeMessage:
    """A message in a chat; ``text``/``entities`` are what the user sees after parsing."""

    chat_id: int
    message_id: int
    date: int
    sender: JSONDict
    chat: JSONDict
    text: str
    entities: list[JSONDict] = field(default_factory=list)
    reply_markup: JSONDict | None = None
    raw_text: str = ""
    parse_mode: str | None = None
    edit_date: int | None = None
    history: list[JSONDict] = field(default_factory=list)
    deleted: bool = False
    reply_to_message_id: int | None = None

    @property
    def from_bot(self) -> bool:
        return bool(self.sender.get("is_bot"))

    @property
    def inline_keyboard(self) -> list[list[JSONDict]]:
        markup = self.reply_markup or {}
        rows = markup.get("inline_keyboard")
        return rows if isinstance(rows, list) else []

    @property
    def buttons(self) -> list[list[tuple[str, str | None]]]:
        """Inline keyboard as rows of ``(text, callback_data)``; URL buttons have None data."""
        return [
            [(str(b.get("text", "")), b.get("callback_data")) for b in row]
            for row in self.inline_keyboard
        ]

    def to_api(self, *, with_reply: FakeMessage | None = None) -> JSONDict:
        data: JSONDict = {
            "message_id": self.message_id,
            "from": json_copy(self.sender),
            "chat": json_copy(self.chat),
            "date": self.date,
            "text": self.text,
        }
        if self.entities:
            data["entities"] = json_copy(self.entities)
        if self.edit_date is not None:
            data["edit_date"] = self.edit_date
        # Telegram only echoes inline keyboards back in Message objects.
        if self.reply_markup and "inline_keyboard" in self.reply_markup:
            data["reply_markup"] = json_copy(self.reply_markup)
        if with_reply is not None:
            data["reply_to_message"] = with_reply.to_api()
        return data

    def __repr__(self) -> str:
        who = "bot" if self.from_bot else "user"
        flags = "".join(
            f" {flag}"
            for flag, on in (("edited", self.edit_date is not None), ("deleted", self.deleted))
            if on
        )
        keys = f" buttons={self.buttons}" if self.inline_keyboard else ""
        return f"<{who} msg #{self.message_id}{flags}: {self.text!r}{keys}>"


@dataclass
class FakeChat:
    """A private chat with one user, or (``type`` "group"/"supergroup", see
    ``FakeTelegram.group``) a group the bot is in."""

    id: int
    first_name: str
    username: str | None = None
    last_name: str | None = None
    blocked: bool = False
    messages: dict[int, FakeMessage] = field(default_factory=dict)
    next_message_id: int = 1
    type: str = "private"

    def to_api(self) -> JSONDict:
        if self.type != "private":
            return {"id": self.id, "type": self.type, "title": self.first_name}
        data: JSONDict = {"id": self.id, "type": "private", "first_name": self.first_name}
        if self.last_name:
            data["last_name"] = self.last_name
        if self.username:
            data["username"] = self.username
        return data

    def new_message_id(self) -> int:
        message_id = self.next_message_id
        self.next_message_id += 1
        return message_id


@dataclass
class _InjectedError:
    method: str
    error: ApiError
    remaining: int


@dataclass
class _TransportFault:
    method: str
    error: BaseException
    delivered: bool
    remaining: int


def _as_int(value: Any, name: str) -> int:
    if isinstance(value, bool):
        raise ApiError.bad_request(f"{name} is invalid")
    if isinstance(value, int):
        return value
    if isinstance(value, str):
        try:
            return int(value.strip())
        except ValueError:
            pass
    raise ApiError.bad_request(f"{name} is invalid")


def _as_json(value: Any, name: str) -> Any:
    # Over HTTP every parameter is a string; accept both wire and already-decoded forms.
    if isinstance(value, str):
        try:
            return json.loads(value)
        except ValueError as exc:
            raise ApiError.bad_request(f"can't parse {name} JSON object") from exc
    return value


def _as_bool(value: Any) -> bool:
    if isinstance(value, str):
        return value.strip().lower() in ("true", "1")
    return bool(value)


def _trim(text: str, entities: list[JSONDict]) -> tuple[str, list[JSONDict]]:
    """Strip surrounding whitespace like Telegram does, shifting and clipping entities."""
    stripped = text.strip(_TRIM)
    if stripped == text:
        return text, entities
    lead = utf16_len(text[: len(text) - len(text.lstrip(_TRIM))])
    total = utf16_len(stripped)
    fixed: list[JSONDict] = []
    for entity in entities:
        start = max(entity["offset"] - lead, 0)
        end = min(entity["offset"] + entity["length"] - lead, total)
        if end > start:
            fixed.append({**entity, "offset": start, "length": end - start})
    return stripped, fixed


class FakeTelegram:
    """State of a Bot API server for a single bot, plus knobs to make it misbehave.

    Attributes tests typically read: ``calls`` (every request), ``chats``, ``users``,
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

        self.chats: dict[int, FakeChat] = {}
        self.users: dict[int, FakeUser] = {}
        self.callback_queries: dict[str, JSONDict] = {}
        self.commands: dict[tuple[str, str], list[JSONDict]] = {}
        # Per language code ("" = everyone without a dedicated text), as set*Description keeps them.
        self.descriptions: dict[str, str] = {}
        self.short_descriptions: dict[str, str] = {}
        # None = the default for every private chat; a user id = that chat's own button.
        self.menu_buttons: dict[int | None, JSONDict] = {}
        self.calls: list[ApiCall] = []
        self.webhook_url: str = ""
        self.closed: bool = False

        # Flood model: sliding windows of successful rate-limited calls.
        self.enforce_flood_limits = enforce_flood_limits
        self.flood_window: float = 1.0
        self.flood_global_per_second: float = 30.0
        self.flood_per_chat_per_second: float = 1.0
        self.flood_per_chat_burst: int = 3
        self.count_429: int = 0
        self._global_sends: deque[float] = deque()
        self._chat_sends: dict[int, deque[float]] = {}

        self._injected: list[_InjectedError] = []
        self._transport_faults: list[_TransportFault] = []
        self._updates: list[JSONDict] = []
        self._next_update_id = 1
        self._next_query_id = 1
        self._poll_generation = 0
        self._waiters: list[tuple[asyncio.AbstractEventLoop, asyncio.Event]] = []
        self._lock = threading.RLock()
        # Monotonic change log so the client can tell what a handler produced.
        self.changes: list[tuple[int, int, str]] = []  # (chat_id, message_id, kind)

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

    def application_builder(
        self, token: str | None = None
    ) -> ApplicationBuilder[Any, Any, Any, Any, Any, Any]:
        """A PTB ``ApplicationBuilder`` wired to this fake (token defaults to the fake's)."""
        from telegram.ext import ApplicationBuilder

        from bot.playground.fakegram.request import FakeRequest

        token = token or self.token or "123456:FAKE-TOKEN"
        return (
            ApplicationBuilder()
            .token(token)
            .request(FakeRequest(self))
            .get_updates_request(FakeRequest(self))
        )

    # ------------------------------------------------------------------ test knobs

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
        from bot.playground.fakegram.client import FakeUser

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
        self._chat(user_id).blocked = True

    def unblock(self, user_id: int) -> None:
        self._chat(user_id).blocked = False

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
        error = ApiError(status, description, parameters)
        self._injected.append(_InjectedError(method.lower(), error, count))

    def fail_transport(self, method: str, error: BaseException, *, delivered: bool = False, count: int = 1) -> None:
        """Make the next ``count`` calls of ``method`` ("*" = any) raise ``error`` in the bot's
        transport (``FakeRequest``), as a network or a library would. With ``delivered`` the
        call is handled first and only its answer is lost: a ``TimedOut`` after Telegram
        delivered the message."""
        self._transport_faults.append(_TransportFault(method.lower(), error, delivered, count))

    def take_transport_fault(self, method: str) -> tuple[BaseException, bool] | None:
        """The transport fault for this call, if one is set: ``(error, delivered)``."""
        name = method.lower()
        for fault in self._transport_faults:
            if fault.method in (name, "*") and fault.remaining > 0:
                fault.remaining -= 1
                if fault.remaining == 0:
                    self._transport_faults.remove(fault)
                return fault.error, fault.delivered
        return None

    def push_update(self, update: JSONDict) -> JSONDict:
        """Queue an update for getUpdates (assigns ``update_id`` if missing); thread-safe."""
        with self._lock:
            if "update_id" not in update:
                update = {"update_id": self.next_update_id(), **update}
            self._updates.append(update)
        self._wake_pollers()
        return update

    @property
    def pending_updates(self) -> list[JSONDict]:
        with self._lock:
            return list(self._updates)

    def next_update_id(self) -> int:
        with self._lock:
            update_id = self._next_update_id
            self._next_update_id += 1
            return update_id

    def next_query_id(self) -> str:
        query_id = self._next_query_id
        self._next_query_id += 1
        return f"{self.bot_id or 1}{query_id:08d}"

    # ------------------------------------------------------------------ inspection

    def calls_to(self, method: str) -> list[ApiCall]:
        return [c for c in self.calls if c.method.lower() == method.lower()]

    def last_call(self, method: str | None = None) -> ApiCall | None:
        calls = self.calls_to(method) if method else self.calls
        return calls[-1] if calls else None

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

    def get_commands(
        self, language_code: str = "", scope: JSONDict | None = None
    ) -> list[JSONDict]:
        """Exactly what getMyCommands would return for this scope/language (no fallback)."""
        return copy.deepcopy(self.commands.get((self._scope_key(scope), language_code), []))

    def visible_commands(
        self, language_code: str | None, chat_id: int | None = None
    ) -> list[JSONDict]:
        """What a private-chat user sees, in Telegram's documented order: chat scope,
        all_private_chats, default; each with the user's language first, then without."""
        scopes: list[JSONDict] = [{"type": "all_private_chats"}, {"type": "default"}]
        if chat_id is not None:
            scopes.insert(0, {"type": "chat", "chat_id": chat_id})
        for scope in scopes:
            for lang in (language_code or "", ""):
                found = self.commands.get((self._scope_key(scope), lang))
                if found:
                    return copy.deepcopy(found)
        return []

    def visible_description(self, language_code: str | None) -> str:
        """The description a user with this language sees in the empty chat: the one set for
        their language, else the one set without a language (Telegram's documented fallback)."""
        lang = (language_code or "").split("-")[0].lower()
        return self.descriptions.get(lang) or self.descriptions.get("", "")

    def visible_short_description(self, language_code: str | None) -> str:
        """The short description on the bot's profile for a user with this language."""
        lang = (language_code or "").split("-")[0].lower()
        return self.short_descriptions.get(lang) or self.short_descriptions.get("", "")

    def menu_button(self, chat_id: int | None = None) -> JSONDict:
        """What getChatMenuButton returns: the chat's own button, else the default one."""
        found = self.menu_buttons.get(chat_id) if chat_id is not None else None
        return copy.deepcopy(found or self.menu_buttons.get(None) or {"type": "default"})

    def reset_calls(self) -> None:
        self.calls.clear()

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
                body = {"ok": False, "error_code": 401, "description": "Unauthorized"}
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
        self._raise_injected(name)
        if name == "getupdates":
            return await self._get_updates(params)
        handler = self._handlers().get(name)
        if handler is None:
            _LOGGER.warning(
                "fakegram: Bot API method %r is not implemented in the fake (params=%r)",
                method,
                params,
            )
            raise ApiError.bad_request(f"method not implemented in fake: {method}")
        return handler(params)

    def _handlers(self) -> dict[str, Callable[[JSONDict], Any]]:
        return {
            "getme": self._get_me,
            "sendmessage": self._send_message,
            "editmessagetext": self._edit_message_text,
            "editmessagereplymarkup": self._edit_message_reply_markup,
            "deletemessage": self._delete_message,
            "answercallbackquery": self._answer_callback_query,
            "setmycommands": self._set_my_commands,
            "getmycommands": self._get_my_commands,
            "deletemycommands": self._delete_my_commands,
            "setmydescription": self._set_my_description,
            "getmydescription": self._get_my_description,
            "setmyshortdescription": self._set_my_short_description,
            "getmyshortdescription": self._get_my_short_description,
            "setchatmenubutton": self._set_chat_menu_button,
            "getchatmenubutton": self._get_chat_menu_button,
            "deletewebhook": self._delete_webhook,
            "setwebhook": self._set_webhook,
            "getwebhookinfo": self._get_webhook_info,
            "sendchataction": self._send_chat_action,
            "close": self._close,
            "logout": self._close,
        }

    def _raise_injected(self, name: str) -> None:
        for injected in self._injected:
            if injected.method in (name, "*") and injected.remaining > 0:
                injected.remaining -= 1
                if injected.remaining == 0:
                    self._injected.remove(injected)
                raise injected.error

    # ------------------------------------------------------------------ helpers

    def _chat(self, chat_id: Any) -> FakeChat:
        if isinstance(chat_id, str) and chat_id.startswith("@"):
            raise ApiError.bad_request("chat not found")
        cid = _as_int(chat_id, "chat_id") if chat_id is not None else None
        if cid is None:
            raise ApiError.bad_request("chat_id is empty")
        chat = self.chats.get(cid)
        if chat is None:
            raise ApiError.bad_request("chat not found")
        return chat

    def _check_blocked(self, chat: FakeChat) -> None:
        if chat.blocked:
            raise ApiError(403, "Forbidden: bot was blocked by the user")

    def _check_flood(self, name: str, chat_id: int) -> None:
        if not self.enforce_flood_limits or name not in FLOOD_METHODS:
            return
        now = self.clock()
        window = self.flood_window
        global_q = self._global_sends
        chat_q = self._chat_sends.setdefault(chat_id, deque())
        for q in (global_q, chat_q):
            while q and q[0] <= now - window:
                q.popleft()
        global_limit = max(1, int(self.flood_global_per_second * window))
        chat_limit = max(self.flood_per_chat_burst, int(self.flood_per_chat_per_second * window))
        for q, limit in ((global_q, global_limit), (chat_q, chat_limit)):
            if len(q) >= limit:
                retry_after = max(1, math.ceil(q[len(q) - limit] + window - now))
                raise ApiError(
                    429,
                    f"Too Many Requests: retry after {retry_after}",
                    {"retry_after": retry_after},
                )
        global_q.append(now)
        chat_q.append(now)

    def _render_text(
        self, params: JSONDict, *, editing: bool
    ) -> tuple[str, list[JSONDict], str, str | None]:
        raw = params.get("text")
        raw_text = "" if raw is None else str(raw)
        parse_mode = params.get("parse_mode")
        mode = str(parse_mode).lower() if parse_mode else ""
        if mode == "html":
            try:
                parsed = parse_html(raw_text, strict=self.strict_html)
            except HtmlParseError as exc:
                raise ApiError.bad_request(f"can't parse entities: {exc.message}") from exc
            text, entities = parsed.text, parsed.entities
        elif mode in ("", "markdown", "markdownv2"):
            # Markdown is not validated by the fake; the raw text is shown as-is.
            text = raw_text
            raw_entities = _as_json(params.get("entities"), "entities") if not mode else None
            entities = list(raw_entities) if isinstance(raw_entities, list) else []
        else:
            raise ApiError.bad_request(f"unsupported parse_mode {parse_mode}")
        text, entities = _trim(text, entities)
        if not text:
            raise ApiError.bad_request("message text is empty")
        if utf16_len(text) > MAX_MESSAGE_LENGTH:
            raise ApiError.bad_request("MESSAGE_TOO_LONG" if editing else "message is too long")
        return text, entities, raw_text, (str(parse_mode) if parse_mode else None)

    def _markup(self, params: JSONDict) -> JSONDict | None:
        markup = _as_json(params.get("reply_markup"), "reply_markup")
        if markup is None:
            return None
        if not isinstance(markup, dict):
            raise ApiError.bad_request("object expected as reply markup")
        if "inline_keyboard" in markup:
            self._validate_inline_keyboard(markup)
        elif "keyboard" in markup:
            for row in markup.get("keyboard") or []:
                for button in row:
                    text = button if isinstance(button, str) else button.get("text", "")
                    if not text:
                        raise ApiError.bad_request("BUTTON_TEXT_EMPTY")
        copied: JSONDict = json_copy(markup)
        return copied

    def _validate_inline_keyboard(self, markup: JSONDict) -> None:
        rows = markup.get("inline_keyboard")
        if not isinstance(rows, list) or any(not isinstance(r, list) for r in rows):
            raise ApiError.bad_request("field \"inline_keyboard\" must be an Array of Arrays")
        total = sum(len(row) for row in rows)
        if total > MAX_INLINE_BUTTONS:
            raise ApiError.bad_request("reply markup is too long")
        for row in rows:
            if len(row) > MAX_INLINE_BUTTONS_PER_ROW:
                raise ApiError.bad_request("BUTTONS_TOO_MUCH")
            for button in row:
                if not isinstance(button, dict):
                    raise ApiError.bad_request(
                        "can't parse inline keyboard button: InlineKeyboardButton must be an Object"
                    )
                if not str(button.get("text", "")):
                    raise ApiError.bad_request("BUTTON_TEXT_EMPTY")
                actions = [
                    k
                    for k in (
                        "url", "callback_data", "web_app", "login_url", "switch_inline_query",
                        "switch_inline_query_current_chat", "switch_inline_query_chosen_chat",
                        "copy_text", "callback_game", "pay",
                    )
                    if button.get(k) not in (None, "")
                ]
                if not actions:
                    raise ApiError.bad_request(
                        "can't parse inline keyboard button: "
                        "Text buttons are unallowed in the inline keyboard"
                    )
                data = button.get("callback_data")
                if data is not None and len(str(data).encode("utf-8")) > MAX_CALLBACK_DATA_BYTES:
                    raise ApiError.bad_request("BUTTON_DATA_INVALID")
                url = button.get("url")
                if url is not None and "://" not in str(url) and not str(url).startswith("tg:"):
                    raise ApiError.bad_request("BUTTON_URL_INVALID")

    def _edit_target(self, params: JSONDict, *, missing: str) -> tuple[FakeChat, FakeMessage]:
        if params.get("inline_message_id") is not None:
            raise ApiError.bad_request("inline messages are not implemented in fake")
        chat = self._chat(params.get("chat_id"))
        message_id = _as_int(params.get("message_id"), "message_id")
        message = chat.messages.get(message_id)
        if message is None or message.deleted:
            raise ApiError.bad_request(missing)
        return chat, message

    def _now(self) -> int:
        return int(self.wall_clock())

    def _note_change(self, chat_id: int, message_id: int, kind: str) -> None:
        self.changes.append((chat_id, message_id, kind))

    def add_user_message(
        self, user_id: int, text: str, entities: list[JSONDict], *, chat_id: int | None = None
    ) -> FakeMessage:
        """Store a message the user sent (used by the client driver); in their private chat
        unless ``chat_id`` names a group."""
        chat = self._chat(user_id if chat_id is None else chat_id)
        user = self.users[user_id]
        message = FakeMessage(
            chat_id=chat.id,
            message_id=chat.new_message_id(),
            date=self._now(),
            sender=user.user_dict(),
            chat=chat.to_api(),
            text=text,
            entities=entities,
            raw_text=text,
        )
        chat.messages[message.message_id] = message
        self._note_change(chat.id, message.message_id, "user")
        return message

    # ------------------------------------------------------------------ methods

    def _get_me(self, params: JSONDict) -> JSONDict:
        return {
            **self.bot_user(),
            "can_join_groups": True,
            "can_read_all_group_messages": False,
            "supports_inline_queries": False,
            "can_connect_to_business": False,
            "has_main_web_app": False,
        }

    def _send_message(self, params: JSONDict) -> JSONDict:
        chat = self._chat(params.get("chat_id"))
        text, entities, raw_text, parse_mode = self._render_text(params, editing=False)
        markup = self._markup(params)
        reply_to = self._reply_target(chat, params)
        self._check_blocked(chat)
        self._check_flood("sendmessage", chat.id)
        message = FakeMessage(
            chat_id=chat.id,
            message_id=chat.new_message_id(),
            date=self._now(),
            sender=self.bot_user(),
            chat=chat.to_api(),
            text=text,
            entities=entities,
            reply_markup=markup,
            raw_text=raw_text,
            parse_mode=parse_mode,
            reply_to_message_id=reply_to.message_id if reply_to else None,
        )
        chat.messages[message.message_id] = message
        self._note_change(chat.id, message.message_id, "sent")
        return message.to_api(with_reply=reply_to)

    def _reply_target(self, chat: FakeChat, params: JSONDict) -> FakeMessage | None:
        reply = _as_json(params.get("reply_parameters"), "reply_parameters")
        if isinstance(reply, dict):
            message_id = reply.get("message_id")
            allow = _as_bool(reply.get("allow_sending_without_reply", False))
        elif params.get("reply_to_message_id") is not None:
            message_id = params.get("reply_to_message_id")
            allow = _as_bool(params.get("allow_sending_without_reply", False))
        else:
            return None
        target = chat.messages.get(_as_int(message_id, "message_id"))
        if target is None or target.deleted:
            if allow:
                return None
            raise ApiError.bad_request("message to be replied not found")
        return target

    def _edit_message_text(self, params: JSONDict) -> JSONDict:
        chat, message = self._edit_target(params, missing="message to edit not found")
        text, entities, raw_text, parse_mode = self._render_text(params, editing=True)
        markup = self._markup(params)
        if not message.from_bot:
            raise ApiError.bad_request("message can't be edited")
        # Omitting reply_markup in an edit removes the inline keyboard, as on real Telegram.
        if text == message.text and entities == message.entities and markup == message.reply_markup:
            raise ApiError.bad_request(NOT_MODIFIED)
        self._check_blocked(chat)
        self._check_flood("editmessagetext", chat.id)
        self._snapshot(message)
        message.text, message.entities = text, entities
        message.raw_text, message.parse_mode = raw_text, parse_mode
        message.reply_markup = markup
        message.edit_date = self._now()
        self._note_change(chat.id, message.message_id, "edited")
        return message.to_api()

    def _edit_message_reply_markup(self, params: JSONDict) -> JSONDict:
        chat, message = self._edit_target(params, missing="message to edit not found")
        markup = self._markup(params)
        if not message.from_bot:
            raise ApiError.bad_request("message can't be edited")
        if markup == message.reply_markup:
            raise ApiError.bad_request(NOT_MODIFIED)
        self._check_blocked(chat)
        self._check_flood("editmessagereplymarkup", chat.id)
        self._snapshot(message)
        message.reply_markup = markup
        message.edit_date = self._now()
        self._note_change(chat.id, message.message_id, "edited")
        return message.to_api()

    @staticmethod
    def _snapshot(message: FakeMessage) -> None:
        message.history.append(
            {
                "text": message.text,
                "entities": json_copy(message.entities),
                "reply_markup": json_copy(message.reply_markup),
                "raw_text": message.raw_text,
                "edit_date": message.edit_date,
            }
        )

    def edit_user_message(self, chat_id: int, message_id: int, text: str) -> FakeMessage:
        """The user edits a message they sent (used by the client driver)."""
        message = self._chat(chat_id).messages[message_id]
        self._snapshot(message)
        message.text = message.raw_text = text
        message.entities = []
        message.edit_date = self._now()
        return message

    def _delete_message(self, params: JSONDict) -> bool:
        chat, message = self._edit_target(params, missing="message to delete not found")
        message.deleted = True
        self._note_change(chat.id, message.message_id, "deleted")
        return True

    def _answer_callback_query(self, params: JSONDict) -> bool:
        query_id = str(params.get("callback_query_id", ""))
        query = self.callback_queries.get(query_id)
        if query is None or query.get("answered"):
            raise ApiError.bad_request(QUERY_INVALID)
        text = params.get("text")
        if text is not None and utf16_len(str(text)) > MAX_CALLBACK_ANSWER_LENGTH:
            raise ApiError.bad_request("MESSAGE_TOO_LONG")
        query["answered"] = True
        query["answer"] = {
            "text": text,
            "show_alert": _as_bool(params.get("show_alert", False)),
            "url": params.get("url"),
            "cache_time": params.get("cache_time"),
        }
        return True

    @staticmethod
    def _scope_key(scope: Any) -> str:
        scope = _as_json(scope, "scope") if scope is not None else None
        if not scope:
            scope = {"type": "default"}
        return json.dumps(scope, sort_keys=True)

    @staticmethod
    def _language(params: JSONDict) -> str:
        lang = str(params.get("language_code") or "")
        if lang and (len(lang) != 2 or not lang.isascii() or not lang.isalpha()):
            raise ApiError.bad_request("invalid language code specified")
        return lang

    def _set_my_commands(self, params: JSONDict) -> bool:
        commands = _as_json(params.get("commands"), "commands")
        if not isinstance(commands, list):
            raise ApiError.bad_request("can't parse commands JSON object")
        if len(commands) > 100:
            raise ApiError.bad_request("BOT_COMMANDS_TOO_MUCH")
        cleaned: list[JSONDict] = []
        for item in commands:
            command = str(item.get("command", "")).lstrip("/")
            description = str(item.get("description", ""))
            valid_chars = all(ch.isascii() and (ch.isalnum() or ch == "_") for ch in command)
            if not command or len(command) > 32 or not valid_chars or command != command.lower():
                raise ApiError.bad_request("BOT_COMMAND_INVALID")
            if not description.strip() or len(description) > 256:
                raise ApiError.bad_request("BOT_COMMAND_DESCRIPTION_INVALID")
            cleaned.append({"command": command, "description": description})
        key = (self._scope_key(params.get("scope")), self._language(params))
        if cleaned:
            self.commands[key] = cleaned
        else:
            self.commands.pop(key, None)
        return True

    def _get_my_commands(self, params: JSONDict) -> list[JSONDict]:
        key = (self._scope_key(params.get("scope")), self._language(params))
        return copy.deepcopy(self.commands.get(key, []))

    def _delete_my_commands(self, params: JSONDict) -> bool:
        key = (self._scope_key(params.get("scope")), self._language(params))
        self.commands.pop(key, None)
        return True

    @staticmethod
    def _bot_text(params: JSONDict, name: str, limit: int) -> str:
        # Cleaned of control characters (line breaks stay) but not trimmed, as TDLib does.
        text = "".join(ch for ch in str(params.get(name) or "") if ch == "\n" or ord(ch) >= 32)
        if len(text) > limit:
            # The wording of Telegram's refusal is not public; the limit is documented.
            raise ApiError.bad_request(f"{name.replace('_', ' ')} is too long")
        return text

    def _set_bot_text(self, store: dict[str, str], params: JSONDict, name: str, limit: int) -> bool:
        text = self._bot_text(params, name, limit)
        lang = self._language(params)
        if text:
            store[lang] = text
        else:
            store.pop(lang, None)  # an empty text removes the language's own one
        return True

    def _set_my_description(self, params: JSONDict) -> bool:
        return self._set_bot_text(self.descriptions, params, "description", MAX_DESCRIPTION_LENGTH)

    def _get_my_description(self, params: JSONDict) -> JSONDict:
        # Exactly the language asked for, "" when it has none: no fallback, as getMyCommands.
        return {"description": self.descriptions.get(self._language(params), "")}

    def _set_my_short_description(self, params: JSONDict) -> bool:
        return self._set_bot_text(
            self.short_descriptions, params, "short_description", MAX_SHORT_DESCRIPTION_LENGTH
        )

    def _get_my_short_description(self, params: JSONDict) -> JSONDict:
        return {"short_description": self.short_descriptions.get(self._language(params), "")}

    def _menu_chat(self, params: JSONDict) -> int | None:
        if params.get("chat_id") is None:
            return None
        chat_id = _as_int(params.get("chat_id"), "chat_id")
        if chat_id <= 0:
            raise ApiError.bad_request("invalid chat_id specified")
        if chat_id not in self.users:
            raise ApiError.bad_request("user not found")
        return chat_id

    def _set_chat_menu_button(self, params: JSONDict) -> bool:
        raw = params.get("menu_button")
        button = _as_json(raw, "menu_button") if raw is not None else {"type": "default"}
        if not isinstance(button, dict):
            raise ApiError.bad_request("can't parse menu button: MenuButton must be an Object")
        kind = button.get("type")
        if kind not in MENU_BUTTON_TYPES:
            raise ApiError.bad_request("can't parse menu button: MenuButton has unsupported type")
        cleaned: JSONDict = {"type": kind}
        if kind == "web_app":
            text = str(button.get("text") or "")
            web_app = button.get("web_app")
            url = str(web_app.get("url") or "") if isinstance(web_app, dict) else ""
            if not text.strip():
                raise ApiError.bad_request("menu button text must be non-empty")
            if not url.startswith("https://"):
                raise ApiError.bad_request(
                    f"menu button Web App URL '{url}' is invalid: Only HTTPS links are allowed"
                )
            cleaned.update(text=text, web_app={"url": url})
        chat_id = self._menu_chat(params)
        if kind == "default":
            self.menu_buttons.pop(chat_id, None)  # the default button removes the choice
        else:
            self.menu_buttons[chat_id] = cleaned
        return True

    def _get_chat_menu_button(self, params: JSONDict) -> JSONDict:
        return self.menu_button(self._menu_chat(params))

    def _delete_webhook(self, params: JSONDict) -> bool:
        self.webhook_url = ""
        if _as_bool(params.get("drop_pending_updates", False)):
            with self._lock:
                self._updates.clear()
        return True

    def _set_webhook(self, params: JSONDict) -> bool:
        url = str(params.get("url") or "")
        if url and not url.startswith("https://"):
            raise ApiError.bad_request("bad webhook: An HTTPS URL must be provided for webhook")
        self.webhook_url = url
        if _as_bool(params.get("drop_pending_updates", False)):
            with self._lock:
                self._updates.clear()
        return True

    def _get_webhook_info(self, params: JSONDict) -> JSONDict:
        return {
            "url": self.webhook_url,
            "has_custom_certificate": False,
            "pending_update_count": len(self._updates),
        }

    def _send_chat_action(self, params: JSONDict) -> bool:
        chat = self._chat(params.get("chat_id"))
        action = str(params.get("action") or "")
        if action not in CHAT_ACTIONS:
            raise ApiError.bad_request("wrong parameter action in request")
        self._check_blocked(chat)
        return True

    def _close(self, params: JSONDict) -> bool:
        self.closed = True
        return True

    # ------------------------------------------------------------------ getUpdates

    def _take_updates(self, params: JSONDict) -> list[JSONDict]:
        offset = params.get("offset")
        limit = _as_int(params.get("limit", 100), "limit")
        limit = min(max(limit, 1), 100)
        allowed = _as_json(params.get("allowed_updates"), "allowed_updates")
        with self._lock:
            if offset is not None:
                off = _as_int(offset, "offset")
                if off < 0:
                    self._updates = self._updates[off:]
                else:
                    # Offset confirms (and forgets) every earlier update, as Telegram does.
                    self._updates = [u for u in self._updates if u["update_id"] >= off]
            updates = list(self._updates)
        if isinstance(allowed, list) and allowed:
            updates = [u for u in updates if any(k in u for k in allowed)]
        return copy.deepcopy(updates[:limit])

    async def _get_updates(self, params: JSONDict) -> list[JSONDict]:
        if self.webhook_url:
            raise ApiError(
                409,
                "Conflict: can't use getUpdates method while webhook is active; "
                "use deleteWebhook to delete the webhook first",
            )
        self._poll_generation += 1
        generation = self._poll_generation
        # A newer long poll terminates an older one, like Telegram's 409 Conflict.
        self._wake_pollers()
        timeout = float(params.get("timeout") or 0)
        deadline = self.clock() + timeout
        while True:
            updates = self._take_updates(params)
            remaining = deadline - self.clock()
            if updates or remaining <= 0:
                return updates
            # Long poll: sleep until push_update() wakes us or the timeout expires.
            event = asyncio.Event()
            entry = (asyncio.get_running_loop(), event)
            with self._lock:
                self._waiters.append(entry)
            try:
                await asyncio.wait_for(event.wait(), timeout=remaining)
            except TimeoutError:
                pass
            finally:
                with self._lock:
                    if entry in self._waiters:
                        self._waiters.remove(entry)
            if generation != self._poll_generation:
                raise ApiError(
                    409,
                    "Conflict: terminated by other getUpdates request; "
                    "make sure that only one bot instance is running",
                )

    def _wake_pollers(self) -> None:
        # call_soon_threadsafe works from the loop's own thread too, and from a REPL thread.
        with self._lock:
            waiters = list(self._waiters)
        for loop, event in waiters:
            if not loop.is_closed():
                loop.call_soon_threadsafe(event.set)

