"""`python -m bot check-panel --panel-url URL`: try a panel before running the bot on it.

The key comes from PANEL_KEY or is typed at a prompt (not shown); it is never taken
from the command line, where other users and the shell history would see it, and
never printed. Exit code 0 when the bot can work with the panel, 1 when it cannot,
2 for a usage error."""

from __future__ import annotations

import argparse
import asyncio
import getpass
import os
import sys
from typing import TextIO

from bot.panel.endpoint import describe
from bot.panel.probe import ACTIONS, NOT_TRIED, YES, PanelReport, check_panel

_W = 14  # the label column


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m bot check-panel",
        description="Ask a panel each API action once with harmless inputs and say whether the bot can work with it. "
                    "The key is read from PANEL_KEY or typed at the prompt.",
    )
    parser.add_argument("--panel-url", metavar="URL", default=os.environ.get("PANEL_URL"),
                        help="the panel's address, or its API URL (…/api/v2, …/api/v1); default PANEL_URL")
    parser.add_argument("--timeout", type=float, default=20.0, metavar="S", help="seconds per request (default 20)")
    parser.add_argument("--key", dest="key_given", nargs="?", const="", help=argparse.SUPPRESS)
    return parser


def _read_key(stdin: TextIO) -> str:
    key = os.environ.get("PANEL_KEY", "").strip()
    if key:
        return key
    if stdin.isatty():
        return getpass.getpass("Panel API key (not shown): ").strip()
    return stdin.readline().strip()


def _ms(seconds: float | None) -> str:
    return "" if seconds is None else f"{seconds * 1000:.0f} ms"


def render(report: PanelReport, typed: str) -> list[str]:
    lines = [f"Panel check: {typed}"]
    found = report.discovery
    if found.endpoint is None:
        lines.append(describe(typed, None, found.attempts))
        return lines
    lines.append(f"{'Endpoint':<{_W}}{found.endpoint}")
    if len(found.attempts) > 1:
        lines.append(f"{'Tried':<{_W}}" + "; ".join(a.describe() for a in found.attempts))
    lines.append(f"{'Key':<{_W}}" + ("refused by the panel" if report.key_refused else "accepted"))
    lines.append(f"{'Action':<{_W}}{'Available':<46}Reply time")
    for action in ACTIONS:
        check = report.checks.get(action)
        if check is None:
            continue
        if check.verdict == NOT_TRIED:
            answer = f"not tried ({check.detail})"
        else:
            answer = check.verdict + (f": {check.detail}" if check.detail else "")
        if len(answer) > 44:
            answer = answer[:43] + "…"
        lines.append(f"{action:<{_W}}{answer:<46}{_ms(check.seconds)}".rstrip())
    if report.services is not None:
        types = ", ".join(f"{name} {count}" for name, count in report.types().most_common())
        lines.append(f"{'Catalog':<{_W}}{len(report.services)} services in {report.categories()} categories; "
                     f"types: {types or 'none'}")
        unknown = report.unknown_types()
        lines.append(f"{'Unknown types':<{_W}}" + (
            ", ".join(f"{name} {count}" for name, count in unknown.most_common())
            + " (the bot asks link and quantity for these)" if unknown else "none"))
    if report.balance is not None:
        lines.append(f"{'Balance':<{_W}}{report.balance.amount} {report.balance.currency}".rstrip())
        lines.append(f"{'Currency':<{_W}}{report.balance.currency or 'not given'}")
    if report.usable:
        missing = report.missing
        verdict = "The bot can work with this panel."
        if missing:
            words = list(dict.fromkeys("refills" if m.startswith("refill") else m + "s" for m in missing))
            verdict = (f"The bot can work with this panel; it offers no {' or '.join(words)} through its API "
                       f"({', '.join(missing)} answered as unknown actions).")
    elif report.key_refused:
        verdict = "The panel refused the key: check it (PANEL_KEY) and run this again."
    else:
        needed = [a for a in ("services", "balance", "status") if report.checks.get(a) is None
                  or report.checks[a].verdict != YES]
        verdict = f"The bot cannot work with this panel: no usable answer to {', '.join(needed)}."
    lines.append(f"{'Verdict':<{_W}}{verdict}")
    return lines


def main(argv: list[str], stdin: TextIO | None = None) -> int:
    parser = _parser()
    try:
        args = parser.parse_args(argv)
    except SystemExit as exit_:
        return exit_.code if isinstance(exit_.code, int) else 2
    if args.key_given is not None:
        print("error: the key is not taken on the command line (others could read it there): "
              "set PANEL_KEY or type it at the prompt", file=sys.stderr)
        return 2
    if not args.panel_url:
        parser.print_usage(sys.stderr)
        print("error: give --panel-url URL (or set PANEL_URL)", file=sys.stderr)
        return 2
    key = _read_key(stdin or sys.stdin)
    if not key:
        print("error: no key: set PANEL_KEY or type it at the prompt", file=sys.stderr)
        return 2
    report = asyncio.run(check_panel(args.panel_url, key, timeout=args.timeout))
    for line in render(report, args.panel_url):
        print(line.replace(key, "…") if key in line else line, flush=True)
    return 0 if report.usable else 1


__all__ = ["main", "render"]
