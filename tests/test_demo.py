"""`python -m bot demo`: driven through its stdin like a person would, plus its pieces.

The end-to-end test reads the numbered buttons the demo prints and picks by label, so it
survives changes to the screens' wording and layout as long as the flow stays the same.
"""

from __future__ import annotations

import asyncio
import io
import os
import re
import socket
import sys
from collections.abc import Callable
from decimal import Decimal
from pathlib import Path

import pytest
from telegram import InlineKeyboardButton, InlineKeyboardMarkup

from bot.panel.client import PanelClient
from bot.playground.demo.chat import KEY_PROMPT, Demo
from bot.playground.demo.commands import Action, interpret
from bot.playground.demo.options import Options, default_language, parse_options
from bot.playground.demo.render import keyboard_lines, render_entities, render_html
from bot.playground.demo.screen import PROMPT, Screen
from bot.playground.demo.transcript import Transcript
from bot.playground.fakegram import FakeTelegram
from bot.playground.sandbox import SandboxPanel

REPO = Path(__file__).resolve().parent.parent
DEADLINE = 60.0

_BUTTON = re.compile(r"\[(\d+)\] (.*?)(?=\s{2}\[\d+\] |$)")


# ---------------------------------------------------------------------------- helpers


def last_block(reply: str) -> str:
    """The last bot message (header line, text, buttons) in a stretch of demo output."""
    lines = reply.split("\n")
    starts = [i for i, line in enumerate(lines) if line.startswith("bot")]
    if not starts:
        return ""
    block = [lines[starts[-1]]]
    for line in lines[starts[-1] + 1 :]:
        if line and not line.startswith(" "):  # blank lines occur inside a message too
            break
        block.append(line)
    return "\n".join(block).rstrip()


def buttons_of(block: str) -> dict[str, int]:
    """Label -> number for the numbered buttons printed under a message."""
    found: dict[str, int] = {}
    for line in block.split("\n"):
        if re.match(r"\s+\[\d+\] ", line):
            for number, label in _BUTTON.findall(line.strip()):
                found.setdefault(label.strip(), int(number))
    return found


def number_for(block: str, *words: str) -> int | None:
    """The number of the first button whose label contains one of `words` (any case)."""
    for label, number in buttons_of(block).items():
        if any(word.lower() in label.lower() for word in words):
            return number
    return None


class Driver:
    """Talks to a demo subprocess: one line in, then everything up to the next prompt."""

    def __init__(self, process: asyncio.subprocess.Process) -> None:
        self.process = process
        self.output = ""
        self.deadline = asyncio.get_running_loop().time() + DEADLINE

    async def _read(self) -> bytes:
        assert self.process.stdout is not None
        remaining = self.deadline - asyncio.get_running_loop().time()
        if remaining <= 0:
            raise AssertionError(f"demo too slow; output so far:\n{self.output}")
        try:
            return await asyncio.wait_for(self.process.stdout.read(65536), remaining)
        except TimeoutError:
            raise AssertionError(f"demo too slow; output so far:\n{self.output}") from None

    async def idle(self, until: str = PROMPT) -> str:
        """Output until the demo waits at its prompt (`until`) again; returns just the new part."""
        start = len(self.output)
        while len(self.output) == start or not self.output.endswith(until):
            chunk = await self._read()
            if not chunk:
                raise AssertionError(f"demo ended early; output:\n{self.output}")
            self.output += chunk.decode("utf-8", "replace")
        return self.output[start:]

    async def say(self, line: str, until: str = PROMPT) -> str:
        assert self.process.stdin is not None
        self.process.stdin.write((line + "\n").encode())
        await self.process.stdin.drain()
        return await self.idle(until)

    async def press(self, reply: str, *words: str) -> str:
        block = last_block(reply)
        number = number_for(block, *words)
        assert number is not None, f"no button like {words} under:\n{block}\n\nfull output:\n{self.output}"
        # :press, as a bare number is text where the bot asks for a number (a Skip under a
        # numeric field is pressed so).
        return await self.say(f":press {number}")

    async def finish(self) -> tuple[int, str]:
        """Close stdin (Ctrl-D) and collect the rest; returns (exit code, stderr)."""
        assert self.process.stdin is not None and self.process.stderr is not None
        self.process.stdin.close()
        while chunk := await self._read():
            self.output += chunk.decode("utf-8", "replace")
        remaining = max(self.deadline - asyncio.get_running_loop().time(), 1)
        code = await asyncio.wait_for(self.process.wait(), remaining)
        stderr = (await self.process.stderr.read()).decode("utf-8", "replace")
        return code, stderr


async def stop(process: asyncio.subprocess.Process) -> None:
    """After a failure: SIGTERM first, so the demo still deletes its temporary database."""
    if process.returncode is not None:
        return
    process.terminate()
    try:
        await asyncio.wait_for(process.wait(), 10)
    except TimeoutError:
        process.kill()
        await process.wait()


async def until(condition: Callable[[], bool], seconds: float = 20.0) -> None:
    """Wait for `condition` (a loaded machine in a full run is slow; an idle one is not)."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + seconds
    while not condition() and loop.time() < deadline:
        await asyncio.sleep(0.05)


# ---------------------------------------------------------------------------- end to end


async def test_order_through_the_terminal() -> None:
    env = {**os.environ, "PYTHONPATH": str(REPO), "NO_COLOR": "1"}
    process = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "bot", "demo", "--speed", "50", "--lang", "en",
        cwd=REPO,
        env=env,
        stdin=asyncio.subprocess.PIPE,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    driver = Driver(process)
    try:
        banner = await driver.idle()
        assert "terminal demo" in banner
        assert re.search(r"sandbox panel\s+http://127\.0\.0\.1:\d+/api/v2", banner), banner
        assert re.search(r"demo API key\s+\S{8,}", banner), banner
        assert ":key" in banner and ":help" in banner
        assert "you> /start" in banner and "bot: " in banner  # /start went out by itself

        reply = await driver.say(":key")
        assert "Linked" in reply, reply

        reply = await driver.say("/order")
        # Platform, category, service: the first button each time, until a service card.
        for _ in range(5):
            if number_for(last_block(reply), "Order") is not None and "Min" in reply:
                break
            assert buttons_of(last_block(reply)), f"no buttons:\n{reply}"
            reply = await driver.say("1")
        card = last_block(reply)
        assert "Service" in card and "Min" in card and "Max" in card, card
        limits = re.search(r"Min: ([\d,]+).*?Max: ([\d,]+)", card)
        assert limits, card
        low, high = (int(v.replace(",", "")) for v in limits.groups())
        quantity = min(max(low, 100), high)

        reply = await driver.press(reply, "Order")
        for _ in range(8):
            if "Check your order" in reply:
                break
            block = last_block(reply)
            asked = block.lower()
            if "✏️ link" in asked:
                reply = await driver.say("https://instagram.com/p/demo-test")
            elif "✏️ quantity" in asked:
                # A number the bot asks for is that number, even one of the prompt's buttons.
                assert number_for(block, "Cancel") == 1, block
                reply = await driver.say("1")
                assert "Cancelled" not in reply and "cancelled" not in reply, reply
                assert "sent “1” as the number the bot asked for" in reply, reply
                reply = await driver.say(str(quantity))
            elif number_for(block, "Skip") is not None:
                reply = await driver.press(reply, "Skip")
            else:
                raise AssertionError(f"unexpected form step:\n{block}")
        assert "Check your order" in reply, reply

        reply = await driver.press(reply, "Confirm")
        assert re.search(r"#\d+ placed", reply), reply

        code, stderr = await driver.finish()
    finally:
        await stop(process)
    assert code == 0, f"exit {code}\nstdout:\n{driver.output}\nstderr:\n{stderr}"
    assert "Bye" in driver.output
    assert "Traceback" not in stderr, stderr


async def test_quit_and_bad_options() -> None:
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    process = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "bot", "demo", "--speed", "0",
        cwd=REPO, env=env,
        stdin=asyncio.subprocess.PIPE, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
    )
    out, err = await asyncio.wait_for(process.communicate(b":q\n/never-sent\n"), DEADLINE)
    assert process.returncode == 0, err
    assert b"/never-sent" not in out and b"Bye" in out

    process = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "bot", "demo", "--balance", "lots",
        cwd=REPO, env=env, stdin=asyncio.subprocess.DEVNULL,
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
    )
    out, err = await asyncio.wait_for(process.communicate(), DEADLINE)
    assert process.returncode == 2
    assert b"--balance" in err and b"Traceback" not in err


REAL_KEY = "operator-own-key-0123456789abcdef"


async def place_form(driver: Driver, reply: str, quantity: int) -> str:
    """From a service card to the confirm screen, answering each form step."""
    reply = await driver.press(reply, "Order")
    for _ in range(8):
        if "Check your order" in reply:
            break
        block = last_block(reply)
        asked = block.lower()
        if "✏️ link" in asked:
            reply = await driver.say("https://instagram.com/p/demo-test")
        elif "✏️ quantity" in asked:
            reply = await driver.say(str(quantity))
        elif number_for(block, "Skip") is not None:
            reply = await driver.press(reply, "Skip")
        else:
            raise AssertionError(f"unexpected form step:\n{block}")
    return reply


@pytest.mark.parametrize("dialect", ["seed", "smartpanel"])
async def test_the_demo_on_your_own_panel(dialect: str) -> None:
    """`demo --panel-url`: the panel's address typed, its API found; the key given at the
    hidden prompt (:key) and never shown; the operator's balance, an existing order's
    status, their catalog, and a real order placed on the panel."""
    async with SandboxPanel(speed=0, dialect=dialect) as panel:
        panel.add_account(REAL_KEY, balance=Decimal("42.5"))
        async with PanelClient(panel.url, REAL_KEY) as client:
            earlier = await client.add({"service": "1011", "link": "https://instagram.com/nasa", "quantity": "100"})
        balance = f"${panel.balance(REAL_KEY):.2f}"
        env = {**os.environ, "PYTHONPATH": str(REPO), "NO_COLOR": "1", "PANEL_KEY": "not-this-one-0123456789"}
        process = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "bot", "demo", "--panel-url", panel.base_url, "--lang", "en",
            cwd=REPO, env=env,
            stdin=asyncio.subprocess.PIPE, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
        )
        driver = Driver(process)
        try:
            banner = await driver.idle()
            assert "on your panel" in banner and "real" in banner, banner
            assert re.search(rf"panel API\s+{re.escape(panel.url)}\s", banner), banner
            assert "sandbox" not in banner.split("How to use it")[0].lower(), banner
            assert ":key" in banner

            prompt = await driver.say(":key", until=KEY_PROMPT)
            assert prompt.endswith(KEY_PROMPT)
            reply = await driver.say(REAL_KEY)
            assert "Linked" in reply and balance in reply, reply
            assert "(not shown)" in reply and "(your message was deleted)" in reply, reply

            reply = await driver.say("/balance")
            assert balance in reply, reply
            reply = await driver.say(f"/status {earlier}")
            assert f"#{earlier}" in reply or str(earlier) in reply, reply

            reply = await driver.say("/order")
            for _ in range(5):
                if number_for(last_block(reply), "Order") is not None and "Min" in reply:
                    break
                reply = await driver.say("1")
            card = last_block(reply)
            limits = re.search(r"Min: ([\d,]+).*?Max: ([\d,]+)", card)
            assert limits, card
            low, high = (int(v.replace(",", "")) for v in limits.groups())
            reply = await place_form(driver, reply, min(max(low, 100), high))
            assert "Check your order" in reply, reply
            adds = panel.count("add")
            reply = await driver.press(reply, "Confirm")
            placed = re.search(r"#(\d+) placed", reply)
            assert placed, reply
            assert panel.count("add") == adds + 1  # a real order, on the panel

            code, stderr = await driver.finish()
        finally:
            await stop(process)
    assert code == 0, f"exit {code}\nstdout:\n{driver.output}\nstderr:\n{stderr}"
    assert REAL_KEY not in driver.output and REAL_KEY not in stderr
    assert "Traceback" not in stderr, stderr


async def test_the_demo_on_a_panel_url_without_an_api_says_what_it_tried() -> None:
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    process = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "bot", "demo", "--panel-url", f"http://127.0.0.1:{port}",
        cwd=REPO, env=env, stdin=asyncio.subprocess.DEVNULL,
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
    )
    out, err = await asyncio.wait_for(process.communicate(), DEADLINE)
    assert process.returncode == 2, (out, err)
    assert f"The panel is not reachable at http://127.0.0.1:{port}: tried".encode() in err, err
    assert b"Traceback" not in err


def test_the_key_is_never_an_option_and_sandbox_options_are_not_for_a_real_panel(
    capsys: pytest.CaptureFixture[str]
) -> None:
    assert parse_options(["--panel-url", "https://panel.example", "--key", "abc-0123456789"]) == 2
    assert "not taken on the command line" in capsys.readouterr().err
    assert parse_options(["--panel-url", "https://panel.example", "--speed", "5"]) == 2
    assert "--speed" in capsys.readouterr().err
    options = parse_options(["--panel-url", "panel.example/api/v2"])
    assert isinstance(options, Options) and options.panel_url == "https://panel.example/api/v2"
    options = parse_options([])
    assert isinstance(options, Options) and options.panel_url is None and options.speed == 20.0


async def test_on_a_real_panel_the_bot_is_told_so_for_its_confirm_screen(tmp_path: Path) -> None:
    async with SandboxPanel(speed=0, dialect="smartpanel") as panel:
        for panel_url, real in ((panel.base_url, True), (None, False)):
            options = Options(speed=0, lang="en", balance=Decimal(5), catalog=None, db=tmp_path / f"{real}.db",
                              user_id=77, verbose=False, panel_url=panel_url)
            demo = Demo(options, Screen(io.StringIO(), tty=False, echo=True, ansi=False))
            try:
                await demo.start()
                assert demo.app.bot_data["real_panel"] is real
                assert (demo.sandbox is None) is real
                if real:
                    assert demo.url == panel.url
                    assert demo.app.bot_data["deps"].panels.endpoint == panel.url
                    assert demo.app.bot_data["deps"].settings.panel_url == panel.base_url
            finally:
                await demo.stop()


# ---------------------------------------------------------------------------- in process


async def test_messages_the_bot_sends_on_its_own_are_printed(tmp_path: Path) -> None:
    """A JobQueue job's message shows up without any input, exactly once."""
    out = io.StringIO()
    options = Options(
        speed=0, lang="en", balance=Decimal(5), catalog=None, db=tmp_path / "d.db", user_id=77, verbose=False
    )
    demo = Demo(options, Screen(out, tty=False, echo=True, ansi=False))
    read_fd, write_fd = os.pipe()
    stream = os.fdopen(read_fd, "r")
    try:
        await demo.start()
        assert demo.app.job_queue is not None and demo.app.running

        async def notify(context: object) -> None:
            await demo.app.bot.send_message(77, "🔔 Order <b>#1</b> is <i>Completed</i>.")

        demo.app.job_queue.run_once(notify, 0.3)
        session = asyncio.create_task(demo.run(stream))
        await until(lambda: "Completed" in out.getvalue())
        await asyncio.sleep(0.6)  # a few more watcher rounds: still printed once

        # A button from an old version of the bot: pressing it by number gets a toast.
        markup = InlineKeyboardMarkup([[InlineKeyboardButton("Old", callback_data="zz:old")]])
        await demo.app.bot.send_message(77, "Left over", reply_markup=markup)
        os.write(write_fd, b"1\n")
        await until(lambda: "(toast)" in out.getvalue())
        os.close(write_fd)
        write_fd = -1
        await asyncio.wait_for(session, 10)
    finally:
        if write_fd >= 0:
            os.close(write_fd)
        await demo.stop()
        stream.close()
    text = out.getvalue()
    assert text.count("bot: 🔔 Order #1 is Completed.") == 1, text
    assert "bot: Left over\n     [1] Old" in text, text
    assert "you> 1\n" in text and "(toast) " in text, text
    assert (tmp_path / "d.db").exists()  # --db is kept


async def test_the_shop_demo_tops_up_orders_and_shows_a_partial_refund(tmp_path: Path) -> None:
    """--shop: /topup, a preset, :pay (pretend Stars), an order, :partial, and the refund
    arrives by itself; the wallet says where the money went."""
    out = io.StringIO()
    options = Options(speed=0, lang="en", balance=Decimal(100), catalog=None, db=tmp_path / "shop.db", user_id=77,
                      verbose=False, shop=True)
    demo = Demo(options, Screen(out, tty=False, echo=True, ansi=False))
    try:
        await demo.start()
        assert "shop            MODE=shop" in demo.banner() and "/topup" in demo.banner()
        for line in ("/topup", "1", ":pay", "/order 1012", "1", "https://instagram.com/nasa", "1000", "1"):
            await demo.perform(interpret(line, demo._latest_keyboard_size(),
                                         asking=await demo.asking_for_number()))
            demo.show_new()
        text = out.getvalue()
        assert "🧾 Wallet top-up" in text and "Pay 250 ⭐" in text and "$5.00 added to your wallet" in text, text
        assert "✅ Order #" in text and "Charge: $3.19" in text, text
        await demo.perform(interpret(":partial", 0))
        deps = demo.app.bot_data["deps"]
        await deps.watcher.run_cycle()  # the demo's own job would, within seconds
        await deps.sender.send_due(demo.app.bot)
        demo.show_new()
        assert "💳 $1.07 went back to your wallet." in out.getvalue(), out.getvalue()
        await demo.perform(interpret("/wallet", 0))
        demo.show_new()
        assert "Your wallet: $2.88" in out.getvalue()
    finally:
        await demo.stop()


def test_shop_is_an_option_for_the_sandbox_only(capsys: pytest.CaptureFixture[str]) -> None:
    options = parse_options(["--shop"])
    assert isinstance(options, Options) and options.shop
    assert parse_options(["--shop", "--panel-url", "panel.example"]) == 2
    assert "--shop: for the sandbox only" in capsys.readouterr().err


# ---------------------------------------------------------------------------- pieces


def test_render_html_plain_and_ansi() -> None:
    source = "<b>Order #1</b> &amp; <i>more</i>: <code>a&lt;b</code>"
    assert render_html(source) == "Order #1 & more: a<b"
    styled = render_html(source, ansi=True)
    assert "\x1b[1mOrder #1\x1b[0m" in styled
    assert "\x1b[36ma<b\x1b[0m" in styled
    assert styled.endswith("\x1b[0m")


def test_render_html_links_and_bad_markup() -> None:
    assert render_html('see <a href="https://x.example/p">the page</a>') == "see the page <https://x.example/p>"
    assert render_html('<a href="https://x.example">https://x.example</a>') == "https://x.example"
    # Markup Telegram would refuse still renders as something readable.
    assert render_html("<b>open &amp; <i>shut</b>") == "open & shut"


def test_render_entities_counts_utf16_like_telegram() -> None:
    # The emoji takes two UTF-16 units; the bold word must not shift by one.
    text = "🛒 New order"
    entities = [{"type": "bold", "offset": 3, "length": 3}]
    assert render_entities(text, entities, ansi=True) == "🛒 \x1b[1mNew\x1b[0m order"
    assert render_entities(text, entities, ansi=False) == text


def test_keyboard_numbers_run_across_rows() -> None:
    rows = [
        [{"text": "Confirm", "callback_data": "c"}],
        [{"text": "✏️ Edit", "callback_data": "e"}, {"text": "✖ Cancel", "callback_data": "x"}],
        [{"text": "Panel", "url": "https://panel.example"}],
    ]
    assert keyboard_lines(rows) == ["[1] Confirm", "[2] ✏️ Edit  [3] ✖ Cancel", "[4] Panel ↗"]
    assert buttons_of("\n".join("     " + line for line in keyboard_lines(rows))) == {
        "Confirm": 1, "✏️ Edit": 2, "✖ Cancel": 3, "Panel ↗": 4,
    }


@pytest.mark.parametrize(
    ("line", "buttons", "expected"),
    [
        ("2", 3, Action("press", number=2)),
        ("3", 3, Action("press", number=3)),
        ("4", 3, Action("text", text="4", not_a_button=True)),  # a quantity, say
        ("0", 3, Action("text", text="0", not_a_button=True)),
        ("1000", 1, Action("text", text="1000", not_a_button=True)),
        ("2", 0, Action("text", text="2")),  # no keyboard: a number is text
        (" 2 \n", 2, Action("press", number=2)),
        (":press 7", 2, Action("press", number=7)),  # explicit; range checked when pressing
        (":text 2", 3, Action("text", text="2")),
        (":text :q", 3, Action("text", text=":q")),
        (":key", 0, Action("key")),
        (":help", 0, Action("help")),
        (":q", 0, Action("quit")),
        ("quit", 2, Action("quit")),
        ("", 2, Action("empty")),
        ("   \n", 2, Action("empty")),
        ("/order", 2, Action("text", text="/order")),
        ("https://x.example/p/1", 2, Action("text", text="https://x.example/p/1")),
        (":)", 2, Action("text", text=":)")),
        (":2", 3, Action("press", number=2)),
    ],
)
def test_number_or_text(line: str, buttons: int, expected: Action) -> None:
    assert interpret(line, buttons) == expected


@pytest.mark.parametrize(
    ("line", "buttons", "expected"),
    [
        # The bot asks for a number (a quantity, runs, an order id): a number is that number,
        # even when the prompt's only button (Cancel) is [1].
        ("1", 1, Action("text", text="1", not_a_button=True)),
        ("3", 8, Action("text", text="3", not_a_button=True)),
        ("1000", 1, Action("text", text="1000", not_a_button=True)),
        (":press 1", 1, Action("press", number=1)),  # a button is still a keystroke away
        (":1", 1, Action("press", number=1)),
        (":text 1", 1, Action("text", text="1")),
        ("https://x.example/p/1", 1, Action("text", text="https://x.example/p/1")),
    ],
)
def test_a_number_typed_where_the_bot_asks_for_one_is_that_number(line: str, buttons: int, expected: Action) -> None:
    assert interpret(line, buttons, asking=True) == expected


def test_unknown_and_incomplete_demo_commands() -> None:
    assert interpret(":frobnicate", 0).kind == "unknown"
    assert interpret(":press", 2).kind == "unknown"
    assert interpret(":press two", 2).kind == "unknown"
    assert interpret(":text", 2).kind == "unknown"


def test_default_language_and_options() -> None:
    assert default_language({"LANG": "de_AT.UTF-8"}) == "de"
    assert default_language({"LANG": "C.UTF-8"}) == "en"
    assert default_language({"LC_ALL": "ru_RU", "LANG": "de_DE"}) == "ru"
    assert default_language({}) == "en"
    options = parse_options([], {"LANG": "uz_UZ.UTF-8"})
    assert isinstance(options, Options)
    assert (options.speed, options.lang, options.balance, options.db, options.user_id) == (
        20.0, "uz", Decimal(100), None, 1001,
    )
    options = parse_options(["--lang", "pt_BR.UTF-8", "--speed", "3", "--balance", "7.5", "--user-id", "5"])
    assert isinstance(options, Options)
    assert (options.lang, options.speed, options.balance, options.user_id) == ("pt-br", 3.0, Decimal("7.5"), 5)
    assert parse_options(["--speed", "-1"]) == 2
    assert parse_options(["--lang", "no such"]) == 2
    assert parse_options(["--nope"]) == 2


async def test_transcript_prints_each_change_once() -> None:
    fake = FakeTelegram(clock=lambda: 0.0, wall_clock=lambda: 1_700_000_000.0)
    fake.user(5)
    transcript = Transcript(fake, 5)
    keyboard = {"inline_keyboard": [[{"text": "Yes", "callback_data": "y"}, {"text": "No", "callback_data": "n"}]]}
    await fake.call("sendMessage", {"chat_id": 5, "text": "<b>Sure?</b>\nReally", "parse_mode": "HTML", "reply_markup": keyboard})
    assert transcript.pending() == ["bot: Sure?\n     Really\n     [1] Yes  [2] No"]
    assert transcript.pending() == []
    assert transcript.latest() is transcript.keyboard_message()

    # Two edits within one second share an edit_date; both must show.
    await fake.call("editMessageText", {"chat_id": 5, "message_id": 1, "text": "First"})
    assert transcript.pending() == ["bot (edited): First"]
    await fake.call("editMessageText", {"chat_id": 5, "message_id": 1, "text": "Second", "reply_markup": keyboard})
    assert transcript.pending() == ["bot (edited): Second\n     [1] Yes  [2] No"]
    # Only the keyboard goes: the text is not repeated.
    await fake.call("editMessageReplyMarkup", {"chat_id": 5, "message_id": 1})
    assert transcript.pending() == ["bot (edited): “Second” (buttons removed)"]
    assert transcript.keyboard_message() is None

    # Sent and deleted before anyone looked: nothing to say.
    await fake.call("sendMessage", {"chat_id": 5, "text": "⏳"})
    await fake.call("deleteMessage", {"chat_id": 5, "message_id": 2})
    assert transcript.pending() == []
    await fake.call("deleteMessage", {"chat_id": 5, "message_id": 1})
    assert transcript.pending() == ["(message deleted: “Second”)"]
    assert transcript.latest() is None
