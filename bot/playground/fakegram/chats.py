"""Chats and the messages in them, as the fake keeps them and Telegram shows them."""

from __future__ import annotations

from dataclasses import dataclass, field

from bot.playground.fakegram.wire import JSONDict, json_copy

__all__ = ["FakeChat", "FakeMessage"]


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
    # Payments (payments.py): an invoice the bot sent, or the service message of a payment.
    invoice: JSONDict | None = None
    successful_payment: JSONDict | None = None
    # A document the bot sent (documents.py): Telegram's Document object, and the file's
    # bytes; `text` and `entities` hold its caption.
    document: JSONDict | None = None
    file: bytes | None = None

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

    def snapshot(self) -> None:
        """Keep the current state in ``history`` before an edit changes it."""
        self.history.append(
            {
                "text": self.text,
                "entities": json_copy(self.entities),
                "reply_markup": json_copy(self.reply_markup),
                "raw_text": self.raw_text,
                "edit_date": self.edit_date,
            }
        )

    def to_api(self, *, with_reply: FakeMessage | None = None) -> JSONDict:
        data: JSONDict = {
            "message_id": self.message_id,
            "from": json_copy(self.sender),
            "chat": json_copy(self.chat),
            "date": self.date,
        }
        if self.invoice is not None:
            data["invoice"] = json_copy(self.invoice)
        elif self.successful_payment is not None:
            data["successful_payment"] = json_copy(self.successful_payment)
        elif self.document is not None:
            data["document"] = json_copy(self.document)
            if self.text:
                data["caption"] = self.text
        else:
            data["text"] = self.text
        if self.entities:
            data["caption_entities" if self.document is not None else "entities"] = json_copy(self.entities)
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
