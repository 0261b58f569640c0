"""Client for SMM panels speaking the standard API v2; knows nothing of Telegram."""
