"""The updates waiting for the bot: the queue getUpdates long-polls (thread-safe, so a REPL
thread can push), and the webhook that rules polling out."""

from __future__ import annotations

import asyncio
import copy
import threading
from collections.abc import Callable

from bot.playground.fakegram.wire import ApiError, JSONDict, as_bool, as_int, as_json

__all__ = ["UpdateQueue"]


class UpdateQueue:
    """Updates in order, each with its ``update_id``; getUpdates' ``offset`` forgets them."""

    def __init__(self, clock: Callable[[], float]) -> None:
        self.clock = clock
        self.webhook_url: str = ""
        self._updates: list[JSONDict] = []
        self._next_update_id = 1
        self._poll_generation = 0
        self._waiters: list[tuple[asyncio.AbstractEventLoop, asyncio.Event]] = []
        self._lock = threading.RLock()

    def next_update_id(self) -> int:
        with self._lock:
            update_id = self._next_update_id
            self._next_update_id += 1
            return update_id

    def push(self, update: JSONDict) -> JSONDict:
        """Queue an update (assigns ``update_id`` if missing) and wake a waiting poll."""
        with self._lock:
            if "update_id" not in update:
                update = {"update_id": self.next_update_id(), **update}
            self._updates.append(update)
        self._wake_pollers()
        return update

    @property
    def pending(self) -> list[JSONDict]:
        with self._lock:
            return list(self._updates)

    # ------------------------------------------------------------------ Bot API methods

    async def get_updates(self, params: JSONDict) -> list[JSONDict]:
        if self.webhook_url:
            raise ApiError(
                409,
                "Conflict: can't use getUpdates method while webhook is active; "
                "use deleteWebhook to delete the webhook first",
            )
        self._poll_generation += 1
        generation = self._poll_generation
        # A newer long poll terminates an older one, like Telegram's 409 Conflict.
        self._wake_pollers()
        timeout = float(params.get("timeout") or 0)
        deadline = self.clock() + timeout
        while True:
            updates = self._take(params)
            remaining = deadline - self.clock()
            if updates or remaining <= 0:
                return updates
            # Long poll: sleep until push() wakes us or the timeout expires.
            event = asyncio.Event()
            entry = (asyncio.get_running_loop(), event)
            with self._lock:
                self._waiters.append(entry)
            try:
                await asyncio.wait_for(event.wait(), timeout=remaining)
            except TimeoutError:
                pass
            finally:
                with self._lock:
                    if entry in self._waiters:
                        self._waiters.remove(entry)
            if generation != self._poll_generation:
                raise ApiError(
                    409,
                    "Conflict: terminated by other getUpdates request; "
                    "make sure that only one bot instance is running",
                )

    def delete_webhook(self, params: JSONDict) -> bool:
        self.webhook_url = ""
        if as_bool(params.get("drop_pending_updates", False)):
            with self._lock:
                self._updates.clear()
        return True

    def set_webhook(self, params: JSONDict) -> bool:
        url = str(params.get("url") or "")
        if url and not url.startswith("https://"):
            raise ApiError.bad_request("bad webhook: An HTTPS URL must be provided for webhook")
        self.webhook_url = url
        if as_bool(params.get("drop_pending_updates", False)):
            with self._lock:
                self._updates.clear()
        return True

    def get_webhook_info(self, params: JSONDict) -> JSONDict:
        return {
            "url": self.webhook_url,
            "has_custom_certificate": False,
            "pending_update_count": len(self._updates),
        }

    # ------------------------------------------------------------------ internals

    def _take(self, params: JSONDict) -> list[JSONDict]:
        offset = params.get("offset")
        limit = as_int(params.get("limit", 100), "limit")
        limit = min(max(limit, 1), 100)
        allowed = as_json(params.get("allowed_updates"), "allowed_updates")
        with self._lock:
            if offset is not None:
                off = as_int(offset, "offset")
                if off < 0:
                    self._updates = self._updates[off:]
                else:
                    # Offset confirms (and forgets) every earlier update, as Telegram does.
                    self._updates = [u for u in self._updates if u["update_id"] >= off]
            updates = list(self._updates)
        if isinstance(allowed, list) and allowed:
            updates = [u for u in updates if any(k in u for k in allowed)]
        return copy.deepcopy(updates[:limit])

    def _wake_pollers(self) -> None:
        # call_soon_threadsafe works from the loop's own thread too, and from a REPL thread.
        with self._lock:
            waiters = list(self._waiters)
        for loop, event in waiters:
            if not loop.is_closed():
                loop.call_soon_threadsafe(event.set)
