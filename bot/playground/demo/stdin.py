"""Lines from stdin for the event loop, read one at a time when asked for, and a secret read
with the terminal's echo off."""

from __future__ import annotations

import asyncio
import contextlib
import getpass
import os
import queue
import sys
import threading
from typing import IO, Any


class LineReader:
    """Stdin lines delivered to the event loop by a daemon thread, one per request.

    A daemon thread rather than `asyncio.to_thread`: a `readline` blocked in the default
    executor keeps the process alive after Ctrl-C until Enter is pressed, because
    `asyncio.run` joins the executor on the way out. Lines are read only when asked for
    (never ahead), so that a secret can be read with the terminal's echo off.
    """

    def __init__(self, stream: IO[str]) -> None:
        self.stream = stream
        self._loop = asyncio.get_running_loop()
        self._requests: queue.Queue[tuple[bool, asyncio.Future[str | None]]] = queue.Queue()
        self._saved_tty: tuple[int, list[Any]] | None = None  # fd and its settings while echo is off
        self._ended = False
        threading.Thread(target=self._run, name="demo-stdin", daemon=True).start()

    def _run(self) -> None:
        while True:
            secret, future = self._requests.get()
            try:
                line = self._read_secret() if secret else self.stream.readline()
            except (OSError, ValueError):
                line = ""
            self._put(future, line or None)
            if not line:
                return

    def _read_secret(self) -> str:
        """A line with the terminal's echo off (a plain line when stdin is no terminal)."""
        try:
            import termios  # POSIX only: there is none on Windows (getpass below)

            fd = self.stream.fileno()
            if not os.isatty(fd):
                return self.stream.readline()
            saved = termios.tcgetattr(fd)
        except (ImportError, OSError, ValueError, AttributeError):
            if self.stream is sys.stdin and sys.stdin.isatty():
                return getpass.getpass("") + "\n"  # Windows: no termios
            return self.stream.readline()
        quiet = list(saved)
        quiet[3] &= ~termios.ECHO
        self._saved_tty = (fd, saved)
        try:
            termios.tcsetattr(fd, termios.TCSADRAIN, quiet)
            return self.stream.readline()
        finally:
            self.restore()

    def restore(self) -> None:
        """Echo back on, should the demo end while a secret is being typed."""
        saved, self._saved_tty = self._saved_tty, None
        if saved is not None:
            import termios  # POSIX only, and loaded: the echo was turned off with it

            with contextlib.suppress(OSError, ValueError, termios.error):
                termios.tcsetattr(saved[0], termios.TCSADRAIN, saved[1])

    def _put(self, future: asyncio.Future[str | None], line: str | None) -> None:
        def deliver() -> None:
            if not future.done():
                future.set_result(line)

        with contextlib.suppress(RuntimeError):  # the loop already closed: we are exiting
            self._loop.call_soon_threadsafe(deliver)

    async def _request(self, secret: bool) -> str | None:
        if self._ended:
            return None
        future: asyncio.Future[str | None] = self._loop.create_future()
        self._requests.put((secret, future))
        line = await future
        if line is None:
            self._ended = True
        return line

    async def readline(self) -> str | None:
        """The next line, or None at end of input."""
        return await self._request(False)

    async def readsecret(self) -> str | None:
        """The next line read with the terminal's echo off, or None at end of input."""
        return await self._request(True)
