"""`Store`: the bot's data access, one object over the store's rooms (users, accounts,
drafts, orders and refills, the outbox, panel facts, shop mode's ledger); every method is one short transaction."""

from __future__ import annotations

from bot.recent import Recent
from bot.store.accounts import AccountsRoom
from bot.store.crypto import KeyBox
from bot.store.ledger import LedgerRoom
from bot.store.orders import OrdersRoom
from bot.store.outbox import OutboxRoom
from bot.store.panel_facts import PanelFactsRoom
from bot.store.prices import PricesRoom
from bot.store.pruning import PruningRoom
from bot.store.topups import TopupsRoom

__all__ = ["Store"]


class Store(OrdersRoom, PruningRoom, AccountsRoom, OutboxRoom, PanelFactsRoom, LedgerRoom, PricesRoom,
            TopupsRoom):
    """The database, through async methods returning detached sqlmodel rows.

    Each room is a module of bot/store/ saying what it stores; they share one engine
    (bot/store/engine.py). `user_cache_seconds`: how long the process that takes updates
    keeps the users and drafts it read or wrote (0: not at all)."""

    def __init__(
        self,
        url: str,
        *,
        echo: bool = False,
        keybox: KeyBox | None = None,
        schema: str | None = None,
        user_cache_seconds: float = 0.0,
    ) -> None:
        super().__init__(url, echo=echo, schema=schema)
        self._keybox = keybox
        self._users = Recent(user_cache_seconds)
        self._drafts = Recent(user_cache_seconds)
