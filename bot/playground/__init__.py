"""The playground: what people run to try the bot and what the tests run it against.

- `fakegram`: an in-memory Telegram Bot API (a PTB `BaseRequest`) that enforces Telegram's
  rules, for the tests and the demo;
- `sandbox`: a real HTTP server speaking the panel's API v2 (and the SmartPanel dialect),
  with a catalog, orders that progress, and faults on demand;
- `demo`: `python -m bot demo`, the sandbox panel plus a chat in the terminal.

Production modules never import this package (tests/test_architecture.py checks it); only
the command line reaches it, for the `demo` and `sandbox` commands.
"""
