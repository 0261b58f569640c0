"""The outbox: notifications the watcher and the bot queue in the database, sent to
Telegram by one process at a time (how each reads: bot/views/notices.py)."""
