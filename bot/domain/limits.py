"""Per-user flood limits: a token bucket per user, in memory (the update-taking process
is the only one that sees updates)."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass

SWEEP_ABOVE = 1024


@dataclass(slots=True)
class _Bucket:
    tokens: float
    updated: float
    warned: bool = False


class RateLimit:
    """`allow(user)` spends one token; tokens come back at `rate` a second up to `burst`."""

    def __init__(self, rate: float, burst: int, *, clock: Callable[[], float] = time.monotonic) -> None:
        self.rate = rate
        self.burst = burst
        self.clock = clock
        self._buckets: dict[int, _Bucket] = {}
        self._sweep_at = 0.0

    def __len__(self) -> int:
        """Users with a bucket in memory (a full bucket is forgotten in time)."""
        return len(self._buckets)

    def _sweep(self, now: float) -> None:
        """Forget buckets that have filled up again: a full bucket is what a new user
        gets, so memory stays with the users active lately, not all users ever."""
        refill = self.burst / self.rate if self.rate > 0 else float("inf")
        self._buckets = {
            user: bucket for user, bucket in self._buckets.items() if now - bucket.updated < refill
        }
        self._sweep_at = now + min(refill, 3600.0)

    def allow(self, user_id: int) -> bool:
        now = self.clock()
        bucket = self._buckets.get(user_id)
        if bucket is None:
            if len(self._buckets) > SWEEP_ABOVE and now >= self._sweep_at:
                self._sweep(now)
            bucket = self._buckets[user_id] = _Bucket(float(self.burst), now)
        bucket.tokens = min(float(self.burst), bucket.tokens + (now - bucket.updated) * self.rate)
        bucket.updated = now
        if bucket.tokens >= 1.0:
            bucket.tokens -= 1.0
            bucket.warned = False
            return True
        return False

    def should_warn(self, user_id: int) -> bool:
        """True once per flood, so that refusing a flood does not become one."""
        bucket = self._buckets.get(user_id)
        if bucket is None or bucket.warned:
            return False
        bucket.warned = True
        return True

    def wait_seconds(self, user_id: int) -> int:
        bucket = self._buckets.get(user_id)
        if bucket is None:
            return 0
        return max(1, round((1.0 - bucket.tokens) / self.rate))
