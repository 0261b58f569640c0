"""`python -m bot demo`'s options, checked as a whole: every problem said at once, exit 2."""

from __future__ import annotations

import argparse
import os
import re
import sys
from collections.abc import Mapping
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from pathlib import Path

from bot.playground.demo.commands import USAGE_HELP

DEFAULT_SPEED = 20.0
DEFAULT_USER_ID = 1001


def default_language(environ: Mapping[str, str]) -> str:
    """A Telegram-style language code from the locale variables ("de_AT.UTF-8" -> "de")."""
    for name in ("LC_ALL", "LC_MESSAGES", "LANG"):
        value = environ.get(name, "")
        code = value.split(".")[0].split("@")[0].split("_")[0].split("-")[0].lower()
        if code and code not in ("c", "posix") and code.isalpha():
            return code
    return "en"


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m bot demo",
        description=(
            "The whole bot in this terminal: a local sandbox panel and a pretend Telegram "
            "chat. No token, no network, no real money. With --panel-url: the same on your "
            "own panel, for real."
        ),
        epilog=USAGE_HELP,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument(
        "--panel-url",
        metavar="URL",
        help="run against your own panel instead of the sandbox (its address, or …/api/v2, …/api/v1): "
             "your catalog, balance and orders, and real orders that cost real money; the API key "
             "is asked for at a hidden prompt (:key), never on the command line",
    )
    parser.add_argument("--key", dest="key_given", nargs="?", const="", help=argparse.SUPPRESS)
    parser.add_argument(
        "--speed",
        type=float,
        metavar="S",
        help=f"sandbox time scale: orders finish in 1-3 minutes / S (default {DEFAULT_SPEED:g})",
    )
    parser.add_argument(
        "--lang",
        metavar="CODE",
        help="your Telegram language_code (default: from $LANG, else en)",
    )
    parser.add_argument("--balance", metavar="B", help="the demo account's balance (default 100)")
    parser.add_argument("--catalog", metavar="FILE", help="a real panel's services JSON for the sandbox")
    parser.add_argument(
        "--db", metavar="PATH", help="SQLite file to keep (default: a temporary one, deleted at exit)"
    )
    parser.add_argument(
        "--user-id", type=int, default=DEFAULT_USER_ID, metavar="ID", help=f"your Telegram user id (default {DEFAULT_USER_ID})"
    )
    parser.add_argument(
        "--shop", action="store_true",
        help="run it as a shop (MODE=shop): you are a customer with a wallet and the shop's admin; "
             "top up with /topup and :pay (pretend Stars), order, and watch refunds arrive (:partial)",
    )
    parser.add_argument("-v", "--verbose", action="store_true", help="show the bot's log (INFO) on stderr")
    return parser


@dataclass(frozen=True)
class Options:
    speed: float
    lang: str
    balance: Decimal
    catalog: str | None
    db: Path | None
    user_id: int
    verbose: bool
    # A real panel instead of the sandbox (PANEL_URL as an operator would type it).
    panel_url: str | None = None
    # MODE=shop on the sandbox: a wallet, top-ups with pretend Stars, refunds.
    shop: bool = False


def parse_options(argv: list[str], environ: Mapping[str, str] | None = None) -> Options | int:
    """The options, or an exit code when argparse already answered (--help) or refused."""
    parser = _parser()
    try:
        args = parser.parse_args(argv)
    except SystemExit as exit_:
        return exit_.code if isinstance(exit_.code, int) else 2
    problems: list[str] = []
    if args.key_given is not None:
        problems.append("--key: the key is not taken on the command line (others could read it there, and the "
                        "shell history keeps it): type :key in the chat")
    panel_url = args.panel_url.strip() if args.panel_url is not None else None
    if panel_url is not None:
        if not panel_url:
            problems.append("--panel-url: give the panel's address, e.g. https://panel.example")
        elif "://" not in panel_url:
            panel_url = "https://" + panel_url
        sandbox_only = [name for name, value in (("--speed", args.speed), ("--balance", args.balance),
                                                 ("--catalog", args.catalog)) if value is not None]
        if args.shop:
            sandbox_only.append("--shop")
        if sandbox_only:
            problems.append(f"{', '.join(sandbox_only)}: for the sandbox only, not with --panel-url")
    speed = DEFAULT_SPEED if args.speed is None else args.speed
    try:
        balance = Decimal("100" if args.balance is None else args.balance)
        if not balance.is_finite():
            raise InvalidOperation
    except InvalidOperation:
        problems.append(f"--balance: not an amount: {args.balance!r}")
        balance = Decimal(0)
    if not speed >= 0:  # also refuses NaN
        problems.append("--speed: must be 0 or more")
    if args.user_id <= 0:
        problems.append("--user-id: must be a positive number")
    lang = args.lang if args.lang is not None else default_language(environ if environ is not None else os.environ)
    # Accept a locale as well ("pt_BR.UTF-8"); Telegram sends IETF tags ("pt-br").
    lang = lang.split(".")[0].split("@")[0].strip().replace("_", "-").lower()
    if not re.fullmatch(r"[a-z]{2,3}(-[a-z0-9]{2,8})*", lang):
        problems.append(f"--lang: not a language code: {args.lang!r} (try en, de, pt-br)")
    if problems:
        parser.print_usage(sys.stderr)
        for problem in problems:
            print(f"error: {problem}", file=sys.stderr)
        return 2
    return Options(
        speed=speed,
        lang=lang,
        balance=balance,
        catalog=args.catalog,
        db=Path(args.db).expanduser().resolve() if args.db else None,
        user_id=args.user_id,
        verbose=args.verbose,
        panel_url=panel_url,
        shop=args.shop,
    )
