"""Screens' building blocks within Telegram's limits: escaping, clipping, buttons,
keyboards and paging."""

from __future__ import annotations

import html
from collections.abc import Callable, Sequence

from telegram import InlineKeyboardButton, InlineKeyboardMarkup

from bot.i18n import I18n
from bot.views.callback_data import Callback

MAX_TEXT = 4096
MAX_BUTTON_TEXT = 60
PAGE_SIZE = 8


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
