"""Which panel account a user orders with: their own linked key, or the team's key."""

from __future__ import annotations

import asyncio
import dataclasses
import logging
import time
from dataclasses import dataclass, field
from decimal import Decimal

from bot.domain.notices import KIND_KEY_UNDECRYPTABLE
from bot.domain.panels import Panels
from bot.logs import redact_in_logs
from bot.panel.client import PanelClient
from bot.panel.errors import PanelError, PanelWebPage
from bot.panel.models import Balance
from bot.recent import Recent
from bot.store import PAUSED_UNDECRYPTABLE, DecryptError, KeyBox, Notice, PanelAccount, Store

log = logging.getLogger(__name__)

MIN_KEY_LENGTH = 8
MAX_KEY_LENGTH = 200
BALANCE_MAX_AGE = 20.0
# Linking a key looks for the panel's endpoint again when none was found (or the one
# found answers a web page now): for at most this long.
LINK_FIND_SECONDS = 12.0
# How long a screen waits to learn an account's currency it does not know yet.
CURRENCY_DEADLINE = 2.0


@dataclass(frozen=True, slots=True)
class Linked:
    """A usable account: its row, a client on its key, and its key for catalog lookups."""

    account: PanelAccount
    client: PanelClient = field(repr=False)
    key: str = field(repr=False)  # never in a repr, and so never in a log line


class Accounts:
    def __init__(
        self, store: Store, panels: Panels, *, team_key: str | None = None, cache_seconds: float = 30.0
    ) -> None:
        self.store = store
        self.panels = panels
        self.team_key = team_key
        redact_in_logs(team_key)
        # Which account a user orders with is read on most updates; it changes only
        # through `link` (here) or a watcher pausing a key (bounded by the expiry).
        self.cache_seconds = cache_seconds
        self._linked: Recent[int, Linked] = Recent(cache_seconds)
        self._balances: Recent[int, tuple[float, Balance]] = Recent(BALANCE_MAX_AGE)
        self._asking: dict[int, asyncio.Future[Balance]] = {}

    @property
    def team_mode(self) -> bool:
        return self.team_key is not None

    async def setup(self) -> None:
        """In team mode, the shared account row holds PANEL_KEY: made on the first start
        (currency filled on first balance), linked again (which lifts a pause) when
        PANEL_KEY was changed or SECRET_KEY can no longer open the stored one."""
        if self.team_key is None:
            return
        account = await self.store.account_for(None, self.panels.url)
        if account is None:
            await self.store.link_account(None, self.panels.url, self.team_key, None)
        elif account.key_fingerprint != KeyBox.fingerprint(self.panels.url, self.team_key):
            log.info("team account: PANEL_KEY was changed; the new key replaces the stored one")
            await self.store.link_account(None, self.panels.url, self.team_key, None)
        elif self._reveal(account) is None:
            await self._team_relink(account)

    async def linked(self, user_id: int) -> Linked | None:
        known = self._linked.get(user_id)
        if known is not None and known.client.url == self.panels.endpoint:
            return known
        found = await self._load(user_id)
        if found is not None:
            self._linked.put(user_id, found)
        return found

    async def recent_balance(self, linked: Linked, *, max_age: float = BALANCE_MAX_AGE) -> Balance:
        """A balance at most `max_age` seconds old: the confirm screen shows one on every
        draft, and a live call there costs the panel (and the user) a round trip each."""
        assert linked.account.id is not None
        account_id = linked.account.id
        entry = self._balances.get(account_id)
        if entry is not None and time.monotonic() - entry[0] < max_age:
            return entry[1]
        # Everyone who needs it now waits for the one request in flight (a shop's many
        # customers share its one account): one `balance` call, not one each.
        asking = self._asking.get(account_id)
        if asking is None:
            asking = asyncio.ensure_future(self._ask_balance(linked))
            self._asking[account_id] = asking
            asking.add_done_callback(lambda _done: self._asking.pop(account_id, None))
        return await asyncio.shield(asking)

    async def _ask_balance(self, linked: Linked) -> Balance:
        assert linked.account.id is not None
        balance = await linked.client.balance()
        self._balances.put(linked.account.id, (time.monotonic(), balance))
        await self.remember_currency(linked, balance.currency)
        return balance

    def spend(self, linked: Linked, amount: Decimal) -> None:
        """An order just took `amount` from the account: the balance known is that much
        lower now (a shop's guard reads it on every Confirm, with no call to the panel)."""
        if linked.account.id is None:
            return
        entry = self._balances.get(linked.account.id)
        if entry is not None:
            at, balance = entry
            self._balances.put(linked.account.id, (at, dataclasses.replace(balance, amount=balance.amount - amount)))

    async def remember_currency(self, linked: Linked, currency: str | None) -> None:
        """Keep the currency a `balance` reply named on the account row, so that prices
        everywhere carry it (the team account is made before any balance is asked)."""
        if not currency or currency == linked.account.currency or linked.account.id is None:
            return
        await self.store.set_account_currency(linked.account.id, currency)
        linked.account.currency = currency

    async def currency(self, linked: Linked, *, deadline: float = CURRENCY_DEADLINE) -> str | None:
        """The account's currency; when not yet known, one quick `balance` to learn it (a
        panel that does not answer in time leaves prices without a symbol, not the screen
        waiting)."""
        if linked.account.currency:
            return linked.account.currency
        try:
            await asyncio.wait_for(self.recent_balance(linked), deadline)
        except (PanelError, TimeoutError):
            return None
        return linked.account.currency

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
        key = self._reveal(account)
        if key is None:
            if self.team_key is None:
                await self._undecryptable(account)
                return None
            account, key = await self._team_relink(account), self.team_key
        elif account.pause_reason == PAUSED_UNDECRYPTABLE:
            # SECRET_KEY was put back: the key is usable again, and watched again.
            account = await self.store.link_account(account.user_id, self.panels.url, key, account.currency)
        return Linked(account, self.panels.client(key), key)

    def _reveal(self, account: PanelAccount) -> str | None:
        try:
            key = self.store.reveal_key(account)
        except DecryptError:
            return None
        redact_in_logs(key)
        return key

    async def _team_relink(self, account: PanelAccount) -> PanelAccount:
        assert self.team_key is not None
        log.warning("team account: the stored key cannot be decrypted with the configured SECRET_KEY "
                    "(was SECRET_KEY replaced instead of rotated?); linked again from PANEL_KEY")
        return await self.store.link_account(None, self.panels.url, self.team_key, account.currency)

    async def _undecryptable(self, account: PanelAccount) -> None:
        """The owner's key is lost to a replaced SECRET_KEY: they are shown the link prompt
        (as not linked) and told once; the account is paused so the watcher leaves it."""
        if account.pause_reason == PAUSED_UNDECRYPTABLE or account.id is None or account.user_id is None:
            return
        notice = Notice(
            user_id=account.user_id,
            kind=KIND_KEY_UNDECRYPTABLE,
            dedupe_key=f"{KIND_KEY_UNDECRYPTABLE}:{account.id}:{account.key_fingerprint}",
            payload={"key_hint": account.key_hint},
        )
        if await self.store.pause_undecryptable(account.id, notice):
            log.warning("panel account %d (user %d): the stored key cannot be decrypted with the configured "
                        "SECRET_KEY; check SECRET_KEY (to change it, rotate: SECRET_KEY=new,old). The account is "
                        "paused and its owner asked to link the key again", account.id, account.user_id)

    @staticmethod
    def looks_like_key(text: str) -> bool:
        text = text.strip()
        return MIN_KEY_LENGTH <= len(text) <= MAX_KEY_LENGTH and not any(c.isspace() for c in text)

    async def link(self, user_id: int, key: str) -> tuple[PanelAccount, Balance]:
        """Check a key with `balance` and store it encrypted. Raises the panel's errors:
        a `PanelWebPage` when PANEL_URL leads to web pages only (check PANEL_URL).

        When no endpoint was found yet (the panel was down at start-up), or the one in
        use answers a web page, the endpoint is looked for first (with a dummy key: the
        user's goes only to the URL that answered as the API)."""
        key = key.strip()
        if self.panels.unresolved:
            await self._find_endpoint()
        try:
            balance = await self.panels.client(key).balance()
        except PanelWebPage:
            before = self.panels.endpoint
            await self._find_endpoint()
            if self.panels.endpoint == before:
                raise
            balance = await self.panels.client(key).balance()
        account = await self.store.link_account(user_id, self.panels.url, key, balance.currency or None)
        self._linked.pop(user_id)
        return account, balance

    async def _find_endpoint(self) -> None:
        """Look for the endpoint; raise what makes linking impossible now when none
        answers JSON."""
        before = self.panels.endpoint
        found = await self.panels.find_endpoint(None, seconds=LINK_FIND_SECONDS)
        if found.endpoint is not None:
            if found.endpoint != before:
                log.info("%s", found.line())
            return
        log.warning("%s", found.line())
        problem = self.panels.unusable()
        if problem is not None:
            raise problem
        if found.misconfigured:
            raise PanelWebPage(found.line())
