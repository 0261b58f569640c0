"""Sending or editing a screen in answer to an update, asking the panel on the user's
behalf, and reading a number the user typed (the screens' pieces: bot/views/markup.py)."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable
from typing import TypeVar

from telegram import InlineKeyboardMarkup, Message, Update
from telegram.error import BadRequest

from bot.handlers.context import BotContext
from bot.panel.errors import PanelRefusal, PanelUnavailable
from bot.views.markup import fit
from bot.views.texts import panel_problem

T = TypeVar("T")

log = logging.getLogger(__name__)

# Ids and numbers users type: ASCII digits only ("²" and "①" pass str.isdigit() but not
# int(); "٣" passes both), and short enough for a BIGINT column.
MAX_DIGITS = 18


def parse_number(text: str) -> int | None:
    """A number the user typed ("123" or "#123"), or None for anything else."""
    text = text.strip().removeprefix("#")
    if 0 < len(text) <= MAX_DIGITS and text.isascii() and text.isdigit():
        return int(text)
    return None


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


async def from_panel(update: Update, context: BotContext, call: Awaitable[T], deadline: float) -> T | None:
    """The panel's answer within `deadline`, or None once the user is told why there is
    none (bot/views/texts.py: panel_problem, the one wording of it)."""
    try:
        return await asyncio.wait_for(call, deadline)
    except (PanelUnavailable, PanelRefusal, TimeoutError) as error:
        await show(update, context, panel_problem(context.i18n, error), edit=False)
        return None
