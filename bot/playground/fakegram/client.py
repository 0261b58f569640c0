"""User-side driver: build updates as a Telegram user would send them and read the chat back."""

from __future__ import annotations

import asyncio
import re
from typing import Any

from telegram import Bot, Update
from telegram.ext import Application, ContextTypes

from bot.playground.fakegram.chats import FakeMessage
from bot.playground.fakegram.html import utf16_len
from bot.playground.fakegram.payments import Charge
from bot.playground.fakegram.server import BotApi
from bot.playground.fakegram.wire import JSONDict

__all__ = ["FakeUser"]

# Any application: the driver only hands it updates.
AnyApplication = Application[Any, Any, Any, Any, Any, Any]

# Telegram's bot-command shape: /name (1-64 chars) optionally followed by @botusername.
_COMMAND = re.compile(r"/[A-Za-z0-9_]{1,64}(?:@[A-Za-z0-9_]{3,32})?(?![A-Za-z0-9_/<>])")


class FakeUser:
    """One private-chat user talking to the bot; create via ``FakeTelegram.user(...)``."""

    def __init__(
        self,
        fake: BotApi,
        user_id: int,
        *,
        first_name: str = "Ann",
        language_code: str | None = "en",
        username: str | None = None,
        last_name: str | None = None,
    ) -> None:
        self.fake = fake
        self.id = user_id
        self.first_name = first_name
        self.language_code = language_code
        self.username = username
        self.last_name = last_name
        self._push_mark = 0

    @property
    def chat_id(self) -> int:
        return self.id

    def user_dict(self) -> JSONDict:
        data: JSONDict = {"id": self.id, "is_bot": False, "first_name": self.first_name}
        if self.last_name:
            data["last_name"] = self.last_name
        if self.username:
            data["username"] = self.username
        if self.language_code:
            data["language_code"] = self.language_code
        return data

    def block(self) -> None:
        self.fake.block(self.id)

    def unblock(self) -> None:
        self.fake.unblock(self.id)

    # ------------------------------------------------------------------ building updates

    def update_dict_for_text(self, text: str) -> JSONDict:
        """Record the user's message in the chat and return the raw update dict."""
        entities: list[JSONDict] = []
        match = _COMMAND.match(text)
        if match:
            # CommandHandler only matches a bot_command entity at offset 0.
            entities.append(
                {"type": "bot_command", "offset": 0, "length": utf16_len(match.group())}
            )
        message = self.fake.add_user_message(self.user_dict(), text, entities)
        return {"update_id": self.fake.next_update_id(), "message": message.to_api()}

    def update_dict_for_text_in(self, chat_id: int, text: str) -> JSONDict:
        """The user's message in a group chat (``FakeTelegram.group``)."""
        entities: list[JSONDict] = []
        match = _COMMAND.match(text)
        if match:
            entities.append({"type": "bot_command", "offset": 0, "length": utf16_len(match.group())})
        message = self.fake.add_user_message(self.user_dict(), text, entities, chat_id=chat_id)
        return {"update_id": self.fake.next_update_id(), "message": message.to_api()}

    def update_dict_for_edit(self, message: FakeMessage | int, text: str) -> JSONDict:
        """The user edits one of their own earlier messages: an ``edited_message`` update."""
        message_id = message if isinstance(message, int) else message.message_id
        chat_id = self.id if isinstance(message, int) else message.chat_id
        edited = self.fake.edit_user_message(chat_id, message_id, text)
        return {"update_id": self.fake.next_update_id(), "edited_message": edited.to_api()}

    def update_for_text(self, text: str, bot: Bot | None = None) -> Update:
        return Update.de_json(self.update_dict_for_text(text), bot)

    def update_dict_for_press(
        self, label: str, message: FakeMessage | int | None = None
    ) -> JSONDict:
        """Press the button whose text (or callback_data) is ``label``; returns the update dict."""
        target = self._press_target(message)
        button = self._find_button(target, label)
        data = button.get("callback_data")
        if data is None:
            raise AssertionError(
                f"Button {button.get('text')!r} has no callback_data "
                f"({', '.join(k for k in button if k != 'text')}); pressing it sends no update"
            )
        query_id = self.fake.next_query_id()
        self.fake.callback_queries[query_id] = {
            "id": query_id,
            "user_id": self.id,
            "chat_id": target.chat_id,
            "message_id": target.message_id,
            "data": data,
            "answered": False,
            "answer": None,
        }
        return {
            "update_id": self.fake.next_update_id(),
            "callback_query": {
                "id": query_id,
                "from": self.user_dict(),
                "message": target.to_api(),
                "chat_instance": f"{self.id}{self.fake.bot_id}",
                "data": data,
            },
        }

    def update_for_press(
        self, label: str, message: FakeMessage | int | None = None, bot: Bot | None = None
    ) -> Update:
        return Update.de_json(self.update_dict_for_press(label, message), bot)

    def push_text(self, text: str) -> JSONDict:
        """Queue a text message for the bot's getUpdates polling."""
        self._push_mark = len(self.fake.changes)
        return self.fake.push_update(self.update_dict_for_text(text))

    def push_press(self, label: str, message: FakeMessage | int | None = None) -> JSONDict:
        """Queue a button press for the bot's getUpdates polling."""
        self._push_mark = len(self.fake.changes)
        return self.fake.push_update(self.update_dict_for_press(label, message))

    # ------------------------------------------------------------------ driving an Application

    async def pay(
        self,
        app: AnyApplication,
        invoice: FakeMessage | None = None,
        *,
        wait: float = 0.0,
        charge_id: str | None = None,
    ) -> Charge | None:
        """Press Pay on an invoice (the last one the bot sent by default), `wait` seconds
        before Telegram asks the bot (past PRE_CHECKOUT_SECONDS the bot's answer comes too
        late); the payment then goes through only if the bot said yes in time. Returns the
        charge, or None when refused. `charge_id` delivers that payment's message again."""
        if invoice is None:
            invoice = next((m for m in reversed(self.messages) if m.invoice is not None), None)
            if invoice is None:
                raise AssertionError("the bot sent no invoice")
        payments = self.fake.payments
        query, update = payments.pre_checkout_update(self.user_dict(), invoice)
        query.asked_at -= wait
        update["update_id"] = self.fake.next_update_id()
        await self._process(app, Update.de_json(update, app.bot), True)
        if query.ok is not True:
            return None
        charge, paid = payments.payment_update(query, charge_id=charge_id)
        paid["update_id"] = self.fake.next_update_id()
        await self._process(app, Update.de_json(paid, app.bot), True)
        return charge

    async def send(
        self,
        app: AnyApplication,
        text: str,
        *,
        raise_errors: bool = True,
    ) -> list[FakeMessage]:
        """Deliver a text message to ``app`` and return bot messages sent/edited meanwhile.

        With ``raise_errors`` the first exception a handler raised is re-raised here (after
        the app's own error handlers ran), so a crashing handler fails the test loudly.
        """
        mark = len(self.fake.changes)
        update = Update.de_json(self.update_dict_for_text(text), app.bot)
        await self._process(app, update, raise_errors)
        return self.produced_since(mark)

    async def press(
        self,
        app: AnyApplication,
        label: str,
        message: FakeMessage | int | None = None,
        *,
        raise_errors: bool = True,
    ) -> list[FakeMessage]:
        """Press an inline button in ``app`` and return bot messages sent/edited meanwhile."""
        mark = len(self.fake.changes)
        update = Update.de_json(self.update_dict_for_press(label, message), app.bot)
        await self._process(app, update, raise_errors)
        return self.produced_since(mark)

    @staticmethod
    async def _process(
        app: AnyApplication, update: Update, raise_errors: bool
    ) -> None:
        errors: list[BaseException] = []

        async def capture(_: object, context: ContextTypes.DEFAULT_TYPE) -> None:
            if context.error is not None:
                errors.append(context.error)

        if raise_errors:
            app.add_error_handler(capture)
        try:
            await app.process_update(update)
        finally:
            if raise_errors:
                app.remove_error_handler(capture)
        if errors:
            raise errors[0]

    async def wait_for_reply(self, timeout: float = 2.0) -> list[FakeMessage]:
        """After ``push_text``/``push_press``: wait until the polling bot sends or edits."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while loop.time() < deadline:
            produced = self.produced_since(self._push_mark)
            if produced:
                return produced
            await asyncio.sleep(0.01)
        raise AssertionError(
            f"No bot reply within {timeout}s; chat so far:\n{self.transcript()}"
        )

    def produced_since(self, mark: int) -> list[FakeMessage]:
        """Bot messages in this chat sent or edited after change-log position ``mark``."""
        seen: list[int] = []
        for chat_id, message_id, kind in self.fake.changes[mark:]:
            if chat_id == self.id and kind in ("sent", "edited") and message_id not in seen:
                seen.append(message_id)
        found = [self.fake.message(self.id, mid) for mid in seen]
        return [m for m in found if m is not None and not m.deleted and m.from_bot]

    # ------------------------------------------------------------------ transcript

    @property
    def messages(self) -> list[FakeMessage]:
        """Bot messages in this chat, current state, deleted ones excluded."""
        return self.fake.messages(self.id)

    @property
    def last_message(self) -> FakeMessage | None:
        messages = self.messages
        return messages[-1] if messages else None

    @property
    def last_text(self) -> str:
        last = self.last_message
        return last.text if last else ""

    @property
    def last_buttons(self) -> list[list[tuple[str, str | None]]]:
        """Inline keyboard of the latest bot message, rows of ``(text, callback_data)``."""
        last = self.last_message
        return last.buttons if last else []

    @property
    def keyboard_message(self) -> FakeMessage | None:
        """The message ``press()`` targets by default: latest bot message with a keyboard."""
        for message in reversed(self.messages):
            if message.inline_keyboard:
                return message
        return None

    @property
    def last_answer(self) -> JSONDict | None:
        """answerCallbackQuery parameters for this user's latest press (None if unanswered)."""
        mine = [q for q in self.fake.callback_queries.values() if q["user_id"] == self.id]
        return mine[-1]["answer"] if mine else None

    def all_text(self) -> str:
        return "\n".join(m.text for m in self.messages)

    def transcript(self) -> str:
        """Readable chat log: ``>`` user, ``<`` bot, buttons in brackets."""
        lines: list[str] = []
        for m in self.fake.messages(self.id, from_bot=None):
            prefix = "<" if m.from_bot else ">"
            edited = " (edited)" if m.edit_date is not None else ""
            lines.append(f"{prefix} {m.text}{edited}")
            for row in m.buttons:
                lines.append("    " + " ".join(f"[{text}]" for text, _ in row))
        return "\n".join(lines)

    # ------------------------------------------------------------------ internals

    def _press_target(self, message: FakeMessage | int | None) -> FakeMessage:
        if message is None:
            target = self.keyboard_message
            if target is None:
                raise AssertionError(
                    f"No bot message with an inline keyboard in chat {self.id}; "
                    f"chat so far:\n{self.transcript()}"
                )
            return target
        message_id = message if isinstance(message, int) else message.message_id
        found = self.fake.message(self.id, message_id)
        if found is None or found.deleted:
            raise AssertionError(f"Message {message_id} does not exist in chat {self.id}")
        return found

    @staticmethod
    def _find_button(message: FakeMessage, label: str) -> JSONDict:
        buttons = [b for row in message.inline_keyboard for b in row]
        for key in ("text", "callback_data"):
            for button in buttons:
                if button.get(key) == label:
                    return button
        available = "\n".join(
            f"  {b.get('text')!r} -> {b.get('callback_data', b.get('url'))!r}" for b in buttons
        )
        raise AssertionError(
            f"No button {label!r} on message {message.message_id} "
            f"({message.text[:60]!r}). Available buttons:\n{available or '  (none)'}"
        )

    def __repr__(self) -> str:
        return f"FakeUser(id={self.id}, first_name={self.first_name!r})"
