"""Linking a panel account (`/start`, `/connect`, a pasted key) and `/balance`."""

from __future__ import annotations

import asyncio
import logging

from telegram import InlineKeyboardMarkup, Update
from telegram.error import TelegramError
from telegram.ext import ApplicationHandlerStop

from bot.domain.accounts import Accounts, Linked
from bot.handlers import wallet
from bot.handlers.context import BotContext
from bot.handlers.states import AwaitingKey, current, enter
from bot.handlers.ui import drop_keyboard, from_panel, show
from bot.i18n import I18n
from bot.logs import redact_in_logs, secrets_in
from bot.panel.catalog import Catalog
from bot.panel.errors import PanelRefusal, PanelUnavailable, PanelWebPage, RefusalKind
from bot.store import KeyBox
from bot.views.callback_data import (
    ForgetPastedKey,
    LinkPastedKey,
    PlatformPage,
    RecentOrders,
    ShowBalance,
)
from bot.views.markup import button, esc, keyboard
from bot.views.texts import panel_down

log = logging.getLogger(__name__)

# /balance answers within this, whatever the panel does; reads retry inside it.
BALANCE_DEADLINE = 8.0
CATALOG_DEADLINE = 25.0


def main_menu(t: I18n) -> InlineKeyboardMarkup:
    return keyboard([
        [button(t._("🛒 New order"), PlatformPage(0))],
        [button(t._("💰 Balance"), ShowBalance()), button(t._("📋 Orders"), RecentOrders())],
    ])


def how_to_link(t: I18n) -> str:
    return t._(
        "To order, link your panel account: open the panel's API page, copy your API key "
        "and send it here as a message (or as /connect KEY). I check it with the panel, "
        "store it encrypted and delete your message."
    )


async def require_account(update: Update, context: BotContext) -> Linked | None:
    """The user's account, or a reply saying how to link one."""
    linked = await context.deps.accounts.linked(context.user.telegram_id)
    if linked is None:
        await enter(context, AwaitingKey())
        await show(update, context, how_to_link(context.i18n), edit=False)
    return linked


async def load_catalog(update: Update, context: BotContext, linked: Linked) -> Catalog | None:
    """The catalog the user orders from, or a reply that the panel is not answering. In
    shop mode the shop's: hidden services left out, at the shop's prices."""
    catalog = await load_panel_catalog(update, context, linked)
    shop = context.deps.shop
    if catalog is None or shop is None:
        return catalog
    return await shop.priced(catalog)


async def prices_currency(context: BotContext, linked: Linked) -> str | None:
    """The currency prices are shown in: the shop's, or the panel account's."""
    if context.deps.shop is not None:
        return context.deps.shop.currency
    return await context.deps.accounts.currency(linked)


async def load_panel_catalog(update: Update, context: BotContext, linked: Linked) -> Catalog | None:
    """The panel's own catalog (at the panel's rates), or a reply that it is not answering."""
    return await from_panel(update, context, context.deps.panels.catalog(linked.key), CATALOG_DEADLINE)


async def connect(update: Update, context: BotContext) -> None:
    """`/connect KEY` links the key; `/connect` alone asks for it."""
    t = context.i18n
    if context.deps.shop is not None:
        await show(update, context, t._("There is no key to link here: you pay for orders from your wallet (/balance)."))
        return
    if context.deps.accounts.team_mode:
        await show(update, context, t._("This bot orders with your team's shared panel account; there is no key to link."))
        return
    if context.args:
        await link_key(update, context, " ".join(context.args))
        return
    await enter(context, AwaitingKey())
    await show(update, context, t._("Send me your panel API key as a message. I will delete the message once the key is stored."))


async def delete_key_message(update: Update) -> bool:
    """Delete the user's message that carried a key; False when Telegram would not."""
    message = update.effective_message
    if message is None:
        return False
    try:
        await message.delete()
    except TelegramError as error:
        log.info("could not delete the message with a key: %s", type(error).__name__)
        return False
    return True


def deletion_note(t: I18n, deleted: bool) -> str:
    if deleted:
        return t._("I deleted your message with the key.")
    return t._("Please delete your message with the key yourself: I could not delete it.")


async def link_key(update: Update, context: BotContext, text: str, *, in_message: bool = True) -> None:
    """Check a key with the panel, store it encrypted; `in_message`: the update's message
    carries the key and is deleted (and the user told whether it was)."""
    t = context.i18n
    key = text.strip()
    redact_in_logs(key)
    note, deleted = "", True
    if in_message:
        deleted = await delete_key_message(update)
        note = "\n" + deletion_note(t, deleted)
    if not Accounts.looks_like_key(key):
        # Most likely not a key at all: "I deleted your message with the key" would puzzle.
        await show(update, context, t._("That does not look like an API key: it is a single word of letters and digits from the panel's API page. Send it again.") + ("" if deleted else note), edit=False)
        return
    try:
        _account, balance = await asyncio.wait_for(
            context.deps.accounts.link(context.user.telegram_id, key), BALANCE_DEADLINE * 2
        )
    except PanelRefusal as refused:
        if refused.kind is RefusalKind.INVALID_KEY:
            reply = t._("❌ The panel did not accept this key (it said: «{text}»). Check it on the panel's API page and send it again.", text=esc(refused.text))
        else:
            reply = t._("❌ The panel refused the key: «{text}».", text=esc(refused.text))
        await show(update, context, reply + note, edit=False)
        return
    except PanelWebPage as error:
        await show(update, context, panel_down(t, error) + "\n" + t._("Your key was not stored.") + note, edit=False)
        return
    except (PanelUnavailable, TimeoutError):
        await show(update, context, panel_down(t) + "\n" + t._("Your key was not stored; send it again later.") + note, edit=False)
        return
    await enter(context, None)
    await show(
        update,
        context,
        t._("✅ Linked the key {hint}. Balance: {balance}.", hint=esc(KeyBox.mask(key)), balance=t.money(balance.amount, balance.currency))
        + note,
        main_menu(t),
        edit=False,
    )


async def guard_pasted_key(update: Update, context: BotContext) -> None:
    """Runs right after the gate, for every message: one with a key-shaped word goes no
    further (see pasted_key)."""
    message = update.message
    if message is not None and message.text and secrets_in(message.text):
        if await pasted_key(update, context, message.text):
            raise ApplicationHandlerStop


async def pasted_key(update: Update, context: BotContext, text: str) -> bool:
    """A message with a key-shaped word outside the key prompt (a form field, a search,
    a command's words): deleted, never stored nor echoed, and in own-key mode offered
    for linking. False when the key prompt (or /connect) is where it belongs."""
    t = context.i18n
    deps = context.deps
    user_id = context.user.telegram_id
    team = deps.accounts.team_mode
    words = text.split()
    command = words[0].split("@")[0].lower() if words and words[0].startswith("/") else None
    if not team and command == "/connect":
        return False
    if not team and command is None:
        if isinstance(await current(context), AwaitingKey):
            return False
    keys = secrets_in(text)
    for key in keys:
        redact_in_logs(key)
    deleted = await delete_key_message(update)
    lines = [t._("🔑 That looks like a panel API key, so I did not use your message."), deletion_note(t, deleted)]
    if deps.shop is not None:
        lines.append(t._("You pay for orders from your wallet here: never send a panel key."))
        await show(update, context, "\n".join(lines), edit=False)
        return True
    if team:
        lines.append(t._("This bot orders with your team's shared panel account: never send a key here."))
        await show(update, context, "\n".join(lines), edit=False)
        return True
    deps.pasted_keys.put(user_id, keys[0])
    lines.append(t._("Link it as your panel key?"))
    markup = keyboard([[button(t._("🔑 Link this key"), LinkPastedKey()), button(t._("No"), ForgetPastedKey())]])
    await show(update, context, "\n".join(lines), markup, edit=False)
    return True


async def on_pasted_key_callback(update: Update, context: BotContext) -> None:
    """Under a pasted key: "🔑 Link this key" links it (it was kept in memory only), "No" forgets it."""
    query = update.callback_query
    assert query is not None and query.data is not None
    await query.answer()
    t = context.i18n
    user_id = context.user.telegram_id
    key = context.deps.pasted_keys.get(user_id)
    context.deps.pasted_keys.pop(user_id)
    await drop_keyboard(update)
    if LinkPastedKey.decode(query.data) is None:
        await show(update, context, t._("All right: I forgot that key."), edit=False)
        return
    if key is None or context.deps.accounts.team_mode:
        await enter(context, AwaitingKey())
        await show(update, context, t._("I keep a pasted key only for a few minutes. Send it again as a message to link it."), edit=False)
        return
    await link_key(update, context, key, in_message=False)


async def balance(update: Update, context: BotContext) -> None:
    """`/balance`: the account's balance in the user's number format (shop mode: the wallet)."""
    t = context.i18n
    if context.deps.shop is not None:
        await wallet.wallet_command(update, context)
        return
    if update.callback_query is not None:
        await update.callback_query.answer()
    linked = await require_account(update, context)
    if linked is None:
        return
    result = await from_panel(update, context, linked.client.balance(), BALANCE_DEADLINE)
    if result is None:
        return
    await show(update, context, t._("💰 Balance: <b>{balance}</b>", balance=t.money(result.amount, result.currency)), main_menu(t), edit=False)
