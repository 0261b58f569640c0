"""Process settings of the long-running commands (`run`, `watcher`), which the benchmarks
use too so that they measure the bot as it runs.

- The event loop: uvloop where it is installed (Linux and macOS; it is a dependency
  there), else asyncio's own. The bot's updates are many short steps between the
  database, the panel and Telegram, and uvloop takes a good part of the loop's own cost
  off each of them.
- Long-lived objects out of the cyclic garbage collector's way: a 10,000-service catalog
  is a few hundred thousand objects that live until the next refresh, and every full
  collection would walk them all (tens of milliseconds, paid by whichever update was
  running). `settle_long_lived()` moves what exists now into the collector's permanent
  generation; reference counting still frees it once it is no longer used.
"""

from __future__ import annotations

import asyncio
import gc
import logging
from collections.abc import Coroutine
from typing import Any, TypeVar

log = logging.getLogger(__name__)

__all__ = ["event_loop_name", "new_event_loop", "run", "settle_long_lived", "use_fast_event_loop"]

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
    """Freeze what is alive now out of the cyclic collector's sight (see above)."""
    gc.freeze()
