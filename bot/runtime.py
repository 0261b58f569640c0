"""Process settings of the long-running commands (`run`, `watcher`), which the benchmarks
use too so that they measure the bot as it runs.

- The event loop: uvloop where it is installed (Linux and macOS; it is a dependency
  there), else asyncio's own. The bot's updates are many short steps between the
  database, the panel and Telegram, and uvloop takes a good part of the loop's own cost
  off each of them.
- The cyclic garbage collector: less often (GC_THRESHOLDS), and long-lived objects out
  of its way: everything alive once the bot has started, and a 10,000-service catalog
  is a few hundred thousand objects that live until the next refresh, and every full
  collection would walk them all (tens of milliseconds, paid by whichever update was
  running). `settle_long_lived()` moves what exists now into the collector's permanent
  generation; reference counting still frees it once it is no longer used.
"""

from __future__ import annotations

import asyncio
import ctypes
import ctypes.util
import functools
import gc
import logging
import time
from collections.abc import Coroutine
from typing import Any, TypeVar

log = logging.getLogger(__name__)

__all__ = [
    "GC_THRESHOLDS",
    "event_loop_name",
    "new_event_loop",
    "run",
    "settle_long_lived",
    "trim_heap",
    "tune_collector",
    "use_fast_event_loop",
]

# The cyclic collector's thresholds for the bot's processes. Each update allocates a
# few thousand objects, almost all freed by reference counting at once; with Python's
# default (700, 10, 10) a full collection came every few seconds under load and paused
# every update in flight for up to ~80 ms. Young collections every 20,000 allocations
# still catch short-lived cycles; full ones come a hundred times less often.
GC_THRESHOLDS = (20_000, 20, 100)

T = TypeVar("T")


def _uvloop() -> Any:
    try:
        import uvloop
    except ImportError:
        return None
    return uvloop


def new_event_loop() -> asyncio.AbstractEventLoop:
    """A new event loop: uvloop's when available."""
    uvloop = _uvloop()
    return uvloop.new_event_loop() if uvloop is not None else asyncio.new_event_loop()


def use_fast_event_loop() -> asyncio.AbstractEventLoop:
    """Make a new (uvloop) event loop this thread's current one, for code that asks for
    the current loop (PTB's `run_polling` / `run_webhook`)."""
    loop = new_event_loop()
    asyncio.set_event_loop(loop)
    return loop


def run(coroutine: Coroutine[Any, Any, T]) -> T:
    """`asyncio.run` on a new (uvloop) event loop."""
    with asyncio.Runner(loop_factory=new_event_loop) as runner:
        return runner.run(coroutine)


def event_loop_name() -> str:
    """What `new_event_loop()` gives, for logs and benchmark reports."""
    uvloop = _uvloop()
    return f"uvloop {uvloop.__version__}" if uvloop is not None else "asyncio"


def settle_long_lived(*_: object) -> None:
    """Freeze what is alive now out of the cyclic collector's sight (see above), and
    hand the memory freed since (a catalog's parse: tens of thousands of short-lived
    dicts) back to the system where the C library allows it."""
    gc.freeze()
    _trim_heap()


def trim_heap(*_: object) -> None:
    """After a big reply (a 2 MB catalog) was read and dropped: collect the youngest
    generation, where httpx's response (a reference cycle with its stream, so freed only
    by the collector) and its body still are, and hand the freed heap back to the
    system. Without it, with the thresholds above, a crowd of catalog fetches left
    ~170 MB of bodies waiting for a collection."""
    gc.collect(0)
    global _trimmed_at
    now = time.monotonic()
    if now - _trimmed_at >= TRIM_EVERY:  # a trim walks the heap (up to ms): not per reply
        _trimmed_at = now
        _trim_heap()


TRIM_EVERY = 10.0
_trimmed_at = 0.0


def _trim_heap() -> None:
    trim = _malloc_trim()
    if trim is not None:
        trim(0)


@functools.cache
def _malloc_trim() -> Any:
    """glibc's malloc_trim, or None elsewhere (musl, macOS)."""
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
        return libc.malloc_trim
    except (OSError, AttributeError):
        return None


def tune_collector() -> None:
    """The collector settings of the bot's processes (see GC_THRESHOLDS)."""
    gc.set_threshold(*GC_THRESHOLDS)
