"""`python -m bot sandbox`: run the sandbox panel in the foreground until SIGINT/SIGTERM."""

from __future__ import annotations

import argparse
import asyncio
import signal
import sys
from decimal import Decimal, InvalidOperation

from bot import runtime
from bot.playground.sandbox.faults import CLI_SYNTAX
from bot.playground.sandbox.server import DIALECTS, SEED, SandboxPanel
from bot.playground.sandbox.state import money


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m bot sandbox",
        description="A local SMM panel speaking API v2, for trying the bot without spending money.",
        epilog=CLI_SYNTAX,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--host", default="127.0.0.1", help="address to listen on (default 127.0.0.1)")
    parser.add_argument("--port", type=int, default=8099, help="port (default 8099; 0 picks a free one)")
    parser.add_argument(
        "--key", action="append", default=[], metavar="K", help="an account's API key (repeatable; default: one random key)"
    )
    parser.add_argument("--balance", default="100", metavar="B", help="each account's starting balance (default 100)")
    parser.add_argument("--currency", default="USD", metavar="C", help="the accounts' currency (default USD)")
    parser.add_argument("--catalog", metavar="FILE", help="a real panel's services JSON to serve instead of the built-in one")
    parser.add_argument(
        "--speed", type=float, default=1.0, metavar="S", help="time scale: orders finish in 1-3 minutes / S (default 1)"
    )
    parser.add_argument("--seed", type=int, default=0, help="which orders end Partial, start counts (default 0)")
    parser.add_argument(
        "--dialect", choices=DIALECTS, default=SEED,
        help="how the panel speaks: seed (API v2 as documented, the default) or smartpanel "
             "(that family: /api/v1, text/html replies, no refill/cancel, its own add rules)",
    )
    parser.add_argument("--fault", action="append", default=[], metavar="SPEC", help="a fault, see below (repeatable)")
    return parser


def main(argv: list[str]) -> int:
    parser = _parser()
    try:
        args = parser.parse_args(argv)
    except SystemExit as exit_:
        # --help, or a usage error already printed by argparse.
        return exit_.code if isinstance(exit_.code, int) else 2
    try:
        balance = Decimal(args.balance)
    except InvalidOperation:
        parser.print_usage(sys.stderr)
        print(f"error: --balance: not an amount: {args.balance!r}", file=sys.stderr)
        return 2
    try:
        sandbox = SandboxPanel(args.catalog, speed=args.speed, seed=args.seed, currency=args.currency,
                               dialect=args.dialect)
        for spec in args.fault:
            sandbox.faults.parse(spec)
    except (OSError, ValueError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    for key in args.key or [None]:
        sandbox.add_account(key, balance)
    # Run like the bot (bot/runtime.py): its catalog out of the collector's way, so that
    # a full collection does not stall every request for tens of milliseconds.
    runtime.tune_collector()
    runtime.settle_long_lived()
    try:
        runtime.run(_serve(sandbox, args.host, args.port))
    except OSError as exc:
        print(f"error: cannot listen on {args.host}:{args.port}: {exc}", file=sys.stderr)
        return 1
    return 0


async def _serve(sandbox: SandboxPanel, host: str, port: int) -> None:
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(signum, stop.set)
    url = await sandbox.start(host, port)
    try:
        print(f"Sandbox panel: {url}" + (f" ({sandbox.dialect} dialect)" if sandbox.dialect != SEED else ""),
              flush=True)
        print(f"  services: {len(sandbox.services)}; speed x{sandbox.speed:g}", flush=True)
        # The only place full keys are ever shown: the operator needs them.
        for key in sandbox.keys:
            print(f"  key: {key}  balance: {money(sandbox.balance(key))} {sandbox.currency(key)}", flush=True)
        if sandbox.faults:
            print(f"  faults: {sandbox.faults.describe()}", flush=True)
        print("Press Ctrl+C to stop.", flush=True)
        await stop.wait()
    finally:
        await sandbox.stop()
        for signum in (signal.SIGINT, signal.SIGTERM):
            loop.remove_signal_handler(signum)
