"""Command-line entry: the bot itself, the sandbox panel and the terminal demo."""

from __future__ import annotations

import logging

USAGE = """usage: python -m bot [COMMAND] [OPTIONS]

commands:
  run       run the bot: take updates (long polling, or webhook with WEBHOOK_URL); the default
  watcher   watch orders and send notifications only (more processes on PostgreSQL)
  migrate   bring the database schema up to date (--check: only report)
  sandbox   run the sandbox panel (python -m bot sandbox --help)
  demo      the whole bot in this terminal: sandbox panel + chat, no token, no network
"""


def configure_logging(level: int = logging.INFO) -> None:
    logging.basicConfig(format="%(asctime)s %(levelname)s %(name)s: %(message)s", level=level)
    # httpx logs every request URL at INFO, and the Bot API URL carries the token.
    logging.getLogger("httpx").setLevel(logging.WARNING)
    logging.getLogger("httpcore").setLevel(logging.WARNING)


def main(argv: list[str]) -> int:
    command, rest = (argv[0], argv[1:]) if argv and not argv[0].startswith("-") else ("run", argv)
    if command in ("-h", "--help", "help"):
        print(USAGE)
        return 0
    if command == "sandbox":
        from bot.sandbox.cli import main as sandbox_main

        return sandbox_main(rest)
    if command == "demo":
        from bot.demo import main as demo_main

        return demo_main(rest)
    if command == "watcher":
        from bot.worker import main as watcher_main

        return watcher_main(rest)
    if command == "migrate":
        from bot.store.migrate import main as migrate_main

        return migrate_main(rest)
    if command == "run":
        from bot.app import run

        return run(rest)
    print(USAGE)
    return 2
