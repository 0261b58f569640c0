"""How things look in Telegram, apart from who answers what: texts, order cards, buttons
and their callback data. Used by the handlers and by the outbox (which sends without them)."""
