"""`Recent`: a time-bounded memory for caches that must not grow with the bot's age."""

from __future__ import annotations

import time
from typing import Generic, TypeVar

__all__ = ["Recent"]

K = TypeVar("K")
V = TypeVar("V")


class Recent(Generic[K, V]):
    """What this process read or wrote lately, each entry kept `ttl` seconds (0: none).
    Expired entries are swept out as new ones come, so it holds about what `ttl` seconds
    of traffic touched, however long the process runs."""

    SWEEP_ABOVE = 512

    def __init__(self, ttl: float) -> None:
        self.ttl = ttl
        self._items: dict[K, tuple[float, V]] = {}
        self._sweep_at = 0.0

    def get(self, key: K) -> V | None:
        entry = self._items.get(key)
        if entry is None:
            return None
        if time.monotonic() - entry[0] > self.ttl:
            del self._items[key]
            return None
        return entry[1]

    def put(self, key: K, value: V) -> None:
        if self.ttl <= 0:
            return
        now = time.monotonic()
        self._items[key] = (now, value)
        if len(self._items) > self.SWEEP_ABOVE and now >= self._sweep_at:
            self._items = {k: e for k, e in self._items.items() if now - e[0] <= self.ttl}
            self._sweep_at = now + self.ttl

    def pop(self, key: K) -> None:
        self._items.pop(key, None)

    def clear(self) -> None:
        self._items.clear()

    def __len__(self) -> int:
        return len(self._items)
