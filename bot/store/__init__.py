"""The bot's database layer: sqlmodel tables and the async `Store` that reads and writes them
(composed in repo.py from one module per thing stored: users, accounts, drafts, orders, outbox...)."""

from bot.store.accounts import PAUSED_INVALID_KEY, PAUSED_UNDECRYPTABLE
from bot.store.crypto import DecryptError, KeyBox
from bot.store.db import normalize_url
from bot.store.drafts import DraftStateError
from bot.store.engine import StoreError
from bot.store.models import (
    NOTIFICATION_MODES,
    Draft,
    DraftState,
    Notification,
    Order,
    PanelAccount,
    PanelFact,
    Refill,
    User,
)
from bot.store.outbox import Notice
from bot.store.repo import Store
from bot.store.users import KEEP

# The newest migration's revision: start-up compares the database with it without
# importing alembic (tests/test_migrations.py checks it is the migrations' head).
SCHEMA_HEAD = "0006"

__all__ = [
    "KEEP",
    "NOTIFICATION_MODES",
    "PAUSED_INVALID_KEY",
    "PAUSED_UNDECRYPTABLE",
    "SCHEMA_HEAD",
    "DecryptError",
    "Draft",
    "DraftState",
    "DraftStateError",
    "KeyBox",
    "Notice",
    "Notification",
    "Order",
    "PanelAccount",
    "PanelFact",
    "Refill",
    "Store",
    "StoreError",
    "User",
    "normalize_url",
]
