"""Which bot messages the terminal shows, each send, edit and delete printed once, and how
a message reads there."""

from __future__ import annotations

import textwrap
from collections.abc import Iterator
from dataclasses import dataclass, field

from bot.playground.demo.render import keyboard_lines, render_entities
from bot.playground.demo.screen import ANSI_RESET
from bot.playground.fakegram import BotApi, FakeMessage

INDENT = " " * 5  # lines up continuation lines under the text after "bot: "


@dataclass
class Transcript:
    """Which bot messages the screen shows, so each send, edit and delete prints once.

    Reads the fake's change log in order and compares each message with the state it was
    printed in (edit date and edit count: two edits within a second share an edit date).
    """

    fake: BotApi
    chat_id: int
    ansi: bool = False
    width: int | None = None  # wrap long lines to the terminal; None leaves them whole
    _cursor: int = 0
    _shown: dict[int, tuple[int | None, int, str]] = field(default_factory=dict)
    _gone: set[int] = field(default_factory=set)
    # Message ids in the order they were last printed: "the latest keyboard" is what the
    # user saw last, even if an older message was edited after a newer one was sent.
    _order: list[int] = field(default_factory=list)

    def pending(self) -> list[str]:
        """Blocks to print for everything that changed since the last call."""
        changes = self.fake.changes
        touched: list[int] = []
        for chat_id, message_id, _kind in changes[self._cursor :]:
            if chat_id == self.chat_id and message_id not in touched:
                touched.append(message_id)
        self._cursor = len(changes)
        blocks: list[str] = []
        for message_id in touched:
            message = self.fake.message(self.chat_id, message_id)
            if message is None:
                continue
            if message.deleted:
                if message_id in self._gone:
                    continue
                self._gone.add(message_id)
                if not message.from_bot:
                    blocks.append(self._dim("(your message was deleted)"))
                elif message_id in self._shown:
                    blocks.append(self._dim(f"(message deleted: “{_snippet(message.text)}”)"))
                continue
            if not message.from_bot:
                continue
            state = (message.edit_date, len(message.history), message.text)
            previous = self._shown.get(message_id)
            if previous == state:
                continue
            same_text = previous is not None and previous[2] == message.text
            blocks.append(self.format(message, edited=previous is not None, same_text=same_text))
            self._shown[message_id] = state
            if message_id in self._order:
                self._order.remove(message_id)
            self._order.append(message_id)
        return blocks

    def format(self, message: FakeMessage, *, edited: bool, same_text: bool = False) -> str:
        head = "bot (edited): " if edited else "bot: "
        if self.ansi:
            head = f"\x1b[1;32m{head.rstrip()}{ANSI_RESET} "
        buttons = [INDENT + line for line in keyboard_lines(message.inline_keyboard)]
        if same_text:
            # Only the keyboard changed (say, removed after a press): no need to repeat the text.
            change = "new buttons" if buttons else "buttons removed"
            return "\n".join([f"{head}“{_snippet(message.text)}” ({change})", *buttons])
        body = render_entities(message.text, message.entities, ansi=self.ansi).split("\n")
        if message.invoice is not None:
            body = invoice_lines(message.invoice)
        lines: list[str] = []
        for line in body:
            for part in self._wrap(line):
                lines.append((INDENT + part).rstrip() if lines else head + part)
        return "\n".join(lines + buttons)

    def _dim(self, text: str) -> str:
        return f"\x1b[2m{text}{ANSI_RESET}" if self.ansi else text

    def _wrap(self, line: str) -> list[str]:
        if self.width is None or len(line) <= self.width - len(INDENT):
            return [line]
        # ANSI codes count as width here, which only makes styled lines a little shorter.
        return textwrap.wrap(
            line, self.width - len(INDENT), break_long_words=False, break_on_hyphens=False
        ) or [line]

    def _visible(self) -> Iterator[FakeMessage]:
        for message_id in reversed(self._order):
            message = self.fake.message(self.chat_id, message_id)
            if message is not None and not message.deleted:
                yield message

    def latest(self) -> FakeMessage | None:
        """The last bot message printed that still exists."""
        return next(self._visible(), None)

    def keyboard_message(self) -> FakeMessage | None:
        """The last printed bot message that has an inline keyboard."""
        return next((m for m in self._visible() if m.inline_keyboard), None)


def invoice_lines(invoice: dict[str, object]) -> list[str]:
    """An invoice as the chat shows it: its title, what it is for, the price, how to pay."""
    total, currency = invoice.get("total_amount"), str(invoice.get("currency") or "")
    price = f"{total} ⭐ Telegram Stars" if currency == "XTR" else f"{total} (smallest units of {currency})"
    return [f"🧾 {invoice.get('title', '')}", str(invoice.get("description") or ""), f"Pay {price}",
            "(type :pay to pay it: pretend Stars, no real money)"]


def _snippet(text: str, limit: int = 40) -> str:
    line = text.split("\n", 1)[0]
    return line if len(line) <= limit else line[: limit - 1] + "…"

