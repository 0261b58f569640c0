"""The bot's database layer: sqlmodel tables and the async `Store` that reads and writes them."""

from bot.store.crypto import DecryptError, KeyBox
from bot.store.db import normalize_url
from bot.store.models import (
    NOTIFICATION_MODES,
    CatalogSnapshot,
    Draft,
    DraftState,
    Notification,
    Order,
    PanelAccount,
    PanelFact,
    Refill,
    User,
)
from bot.store.repo import KEEP, DraftStateError, Notice, Store, StoreError

# The newest migration's revision: start-up compares the database with it without
# importing alembic (tests/test_migrations.py checks it is the migrations' head).
SCHEMA_HEAD = "0003"

__all__ = [
    "KEEP",
    "SCHEMA_HEAD",
    "NOTIFICATION_MODES",
    "CatalogSnapshot",
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
