"""What a panel can do, learnt from its answers instead of assumed.

Panels of some families lack actions the API page lists (`This action is Invalid` to
`refill`, `refill_status` or `cancel`), want a `quantity` for package types, or cannot
create subscriptions through the API. Each such answer is a *fact* stored per panel URL
(`panel_facts`), shared by every process on the database. A missing action is asked
again once its fact is a day old (the panel may have added it); the other facts hold
until the panel shows otherwise.

`PanelFacts` keeps a short-lived copy in memory, so that drawing an order card does not
read the database each time; what one process learns is seen by the others within
`refresh` seconds.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from bot.store import Store
from bot.store.models import utcnow

# Facts: the names stored in panel_facts.name.
NO_REFILL = "no_action:refill"
NO_REFILL_STATUS = "no_action:refill_status"
NO_CANCEL = "no_action:cancel"
PACKAGE_NEEDS_QUANTITY = "package_needs_quantity"  # `add` of a package wants quantity = min
NO_SUBSCRIPTIONS = "no_subscriptions"  # `add` cannot create a Subscriptions order

ACTION_FACTS = {"refill": NO_REFILL, "refill_status": NO_REFILL_STATUS, "cancel": NO_CANCEL}
FACTS = frozenset({*ACTION_FACTS.values(), PACKAGE_NEEDS_QUANTITY, NO_SUBSCRIPTIONS})

# A missing action is tried again after this long.
RECHECK = timedelta(days=1)


@dataclass(frozen=True, slots=True)
class Abilities:
    """One panel as the bot knows it now; everything is assumed until shown otherwise."""

    refill: bool = True
    refill_status: bool = True
    cancel: bool = True
    subscriptions: bool = True
    package_needs_quantity: bool = False

    @classmethod
    def from_facts(cls, facts: dict[str, datetime], now: datetime) -> Abilities:
        def lacks(name: str) -> bool:
            learnt = facts.get(name)
            return learnt is not None and now - learnt < RECHECK

        return cls(
            refill=not lacks(NO_REFILL),
            refill_status=not lacks(NO_REFILL_STATUS),
            cancel=not lacks(NO_CANCEL),
            subscriptions=NO_SUBSCRIPTIONS not in facts,
            package_needs_quantity=PACKAGE_NEEDS_QUANTITY in facts,
        )


class PanelFacts:
    """The facts of one panel URL, read through a cache of `refresh` seconds."""

    def __init__(self, store: Store, panel_url: str, *, refresh: float = 60.0,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.store = store
        self.panel_url = panel_url
        self.refresh = refresh
        self._clock = clock
        self._facts: dict[str, datetime] | None = None
        self._read_at = 0.0

    async def _load(self) -> dict[str, datetime]:
        if self._facts is None or self._clock() - self._read_at >= self.refresh:
            rows = await self.store.panel_facts(self.panel_url)
            self._facts = {row.name: _aware(row.learnt_at) for row in rows}
            self._read_at = self._clock()
        return self._facts

    async def abilities(self) -> Abilities:
        return Abilities.from_facts(await self._load(), utcnow())

    async def learn(self, name: str, detail: str | None = None) -> bool:
        """Store one fact; True when it is news (not known, or known but due a re-check),
        so the caller says it once."""
        if name not in FACTS:
            raise ValueError(f"unknown panel fact {name!r}")
        facts = await self._load()
        now = utcnow()
        learnt = facts.get(name)
        news = learnt is None or (name in ACTION_FACTS.values() and now - learnt >= RECHECK)
        await self.store.learn_panel_fact(self.panel_url, name, detail)
        facts[name] = now
        return news

    async def forget(self, name: str) -> bool:
        """The panel did what a fact said it cannot (an action answered): drop the fact."""
        facts = await self._load()
        facts.pop(name, None)
        return await self.store.forget_panel_fact(self.panel_url, name)

    async def lacks_action(self, action: str) -> bool:
        abilities = await self.abilities()
        return not bool(getattr(abilities, action))


def _aware(moment: datetime) -> datetime:
    # SQLite hands back naive datetimes for timezone-aware columns.
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=UTC)
