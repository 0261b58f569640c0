"""Telegram-side building blocks: buttons within Telegram's limits, paging, escaping,
and sending or editing a screen."""

from __future__ import annotations

import html
import logging
from collections.abc import Callable, Sequence

from telegram import InlineKeyboardButton, InlineKeyboardMarkup, Message, Update
from telegram.error import BadRequest

from bot.handlers.callback_data import Callback
from bot.handlers.context import BotContext
from bot.i18n import I18n

log = logging.getLogger(__name__)

MAX_TEXT = 4096
MAX_BUTTON_TEXT = 60
PAGE_SIZE = 8
# Ids and numbers users type: ASCII digits only ("²" and "①" pass str.isdigit() but not
# int(); "٣" passes both), and short enough for a BIGINT column.
MAX_DIGITS = 18


def parse_number(text: str) -> int | None:
    """A number the user typed ("123" or "#123"), or None for anything else."""
    text = text.strip().removeprefix("#")
    if 0 < len(text) <= MAX_DIGITS and text.isascii() and text.isdigit():
        return int(text)
    return None


def esc(text: object) -> str:
    return html.escape(str(text), quote=False)


def clip(text: str, limit: int) -> str:
    """Shorten plain text (before escaping) to `limit` characters with an ellipsis."""
    return text if len(text) <= limit else text[: max(0, limit - 1)].rstrip() + "…"


def button(text: str, data: Callback) -> InlineKeyboardButton:
    return InlineKeyboardButton(clip(text, MAX_BUTTON_TEXT), callback_data=data.encode())


def keyboard(rows: Sequence[Sequence[InlineKeyboardButton]]) -> InlineKeyboardMarkup:
    return InlineKeyboardMarkup([list(row) for row in rows if row])


def page_slice(count: int, page: int, size: int = PAGE_SIZE) -> tuple[int, int, int]:
    """(start, end, page) with `page` clamped into range."""
    pages = max(1, -(-count // size))
    page = min(max(page, 0), pages - 1)
    return page * size, min(count, (page + 1) * size), page


def nav_row(
    t: I18n, count: int, page: int, at: Callable[[int], Callback], size: int = PAGE_SIZE
) -> list[InlineKeyboardButton]:
    """"◀ Back" / "Next ▶" for a paged list whose page `n` is the button `at(n)`."""
    pages = max(1, -(-count // size))
    row = []
    if page > 0:
        row.append(button(t._("◀ Back"), at(page - 1)))
    if pages > 1:
        row.append(button(f"{page + 1}/{pages}", at(page)))
    if page < pages - 1:
        row.append(button(t._("Next ▶"), at(page + 1)))
    return row


def fit(text: str, limit: int = MAX_TEXT) -> str:
    """A last guard: the message pieces are clipped before escaping, so this only
    trims trailing lines (never inside a tag) if a screen still runs long."""
    if len(text) <= limit:
        return text
    lines = text.split("\n")
    while lines and len("\n".join(lines)) > limit - 2:
        lines.pop()
    return "\n".join(lines) + "\n…"


async def show(
    update: Update,
    context: BotContext,
    text: str,
    markup: InlineKeyboardMarkup | None = None,
    *,
    edit: bool = True,
) -> Message | None:
    """Edit the message whose button was pressed, or send a new one."""
    text = fit(text)
    query = update.callback_query
    if edit and query is not None and query.message is not None:
        try:
            result = await query.edit_message_text(text, reply_markup=markup, disable_web_page_preview=True)
            return result if isinstance(result, Message) else None
        except BadRequest as error:
            if "not modified" in str(error).lower():
                return None
            if "not found" not in str(error).lower() and "can't be edited" not in str(error).lower():
                raise
    chat = update.effective_chat
    assert chat is not None
    return await context.bot.send_message(chat.id, text, reply_markup=markup, disable_web_page_preview=True)


async def drop_keyboard(update: Update) -> None:
    """Remove the pressed message's keyboard first, so a second tap has nothing to press."""
    query = update.callback_query
    if query is None or query.message is None:
        return
    try:
        await query.edit_message_reply_markup(None)
    except BadRequest as error:
        if "not modified" not in str(error).lower():
            log.info("could not remove keyboard: %s", error)
