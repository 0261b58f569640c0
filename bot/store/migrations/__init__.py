"""Alembic migrations of the bot's schema; run them with `python -m bot migrate` (see bot.store.migrate)."""
