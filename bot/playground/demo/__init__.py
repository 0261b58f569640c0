"""`python -m bot demo`: the whole bot in this terminal, with no token and no network.

It starts the sandbox panel on loopback, builds the real PTB `Application` with the fake
Telegram transport, and turns the terminal into the chat: what you type is sent as a
Telegram user's message, a number presses a button (unless the bot asks for a number,
a quantity say: then it is that number), and whatever the bot sends or edits (also on
its own, later) is printed readably.

`--panel-url URL` runs the same against a real panel instead of the sandbox: the
operator's own catalog, balance, orders, and real orders. The key is typed at a hidden
prompt (`:key`), never taken from the command line, never printed nor logged.

The modules: `cli` (the process), `options`, `session` (the panel, the fake Telegram and
the bot, started together), `chat` (the conversation), `commands` (what a typed line
means), `transcript` and `render` (what is printed), `screen` and `stdin` (the terminal).
Only `cli` and `options` load at start: the bot loads once the options are good.
"""

from bot.playground.demo.cli import main

__all__ = ["main"]
