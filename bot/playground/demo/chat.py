"""The chat in the terminal: what you type reaches the bot as a Telegram user's message or
button press, and what the bot sends or edits (also on its own, later) is printed."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import shutil
import sys
from collections.abc import Awaitable
from typing import IO, Any

from bot.handlers.context import Deps
from bot.handlers.states import AwaitingOrderId, FillingField, decode
from bot.logs import redact_in_logs, secrets_in
from bot.panel.fields import SERVICE_TYPES, UNKNOWN_TYPE, FieldKind
from bot.playground.demo.commands import USAGE_HELP, Action, interpret
from bot.playground.demo.options import Options
from bot.playground.demo.render import flat_buttons
from bot.playground.demo.screen import PROMPT, Screen
from bot.playground.demo.session import App, Session, StartupError
from bot.playground.demo.stdin import LineReader
from bot.playground.demo.transcript import Transcript
from bot.playground.sandbox import SandboxPanel

__all__ = ["KEY_PROMPT", "Demo", "StartupError"]  # StartupError: what Demo.start may raise

log = logging.getLogger(__name__)

WATCH_INTERVAL = 0.25

KEY_HINT = "Tip: when the bot asks for your panel's API key, type :key to send the demo key shown above."
REAL_KEY_HINT = "Type :key to give the bot your panel's API key (asked for without showing it)."
KEY_PROMPT = "Panel API key (not shown; Enter to skip): "

# The form's fields that take a whole number: there a number typed is that number.
_INTEGER_FIELDS = frozenset(
    spec.name for kind in (*SERVICE_TYPES, UNKNOWN_TYPE) for spec in kind.fields
    if spec.kind is FieldKind.INTEGER
)


class Demo:
    """The chat on a `Session` (the panel, the fake Telegram, the bot), started and stopped
    with it."""

    def __init__(self, options: Options, screen: Screen) -> None:
        self.options = options
        self.screen = screen
        self.session = Session(options)
        width = shutil.get_terminal_size().columns - 1 if screen.tty else None
        self.transcript = Transcript(
            self.session.fake, self.session.user.chat_id, ansi=screen.ansi, width=width
        )
        self.reader: LineReader | None = None
        self._busy = False

    @property
    def app(self) -> App | None:
        return self.session.app

    @property
    def sandbox(self) -> SandboxPanel | None:
        return self.session.sandbox

    @property
    def url(self) -> str:
        return self.session.url

    @property
    def real(self) -> bool:
        return self.session.real

    async def start(self) -> None:
        await self.session.start()

    async def stop(self) -> None:
        await self.session.stop()

    # ------------------------------------------------------------------ what it says first

    def banner(self) -> str:
        session = self.session
        if session.real:
            return self.real_banner()
        sandbox = session.sandbox
        assert sandbox is not None
        s = self.screen.style
        where = f"{session.db_path} (deleted at exit)" if session.tmpdir else f"{session.db_path} (kept)"
        balance = f"{sandbox.balance(session.key)} {sandbox.currency(session.key)}"
        lines = [
            s("SMM panel bot: terminal demo", "1"),
            "The whole bot runs here: a local sandbox panel and a pretend Telegram chat.",
            "No token, no network, no real money.",
            "",
            f"  sandbox panel   {session.url}  ({len(sandbox.services)} services, speed x{sandbox.speed:g})",
            f"  demo API key    {s(session.key, '1')}  (balance {balance}; a local sandbox key)",
            f"  database        {where}",
            f"  you             Telegram user {session.user.id}, language {self.options.lang}",
            "",
        ]
        if self.options.shop:
            lines[5] = (f"  shop            MODE=shop on the sandbox account (panel balance {balance}); "
                        "prices 30 % over the panel's")
            lines += [
                "You are a customer with an empty wallet (and the shop's admin: /admin).",
                "Try: /topup, press an amount, :pay (pretend Stars); /order, confirm; :partial, then watch the "
                "refund arrive; /wallet.",
                "",
            ]
        lines += [self.help_text(), ""]
        return "\n".join(lines)

    def real_banner(self) -> str:
        session = self.session
        s = self.screen.style
        where = f"{session.db_path} (deleted at exit)" if session.tmpdir else f"{session.db_path} (kept)"
        typed = "" if session.typed_url.rstrip("/") == session.url else f"  (you typed {session.typed_url})"
        lines = [
            s("SMM panel bot: terminal demo on your panel", "1"),
            "The whole bot runs here, in a pretend Telegram chat, against your real panel.",
            s("Everything it does there is real: an order you confirm is placed on the panel "
              "and paid from your balance.", "1;33"),
            "",
            f"  panel API       {session.url}{typed}",
            "  your API key    type :key (asked for without showing it; never printed or logged)",
            f"  database        {where}",
            f"  you             Telegram user {session.user.id}, language {self.options.lang}",
            "",
            self.help_text(),
            "",
        ]
        return "\n".join(lines)

    def help_text(self) -> str:
        session = self.session
        commands = session.fake.visible_commands(self.options.lang.split("-")[0], session.user.chat_id)
        text = USAGE_HELP
        if commands:
            menu = "  ".join(f"/{c['command']}" for c in commands)
            text += f"\nThe bot's commands: {menu}"
        return text

    # ------------------------------------------------------------------ the chat

    async def run(self, stream: IO[str] | None = None) -> None:
        """The chat until :q or end of input (`stream`: stdin unless a test gives another)."""
        screen = self.screen
        reader = self.reader = LineReader(stream if stream is not None else sys.stdin)
        watcher = asyncio.create_task(self._watch())
        try:
            screen.emit(self.banner())
            screen.emit(PROMPT + "/start")
            await self.send("/start")
            if self.options.shop:
                pass  # a shop asks for no key
            elif not self.real:
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
                if line is not None and self.real and secrets_in(line):
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
        app = self.session.app
        if app is None:
            return False
        try:
            deps: Deps = app.bot_data["deps"]
            state = decode(await deps.store.get_flow(self.session.user.id))
        except Exception:  # noqa: BLE001 - a guess at the input's meaning: never fatal
            log.info("demo: could not read the conversation step", exc_info=True)
            return False
        if isinstance(state, AwaitingOrderId):
            return True
        return isinstance(state, FillingField) and state.field in _INTEGER_FIELDS

    async def send_real_key(self) -> None:
        """Ask for the panel's key with the echo off and send it as a message (the bot
        checks it, stores it encrypted and deletes the message). Never printed."""
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
                await self.send(self.session.key)
        elif action.kind == "press":
            await self.press(action.number)
        elif action.kind == "pay":
            await self.pay()
        elif action.kind == "partial":
            await self.partial()
        else:
            if action.not_a_button:
                size = self._latest_keyboard_size()
                if 1 <= int(action.text) <= size:
                    screen.note(f"sent “{action.text}” as the number the bot asked for; "
                                f":press {action.text} presses button {action.text}")
                else:
                    screen.note(f"sent “{action.text}” as text: the buttons here are 1-{size}")
            await self.send(action.text)

    async def pay(self) -> None:
        """:pay: press Pay on the bot's latest invoice, as Telegram's payment sheet would."""
        session = self.session
        if not any(m.invoice is not None for m in session.user.messages):
            self.screen.note("the bot sent no invoice to pay (in a shop: /topup)")
            return
        if not await self._act(session.user.pay(session.application)):
            self.screen.note("no reply")

    async def partial(self) -> None:
        """:partial: the newest open order ends Partial on the sandbox, a third undelivered."""
        session = self.session
        sandbox, app = session.sandbox, session.app
        if sandbox is None or app is None or not self.options.shop:
            self.screen.note(":partial is for the sandbox shop (python -m bot demo --shop)")
            return
        store = app.bot_data["deps"].store
        orders = await store.orders_for(session.user.id, open_only=True)
        counted = [o for o in orders if o.quantity]
        if not counted:
            self.screen.note("you have no open order with a quantity; order one first")
            return
        order = max(counted, key=lambda o: o.created_at)
        assert order.quantity is not None
        sandbox.set_status(order.panel_order_id, "Partial", remains=order.quantity // 3)
        self.screen.note(f"order #{order.panel_order_id} ends Partial on the sandbox ({order.quantity // 3} "
                         "not delivered); the bot sees it at its next check, within seconds")

    async def send(self, text: str) -> None:
        session = self.session
        if not await self._act(session.user.send(session.application, text, raise_errors=False)):
            self.screen.note("no reply")

    async def press(self, number: int) -> None:
        session = self.session
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
        queries = session.fake.callback_queries
        before = len(queries)
        shown = await self._act(
            session.user.press(session.application, label, target.message_id, raise_errors=False)
        )
        if len(queries) == before:
            return
        query = list(queries.values())[-1]
        answer = query.get("answer") or {}
        if not query.get("answered"):
            # Telegram would leave a spinner on the button for a while: worth knowing.
            self.screen.note("the bot did not answer this button press")
        elif answer.get("text"):
            # Printed after the messages the press produced (_act showed those).
            self.screen.emit(self.screen.style(f"(toast) {answer['text']}", "33"))
        elif not shown:
            self.screen.note("nothing changed")

    async def _act(self, work: Awaitable[Any]) -> bool:
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
        blocks = self.transcript.pending()
        if blocks:
            self.screen.emit("\n".join(blocks))
        return bool(blocks)

    def _latest_keyboard_size(self) -> int:
        latest = self.transcript.latest()
        return len(flat_buttons(latest.inline_keyboard)) if latest is not None else 0

    async def _watch(self) -> None:
        """Print what the bot sends on its own (status notifications from jobs)."""
        while True:
            await asyncio.sleep(WATCH_INTERVAL)
            if not self._busy:
                self.show_new()
