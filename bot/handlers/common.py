"""/help, /language, unknown commands, stale buttons and the error handler."""

from __future__ import annotations

import logging

from telegram import Update
from telegram.error import Conflict, Forbidden

from bot.handlers.account import main_menu
from bot.handlers.context import BotContext
from bot.handlers.ui import show
from bot.i18n import I18n, available_locales
from bot.views.callback_data import SetLanguage, answer
from bot.views.markup import button, keyboard

log = logging.getLogger(__name__)

# (command, description) in the order the menu shows them; descriptions are translated.
COMMANDS: tuple[tuple[str, str], ...] = (
    ("order", "Place a new order"),
    ("search", "Search the services"),
    ("balance", "Your panel balance"),
    ("topup", "Add money to your wallet"),
    ("wallet", "Your wallet and its movements"),
    ("status", "Status of your orders"),
    ("orders", "Your order history"),
    ("notifications", "Which updates to send you"),
    ("connect", "Link your panel API key"),
    ("language", "Change the language"),
    ("cancel", "Leave the current step"),
    ("help", "What I can do"),
)


# Which commands each mode offers: a shop has a wallet and no key to link; a team's key
# is the bot's own.
_NOT_IN = {
    "own": frozenset({"topup", "wallet"}),
    "team": frozenset({"topup", "wallet", "connect"}),
    "shop": frozenset({"connect"}),
}


def command_descriptions(t: I18n, mode: str = "own") -> list[tuple[str, str]]:
    """The commands of the bot in `mode` ("own", "team" or "shop"), described in t's language."""
    # The English texts above are extracted through these calls, one per command.
    translated = {
        "order": t._("Place a new order"),
        "search": t._("Search the services"),
        "balance": t._("Your wallet") if mode == "shop" else t._("Your panel balance"),
        "topup": t._("Add money to your wallet"),
        "wallet": t._("Your wallet and its movements"),
        "status": t._("Status of your orders"),
        "orders": t._("Your order history"),
        "notifications": t._("Which updates to send you"),
        "connect": t._("Link your panel API key"),
        "language": t._("Change the language"),
        "cancel": t._("Leave the current step"),
        "help": t._("What I can do"),
    }
    return [(name, translated[name]) for name, _english in COMMANDS if name not in _NOT_IN.get(mode, frozenset())]


async def help_command(update: Update, context: BotContext) -> None:
    """/help: the commands and how ordering works."""
    t = context.i18n
    mode = context.deps.settings.kind
    if mode == "shop":
        lines = [t._("I place orders for followers, likes, views and more, paid from your wallet, and tell you "
                     "when they change.")]
    else:
        lines = [t._("I place orders on your SMM panel and tell you when they change.")]
    lines += [f"/{name} — {description}" for name, description in command_descriptions(t, mode)]
    lines += ["", t._("Anywhere, type words to search the services or a number to open a service.")]
    await show(update, context, "\n".join(lines), main_menu(t), edit=False)


async def language(update: Update, context: BotContext) -> None:
    """/language: a button per available language."""
    t = context.i18n
    rows = [[button(I18n(code).language_name(), SetLanguage(code))] for code in available_locales()]
    await show(update, context, t._("Choose your language:"), keyboard(rows), edit=False)


async def on_language_callback(update: Update, context: BotContext) -> None:
    """A language in /language."""
    code = (await answer(update, SetLanguage)).code
    if code not in available_locales():
        return
    await context.deps.store.set_locale(context.user.telegram_id, code)
    context.i18n = I18n(code)
    await show(update, context, context.i18n._("Done: I will speak English with you."), main_menu(context.i18n))


async def unknown_command(update: Update, context: BotContext) -> None:
    await show(update, context, context.i18n._("I do not know that command. /help lists what I can do."), edit=False)


async def on_error(update: object, context: BotContext) -> None:
    """Log the failure without secrets and tell the user something went wrong."""
    error = context.error
    if isinstance(error, Forbidden):
        return
    if isinstance(error, Conflict):
        # Telegram gives updates to one getUpdates caller: two bot processes fight.
        log.critical("Telegram says another process takes this bot's updates (409 Conflict); stopping. "
                     "Run one bot process; use `python -m bot watcher` for more watchers.")
        context.application.stop_running()
        return
    log.error("update failed: %s", type(error).__name__, exc_info=error)
    if isinstance(update, Update) and update.effective_chat is not None:
        t = getattr(context, "i18n", None) or I18n(context.deps.settings.default_locale)
        try:
            await context.bot.send_message(update.effective_chat.id, t._("Something went wrong on my side. Please try again; if it keeps happening, tell the bot's operator."))
        except Exception:  # noqa: BLE001 - the error handler must not raise
            log.warning("could not tell the user about the error")


async def stale_button(update: Update, context: BotContext) -> None:
    """A button whose data matches nothing we send: forged, or from an old version."""
    query = update.callback_query
    if query is not None:
        await query.answer(context.i18n._("This button is no longer valid."), show_alert=False)
