"""What a typed line means: a message to the bot, a press of a numbered button, or one of
the demo's own commands (:key, :help, :q...)."""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Literal

USAGE_HELP = """\
How to use it:
  type a message       it is sent to the bot as your Telegram message (/start, /order, /help...)
  a number N           presses button [N] of the latest keyboard; but where the bot asks for a
                       number (a quantity, drip-feed runs or interval...), or when there is
                       no button N, the number is sent as text
  :press N, :N         presses button N of the latest keyboard
  :text ...            sends the rest as text, even a number (":text 2" sends "2")
  :key                 sends the API key as a message (the demo key; with --panel-url, asks
                       for your panel's key without showing it)
  :pay                 pays the bot's latest invoice (--shop: pretend Telegram Stars)
  :partial             --shop: makes your newest open order end Partial on the sandbox, so
                       that you watch its refund arrive
  :help                shows this help
  :q, quit, Ctrl-D     exits (so does Ctrl-C)"""


@dataclass(frozen=True)
class Action:
    """What one input line asks for."""

    kind: Literal["text", "press", "key", "help", "quit", "empty", "unknown", "pay", "partial"]
    text: str = ""
    number: int = 0
    # A bare number sent as text although a keyboard is showing: worth a word to the user.
    not_a_button: bool = False


_NUMBER = re.compile(r"\d{1,9}")
_COLON_COMMAND = re.compile(r":([A-Za-z?]+)(?:\s+(.*))?", re.DOTALL)
_COLON_NUMBER = re.compile(r":(\d{1,9})")


def interpret(line: str, buttons: int, *, asking: bool = False) -> Action:
    """Decide what an input line means; `buttons` is the size of the latest keyboard (0: none);
    `asking`: the bot waits for a number (a quantity, drip-feed runs, an order id...), so
    a number typed is that number, whatever buttons the prompt has (Skip, Cancel).

    Otherwise a bare number is a press when it is one of the latest keyboard's buttons, and
    text when not (an order or service number...). `:press N` (or `:N`) always presses,
    `:text N` always sends text.
    """
    line = line.rstrip("\r\n")
    stripped = line.strip()
    if not stripped:
        return Action("empty")
    if stripped.lower() in ("quit", "exit"):
        return Action("quit")
    if _NUMBER.fullmatch(stripped):
        number = int(stripped)
        if buttons and 1 <= number <= buttons and not asking:
            return Action("press", number=number)
        return Action("text", text=stripped, not_a_button=bool(buttons))
    pressed = _COLON_NUMBER.fullmatch(stripped)
    if pressed is not None:
        return Action("press", number=int(pressed.group(1)))
    command = _COLON_COMMAND.fullmatch(stripped)
    if command is None:
        # ":)" and friends are ordinary text.
        return Action("text", text=line.strip())
    name, rest = command.group(1).lower(), command.group(2) or ""
    if name in ("q", "quit", "exit"):
        return Action("quit")
    if name in ("help", "h", "?"):
        return Action("help")
    if name == "key":
        return Action("key")
    if name == "pay":
        return Action("pay")
    if name == "partial":
        return Action("partial")
    if name in ("press", "p"):
        if _NUMBER.fullmatch(rest.strip()):
            return Action("press", number=int(rest.strip()))
        return Action("unknown", text=":press needs a button number, e.g. :press 2")
    if name in ("text", "t"):
        if not rest.strip():
            return Action("unknown", text=":text needs something to send, e.g. :text 2")
        return Action("text", text=rest)
    return Action("unknown", text=f"unknown demo command :{name} (type :help)")
