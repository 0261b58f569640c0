"""/start: a new user is asked for their key; a linked user gets the main menu, balance
and open orders in one message, the main actions as buttons."""

from __future__ import annotations

import asyncio

from telegram import Update

from bot.handlers import wallet
from bot.handlers.account import how_to_link, main_menu
from bot.handlers.context import BotContext
from bot.handlers.states import AwaitingKey, enter
from bot.handlers.ui import show
from bot.panel.errors import PanelError, PanelRefusal
from bot.views.texts import refusal

# /start answers within this whatever the panel does: a balance it cannot give by then
# is left out of the menu, not waited for.
MENU_BALANCE_DEADLINE = 3.0


async def main_screen(update: Update, context: BotContext) -> None:
    """Greeting, balance (at most a few seconds old, or "not available" when the panel
    does not answer in time) and the count of open orders, with the menu's buttons."""
    t = context.i18n
    user_id = context.user.telegram_id
    accounts = context.deps.accounts
    lines = [
        t._("👋 Hello! Choose a service and I will place the order on your panel. "
            "Type a few words to search, or a service number to open it."),
        "",
    ]
    shop = context.deps.shop
    if shop is not None:
        lines[0] = t._("👋 Hello! Choose a service and I will place the order. "
                       "Type a few words to search, or a service number to open it.")
        wallet = await context.deps.store.balance(user_id)
        lines.append(t._("💳 Wallet: <b>{balance}</b> · top up with /topup", balance=t.money(wallet, shop.currency)))
        count = await context.deps.store.count_orders(user_id, open_only=True)
        lines.append(t._("📋 Open orders: {count}", count=t.number(count)))
        await show(update, context, "\n".join(lines), main_menu(t))
        return
    linked = await accounts.linked(user_id)
    balance, refused = None, None
    if linked is not None:
        try:
            balance = await asyncio.wait_for(accounts.recent_balance(linked), MENU_BALANCE_DEADLINE)
        except PanelRefusal as error:
            refused = refusal(t, error.refusal)
        except (PanelError, TimeoutError):
            pass
    if balance is not None:
        lines.append(t._("💰 Balance: <b>{balance}</b>", balance=t.money(balance.amount, balance.currency)))
    elif refused is not None:
        lines.append("💰 " + refused)  # a key the panel refuses: what to do about it
    else:
        lines.append(t._("💰 Balance: not available right now (the panel is not answering)"))
    count = await context.deps.store.count_orders(user_id, open_only=True)
    lines.append(t._("📋 Open orders: {count}", count=t.number(count)))
    await show(update, context, "\n".join(lines), main_menu(t))


async def start(update: Update, context: BotContext) -> None:
    """Greet; ask for a key if the user has none linked, else show the main menu."""
    t = context.i18n
    if context.args:
        await wallet.accept_referral(update, context, context.args[0])  # /start ref_<code> (shop mode)
    linked = await context.deps.accounts.linked(context.user.telegram_id)
    if linked is None:
        await enter(context, AwaitingKey())
        await show(update, context, t._("👋 Hello! I place orders on your SMM panel from this chat.") + "\n\n" + how_to_link(t))
        return
    await enter(context, None)
    await main_screen(update, context)
