"""What every handler gets: the typed context with its dependencies and the update's language."""

from __future__ import annotations

from dataclasses import dataclass, field

from telegram import Update
from telegram.constants import ChatType
from telegram.ext import Application, ApplicationHandlerStop, CallbackContext, ExtBot, JobQueue

from bot.config import Settings
from bot.domain.accounts import Accounts
from bot.domain.capabilities import PanelFacts
from bot.domain.limits import RateLimit
from bot.domain.panels import Panels
from bot.domain.shop import Shop
from bot.domain.watcher import Watcher
from bot.i18n import I18n, best_locale
from bot.outbox.sender import Sender
from bot.recent import Recent
from bot.store import Store, User


@dataclass
class Deps:
    settings: Settings
    store: Store
    panels: Panels
    accounts: Accounts
    watcher: Watcher
    sender: Sender
    # What the panel showed it lacks or wants differently (bot/domain/capabilities.py).
    facts: PanelFacts
    # Shop mode (MODE=shop): prices, the shop's catalog, the operator's balance guard.
    shop: Shop | None = None
    # Updates per user (a burst, then about one a second) and confirmed orders per user.
    updates_limit: RateLimit = field(default_factory=lambda: RateLimit(rate=1.0, burst=20))
    orders_limit: RateLimit = field(default_factory=lambda: RateLimit(rate=1 / 30, burst=5))
    # A key pasted outside the key prompt, offered for linking: in memory only, briefly.
    pasted_keys: Recent[int, str] = field(default_factory=lambda: Recent(PASTED_KEY_SECONDS))


PASTED_KEY_SECONDS = 300.0


# PTB's per-user, per-chat and bot-wide dicts: conversation state lives in the database,
# and bot_data holds only the dependencies ("deps").
Data = dict[str, object]


class BotContext(CallbackContext[ExtBot[None], Data, Data, Data]):
    """Per update: `deps`, the stored `user` and `i18n` in that user's language (never a
    global, so that two users' updates never share a language)."""

    user: User
    i18n: I18n

    @property
    def deps(self) -> Deps:
        deps = self.application.bot_data["deps"]
        assert isinstance(deps, Deps)
        return deps

    @property
    def _(self) -> I18n:
        return self.i18n


# The bot's Application, as `build_application` makes it and every handler sees it.
BotApp = Application[ExtBot[None], BotContext, Data, Data, Data, JobQueue[BotContext]]




async def gate(update: Update, context: BotContext) -> None:
    """Runs first for every update: records the user, picks their language, and turns
    away users outside `ALLOWED_USERS` politely."""
    if update.edited_message is not None or update.edited_channel_post is not None:
        # An edit of an old message is not an answer to the current prompt.
        raise ApplicationHandlerStop
    tg_user = update.effective_user
    if tg_user is None:
        raise ApplicationHandlerStop
    deps = context.deps
    chat = update.effective_chat
    if chat is not None and chat.type != ChatType.PRIVATE:
        # A key sent there would be seen by all, and so would every answer.
        await not_private(update, context)
        raise ApplicationHandlerStop
    allowed = deps.settings.allowed_users
    if allowed and tg_user.id not in allowed:
        # Refused before anything is stored: a stranger's row would be kept for nothing.
        context.i18n = I18n(best_locale(None, tg_user.language_code, default=deps.settings.default_locale))
        if deps.updates_limit.allow(tg_user.id):
            await refuse_stranger(update, context, tg_user.id)
        elif update.callback_query is not None:
            await update.callback_query.answer()
        raise ApplicationHandlerStop
    user = await deps.store.ensure_user(tg_user.id, tg_user.language_code)
    if user.blocked:
        # They came back: what waited while they had blocked the bot is due now.
        await deps.store.set_blocked(tg_user.id, False)
        await deps.store.wake_notifications(tg_user.id)
        user.blocked = False
    context.user = user
    context.i18n = I18n(best_locale(user.locale, tg_user.language_code, default=deps.settings.default_locale))
    if update.pre_checkout_query is not None or (update.message and update.message.successful_payment):
        return  # never turned away for speed: Telegram took (or is about to take) the money
    if not deps.updates_limit.allow(tg_user.id):
        if deps.updates_limit.should_warn(tg_user.id) and update.effective_chat is not None:
            await context.bot.send_message(update.effective_chat.id, context.i18n._(
                "You are sending messages too fast. Wait {seconds} seconds, then carry on: nothing you entered is lost.",
                seconds=max(deps.updates_limit.wait_seconds(tg_user.id), 3)))
        elif update.callback_query is not None:
            await update.callback_query.answer()
        raise ApplicationHandlerStop


async def refuse_stranger(update: Update, context: BotContext, user_id: int) -> None:
    text = context.i18n._(
        "Sorry, this bot is private: it serves the members of one panel team only. "
        "If you should have access, ask the bot's operator to add your id {user_id}.",
        user_id=user_id,
    )
    if update.callback_query is not None:
        await update.callback_query.answer(text[:190], show_alert=True)
    elif update.effective_chat is not None:
        await context.bot.send_message(update.effective_chat.id, text)


async def not_private(update: Update, context: BotContext) -> None:
    """One line per message in a group or channel; nothing for service messages and the rest."""
    if update.callback_query is not None:
        await update.callback_query.answer()
    message = update.message
    tg_user = update.effective_user
    if message is None or tg_user is None or not (message.text or message.caption):
        return
    t = I18n(best_locale(None, tg_user.language_code, default=context.deps.settings.default_locale))
    await context.bot.send_message(message.chat.id, t._(
        "I work in private chats only: open a chat with me to order. Never send your panel key in a group."))
