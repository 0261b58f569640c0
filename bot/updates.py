"""How updates are taken in: different users at once, each user's own in order.

PTB's default handles one update at a time, so one slow panel request (an `add` that
takes its whole timeout) would stall every user behind it. PTB's concurrent mode runs
updates side by side but lets two updates of the same person overtake each other (a
quantity typed right after a link could be handled first). `PerUserUpdates` does both
right: updates of different people run concurrently, up to `limit` at once; one
person's updates run one after the other, in the order Telegram sent them.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Coroutine

from telegram import Update
from telegram.ext import BaseUpdateProcessor

__all__ = ["CONCURRENT_UPDATES", "PerUserUpdates", "sender_of"]

# At most this many updates in hand at once (each mostly waits on the panel or Telegram).
CONCURRENT_UPDATES = 64
# PTB's own semaphore is taken before ours and would hold a place while an update waits
# for its user's previous one; it is made wide enough never to bind.
_UNBOUNDED = 1_000_000


def sender_of(update: object) -> int | None:
    """Whose turn the update takes: the user (or else the chat) it comes from."""
    if not isinstance(update, Update):
        return None
    if update.effective_user is not None:
        return update.effective_user.id
    if update.effective_chat is not None:
        return update.effective_chat.id
    return None


class PerUserUpdates(BaseUpdateProcessor):
    """Concurrent across users (at most `limit` updates at once), in order per user.

    The order holds because PTB starts one task per update in arrival order, each task
    reaches the per-user lock without waiting on anything before it, and asyncio locks
    let waiters in first come, first served. A user's waiting updates do not take any of
    the `limit` places, so one person sending fifty messages cannot crowd out others.
    """

    def __init__(self, limit: int = CONCURRENT_UPDATES) -> None:
        if limit < 1:
            raise ValueError("limit must be at least 1")
        super().__init__(max_concurrent_updates=_UNBOUNDED)
        self.limit = limit
        self._slots = asyncio.Semaphore(limit)
        # Per sender: its lock and how many of its updates hold or wait for it.
        self._turns: dict[int, tuple[asyncio.Lock, list[int]]] = {}
        # The tasks handling an update now or waiting their turn (for a bounded stop).
        self._tasks: set[asyncio.Task[object]] = set()

    @property
    def busy(self) -> int:
        """Updates being handled right now (not counting those waiting their turn)."""
        return self.limit - self._slots._value  # noqa: SLF001 (asyncio has no public getter)

    @property
    def waiting_senders(self) -> int:
        """Senders with an update in hand or waiting."""
        return len(self._turns)

    @property
    def in_hand(self) -> frozenset[asyncio.Task[object]]:
        """The tasks of the updates being handled or waiting their turn."""
        return frozenset(self._tasks)

    async def do_process_update(self, update: object, coroutine: Awaitable[object]) -> None:
        task = asyncio.current_task()
        if task is not None:
            self._tasks.add(task)
        try:
            await self._process(update, coroutine)
        finally:
            self._tasks.discard(task)

    async def _process(self, update: object, coroutine: Awaitable[object]) -> None:
        sender = sender_of(update)
        if sender is None:
            async with self._slots:
                await coroutine
            return
        turn = self._turns.get(sender)
        if turn is None:
            turn = self._turns[sender] = (asyncio.Lock(), [0])
        lock, holders = turn
        holders[0] += 1
        started = False
        try:
            async with lock, self._slots:
                started = True
                await coroutine
        finally:
            holders[0] -= 1
            if holders[0] == 0:
                del self._turns[sender]
            if not started and isinstance(coroutine, Coroutine):
                coroutine.close()  # cancelled while waiting: never started, so no warning

    async def initialize(self) -> None:
        """Nothing to set up."""

    async def shutdown(self) -> None:
        """Nothing to release: the updates in hand were waited for (bounded) at stop."""
