"""What the bot does, apart from how it talks: accounts, catalogs and placing orders.
It uses the panel client and the store, and knows nothing of Telegram."""
