"""Process settings of the bot's long-running commands (bot/runtime.py).

Plain sync tests: each one undoes what it changes (current loop, collector thresholds,
frozen objects) so that the tests after it run as before.
"""

from __future__ import annotations

import asyncio
import gc
import importlib.util

import pytest

from bot import runtime

HAVE_UVLOOP = importlib.util.find_spec("uvloop") is not None
needs_uvloop = pytest.mark.skipif(not HAVE_UVLOOP, reason="uvloop is not installed")


def test_gc_thresholds_are_less_frequent_than_pythons_default() -> None:
    assert len(runtime.GC_THRESHOLDS) == 3
    assert all(isinstance(value, int) and value > 0 for value in runtime.GC_THRESHOLDS)
    assert runtime.GC_THRESHOLDS[0] > 700


@needs_uvloop
def test_run_runs_the_coroutine_on_uvloop_and_returns_its_result() -> None:
    async def main(value: int) -> tuple[str, int]:
        await asyncio.sleep(0)
        return type(asyncio.get_running_loop()).__module__, value * 2

    module, result = runtime.run(main(21))
    assert module.startswith("uvloop")
    assert result == 42


def test_run_propagates_the_coroutines_exception() -> None:
    async def main() -> None:
        raise LookupError("boom")

    with pytest.raises(LookupError, match="boom"):
        runtime.run(main())


@needs_uvloop
def test_new_event_loop_is_uvloop() -> None:
    loop = runtime.new_event_loop()
    try:
        assert type(loop).__module__.startswith("uvloop")
        assert loop.run_until_complete(asyncio.sleep(0, result="done")) == "done"
    finally:
        loop.close()


@needs_uvloop
def test_event_loop_name_names_uvloop_and_its_version() -> None:
    import uvloop

    name = runtime.event_loop_name()
    assert name == f"uvloop {uvloop.__version__}"
    assert uvloop.__version__ in name


def test_event_loop_name_without_uvloop(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(runtime, "_uvloop", lambda: None)
    assert runtime.event_loop_name() == "asyncio"
    loop = runtime.new_event_loop()
    try:
        assert not type(loop).__module__.startswith("uvloop")
    finally:
        loop.close()


@needs_uvloop
def test_use_fast_event_loop_sets_the_current_loop() -> None:
    loop = runtime.use_fast_event_loop()
    try:
        assert type(loop).__module__.startswith("uvloop")
        assert asyncio.get_event_loop_policy().get_event_loop() is loop
        assert loop.run_until_complete(asyncio.sleep(0, result=1)) == 1
    finally:
        loop.close()
        asyncio.set_event_loop(None)


def test_tune_collector_sets_the_thresholds() -> None:
    old = gc.get_threshold()
    try:
        runtime.tune_collector()
        assert gc.get_threshold() == runtime.GC_THRESHOLDS
    finally:
        gc.set_threshold(*old)
    assert gc.get_threshold() == old


def test_settle_long_lived_freezes_what_is_alive() -> None:
    before = gc.get_freeze_count()
    catalog = [{"service": i, "name": f"Service {i}", "rate": [i, i + 1]} for i in range(1000)]
    try:
        runtime.settle_long_lived()
        assert gc.get_freeze_count() > before + len(catalog)
        # Also usable as a callback (Panels' on_catalog passes the catalog).
        runtime.settle_long_lived(catalog)
    finally:
        gc.unfreeze()
    assert gc.get_freeze_count() == 0
    del catalog
