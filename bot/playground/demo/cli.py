"""`python -m bot demo [options]`: the process around a demo: its streams, logging, signals
and exit code."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import signal
import sys

from bot.logs import configure_logging
from bot.playground.demo.options import Options, parse_options
from bot.playground.demo.screen import Screen


def main(argv: list[str]) -> int:
    """`python -m bot demo [options]`; returns the exit code."""
    options = parse_options(argv)
    if isinstance(options, int):
        return options
    _configure_streams()
    _configure_logging(options.verbose)
    tty = sys.stdout.isatty()
    ansi = tty and not os.environ.get("NO_COLOR") and os.environ.get("TERM") != "dumb"
    screen = Screen(sys.stdout, tty=tty, echo=not sys.stdin.isatty(), ansi=ansi)
    try:
        return asyncio.run(_amain(options, screen))
    except KeyboardInterrupt:
        # Ctrl-C before our handler was installed, or where signals go to asyncio.run.
        print("\n(interrupted)")
        return 0


async def _amain(options: Options, screen: Screen) -> int:
    # The bot, PTB and the sandbox load here, once the options are good: `demo --help`
    # and a usage error answer at once, without the second they take to load.
    from bot.playground.demo.chat import Demo, StartupError

    demo = Demo(options, screen)

    async def start_and_run() -> None:
        await demo.start()
        await demo.run()

    loop = asyncio.get_running_loop()
    session: asyncio.Task[None] | None = None
    interrupted = False

    def on_interrupt() -> None:
        nonlocal interrupted
        interrupted = True
        if session is not None:
            session.cancel()

    # SIGTERM too, so a `kill` still removes the temporary database.
    handled: list[signal.Signals] = []
    for signum in (signal.SIGINT, signal.SIGTERM):
        with contextlib.suppress(NotImplementedError, RuntimeError, ValueError):  # Windows: asyncio.run's own handling
            loop.add_signal_handler(signum, on_interrupt)
            handled.append(signum)
    try:
        session = asyncio.create_task(start_and_run())
        try:
            await session
        except asyncio.CancelledError:
            if not interrupted:
                raise
            screen.took_input(None)
            screen.note("interrupted")
        except StartupError as exc:
            print(f"error: {exc}", file=sys.stderr)
            return 2
    finally:
        await demo.stop()
        for signum in handled:
            loop.remove_signal_handler(signum)
    temporary = demo.session.tmpdir is not None
    if demo.real:
        screen.emit("Bye! (the demo database is gone; your panel keeps what you ordered)" if temporary else "Bye!")
    else:
        screen.emit("Bye! (the sandbox and the demo database are gone)" if temporary else "Bye!")
    return 0


def _configure_streams() -> None:
    # A non-UTF-8 terminal must not crash on an emoji, nor odd input bytes on reading.
    for stream, errors in ((sys.stdout, "replace"), (sys.stderr, "backslashreplace"), (sys.stdin, "replace")):
        reconfigure = getattr(stream, "reconfigure", None)
        if reconfigure is not None:
            with contextlib.suppress(Exception):
                reconfigure(errors=errors)


def _configure_logging(verbose: bool) -> None:
    configure_logging(logging.INFO if verbose else logging.WARNING)
    if not verbose:
        # The fake logs every refused Bot API call at INFO; keep PTB/apscheduler chatter out.
        for name in ("apscheduler", "telegram", "bot.playground.fakegram"):
            logging.getLogger(name).setLevel(logging.WARNING)
