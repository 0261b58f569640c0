"""Telegram handlers: one module per concern; `register()` wires them to an Application."""

from __future__ import annotations

from telegram import Update
from telegram.ext import (
    Application,
    CallbackQueryHandler,
    CommandHandler,
    MessageHandler,
    TypeHandler,
    filters,
)

from bot.handlers import account, admin, browse, common, confirm, conversation, form, orders, status
from bot.handlers.context import gate


def register(application: Application) -> None:  # type: ignore[type-arg]
    application.add_handler(TypeHandler(Update, gate), group=-2)
    application.add_handler(TypeHandler(Update, conversation.close_abandoned_form), group=-1)
    commands = {
        "start": account.start,
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
    }
    for name, callback in commands.items():
        application.add_handler(CommandHandler(name, callback))
    application.add_handler(CallbackQueryHandler(browse.on_browse_callback, pattern=browse.BROWSE_PATTERN))
    application.add_handler(CallbackQueryHandler(form.on_form_callback, pattern=form.FORM_PATTERN))
    application.add_handler(CallbackQueryHandler(confirm.on_confirm_callback, pattern=confirm.CONFIRM_PATTERN))
    application.add_handler(CallbackQueryHandler(orders.on_orders_callback, pattern=orders.ORDERS_PATTERN))
    application.add_handler(CallbackQueryHandler(common.on_language_callback, pattern=r"^l:[A-Za-z_]{2,10}$"))
    application.add_handler(CallbackQueryHandler(account.balance, pattern=r"^m:b$"))
    application.add_handler(CallbackQueryHandler(account.on_pasted_key_callback, pattern=r"^K:[yn]$"))
    application.add_handler(CallbackQueryHandler(status.recent_orders, pattern=r"^m:o$"))
    application.add_handler(CallbackQueryHandler(admin.on_admin_callback, pattern=admin.ADMIN_PATTERN))
    application.add_handler(CallbackQueryHandler(common.stale_button))
    # Every text answers the state the user is in (bot/handlers/conversation.py).
    application.add_handler(MessageHandler(filters.TEXT & ~filters.COMMAND, conversation.on_text))
    application.add_handler(MessageHandler(filters.COMMAND, common.unknown_command))
    application.add_error_handler(common.on_error)
