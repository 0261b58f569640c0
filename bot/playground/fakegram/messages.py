"""The chats the bot is in and the Bot API methods on their messages: send, edit, delete,
chat actions; each refused where Telegram refuses it."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Protocol

from bot.playground.fakegram.chats import FakeChat, FakeMessage
from bot.playground.fakegram.keyboards import read_markup
from bot.playground.fakegram.limits import FloodKnobs, FloodWindows
from bot.playground.fakegram.text import read_text
from bot.playground.fakegram.wire import ApiError, JSONDict, as_bool, as_int, as_json

__all__ = ["CHAT_ACTIONS", "NOT_MODIFIED", "Messages", "MessagesHost"]

NOT_MODIFIED = (
    "message is not modified: specified new message content and reply markup are exactly "
    "the same as a content and reply markup of the current message"
)

CHAT_ACTIONS = frozenset(
    {
        "typing", "upload_photo", "record_video", "upload_video", "record_voice",
        "upload_voice", "upload_document", "choose_sticker", "find_location",
        "record_video_note", "upload_video_note",
    }
)


class MessagesHost(FloodKnobs, Protocol):
    """What the messages need from the server: its knobs, clocks and the bot's identity."""

    strict_html: bool
    clock: Callable[[], float]
    wall_clock: Callable[[], float]

    def bot_user(self) -> JSONDict: ...


class Messages:
    """Chats by id and a change log, ``(chat_id, message_id, kind)`` in order, kind one of
    "user", "sent", "edited", "deleted": how the client tells what a handler produced."""

    def __init__(self, host: MessagesHost) -> None:
        self._host = host
        self._flood = FloodWindows()
        self.chats: dict[int, FakeChat] = {}
        self.changes: list[tuple[int, int, str]] = []

    def chat(self, chat_id: Any) -> FakeChat:
        """The chat a ``chat_id`` parameter names, or Telegram's refusal."""
        if isinstance(chat_id, str) and chat_id.startswith("@"):
            raise ApiError.bad_request("chat not found")
        cid = as_int(chat_id, "chat_id") if chat_id is not None else None
        if cid is None:
            raise ApiError.bad_request("chat_id is empty")
        chat = self.chats.get(cid)
        if chat is None:
            raise ApiError.bad_request("chat not found")
        return chat

    def is_user(self, chat_id: int) -> bool:
        chat = self.chats.get(chat_id)
        return chat is not None and chat.type == "private"

    # ------------------------------------------------------------------ the user's side

    def add_user_message(
        self, sender: JSONDict, text: str, entities: list[JSONDict], *, chat_id: int | None = None
    ) -> FakeMessage:
        """Store a message the user ``sender`` sent: in their private chat unless ``chat_id``
        names a group."""
        chat = self.chat(sender["id"] if chat_id is None else chat_id)
        message = FakeMessage(
            chat_id=chat.id,
            message_id=chat.new_message_id(),
            date=self._now(),
            sender=sender,
            chat=chat.to_api(),
            text=text,
            entities=entities,
            raw_text=text,
        )
        chat.messages[message.message_id] = message
        self._note_change(chat.id, message.message_id, "user")
        return message

    def add_message(self, chat: FakeChat, sender: JSONDict, *, kind: str, **content: Any) -> FakeMessage:
        """Store a message of another kind than text (an invoice from the bot, a payment's
        service message from the user), logged as `kind` ("sent" or "user")."""
        message = FakeMessage(chat_id=chat.id, message_id=chat.new_message_id(), date=self._now(), sender=sender,
                              chat=chat.to_api(), text="", **content)
        chat.messages[message.message_id] = message
        self._note_change(chat.id, message.message_id, kind)
        return message

    def admit_send(self, chat: FakeChat, method: str) -> None:
        """What every send is checked for: the user has not blocked the bot, and the flood model."""
        self._check_blocked(chat)
        self._admit(method, chat.id)

    def edit_user_message(self, chat_id: int, message_id: int, text: str) -> FakeMessage:
        """The user edits a message they sent."""
        message = self.chat(chat_id).messages[message_id]
        message.snapshot()
        message.text = message.raw_text = text
        message.entities = []
        message.edit_date = self._now()
        return message

    # ------------------------------------------------------------------ Bot API methods

    def send_message(self, params: JSONDict) -> JSONDict:
        chat = self.chat(params.get("chat_id"))
        text = read_text(params, editing=False, strict_html=self._host.strict_html)
        markup = read_markup(params)
        reply_to = self._reply_target(chat, params)
        self._check_blocked(chat)
        self._admit("sendmessage", chat.id)
        message = FakeMessage(
            chat_id=chat.id,
            message_id=chat.new_message_id(),
            date=self._now(),
            sender=self._host.bot_user(),
            chat=chat.to_api(),
            text=text.text,
            entities=text.entities,
            reply_markup=markup,
            raw_text=text.raw_text,
            parse_mode=text.parse_mode,
            reply_to_message_id=reply_to.message_id if reply_to else None,
        )
        chat.messages[message.message_id] = message
        self._note_change(chat.id, message.message_id, "sent")
        return message.to_api(with_reply=reply_to)

    def edit_message_text(self, params: JSONDict) -> JSONDict:
        chat, message = self._edit_target(params, missing="message to edit not found")
        text = read_text(params, editing=True, strict_html=self._host.strict_html)
        markup = read_markup(params)
        if not message.from_bot:
            raise ApiError.bad_request("message can't be edited")
        # Omitting reply_markup in an edit removes the inline keyboard, as on real Telegram.
        if (text.text == message.text and text.entities == message.entities
                and markup == message.reply_markup):
            raise ApiError.bad_request(NOT_MODIFIED)
        self._check_blocked(chat)
        self._admit("editmessagetext", chat.id)
        message.snapshot()
        message.text, message.entities = text.text, text.entities
        message.raw_text, message.parse_mode = text.raw_text, text.parse_mode
        message.reply_markup = markup
        message.edit_date = self._now()
        self._note_change(chat.id, message.message_id, "edited")
        return message.to_api()

    def edit_message_reply_markup(self, params: JSONDict) -> JSONDict:
        chat, message = self._edit_target(params, missing="message to edit not found")
        markup = read_markup(params)
        if not message.from_bot:
            raise ApiError.bad_request("message can't be edited")
        if markup == message.reply_markup:
            raise ApiError.bad_request(NOT_MODIFIED)
        self._check_blocked(chat)
        self._admit("editmessagereplymarkup", chat.id)
        message.snapshot()
        message.reply_markup = markup
        message.edit_date = self._now()
        self._note_change(chat.id, message.message_id, "edited")
        return message.to_api()

    def delete_message(self, params: JSONDict) -> bool:
        chat, message = self._edit_target(params, missing="message to delete not found")
        message.deleted = True
        self._note_change(chat.id, message.message_id, "deleted")
        return True

    def send_chat_action(self, params: JSONDict) -> bool:
        chat = self.chat(params.get("chat_id"))
        action = str(params.get("action") or "")
        if action not in CHAT_ACTIONS:
            raise ApiError.bad_request("wrong parameter action in request")
        self._check_blocked(chat)
        return True

    # ------------------------------------------------------------------ internals

    def _reply_target(self, chat: FakeChat, params: JSONDict) -> FakeMessage | None:
        reply = as_json(params.get("reply_parameters"), "reply_parameters")
        if isinstance(reply, dict):
            message_id = reply.get("message_id")
            allow = as_bool(reply.get("allow_sending_without_reply", False))
        elif params.get("reply_to_message_id") is not None:
            message_id = params.get("reply_to_message_id")
            allow = as_bool(params.get("allow_sending_without_reply", False))
        else:
            return None
        target = chat.messages.get(as_int(message_id, "message_id"))
        if target is None or target.deleted:
            if allow:
                return None
            raise ApiError.bad_request("message to be replied not found")
        return target

    def _edit_target(self, params: JSONDict, *, missing: str) -> tuple[FakeChat, FakeMessage]:
        if params.get("inline_message_id") is not None:
            raise ApiError.bad_request("inline messages are not implemented in fake")
        chat = self.chat(params.get("chat_id"))
        message_id = as_int(params.get("message_id"), "message_id")
        message = chat.messages.get(message_id)
        if message is None or message.deleted:
            raise ApiError.bad_request(missing)
        return chat, message

    @staticmethod
    def _check_blocked(chat: FakeChat) -> None:
        if chat.blocked:
            raise ApiError(403, "Forbidden: bot was blocked by the user")

    def _admit(self, name: str, chat_id: int) -> None:
        self._flood.admit(self._host, name, chat_id, self._host.clock)

    def _now(self) -> int:
        return int(self._host.wall_clock())

    def _note_change(self, chat_id: int, message_id: int, kind: str) -> None:
        self.changes.append((chat_id, message_id, kind))
