"""Telegram's flood limits, modelled on demand: sliding windows of rate-limited calls,
globally and per chat, refused with 429 and a ``retry_after``."""

from __future__ import annotations

import math
from collections import deque
from collections.abc import Callable
from typing import Protocol

from bot.playground.fakegram.wire import ApiError

__all__ = ["FLOOD_METHODS", "FloodKnobs", "FloodWindows"]

# Methods counted by the flood model (roughly what Telegram throttles per chat).
FLOOD_METHODS = frozenset({"sendmessage", "editmessagetext", "editmessagereplymarkup"})


class FloodKnobs(Protocol):
    """The limits, where tests set them (``FakeTelegram`` attributes)."""

    enforce_flood_limits: bool
    flood_window: float
    flood_global_per_second: float
    flood_per_chat_per_second: float
    flood_per_chat_burst: int


class FloodWindows:
    """The successful rate-limited calls of the last window, globally and per chat."""

    def __init__(self) -> None:
        self._global: deque[float] = deque()
        self._chats: dict[int, deque[float]] = {}

    def admit(self, knobs: FloodKnobs, name: str, chat_id: int, clock: Callable[[], float]) -> None:
        """Count the call of ``name`` in ``chat_id``, or refuse it as Telegram would."""
        if not knobs.enforce_flood_limits or name not in FLOOD_METHODS:
            return
        now = clock()
        window = knobs.flood_window
        global_q = self._global
        chat_q = self._chats.setdefault(chat_id, deque())
        for q in (global_q, chat_q):
            while q and q[0] <= now - window:
                q.popleft()
        global_limit = max(1, int(knobs.flood_global_per_second * window))
        chat_limit = max(knobs.flood_per_chat_burst, int(knobs.flood_per_chat_per_second * window))
        for q, limit in ((global_q, global_limit), (chat_q, chat_limit)):
            if len(q) >= limit:
                retry_after = max(1, math.ceil(q[len(q) - limit] + window - now))
                raise ApiError(
                    429,
                    f"Too Many Requests: retry after {retry_after}",
                    {"retry_after": retry_after},
                )
        global_q.append(now)
        chat_q.append(now)
