"""`python -m bot demo`: the whole bot in this terminal, with no token and no network.

It starts the sandbox panel on loopback, builds the real PTB `Application` with the fake
Telegram transport, and turns the terminal into the chat: what you type is sent as a
Telegram user's message, a number presses a button (unless the bot asks for a number,
a quantity say: then it is that number), and whatever the bot sends or edits (also on
its own, later) is printed readably.

`--panel-url URL` runs the same against a real panel instead of the sandbox: the
operator's own catalog, balance, orders, and real orders. The key is typed at a hidden
prompt (`:key`), never taken from the command line, never printed nor logged.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import html
import logging
import os
import queue
import re
import secrets
import shutil
import signal
import sys
import tempfile
import textwrap
import threading
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import IO, Any, Literal

log = logging.getLogger(__name__)

PROMPT = "you> "
INDENT = " " * 5  # lines up continuation lines under the text after "bot: "
DEFAULT_SPEED = 20.0
DEFAULT_USER_ID = 1001
# Status notifications should show up during a demo, not a minute later.
DEMO_STATUS_POLL_SECONDS = 5.0
WATCH_INTERVAL = 0.25

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
  :help                shows this help
  :q, quit, Ctrl-D     exits (so does Ctrl-C)"""

KEY_HINT = "Tip: when the bot asks for your panel's API key, type :key to send the demo key shown above."
REAL_KEY_HINT = "Type :key to give the bot your panel's API key (asked for without showing it)."
KEY_PROMPT = "Panel API key (not shown; Enter to skip): "
# Seconds between status checks of the orders placed in the demo, on a real panel.
REAL_STATUS_POLL_SECONDS = 30.0

ANSI_RESET = "\x1b[0m"
_ANSI_STYLE: dict[str, str] = {
    "bold": "1",
    "italic": "3",
    "underline": "4",
    "strikethrough": "9",
    "code": "36",
    "pre": "36",
    "text_link": "4",
    "spoiler": "2",
}


# ---------------------------------------------------------------------------- rendering


def _utf16_index(text: str) -> list[int]:
    """Python index of every UTF-16 offset (entities count astral characters twice)."""
    index: list[int] = []
    for position, char in enumerate(text):
        index.append(position)
        if ord(char) > 0xFFFF:
            index.append(position)
    index.append(len(text))
    return index


def render_entities(text: str, entities: list[dict[str, Any]], *, ansi: bool) -> str:
    """Visible text with Telegram entities shown as ANSI styles (or left plain).

    A text link whose URL is not already visible gets the URL appended, since a terminal
    cannot click a styled word.
    """
    index = _utf16_index(text)
    last = len(index) - 1

    def span(entity: dict[str, Any]) -> tuple[int, int]:
        start = min(max(int(entity.get("offset", 0)), 0), last)
        end = min(max(start + int(entity.get("length", 0)), start), last)
        return index[start], index[end]

    suffix_at: dict[int, list[str]] = {}
    for entity in entities:
        url = entity.get("url")
        if entity.get("type") == "text_link" and url:
            start, end = span(entity)
            if str(url) not in text[start:end]:
                suffix_at.setdefault(end, []).append(f" <{url}>")
    styles: list[set[str]] = [set() for _ in text]
    if ansi:
        for entity in entities:
            code = _ANSI_STYLE.get(str(entity.get("type")))
            if code is None:
                continue
            start, end = span(entity)
            for position in range(start, end):
                styles[position].add(code)

    out: list[str] = []
    active: set[str] = set()
    for position, char in enumerate(text):
        for suffix in suffix_at.get(position, ()):
            out.append(suffix)
        wanted = styles[position]
        if wanted != active:
            out.append(ANSI_RESET if active else "")
            if wanted:
                out.append(f"\x1b[{';'.join(sorted(wanted))}m")
            active = wanted
        out.append(char)
    if active:
        out.append(ANSI_RESET)
    for suffix in suffix_at.get(len(text), ()):
        out.append(suffix)
    return "".join(out)


_TAG = re.compile(r"<[^>]*>")


def render_html(source: str, *, ansi: bool = False) -> str:
    """Telegram HTML (`parse_mode=HTML`) as terminal text: tags become styles or vanish,
    entities are unescaped."""
    from bot.playground.fakegram.html import HtmlParseError, parse_html

    try:
        parsed = parse_html(source, strict=False)
    except HtmlParseError:
        # Telegram would have refused it; still show something readable.
        return html.unescape(_TAG.sub("", source)).strip()
    return render_entities(parsed.text, parsed.entities, ansi=ansi)


def keyboard_lines(rows: list[list[dict[str, Any]]]) -> list[str]:
    """One line per keyboard row, buttons numbered in reading order across rows."""
    lines: list[str] = []
    number = 0
    for row in rows:
        cells: list[str] = []
        for button in row:
            number += 1
            label = str(button.get("text", ""))
            if button.get("url"):
                label += " ↗"
            cells.append(f"[{number}] {label}")
        if cells:
            lines.append("  ".join(cells))
    return lines


def flat_buttons(rows: list[list[dict[str, Any]]]) -> list[dict[str, Any]]:
    return [button for row in rows for button in row]


# ---------------------------------------------------------------------------- input


@dataclass(frozen=True)
class Action:
    """What one input line asks for."""

    kind: Literal["text", "press", "key", "help", "quit", "empty", "unknown"]
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
    if name in ("press", "p"):
        if _NUMBER.fullmatch(rest.strip()):
            return Action("press", number=int(rest.strip()))
        return Action("unknown", text=":press needs a button number, e.g. :press 2")
    if name in ("text", "t"):
        if not rest.strip():
            return Action("unknown", text=":text needs something to send, e.g. :text 2")
        return Action("text", text=rest)
    return Action("unknown", text=f"unknown demo command :{name} (type :help)")


# ---------------------------------------------------------------------------- output


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


@dataclass
class Transcript:
    """Which bot messages the screen shows, so each send, edit and delete prints once.

    Reads the fake's change log in order and compares each message with the state it was
    printed in (edit date and edit count: two edits within a second share an edit date).
    """

    fake: Any  # FakeTelegram
    chat_id: int
    ansi: bool = False
    width: int | None = None  # wrap long lines to the terminal; None leaves them whole
    _cursor: int = 0
    _shown: dict[int, tuple[int | None, int, str]] = field(default_factory=dict)
    _gone: set[int] = field(default_factory=set)
    # Message ids in the order they were last printed: "the latest keyboard" is what the
    # user saw last, even if an older message was edited after a newer one was sent.
    _order: list[int] = field(default_factory=list)

    def pending(self) -> list[str]:
        """Blocks to print for everything that changed since the last call."""
        changes = self.fake.changes
        touched: list[int] = []
        for chat_id, message_id, _kind in changes[self._cursor :]:
            if chat_id == self.chat_id and message_id not in touched:
                touched.append(message_id)
        self._cursor = len(changes)
        blocks: list[str] = []
        for message_id in touched:
            message = self.fake.message(self.chat_id, message_id)
            if message is None:
                continue
            if message.deleted:
                if message_id in self._gone:
                    continue
                self._gone.add(message_id)
                if not message.from_bot:
                    blocks.append(self._dim("(your message was deleted)"))
                elif message_id in self._shown:
                    blocks.append(self._dim(f"(message deleted: “{_snippet(message.text)}”)"))
                continue
            if not message.from_bot:
                continue
            state = (message.edit_date, len(message.history), message.text)
            previous = self._shown.get(message_id)
            if previous == state:
                continue
            same_text = previous is not None and previous[2] == message.text
            blocks.append(self.format(message, edited=previous is not None, same_text=same_text))
            self._shown[message_id] = state
            if message_id in self._order:
                self._order.remove(message_id)
            self._order.append(message_id)
        return blocks

    def format(self, message: Any, *, edited: bool, same_text: bool = False) -> str:
        head = "bot (edited): " if edited else "bot: "
        if self.ansi:
            head = f"\x1b[1;32m{head.rstrip()}{ANSI_RESET} "
        buttons = [INDENT + line for line in keyboard_lines(message.inline_keyboard)]
        if same_text:
            # Only the keyboard changed (say, removed after a press): no need to repeat the text.
            change = "new buttons" if buttons else "buttons removed"
            return "\n".join([f"{head}“{_snippet(message.text)}” ({change})", *buttons])
        body = render_entities(message.text, message.entities, ansi=self.ansi).split("\n")
        lines: list[str] = []
        for line in body:
            for part in self._wrap(line):
                lines.append((INDENT + part).rstrip() if lines else head + part)
        return "\n".join(lines + buttons)

    def _dim(self, text: str) -> str:
        return f"\x1b[2m{text}{ANSI_RESET}" if self.ansi else text

    def _wrap(self, line: str) -> list[str]:
        if self.width is None or len(line) <= self.width - len(INDENT):
            return [line]
        # ANSI codes count as width here, which only makes styled lines a little shorter.
        return textwrap.wrap(
            line, self.width - len(INDENT), break_long_words=False, break_on_hyphens=False
        ) or [line]

    def _visible(self) -> Iterator[Any]:
        for message_id in reversed(self._order):
            message = self.fake.message(self.chat_id, message_id)
            if message is not None and not message.deleted:
                yield message

    def latest(self) -> Any | None:
        """The last bot message printed that still exists."""
        return next(self._visible(), None)

    def keyboard_message(self) -> Any | None:
        """The last printed bot message that has an inline keyboard."""
        return next((m for m in self._visible() if m.inline_keyboard), None)


def _snippet(text: str, limit: int = 40) -> str:
    line = text.split("\n", 1)[0]
    return line if len(line) <= limit else line[: limit - 1] + "…"


# ---------------------------------------------------------------------------- stdin


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
        self._saved_tty: Any = None  # the terminal's settings while echo is off
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
            import termios

            fd = self.stream.fileno()
            if not os.isatty(fd):
                return self.stream.readline()
            saved = termios.tcgetattr(fd)
        except (ImportError, OSError, ValueError, AttributeError):
            if self.stream is sys.stdin and sys.stdin.isatty():
                import getpass

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
            import termios

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


# ---------------------------------------------------------------------------- options


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
    )


# ---------------------------------------------------------------------------- the demo


class StartupError(Exception):
    """Something the person running the demo can fix; printed as one line."""


class Demo:
    """The sandbox, the Application and the chat, started and stopped together."""

    def __init__(self, options: Options, screen: Screen) -> None:
        self.options = options
        self.screen = screen
        self.sandbox: Any = None
        self.app: Any = None
        self.user: Any = None
        self.fake: Any = None
        self.transcript: Transcript | None = None
        self.key = ""
        self.url = ""
        # --panel-url: a real panel (its endpoint in `url`), no sandbox.
        self.real = options.panel_url is not None
        self.typed_url = options.panel_url or ""
        self.reader: LineReader | None = None
        self.discovery_line = ""
        self.db_path: Path | None = None
        self._tmpdir: str | None = None
        self._initialized = False
        self._post_init_done = False
        self._busy = False

    # ------------------------------------------------------------------ lifecycle

    async def start(self) -> None:
        try:
            await self._start()
        except StartupError:
            raise
        except Exception as exc:
            # Say what broke in one line; -v also logs the traceback.
            log.info("demo start-up failed", exc_info=True)
            first_line = (str(exc).splitlines() or [""])[0]
            raise StartupError(f"the demo could not start: {type(exc).__name__}: {first_line}") from exc

    async def _start(self) -> None:
        from bot.app import build_application, make_panels
        from bot.config import ConfigError, load_settings
        from bot.playground.fakegram import FakeRequest, FakeTelegram

        options = self.options
        if self.real:
            panel_url = self.typed_url
        else:
            await self._start_sandbox()
            panel_url = self.url

        if options.db is not None:
            self.db_path = options.db
            if not self.db_path.parent.is_dir():
                raise StartupError(f"--db: no such directory: {self.db_path.parent}")
        else:
            self._tmpdir = tempfile.mkdtemp(prefix="smm-bot-demo-")
            self.db_path = Path(self._tmpdir) / "demo.db"
        try:
            # Every setting given explicitly (and no .env file), so an operator's real
            # configuration (a PANEL_KEY, ALLOWED_USERS...) cannot leak into the demo.
            settings = load_settings(
                require_token=False,
                _env_file=None,
                telegram_token=None,
                panel_url=panel_url,
                panel_key=None,
                allowed_users=frozenset(),
                admin_ids=frozenset(),
                database_url=f"sqlite+aiosqlite:///{self.db_path.as_posix()}",
                secret_key=secrets.token_urlsafe(32),
                status_poll_seconds=REAL_STATUS_POLL_SECONDS if self.real else DEMO_STATUS_POLL_SECONDS,
                default_locale="en",
                webhook_url=None,
                webhook_secret=None,
            )
        except ConfigError as exc:
            raise StartupError(f"configuration: {exc}".replace("PANEL_URL:", "--panel-url:")) from None

        # The panel side as the bot runs it; on a real panel, its API found from the URL
        # typed (as the bot's start-up does), or the demo ends saying what was tried.
        panels = make_panels(settings)
        if self.real:
            found = await panels.find_endpoint(None)
            if found.endpoint is None:
                await panels.aclose()
                raise StartupError(found.line())
            self.url = found.endpoint
            self.discovery_line = found.line()

        self.fake = FakeTelegram()
        self.user = self.fake.user(options.user_id, first_name="You", language_code=options.lang)
        width = shutil.get_terminal_size().columns - 1 if self.screen.tty else None
        self.transcript = Transcript(self.fake, self.user.chat_id, ansi=self.screen.ansi, width=width)
        # One FakeRequest per slot: PTB shuts each down separately.
        self.app = build_application(
            settings,
            panels=panels,
            request=FakeRequest(self.fake),
            get_updates_request=FakeRequest(self.fake),
            rate_limiter=False,
        )
        # The confirm screen says an order here is a real one, paid with real money.
        self.app.bot_data["real_panel"] = self.real
        await self.app.initialize()
        self._initialized = True
        await self.app.post_init(self.app)
        self._post_init_done = True
        if self.app.job_queue is not None:
            # start() runs the JobQueue and an idle update fetcher; no updater polls, and
            # we hand updates to process_update ourselves, which needs no running fetcher.
            await self.app.start()

    async def _start_sandbox(self) -> None:
        from bot.playground.sandbox import SandboxPanel

        options = self.options
        try:
            self.sandbox = SandboxPanel(options.catalog, speed=options.speed, seed=0)
        except (OSError, ValueError) as exc:
            raise StartupError(f"--catalog: cannot use {options.catalog}: {exc}") from None
        self.key = self.sandbox.add_account(None, options.balance)
        try:
            self.url = await self.sandbox.start("127.0.0.1", 0)
        except OSError as exc:
            raise StartupError(f"cannot start the sandbox panel on 127.0.0.1: {exc}") from None

    async def stop(self) -> None:
        """Undo whatever `start` got to, each step on its own so one failure skips none."""
        app = self.app
        if app is not None:
            if app.running:
                await _quietly("stopping the application", app.stop())
            if self._initialized:
                await _quietly("shutting the application down", app.shutdown())
            if self._post_init_done and app.post_shutdown is not None:
                await _quietly("closing the store and panels", app.post_shutdown(app))
        if self.sandbox is not None:
            await _quietly("stopping the sandbox", self.sandbox.stop())
        if self._tmpdir is not None:
            shutil.rmtree(self._tmpdir, ignore_errors=True)

    # ------------------------------------------------------------------ the chat

    def banner(self) -> str:
        if self.real:
            return self.real_banner()
        sandbox = self.sandbox
        s = self.screen.style
        where = f"{self.db_path} (deleted at exit)" if self._tmpdir else f"{self.db_path} (kept)"
        balance = f"{sandbox.balance(self.key)} {sandbox.currency(self.key)}"
        lines = [
            s("SMM panel bot: terminal demo", "1"),
            "The whole bot runs here: a local sandbox panel and a pretend Telegram chat.",
            "No token, no network, no real money.",
            "",
            f"  sandbox panel   {self.url}  ({len(sandbox.services)} services, speed x{sandbox.speed:g})",
            f"  demo API key    {s(self.key, '1')}  (balance {balance}; a local sandbox key)",
            f"  database        {where}",
            f"  you             Telegram user {self.user.id}, language {self.options.lang}",
            "",
            self.help_text(),
            "",
        ]
        return "\n".join(lines)

    def real_banner(self) -> str:
        s = self.screen.style
        where = f"{self.db_path} (deleted at exit)" if self._tmpdir else f"{self.db_path} (kept)"
        typed = "" if self.typed_url.rstrip("/") == self.url else f"  (you typed {self.typed_url})"
        lines = [
            s("SMM panel bot: terminal demo on your panel", "1"),
            "The whole bot runs here, in a pretend Telegram chat, against your real panel.",
            s("Everything it does there is real: an order you confirm is placed on the panel "
              "and paid from your balance.", "1;33"),
            "",
            f"  panel API       {self.url}{typed}",
            "  your API key    type :key (asked for without showing it; never printed or logged)",
            f"  database        {where}",
            f"  you             Telegram user {self.user.id}, language {self.options.lang}",
            "",
            self.help_text(),
            "",
        ]
        return "\n".join(lines)

    def help_text(self) -> str:
        commands = self.fake.visible_commands(self.options.lang.split("-")[0], self.user.chat_id)
        text = USAGE_HELP
        if commands:
            menu = "  ".join(f"/{c['command']}" for c in commands)
            text += f"\nThe bot's commands: {menu}"
        return text

    async def run(self, stream: IO[str] | None = None) -> None:
        """The chat until :q or end of input (`stream`: stdin unless a test gives another)."""
        screen = self.screen
        reader = self.reader = LineReader(stream if stream is not None else sys.stdin)
        watcher = asyncio.create_task(self._watch())
        try:
            screen.emit(self.banner())
            screen.emit(PROMPT + "/start")
            await self.send("/start")
            if not self.real:
                screen.note(KEY_HINT)
            elif screen.tty and (stream is None or stream is sys.stdin) and sys.stdin.isatty():
                # At a terminal the key is asked for at once (Enter: later, with :key).
                self.show_new()
                await self.send_real_key()
            else:
                screen.note(REAL_KEY_HINT)
            while True:
                self.show_new()
                screen.prompt()
                line = await reader.readline()
                if line is not None and self.real and _secret_words(line):
                    # A key typed straight into the chat: sent as typed, never echoed here.
                    screen.took_input("(a key-shaped word, not shown)")
                else:
                    screen.took_input(line)
                if line is None:
                    break
                self.show_new()
                action = interpret(line, self._latest_keyboard_size(), asking=await self.asking_for_number())
                if action.kind == "quit":
                    break
                await self.perform(action)
        finally:
            reader.restore()
            watcher.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await watcher
        self.show_new()

    async def asking_for_number(self) -> bool:
        """Whether the bot waits for the user to type a number (a form's integer field:
        quantity, runs, interval...; an admin's order id): then a number typed is that
        number, not a press of one of the prompt's buttons (Skip, Cancel, presets)."""
        from bot.handlers.states import AwaitingOrderId, FillingField, decode  # noqa: I001 - the demo's bot loads late
        from bot.panel.fields import SERVICE_TYPES, UNKNOWN_TYPE, FieldKind

        if self.app is None or self.user is None:
            return False
        try:
            state = decode(await self.app.bot_data["deps"].store.get_flow(self.user.id))
        except Exception:  # noqa: BLE001 - a guess at the input's meaning: never fatal
            log.info("demo: could not read the conversation step", exc_info=True)
            return False
        if isinstance(state, AwaitingOrderId):
            return True
        numeric = {spec.name for kind in (*SERVICE_TYPES, UNKNOWN_TYPE) for spec in kind.fields
                   if spec.kind is FieldKind.INTEGER}
        return isinstance(state, FillingField) and state.field in numeric

    async def send_real_key(self) -> None:
        """Ask for the panel's key with the echo off and send it as a message (the bot
        checks it, stores it encrypted and deletes the message). Never printed."""
        from bot.logs import redact_in_logs

        assert self.reader is not None
        screen = self.screen
        screen.prompt(KEY_PROMPT)
        line = await self.reader.readsecret()
        key = (line or "").strip()
        screen.took_secret(bool(key))
        if not key:
            screen.note("no key sent; type :key when you have it")
            return
        redact_in_logs(key)
        await self.send(key)

    async def perform(self, action: Action) -> None:
        screen = self.screen
        if action.kind == "empty":
            return
        if action.kind == "help":
            screen.emit(self.help_text())
        elif action.kind == "unknown":
            screen.note(action.text)
        elif action.kind == "key":
            if self.real:
                await self.send_real_key()
            else:
                screen.note("sending the demo key")
                await self.send(self.key)
        elif action.kind == "press":
            await self.press(action.number)
        else:
            if action.not_a_button:
                size = self._latest_keyboard_size()
                if 1 <= int(action.text) <= size:
                    screen.note(f"sent “{action.text}” as the number the bot asked for; "
                                f":press {action.text} presses button {action.text}")
                else:
                    screen.note(f"sent “{action.text}” as text: the buttons here are 1-{size}")
            await self.send(action.text)

    async def send(self, text: str) -> None:
        if not await self._act(self.user.send(self.app, text, raise_errors=False)):
            self.screen.note("no reply")

    async def press(self, number: int) -> None:
        assert self.transcript is not None
        target = self.transcript.keyboard_message()
        if target is None:
            self.screen.note("there is no keyboard to press; type a message instead")
            return
        buttons = flat_buttons(target.inline_keyboard)
        if not 1 <= number <= len(buttons):
            self.screen.note(f"no button {number}: the latest keyboard has buttons 1-{len(buttons)}")
            return
        button = buttons[number - 1]
        data = button.get("callback_data")
        if data is None:
            if button.get("url"):
                self.screen.note(f"this button opens {button['url']} in a browser")
            else:
                self.screen.note("this kind of button does nothing in the demo")
            return
        # FakeUser finds a button by text first, so a label two buttons share would press
        # the first; callback data is unique unless it happens to equal some button's text.
        texts = {str(b.get("text")) for b in buttons}
        label = str(data) if str(data) not in texts else str(button.get("text"))
        before = len(self.fake.callback_queries)
        shown = await self._act(self.user.press(self.app, label, target.message_id, raise_errors=False))
        if len(self.fake.callback_queries) == before:
            return
        query = list(self.fake.callback_queries.values())[-1]
        answer = query.get("answer") or {}
        if not query.get("answered"):
            # Telegram would leave a spinner on the button for a while: worth knowing.
            self.screen.note("the bot did not answer this button press")
        elif answer.get("text"):
            # Printed after the messages the press produced (_act showed those).
            self.screen.emit(self.screen.style(f"(toast) {answer['text']}", "33"))
        elif not shown:
            self.screen.note("nothing changed")

    async def _act(self, work: Any) -> bool:
        """Run one user action with the watcher held off, then print what it produced
        (True if anything)."""
        self._busy = True
        try:
            await work
        except Exception as exc:  # noqa: BLE001 - a bug must not end the demo
            log.exception("the demo action failed")
            self.screen.note(f"that failed inside the bot: {type(exc).__name__}: {exc}")
        finally:
            self._busy = False
        return self.show_new()

    def show_new(self) -> bool:
        assert self.transcript is not None
        blocks = self.transcript.pending()
        if blocks:
            self.screen.emit("\n".join(blocks))
        return bool(blocks)

    def _latest_keyboard_size(self) -> int:
        assert self.transcript is not None
        latest = self.transcript.latest()
        return len(flat_buttons(latest.inline_keyboard)) if latest is not None else 0

    async def _watch(self) -> None:
        """Print what the bot sends on its own (status notifications from jobs)."""
        while True:
            await asyncio.sleep(WATCH_INTERVAL)
            if not self._busy:
                self.show_new()


async def _quietly(what: str, work: Any) -> None:
    try:
        await asyncio.wait_for(work, timeout=10)
    except Exception:  # noqa: BLE001 - cleanup goes on
        log.warning("demo: %s failed", what, exc_info=True)


def _secret_words(line: str) -> bool:
    from bot.logs import secrets_in

    return bool(secrets_in(line))


def _configure_streams() -> None:
    # A non-UTF-8 terminal must not crash on an emoji, nor odd input bytes on reading.
    for stream, errors in ((sys.stdout, "replace"), (sys.stderr, "backslashreplace"), (sys.stdin, "replace")):
        reconfigure = getattr(stream, "reconfigure", None)
        if reconfigure is not None:
            with contextlib.suppress(Exception):
                reconfigure(errors=errors)


def _configure_logging(verbose: bool) -> None:
    from bot.cli import configure_logging

    configure_logging(logging.INFO if verbose else logging.WARNING)
    if not verbose:
        # The fake logs every refused Bot API call at INFO; keep PTB/apscheduler chatter out.
        for name in ("apscheduler", "telegram", "bot.playground.fakegram"):
            logging.getLogger(name).setLevel(logging.WARNING)


async def _amain(options: Options, screen: Screen) -> int:
    demo = Demo(options, screen)
    loop = asyncio.get_running_loop()
    session: asyncio.Task[None] | None = None
    interrupted = False

    def on_interrupt() -> None:
        nonlocal interrupted
        interrupted = True
        if session is not None:
            session.cancel()

    # SIGTERM too, so a `kill` still removes the temporary database.
    handled: list[signal.Signals] = []
    for signum in (signal.SIGINT, signal.SIGTERM):
        with contextlib.suppress(NotImplementedError, RuntimeError, ValueError):  # Windows: asyncio.run's own handling
            loop.add_signal_handler(signum, on_interrupt)
            handled.append(signum)
    try:
        session = asyncio.create_task(_session(demo))
        try:
            await session
        except asyncio.CancelledError:
            if not interrupted:
                raise
            screen.took_input(None)
            screen.note("interrupted")
        except StartupError as exc:
            print(f"error: {exc}", file=sys.stderr)
            return 2
    finally:
        await demo.stop()
        for signum in handled:
            loop.remove_signal_handler(signum)
    if demo.real:
        screen.emit("Bye! (the demo database is gone; your panel keeps what you ordered)" if demo._tmpdir else "Bye!")
    else:
        screen.emit("Bye! (the sandbox and the demo database are gone)" if demo._tmpdir else "Bye!")
    return 0


async def _session(demo: Demo) -> None:
    await demo.start()
    await demo.run()


def main(argv: list[str]) -> int:
    """`python -m bot demo [options]`; returns the exit code."""
    options = parse_options(argv)
    if isinstance(options, int):
        return options
    _configure_streams()
    _configure_logging(options.verbose)
    tty = sys.stdout.isatty()
    ansi = tty and not os.environ.get("NO_COLOR") and os.environ.get("TERM") != "dumb"
    screen = Screen(sys.stdout, tty=tty, echo=not sys.stdin.isatty(), ansi=ansi)
    try:
        return asyncio.run(_amain(options, screen))
    except KeyboardInterrupt:
        # Ctrl-C before our handler was installed, or where signals go to asyncio.run.
        print("\n(interrupted)")
        return 0
