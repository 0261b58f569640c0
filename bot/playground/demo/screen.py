"""The terminal: blocks printed whole, and a prompt kept intact when the bot speaks on its
own while you type."""

from __future__ import annotations

from typing import IO

PROMPT = "you> "
ANSI_RESET = "\x1b[0m"


class Screen:
    """The terminal: prints blocks, keeps the prompt intact when the bot speaks on its own."""

    def __init__(self, stream: IO[str], *, tty: bool, echo: bool, ansi: bool) -> None:
        self.stream = stream
        self.tty = tty  # stdout is a terminal: the prompt line can be cleared and redrawn
        self.echo = echo  # stdin is not a terminal: nobody else shows what was read
        self.ansi = ansi
        self._prompting = False
        self._prompt_text = PROMPT
        self._said = False  # output since the last prompt: a blank line sets it apart

    def style(self, text: str, code: str) -> str:
        return f"\x1b[{code}m{text}{ANSI_RESET}" if self.ansi else text

    def note(self, text: str) -> None:
        self.emit(self.style(f"({text})", "2"))

    def emit(self, text: str) -> None:
        if self._prompting:
            # Something arrived while the prompt waits: put it above a fresh prompt.
            lead = "\r\x1b[K" if self.tty else "\n"
            self._write(f"{lead}{text}\n\n{self._prompt_text}")
        else:
            self._write(text + "\n")
            self._said = True

    def prompt(self, text: str = PROMPT) -> None:
        """`text`: a prompt of its own (the key's) in place of "you> "."""
        self._write(("\n" if self._said else "") + text)
        self._prompt_text = text
        self._prompting = True
        self._said = False

    def took_secret(self, given: bool) -> None:
        """A secret was typed with the echo off (or read from a pipe): nothing showed it,
        and nothing will."""
        self._prompting = False
        self._write("(not shown)\n" if given else "\n")

    def took_input(self, line: str | None) -> None:
        """The prompt was answered; without a terminal nothing echoed the line, so we do."""
        self._prompting = False
        if line is None:
            self._write("\n")
        elif self.echo:
            self._write(line.rstrip("\r\n") + "\n")

    def _write(self, text: str) -> None:
        try:
            self.stream.write(text)
            self.stream.flush()
        except (BrokenPipeError, ValueError):
            # The reader went away (`| head`); nothing useful to do about it.
            pass
