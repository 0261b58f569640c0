"""`python -m bot demo`: the whole bot in this terminal, with no token and no network.

It starts the sandbox panel on loopback, builds the real PTB `Application` with the fake
Telegram transport, and turns the terminal into the chat: what you type is sent as a
Telegram user's message, a number presses a button, and whatever the bot sends or edits
(also on its own, later) is printed readably.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import html
import logging
import os
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
  a number N           presses button [N] of the latest keyboard (when there is such a button;
                       otherwise the number is sent as text, e.g. a quantity)
  :press N             presses button N of the latest keyboard
  :text ...            sends the rest as text, even a number (":text 2" sends "2")
  :key                 sends the demo API key as a message
  :help                shows this help
  :q, quit, Ctrl-D     exits (so does Ctrl-C)"""

KEY_HINT = "Tip: when the bot asks for your panel's API key, type :key to send the demo key shown above."

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
    from bot.fakegram.html import HtmlParseError, parse_html

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


def interpret(line: str, buttons: int) -> Action:
    """Decide what an input line means; `buttons` is the size of the latest keyboard (0: none).

    A bare number is a press only when the latest bot message has a keyboard and the number
    is one of its buttons; otherwise it is text (a quantity, an order number...).
    """
    line = line.rstrip("\r\n")
    stripped = line.strip()
    if not stripped:
        return Action("empty")
    if stripped.lower() in ("quit", "exit"):
        return Action("quit")
    if _NUMBER.fullmatch(stripped):
        number = int(stripped)
        if buttons and 1 <= number <= buttons:
            return Action("press", number=number)
        return Action("text", text=stripped, not_a_button=bool(buttons))
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
        self._said = False  # output since the last prompt: a blank line sets it apart

    def style(self, text: str, code: str) -> str:
        return f"\x1b[{code}m{text}{ANSI_RESET}" if self.ansi else text

    def note(self, text: str) -> None:
        self.emit(self.style(f"({text})", "2"))

    def emit(self, text: str) -> None:
        if self._prompting:
            # Something arrived while the prompt waits: put it above a fresh prompt.
            lead = "\r\x1b[K" if self.tty else "\n"
            self._write(f"{lead}{text}\n\n{PROMPT}")
        else:
            self._write(text + "\n")
            self._said = True

    def prompt(self) -> None:
        self._write(("\n" if self._said else "") + PROMPT)
        self._prompting = True
        self._said = False

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
    """Stdin lines delivered to the event loop by a daemon thread.

    A daemon thread rather than `asyncio.to_thread`: a `readline` blocked in the default
    executor keeps the process alive after Ctrl-C until Enter is pressed, because
    `asyncio.run` joins the executor on the way out.
    """

    def __init__(self, stream: IO[str]) -> None:
        self.stream = stream
        self._queue: asyncio.Queue[str | None] = asyncio.Queue()
        self._loop = asyncio.get_running_loop()
        threading.Thread(target=self._run, name="demo-stdin", daemon=True).start()

    def _run(self) -> None:
        try:
            while True:
                line = self.stream.readline()
                self._put(line or None)
                if not line:
                    return
        except (OSError, ValueError):
            self._put(None)

    def _put(self, line: str | None) -> None:
        with contextlib.suppress(RuntimeError):  # the loop already closed: we are exiting
            self._loop.call_soon_threadsafe(self._queue.put_nowait, line)

    async def readline(self) -> str | None:
        """The next line, or None at end of input."""
        return await self._queue.get()


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
            "chat. No token, no network, no real money."
        ),
        epilog=USAGE_HELP,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument(
        "--speed",
        type=float,
        default=DEFAULT_SPEED,
        metavar="S",
        help=f"sandbox time scale: orders finish in 1-3 minutes / S (default {DEFAULT_SPEED:g})",
    )
    parser.add_argument(
        "--lang",
        metavar="CODE",
        help="your Telegram language_code (default: from $LANG, else en)",
    )
    parser.add_argument("--balance", default="100", metavar="B", help="the demo account's balance (default 100)")
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


def parse_options(argv: list[str], environ: Mapping[str, str] | None = None) -> Options | int:
    """The options, or an exit code when argparse already answered (--help) or refused."""
    parser = _parser()
    try:
        args = parser.parse_args(argv)
    except SystemExit as exit_:
        return exit_.code if isinstance(exit_.code, int) else 2
    problems: list[str] = []
    try:
        balance = Decimal(args.balance)
        if not balance.is_finite():
            raise InvalidOperation
    except InvalidOperation:
        problems.append(f"--balance: not an amount: {args.balance!r}")
        balance = Decimal(0)
    if not args.speed >= 0:  # also refuses NaN
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
        speed=args.speed,
        lang=lang,
        balance=balance,
        catalog=args.catalog,
        db=Path(args.db).expanduser().resolve() if args.db else None,
        user_id=args.user_id,
        verbose=args.verbose,
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
        from bot.app import build_application
        from bot.config import ConfigError, load_settings
        from bot.fakegram import FakeRequest, FakeTelegram
        from bot.sandbox import SandboxPanel

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
                panel_url=self.url,
                panel_key=None,
                allowed_users=frozenset(),
                admin_ids=frozenset(),
                database_url=f"sqlite+aiosqlite:///{self.db_path.as_posix()}",
                secret_key=secrets.token_urlsafe(32),
                status_poll_seconds=DEMO_STATUS_POLL_SECONDS,
                default_locale="en",
                webhook_url=None,
                webhook_secret=None,
            )
        except ConfigError as exc:
            raise StartupError(f"configuration: {exc}") from None

        self.fake = FakeTelegram()
        self.user = self.fake.user(options.user_id, first_name="You", language_code=options.lang)
        width = shutil.get_terminal_size().columns - 1 if self.screen.tty else None
        self.transcript = Transcript(self.fake, self.user.chat_id, ansi=self.screen.ansi, width=width)
        # One FakeRequest per slot: PTB shuts each down separately.
        self.app = build_application(
            settings,
            request=FakeRequest(self.fake),
            get_updates_request=FakeRequest(self.fake),
            rate_limiter=False,
        )
        await self.app.initialize()
        self._initialized = True
        await self.app.post_init(self.app)
        self._post_init_done = True
        if self.app.job_queue is not None:
            # start() runs the JobQueue and an idle update fetcher; no updater polls, and
            # we hand updates to process_update ourselves, which needs no running fetcher.
            await self.app.start()

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
        reader = LineReader(stream if stream is not None else sys.stdin)
        watcher = asyncio.create_task(self._watch())
        try:
            screen.emit(self.banner())
            screen.emit(PROMPT + "/start")
            await self.send("/start")
            screen.note(KEY_HINT)
            while True:
                self.show_new()
                screen.prompt()
                line = await reader.readline()
                screen.took_input(line)
                if line is None:
                    break
                self.show_new()
                action = interpret(line, self._latest_keyboard_size())
                if action.kind == "quit":
                    break
                await self.perform(action)
        finally:
            watcher.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await watcher
        self.show_new()

    async def perform(self, action: Action) -> None:
        screen = self.screen
        if action.kind == "empty":
            return
        if action.kind == "help":
            screen.emit(self.help_text())
        elif action.kind == "unknown":
            screen.note(action.text)
        elif action.kind == "key":
            screen.note("sending the demo key")
            await self.send(self.key)
        elif action.kind == "press":
            await self.press(action.number)
        else:
            if action.not_a_button:
                size = self._latest_keyboard_size()
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
        for name in ("apscheduler", "telegram", "bot.fakegram"):
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
