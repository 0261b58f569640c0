"""Command-line entry: the bot itself, the sandbox panel and the terminal demo."""

from __future__ import annotations

import argparse
import asyncio
import socket
import sys

# Each command: its one-line help, and whether it hands its own options (and --help) to
# its own parser (the others take no options).
COMMANDS: dict[str, tuple[str, bool]] = {
    "run": ("run the bot: take updates (long polling, or webhook with WEBHOOK_URL); the default", False),
    "watcher": ("watch orders and send notifications only (more processes on PostgreSQL)", False),
    "migrate": ("bring the database schema up to date (--check: only report)", True),
    "sandbox": ("run the sandbox panel", True),
    "demo": ("the whole bot in this terminal: sandbox panel + chat, no token, no network "
             "(--panel-url URL: on your own panel, for real)", True),
    "check-panel": ("ask a panel each API action once and say whether the bot can work with it", True),
}
DESCRIPTION = "A Telegram bot for ordering from an SMM panel (API v2). Settings come from the environment."
EPILOG = "`python -m bot COMMAND --help` tells more of each command. With no command: run."


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m bot", description=DESCRIPTION, epilog=EPILOG)
    commands = parser.add_subparsers(dest="command", metavar="COMMAND", title="commands")
    for name, (help_text, own_options) in COMMANDS.items():
        # A command with options of its own gets them (and --help) unparsed here.
        commands.add_parser(name, help=help_text, description=help_text, add_help=not own_options,
                            prog=f"python -m bot {name}")
    return parser




# How long start-up waits for the database to accept a connection.
DATABASE_CONNECT_SECONDS = 15.0


def database_problem(url: str) -> str | None:
    """Why the database at `url` cannot be used now (one line, no credentials), or None.

    Checked before anything else starts, so that a wrong DATABASE_URL or a database
    that is not up stops the process with that reason rather than a traceback from
    whichever step touched it first."""
    # Late, like every command's own modules: `--help` and a mistyped command answer at once.
    from sqlalchemy import create_engine
    from sqlalchemy.engine import make_url
    from sqlalchemy.exc import DBAPIError, SQLAlchemyError

    from bot.store.db import make_engine, normalize_url  # only for the commands that use a database

    async def probe() -> None:
        engine = make_engine(url)
        try:
            async with asyncio.timeout(DATABASE_CONNECT_SECONDS), engine.connect() as conn:
                await conn.exec_driver_sql("SELECT 1")
        finally:
            await engine.dispose()

    def probe_sqlite() -> None:
        # Synchronously: aiosqlite's thread for a connection that failed to open can
        # still call back into the probe's loop after it closed (a stray traceback).
        make_engine(url)  # creates the file's folder, as the bot does
        engine = create_engine(make_url(normalize_url(url)).set(drivername="sqlite"))
        try:
            with engine.connect() as conn:
                conn.exec_driver_sql("SELECT 1")
        finally:
            engine.dispose()

    try:
        if make_url(normalize_url(url)).get_backend_name() == "sqlite":
            probe_sqlite()
        else:
            asyncio.run(probe())
    except ConnectionRefusedError:
        reason = "connection refused"
    except socket.gaierror:
        reason = "host not found"
    except TimeoutError:
        reason = f"no answer within {DATABASE_CONNECT_SECONDS:.0f} seconds"
    except DBAPIError as error:
        reason = str(error.orig).splitlines()[0] if error.orig is not None else type(error).__name__
    except (SQLAlchemyError, OSError, ValueError) as error:
        reason = (str(error).splitlines() or [type(error).__name__])[0]
    else:
        return None
    try:
        where = make_url(normalize_url(url)).render_as_string(hide_password=True)
    except (SQLAlchemyError, ValueError):
        where = "?"
    return f"DATABASE_URL: cannot use the database {where}: {reason.lower()}"


def check_database(*, require_token: bool, prefix: str = "Not starting") -> bool:
    """For the commands that need the database: False (said in one line) when unusable.
    Settings errors come first and are left to the command, which names the variable."""
    from bot.config import ConfigError, load_settings  # pydantic: only for commands that read settings

    try:
        url = load_settings(require_token=require_token).database_url
    except ConfigError:
        return True
    problem = database_problem(url)
    if problem is not None:
        print(f"{prefix}: {problem}", file=sys.stderr)
        return False
    return True


def main(argv: list[str]) -> int:
    """Exit codes: 0 done (or --help), 2 a usage or configuration error, 3 the database
    unreachable at start-up; a command's own codes otherwise."""
    try:
        parsed, rest = _parser().parse_known_args(argv)
        return _dispatch(parsed.command or "run", rest)
    except SystemExit as exit_:  # a parser's --help (0) or usage error (2), already printed
        return exit_.code if isinstance(exit_.code, int) else (0 if exit_.code is None else 2)


def _dispatch(command: str, rest: list[str]) -> int:
    if command in ("run", "watcher") and rest:
        print(f"usage: python -m bot {command}\npython -m bot {command}: error: it takes no options "
              f"(settings come from the environment): {' '.join(rest)}", file=sys.stderr)
        return 2
    if command == "sandbox":
        from bot.playground.sandbox.cli import main as sandbox_main  # the playground: only for this command

        return sandbox_main(rest)
    if command == "check-panel":
        from bot.checkpanel import main as check_panel_main  # each command loads only what it runs

        return check_panel_main(rest)
    if command == "demo":
        from bot.playground.demo import main as demo_main  # the playground: only for this command

        return demo_main(rest)
    if command in ("watcher", "run") and not check_database(require_token=True):
        return 3
    # migrate keeps its own exit code for a database error (1).
    if command == "migrate" and not any(arg in ("-h", "--help") for arg in rest) \
            and not check_database(require_token=False, prefix="Database error"):
        return 1
    if command == "watcher":
        from bot.worker import main as watcher_main  # without PTB's Application and the handlers

        return watcher_main(rest)
    if command == "migrate":
        from bot.store.migrate import main as migrate_main  # alembic: ~12 MB, for this command only

        return migrate_main(rest)
    from bot.app import run  # the whole bot, only when it is what runs

    return run(rest)
