"""Telegram handlers: one module per concern; `register()` wires them to an Application."""

from __future__ import annotations

from collections.abc import Callable, Coroutine
from typing import Any

from telegram import Update
from telegram.ext import (
    CallbackQueryHandler,
    CommandHandler,
    MessageHandler,
    PreCheckoutQueryHandler,
    TypeHandler,
    filters,
)

from bot.handlers import (
    account,
    admin,
    browse,
    common,
    confirm,
    conversation,
    form,
    menu,
    orders,
    shop_admin,
    status,
    wallet,
)
from bot.handlers.context import BotApp, BotContext, gate
from bot.views import callback_data as cb

ButtonHandler = Callable[[Update, BotContext], Coroutine[Any, Any, None]]


def register(application: BotApp) -> None:
    # Before everything, in this order (one handler runs per group): who may use the bot
    # and in which language; a message with a panel key in it goes no further; an order
    # form abandoned for a day is closed.
    application.add_handler(TypeHandler(Update, gate), group=-3)
    application.add_handler(TypeHandler(Update, account.guard_pasted_key), group=-2)
    application.add_handler(TypeHandler(Update, conversation.close_abandoned_form), group=-1)
    commands = {
        "start": menu.start,
        "connect": account.connect,
        "balance": account.balance,
        "order": browse.order,
        "services": browse.search_command,
        "search": browse.search_command,
        "status": status.status_command,
        "orders": orders.orders_command,
        "notifications": orders.notifications,
        "help": common.help_command,
        "cancel": conversation.cancel,
        "language": common.language,
        "admin": admin.admin_command,
        "wallet": wallet.wallet_command,
        "topup": wallet.topup_command,
        "credit": wallet.credit_command,
        "debit": wallet.debit_command,
        "refund_topup": wallet.refund_topup_command,
        "topups": wallet.topups_command,
    }
    for name, callback in commands.items():
        application.add_handler(CommandHandler(name, callback))
    # One handler per kind of button; the patterns do not overlap (tests/test_callback_data.py).
    buttons: dict[type[cb.Callback], ButtonHandler] = {
        cb.ShowBalance: account.balance,
        cb.RecentOrders: status.recent_orders,
        cb.SetLanguage: common.on_language_callback,
        cb.LinkPastedKey: account.on_pasted_key_callback,
        cb.ForgetPastedKey: account.on_pasted_key_callback,
        cb.PlatformPage: browse.on_platform_page,
        cb.CategoryPage: browse.on_category_page,
        cb.ServicePage: browse.on_service_page,
        cb.SearchPage: browse.on_search_page,
        cb.OpenService: browse.on_open_service,
        cb.StartOrder: form.on_start_order,
        cb.SkipField: form.on_form_callback,
        cb.ChooseValue: form.on_form_callback,
        cb.EditOrder: form.on_form_callback,
        cb.EditField: form.on_form_callback,
        cb.BackToConfirm: confirm.on_back_to_confirm,
        cb.ConfirmOrder: confirm.on_confirm_order,
        cb.CancelDraft: confirm.on_cancel_draft,
        cb.OrderAgain: confirm.on_order_again,
        cb.OpenOrder: orders.on_open_order,
        cb.RefreshOrder: orders.on_refresh_order,
        cb.RefillOrder: orders.on_refill_order,
        cb.AskCancelOrder: orders.on_ask_cancel_order,
        cb.CancelOrder: orders.on_cancel_order,
        cb.OrdersPage: orders.on_orders_page,
        cb.SetNotifications: orders.on_set_notifications,
        cb.AdminOverview: admin.on_admin_callback,
        cb.UnknownDrafts: admin.on_admin_callback,
        cb.MarkPlaced: admin.on_admin_callback,
        cb.MarkFailed: admin.on_admin_callback,
        cb.AskBroadcast: admin.on_admin_callback,
        cb.SendBroadcast: admin.on_admin_callback,
        cb.LeaveAdminStep: admin.on_admin_callback,
        cb.ShowTopup: wallet.topup_command,
        cb.TopupAmount: wallet.on_topup_amount,
        cb.TopupOther: wallet.on_topup_other,
        cb.ShopPrices: shop_admin.on_prices_callback,
        cb.AskMarkup: shop_admin.on_prices_callback,
        cb.AskMinimum: shop_admin.on_prices_callback,
        cb.PriceCategories: shop_admin.on_prices_callback,
        cb.PriceCategory: shop_admin.on_prices_callback,
        cb.FindService: shop_admin.on_prices_callback,
        cb.AskRule: shop_admin.on_prices_callback,
        cb.ShowRule: shop_admin.on_prices_callback,
        cb.ClearRule: shop_admin.on_prices_callback,
        cb.PriceChanges: shop_admin.on_prices_callback,
        cb.PriceList: shop_admin.on_prices_callback,
        cb.ShopFigures: shop_admin.on_prices_callback,
    }
    for kind, on_press in buttons.items():
        application.add_handler(CallbackQueryHandler(on_press, pattern=kind.PATTERN))
    application.add_handler(CallbackQueryHandler(common.stale_button))
    # Shop mode's payments: Pay pressed on an invoice, and the money taken.
    application.add_handler(PreCheckoutQueryHandler(wallet.pre_checkout))
    application.add_handler(MessageHandler(filters.SUCCESSFUL_PAYMENT, wallet.successful_payment))
    # Every text answers the state the user is in (bot/handlers/conversation.py).
    application.add_handler(MessageHandler(filters.TEXT & ~filters.COMMAND, conversation.on_text))
    application.add_handler(MessageHandler(filters.COMMAND, common.unknown_command))
    application.add_error_handler(common.on_error)
