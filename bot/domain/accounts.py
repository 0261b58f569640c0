"""Which panel account a user orders with: their own linked key, or the team's key."""

from __future__ import annotations

import time
from dataclasses import dataclass

from bot.domain.panels import Panels
from bot.panel.client import PanelClient
from bot.panel.models import Balance
from bot.recent import Recent
from bot.store import PanelAccount, Store

MIN_KEY_LENGTH = 8
MAX_KEY_LENGTH = 200
BALANCE_MAX_AGE = 20.0


@dataclass(frozen=True, slots=True)
class Linked:
    """A usable account: its row, a client on its key, and its key for catalog lookups."""

    account: PanelAccount
    client: PanelClient
    key: str


class Accounts:
    def __init__(
        self, store: Store, panels: Panels, *, team_key: str | None = None, cache_seconds: float = 30.0
    ) -> None:
        self.store = store
        self.panels = panels
        self.team_key = team_key
        # Which account a user orders with is read on most updates; it changes only
        # through `link` (here) or a watcher pausing a key (bounded by the expiry).
        self.cache_seconds = cache_seconds
        self._linked: Recent[int, Linked] = Recent(cache_seconds)
        self._balances: Recent[int, tuple[float, Balance]] = Recent(BALANCE_MAX_AGE)

    @property
    def team_mode(self) -> bool:
        return self.team_key is not None

    async def setup(self) -> None:
        """In team mode, the shared account row exists (currency filled on first balance)."""
        if self.team_key is not None and await self.store.account_for(None, self.panels.url) is None:
            await self.store.link_account(None, self.panels.url, self.team_key, None)

    async def linked(self, user_id: int) -> Linked | None:
        known = self._linked.get(user_id)
        if known is not None:
            return known
        found = await self._load(user_id)
        if found is not None:
            self._linked.put(user_id, found)
        return found

    async def recent_balance(self, linked: Linked, *, max_age: float = BALANCE_MAX_AGE) -> Balance:
        """A balance at most `max_age` seconds old: the confirm screen shows one on every
        draft, and a live call there costs the panel (and the user) a round trip each."""
        assert linked.account.id is not None
        entry = self._balances.get(linked.account.id)
        if entry is not None and time.monotonic() - entry[0] < max_age:
            return entry[1]
        balance = await linked.client.balance()
        self._balances.put(linked.account.id, (time.monotonic(), balance))
        return balance

    def forget_balance(self, linked: Linked) -> None:
        """After an order the balance moved: the next confirm screen asks again."""
        if linked.account.id is not None:
            self._balances.pop(linked.account.id)

    async def _load(self, user_id: int) -> Linked | None:
        owner = None if self.team_mode else user_id
        account = await self.store.account_for(owner, self.panels.url)
        if account is None:
            if self.team_key is None:
                return None
            account = await self.store.link_account(None, self.panels.url, self.team_key, None)
        key = self.store.reveal_key(account)
        return Linked(account, self.panels.client(key), key)

    @staticmethod
    def looks_like_key(text: str) -> bool:
        text = text.strip()
        return MIN_KEY_LENGTH <= len(text) <= MAX_KEY_LENGTH and not any(c.isspace() for c in text)

    async def link(self, user_id: int, key: str) -> tuple[PanelAccount, Balance]:
        """Check a key with `balance` and store it encrypted. Raises the panel's errors."""
        key = key.strip()
        balance = await self.panels.client(key).balance()
        account = await self.store.link_account(user_id, self.panels.url, key, balance.currency or None)
        self._linked.pop(user_id)
        return account, balance
