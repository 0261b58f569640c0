"""Tests for the fake Bot API transport, driving a real PTB Application through it."""

from __future__ import annotations

import asyncio
import datetime as dtm
import time
from collections.abc import AsyncIterator
from typing import Any

import pytest
from telegram import (
    BotCommand,
    BotCommandScopeAllPrivateChats,
    BotCommandScopeChat,
    InlineKeyboardButton,
    InlineKeyboardMarkup,
    MenuButtonCommands,
    MenuButtonDefault,
    MenuButtonWebApp,
    Update,
    WebAppInfo,
)
from telegram.error import BadRequest, Conflict, Forbidden, InvalidToken, RetryAfter
from telegram.ext import (
    Application,
    ApplicationBuilder,
    CallbackQueryHandler,
    CommandHandler,
    ContextTypes,
)

from bot.playground.fakegram import (
    FakeRequest,
    FakeTelegram,
    FakeUser,
    HtmlParseError,
    parse_bot_url,
    parse_html,
    utf16_len,
)

# RetryAfter.__init__ itself reads retry_after, which PTB 22 flags as becoming a timedelta.
pytestmark = pytest.mark.filterwarnings(
    "ignore:.*`retry_after` will be of type:telegram.warnings.PTBDeprecationWarning"
)

TOKEN = "123456:TEST-TOKEN"
USER_ID = 4242

App = Application[Any, Any, Any, Any, Any, Any]


def keyboard(*rows: list[tuple[str, str]]) -> InlineKeyboardMarkup:
    return InlineKeyboardMarkup(
        [[InlineKeyboardButton(text, callback_data=data) for text, data in row] for row in rows]
    )


async def start(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    assert update.message is not None
    await update.message.reply_text(
        "<b>Welcome</b>, pick one &amp; go:",
        parse_mode="HTML",
        reply_markup=keyboard([("Red", "pick:red"), ("Blue", "pick:blue")]),
    )


async def on_pick(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    query = update.callback_query
    assert query is not None and query.data is not None
    colour = query.data.split(":", 1)[1]
    await query.answer(f"You picked {colour}")
    await query.edit_message_text(f"Picked <i>{colour}</i>", parse_mode="HTML")


async def broken(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    assert update.message is not None
    await update.message.reply_text("<b>unclosed", parse_mode="HTML")


def build_app(fake: FakeTelegram, token: str = TOKEN) -> App:
    app = (
        ApplicationBuilder()
        .token(token)
        .request(FakeRequest(fake))
        .get_updates_request(FakeRequest(fake))
        .build()
    )
    app.add_handler(CommandHandler("start", start))
    app.add_handler(CommandHandler("broken", broken))
    app.add_handler(CallbackQueryHandler(on_pick, pattern=r"^pick:"))
    return app


@pytest.fixture
def fake() -> FakeTelegram:
    return FakeTelegram()


@pytest.fixture
async def app(fake: FakeTelegram) -> AsyncIterator[App]:
    application = build_app(fake)
    await application.initialize()
    try:
        yield application
    finally:
        await application.shutdown()


@pytest.fixture
def ann(fake: FakeTelegram) -> FakeUser:
    return fake.user(USER_ID, first_name="Ann", language_code="en")


def retry_after_seconds(exc: RetryAfter) -> float:
    value = exc.retry_after  # int today, timedelta with PTB_TIMEDELTA=1
    return value.total_seconds() if isinstance(value, dtm.timedelta) else float(value)


# ---------------------------------------------------------------------------- html.py


@pytest.mark.parametrize(
    ("source", "text", "entities"),
    [
        ("plain", "plain", []),
        ("<b>x</b> &amp; <i>y</i>", "x & y", [("bold", 0, 1), ("italic", 4, 1)]),
        ("<strong>a</strong><em>b</em><u>c</u><ins>d</ins>", "abcd",
         [("bold", 0, 1), ("italic", 1, 1), ("underline", 2, 1), ("underline", 3, 1)]),
        ("<s>a</s><strike>b</strike><del>c</del>", "abc",
         [("strikethrough", 0, 1), ("strikethrough", 1, 1), ("strikethrough", 2, 1)]),
        ('<tg-spoiler>a</tg-spoiler><span class="tg-spoiler">b</span>', "ab",
         [("spoiler", 0, 1), ("spoiler", 1, 1)]),
        ("<b>a<i>b</i></b>", "ab", [("bold", 0, 2), ("italic", 1, 1)]),
        ("&lt;tag&gt; &quot;q&quot; &#65;&#x42;", '<tag> "q" AB', []),
        ("😀<b>é</b>", "😀é", [("bold", 2, 1)]),
        ("<blockquote>q</blockquote>", "q", [("blockquote", 0, 1)]),
        ("<blockquote expandable>q</blockquote>", "q", [("expandable_blockquote", 0, 1)]),
        ("<code>x</code>", "x", [("code", 0, 1)]),
        ("<B>caps</B>", "caps", [("bold", 0, 4)]),
        ("<b></b>empty", "empty", []),
    ],
)
def test_parse_html_valid(source: str, text: str, entities: list[tuple[str, int, int]]) -> None:
    parsed = parse_html(source)
    assert parsed.text == text
    assert [(e["type"], e["offset"], e["length"]) for e in parsed.entities] == entities


def test_parse_html_links_and_pre_language() -> None:
    link = parse_html('<a href="https://example.com/?a=1&amp;b=2">site</a>').entities[0]
    assert link == {
        "type": "text_link", "offset": 0, "length": 4, "url": "https://example.com/?a=1&b=2"
    }
    pre = parse_html('<pre><code class="language-python">x = 1</code></pre>').entities
    assert pre == [{"type": "pre", "offset": 0, "length": 5, "language": "python"}]
    emoji = parse_html('<tg-emoji emoji-id="5368324170671202286">👍</tg-emoji>').entities
    assert emoji[0]["type"] == "custom_emoji" and emoji[0]["length"] == 2


@pytest.mark.parametrize(
    ("source", "message"),
    [
        ("<b>x", 'Can\'t find end tag corresponding to start tag "b"'),
        ("<b>x</i>", 'Unmatched end tag at byte offset 4, expected "</b>", found "</i>"'),
        ("<b>a<i>b</b></i>", 'Unmatched end tag at byte offset 8, expected "</i>", found "</b>"'),
        ("x</b>", "Unexpected end tag at byte offset 1"),
        ("<br>", 'Unsupported start tag "br" at byte offset 0'),
        ("1 < 2", 'Unsupported start tag "" at byte offset 2'),
        ("é <div>", 'Unsupported start tag "div" at byte offset 3'),
        ("<b", "Unclosed start tag at byte offset 0"),
        ("<b>x</b", "Unclosed end tag at byte offset 4"),
        ('<span class="x">s</span>', 'Tag "span" must have class "tg-spoiler" at byte offset 0'),
        ("<a href>x</a>", 'Expected equal sign in declaration of an attribute of the tag "a" '
                          "at byte offset 0"),
        ('<tg-emoji emoji-id="abc">x</tg-emoji>', "Invalid custom emoji identifier specified"),
        ("Q&A", 'Unescaped "&" at byte offset 1, use &amp;'),
        ("2 > 1", 'Unescaped ">" at byte offset 2, use &gt;'),
    ],
)
def test_parse_html_errors(source: str, message: str) -> None:
    with pytest.raises(HtmlParseError) as info:
        parse_html(source)
    assert info.value.message == message


def test_parse_html_lenient_mode_matches_tdlib() -> None:
    # Real Telegram keeps a stray & or > literally; strict=False models that.
    assert parse_html("Q&A 2 > 1 &nbsp;", strict=False).text == "Q&A 2 > 1 &nbsp;"


def test_utf16_len_counts_astral_chars_twice() -> None:
    assert utf16_len("abc") == 3
    assert utf16_len("😀") == 2
    assert utf16_len("é") == 1


# ---------------------------------------------------------------------------- transport


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        ("https://api.telegram.org/bot123:ABC/sendMessage", ("123:ABC", "sendMessage")),
        ("http://localhost:8081/bot123:ABC/getMe", ("123:ABC", "getMe")),
        ("https://proxy.example/tg/123:ABC/getUpdates", ("123:ABC", "getUpdates")),
    ],
)
def test_parse_bot_url(url: str, expected: tuple[str, str]) -> None:
    assert parse_bot_url(url) == expected


async def test_initialize_calls_get_me(fake: FakeTelegram, app: App) -> None:
    assert app.bot.username == fake.bot_username
    assert app.bot.id == 123456  # taken from the token prefix, as Telegram does
    assert fake.calls[0].method == "getMe" and fake.calls[0].ok
    assert fake.token == TOKEN


async def test_application_builder_helper(fake: FakeTelegram) -> None:
    application = fake.application_builder(TOKEN).build()
    await application.initialize()
    try:
        me = await application.bot.get_me()
        assert me.is_bot and me.id == 123456
    finally:
        await application.shutdown()


async def test_other_token_is_unauthorized(fake: FakeTelegram, app: App) -> None:
    other = build_app(fake, token="999:OTHER")
    with pytest.raises(InvalidToken):
        await other.initialize()


async def test_unknown_method_is_bad_request_and_logged(fake: FakeTelegram, app: App) -> None:
    fake.user(USER_ID)
    with pytest.raises(BadRequest, match="(?i)method not implemented in fake: getchat"):
        await app.bot.get_chat(USER_ID)
    call = fake.last_call("getChat")
    assert call is not None and call.status == 400


# ---------------------------------------------------------------------------- conversations


async def test_start_reply_has_html_text_and_keyboard(
    fake: FakeTelegram, app: App, ann: FakeUser
) -> None:
    produced = await ann.send(app, "/start")
    assert len(produced) == 1
    reply = produced[0]
    assert reply.text == "Welcome, pick one & go:"
    assert reply.raw_text.startswith("<b>Welcome</b>")
    assert reply.entities == [{"type": "bold", "offset": 0, "length": 7}]
    assert ann.last_buttons == [[("Red", "pick:red"), ("Blue", "pick:blue")]]
    sent = fake.last_call("sendMessage")
    assert sent is not None and sent.params["chat_id"] == USER_ID
    assert sent.params["parse_mode"] == "HTML"


async def test_button_press_answers_and_edits(app: App, ann: FakeUser) -> None:
    (original,) = await ann.send(app, "/start")
    original_id = original.message_id
    produced = await ann.press(app, "Blue")
    assert [m.message_id for m in produced] == [original_id]
    assert ann.last_text == "Picked blue"
    assert ann.last_answer == {"text": "You picked blue", "show_alert": False,
                               "url": None, "cache_time": None}
    # editMessageText without reply_markup drops the keyboard, exactly like Telegram.
    assert ann.last_buttons == []
    assert original.history[0]["text"] == "Welcome, pick one & go:"
    assert "> /start" in ann.transcript() and "< Picked blue (edited)" in ann.transcript()


async def test_press_by_callback_data_and_unknown_label(app: App, ann: FakeUser) -> None:
    await ann.send(app, "/start")
    await ann.press(app, "pick:red")
    assert ann.last_text == "Picked red"
    with pytest.raises(AssertionError, match="No bot message with an inline keyboard"):
        await ann.press(app, "Red")


async def test_press_missing_button_lists_available(app: App, ann: FakeUser) -> None:
    await ann.send(app, "/start")
    with pytest.raises(AssertionError) as info:
        ann.update_for_press("Green")
    assert "'Red' -> 'pick:red'" in str(info.value)
    assert "'Blue' -> 'pick:blue'" in str(info.value)


async def test_handler_errors_are_reraised_by_send(app: App, ann: FakeUser) -> None:
    with pytest.raises(BadRequest, match="(?i)can't parse entities"):
        await ann.send(app, "/broken")
    # Opting out leaves error handling to the application.
    assert await ann.send(app, "/broken", raise_errors=False) == []


async def test_update_builders_match_ptb(fake: FakeTelegram, app: App, ann: FakeUser) -> None:
    data = ann.update_dict_for_text("/start@fakegram_bot now")
    assert data["message"]["entities"] == [
        {"type": "bot_command", "offset": 0, "length": len("/start@fakegram_bot")}
    ]
    assert data["message"]["from"]["language_code"] == "en"
    assert data["message"]["chat"] == {"id": USER_ID, "type": "private", "first_name": "Ann"}
    update = ann.update_for_text("hello", app.bot)
    assert update.effective_user is not None and update.effective_user.id == USER_ID
    assert update.update_id > data["update_id"]
    assert update.message is not None and update.message.message_id == 2
    assert ann.update_dict_for_text("not /a command")["message"].get("entities") is None


# ---------------------------------------------------------------------------- Telegram rules


async def test_unclosed_html_is_bad_request(app: App, ann: FakeUser) -> None:
    with pytest.raises(BadRequest) as info:
        await app.bot.send_message(USER_ID, "<b>x", parse_mode="HTML")
    # PTB strips "Bad Request: " and capitalize()s the rest of the description.
    assert info.value.message == (
        "Can't parse entities: can't find end tag corresponding to start tag \"b\""
    )


async def test_message_length_counts_visible_utf16(app: App, ann: FakeUser) -> None:
    await app.bot.send_message(USER_ID, "a" * 4096)
    await app.bot.send_message(USER_ID, "<b>" + "a" * 4096 + "</b>", parse_mode="HTML")
    with pytest.raises(BadRequest, match="Message is too long"):
        await app.bot.send_message(USER_ID, "a" * 4097)
    with pytest.raises(BadRequest, match="Message is too long"):
        await app.bot.send_message(USER_ID, "😀" * 2049)  # 4098 UTF-16 code units


async def test_empty_text_is_bad_request(app: App, ann: FakeUser) -> None:
    with pytest.raises(BadRequest, match="Message text is empty"):
        await app.bot.send_message(USER_ID, "  \n ")
    with pytest.raises(BadRequest, match="Message text is empty"):
        await app.bot.send_message(USER_ID, "<b></b>", parse_mode="HTML")


async def test_callback_data_limit_is_64_bytes(app: App, ann: FakeUser) -> None:
    await app.bot.send_message(USER_ID, "ok", reply_markup=keyboard([("x", "d" * 64)]))
    with pytest.raises(BadRequest, match="(?i)button_data_invalid"):
        await app.bot.send_message(USER_ID, "x", reply_markup=keyboard([("x", "d" * 65)]))
    with pytest.raises(BadRequest, match="(?i)button_data_invalid"):
        await app.bot.send_message(USER_ID, "x", reply_markup=keyboard([("x", "é" * 33)]))


async def test_keyboard_size_limits(app: App, ann: FakeUser) -> None:
    hundred = keyboard(*[[(f"b{r}{c}", f"{r}{c}") for c in range(5)] for r in range(20)])
    await app.bot.send_message(USER_ID, "ok", reply_markup=hundred)
    too_many = keyboard(*[[(f"b{r}{c}", f"{r}{c}") for c in range(5)] for r in range(20)],
                        [("extra", "extra")])
    with pytest.raises(BadRequest, match="Reply markup is too long"):
        await app.bot.send_message(USER_ID, "x", reply_markup=too_many)
    wide = keyboard([(str(i), str(i)) for i in range(9)])
    with pytest.raises(BadRequest, match="(?i)buttons_too_much"):
        await app.bot.send_message(USER_ID, "x", reply_markup=wide)


async def test_bad_buttons(app: App, ann: FakeUser) -> None:
    with pytest.raises(BadRequest, match="(?i)button_text_empty"):
        await app.bot.send_message(USER_ID, "x", reply_markup=keyboard([("", "data")]))
    text_only = InlineKeyboardMarkup([[InlineKeyboardButton("just text")]])
    with pytest.raises(BadRequest, match="(?i)text buttons are unallowed"):
        await app.bot.send_message(USER_ID, "x", reply_markup=text_only)


async def test_same_edit_twice_is_not_modified(
    fake: FakeTelegram, app: App, ann: FakeUser
) -> None:
    message = await app.bot.send_message(USER_ID, "v1", reply_markup=keyboard([("a", "a")]))
    markup = keyboard([("a", "a")])
    await app.bot.edit_message_text("v2", USER_ID, message.message_id, reply_markup=markup)
    with pytest.raises(BadRequest, match="Message is not modified: specified new message"):
        await app.bot.edit_message_text("v2", USER_ID, message.message_id, reply_markup=markup)
    with pytest.raises(BadRequest, match="Message is not modified"):
        await app.bot.edit_message_reply_markup(USER_ID, message.message_id, reply_markup=markup)
    await app.bot.edit_message_reply_markup(USER_ID, message.message_id, reply_markup=None)
    assert ann.last_buttons == []
    stored = fake.message(USER_ID, message.message_id)
    assert stored is not None and [h["text"] for h in stored.history] == ["v1", "v2"]


async def test_missing_messages(app: App, ann: FakeUser) -> None:
    with pytest.raises(BadRequest, match="Message to edit not found"):
        await app.bot.edit_message_text("x", USER_ID, 999)
    message = await app.bot.send_message(USER_ID, "bye")
    assert await app.bot.delete_message(USER_ID, message.message_id)
    with pytest.raises(BadRequest, match="Message to delete not found"):
        await app.bot.delete_message(USER_ID, message.message_id)
    with pytest.raises(BadRequest, match="Message to edit not found"):
        await app.bot.edit_message_text("x", USER_ID, message.message_id)
    assert ann.messages == []


async def test_unknown_chat_is_not_found(app: App) -> None:
    with pytest.raises(BadRequest, match="Chat not found"):
        await app.bot.send_message(777, "hello?")


async def test_answering_callback_twice(app: App, ann: FakeUser) -> None:
    with pytest.raises(BadRequest, match="Query is too old"):
        await app.bot.answer_callback_query("nope")
    await ann.send(app, "/start")
    update = ann.update_for_press("Red", bot=app.bot)
    assert update.callback_query is not None
    assert await update.callback_query.answer("first")
    with pytest.raises(BadRequest, match="Query is too old and response timeout expired"):
        await update.callback_query.answer("second")


async def test_blocked_user_is_forbidden(fake: FakeTelegram, app: App, ann: FakeUser) -> None:
    ann.block()
    with pytest.raises(Forbidden, match="bot was blocked by the user"):
        await app.bot.send_message(USER_ID, "hello")
    with pytest.raises(Forbidden):
        await app.bot.send_chat_action(USER_ID, "typing")
    fake.unblock(USER_ID)
    await app.bot.send_message(USER_ID, "hello again")


async def test_fail_next_gives_retry_after(fake: FakeTelegram, app: App, ann: FakeUser) -> None:
    fake.fail_next("sendMessage", retry_after=7, count=2)
    for _ in range(2):
        with pytest.raises(RetryAfter) as info:
            await app.bot.send_message(USER_ID, "hi")
        assert retry_after_seconds(info.value) == 7
    assert fake.count_429 == 2
    await app.bot.send_message(USER_ID, "hi")
    last = fake.calls_to("sendMessage")[0]
    assert last.response == {
        "ok": False, "error_code": 429, "description": "Too Many Requests: retry after 7",
        "parameters": {"retry_after": 7},
    }


async def test_flood_model() -> None:
    now = [1000.0]
    fake = FakeTelegram(enforce_flood_limits=True, clock=lambda: now[0])
    fake.flood_global_per_second = 5
    application = build_app(fake)
    await application.initialize()
    try:
        fake.user(1)
        fake.user(2)
        for _ in range(fake.flood_per_chat_burst):
            await application.bot.send_message(1, "burst")
        with pytest.raises(RetryAfter) as info:
            await application.bot.send_message(1, "one too many")
        assert retry_after_seconds(info.value) >= 1
        await application.bot.send_message(2, "other chat is fine")
        await application.bot.send_message(2, "still fine")
        with pytest.raises(RetryAfter):  # 5 sends in the window overall
            await application.bot.send_message(2, "global limit")
        now[0] += 1.5
        await application.bot.send_message(1, "after waiting")
        assert fake.count_429 == 2
    finally:
        await application.shutdown()


async def test_reply_to_message(app: App, ann: FakeUser) -> None:
    update = ann.update_for_text("quote me", app.bot)
    assert update.message is not None
    reply = await update.message.reply_text("quoted", do_quote=True)
    assert reply.reply_to_message is not None
    assert reply.reply_to_message.text == "quote me"
    with pytest.raises(BadRequest, match="Message to be replied not found"):
        await app.bot.send_message(USER_ID, "x", reply_to_message_id=999)


# ---------------------------------------------------------------------------- commands


async def test_commands_per_language_and_scope(fake: FakeTelegram, app: App) -> None:
    await app.bot.set_my_commands([BotCommand("start", "Start"), BotCommand("help", "Help")])
    await app.bot.set_my_commands([BotCommand("start", "Начать")], language_code="ru")
    await app.bot.set_my_commands(
        [BotCommand("menu", "Menu")], scope=BotCommandScopeAllPrivateChats(), language_code="uz"
    )
    assert [c.command for c in await app.bot.get_my_commands()] == ["start", "help"]
    ru = await app.bot.get_my_commands(language_code="ru")
    assert [(c.command, c.description) for c in ru] == [("start", "Начать")]
    assert await app.bot.get_my_commands(language_code="de") == ()
    assert fake.get_commands("uz", {"type": "all_private_chats"}) == [
        {"command": "menu", "description": "Menu"}
    ]
    assert [c["command"] for c in fake.visible_commands("uz")] == ["menu"]
    assert [c["command"] for c in fake.visible_commands("de")] == ["start", "help"]
    await app.bot.set_my_commands(
        [BotCommand("admin", "Admin")], scope=BotCommandScopeChat(USER_ID)
    )
    assert [c["command"] for c in fake.visible_commands("uz", chat_id=USER_ID)] == ["admin"]
    await app.bot.delete_my_commands(language_code="ru")
    assert await app.bot.get_my_commands(language_code="ru") == ()
    with pytest.raises(BadRequest, match="(?i)bot_command_invalid"):
        await app.bot.set_my_commands([BotCommand("Bad-Name", "x")])


async def test_descriptions_per_language_exactly_as_set(fake: FakeTelegram, app: App) -> None:
    await app.bot.set_my_description("Orders from your panel.\n\nPress Start.")
    await app.bot.set_my_description("Заказы с вашей панели.", language_code="ru")
    await app.bot.set_my_short_description("Panel orders by chat", language_code="en")
    assert (await app.bot.get_my_description()).description == "Orders from your panel.\n\nPress Start."
    assert (await app.bot.get_my_description(language_code="ru")).description == "Заказы с вашей панели."
    # The getters answer exactly the language asked for: no fallback to the default text.
    assert (await app.bot.get_my_description(language_code="de")).description == ""
    assert (await app.bot.get_my_short_description()).short_description == ""
    assert (await app.bot.get_my_short_description(language_code="en")).short_description == "Panel orders by chat"
    # What a person sees does fall back: their language's text, else the one for everyone.
    assert fake.visible_description("ru") == "Заказы с вашей панели."
    assert fake.visible_description("de") == "Orders from your panel.\n\nPress Start."
    assert fake.visible_short_description("en-GB") == "Panel orders by chat"
    assert fake.visible_short_description("ru") == ""
    # Control characters are dropped (line breaks stay); an empty text removes the language's own.
    await app.bot.set_my_description("a\x07b\rc", language_code="ru")
    assert fake.descriptions["ru"] == "abc"
    await app.bot.set_my_description("", language_code="ru")
    assert "ru" not in fake.descriptions
    assert fake.visible_description("ru") == "Orders from your panel.\n\nPress Start."


async def test_description_limits_and_language_codes(fake: FakeTelegram, app: App) -> None:
    await app.bot.set_my_description("é" * 512)
    await app.bot.set_my_short_description("x" * 120)
    with pytest.raises(BadRequest, match="(?i)description is too long"):
        await app.bot.set_my_description("é" * 513)
    with pytest.raises(BadRequest, match="(?i)short description is too long"):
        await app.bot.set_my_short_description("x" * 121)
    with pytest.raises(BadRequest, match="(?i)invalid language code"):
        await app.bot.set_my_description("x", language_code="pt_BR")
    with pytest.raises(BadRequest, match="(?i)invalid language code"):
        await app.bot.get_my_short_description(language_code="english")
    assert fake.descriptions == {"": "é" * 512}
    assert fake.short_descriptions == {"": "x" * 120}


async def test_menu_button_default_commands_and_per_chat(fake: FakeTelegram, app: App, ann: FakeUser) -> None:
    # Nothing chosen: the default button.
    assert isinstance(await app.bot.get_chat_menu_button(), MenuButtonDefault)
    await app.bot.set_chat_menu_button(menu_button=MenuButtonCommands())
    assert isinstance(await app.bot.get_chat_menu_button(), MenuButtonCommands)
    assert fake.menu_button() == {"type": "commands"}
    # A chat without its own button shows the default one; its own one wins.
    assert isinstance(await app.bot.get_chat_menu_button(chat_id=USER_ID), MenuButtonCommands)
    await app.bot.set_chat_menu_button(
        chat_id=USER_ID, menu_button=MenuButtonWebApp("Open", WebAppInfo("https://example.com/app"))
    )
    assert fake.menu_button(USER_ID) == {"type": "web_app", "text": "Open",
                                         "web_app": {"url": "https://example.com/app"}}
    assert fake.menu_button() == {"type": "commands"}
    # Setting the default button (or no button) removes the choice.
    await app.bot.set_chat_menu_button(chat_id=USER_ID)
    assert fake.menu_button(USER_ID) == {"type": "commands"}
    await app.bot.set_chat_menu_button(menu_button=MenuButtonDefault())
    assert fake.menu_button() == {"type": "default"}
    with pytest.raises(BadRequest, match="(?i)only https links"):
        await app.bot.set_chat_menu_button(menu_button=MenuButtonWebApp("Open", WebAppInfo("http://x.example")))
    with pytest.raises(BadRequest, match="(?i)user not found"):
        await app.bot.get_chat_menu_button(chat_id=999)
    with pytest.raises(BadRequest, match="(?i)invalid chat_id"):
        await app.bot.set_chat_menu_button(chat_id=-100, menu_button=MenuButtonCommands())


# ---------------------------------------------------------------------------- getUpdates


async def test_get_updates_offset_and_timeout(fake: FakeTelegram, app: App, ann: FakeUser) -> None:
    pushed = [ann.push_text(f"m{i}") for i in range(3)]
    updates = await app.bot.get_updates()
    assert [u.update_id for u in updates] == [u["update_id"] for u in pushed]
    assert len(await app.bot.get_updates(limit=1)) == 1
    assert await app.bot.get_updates(offset=updates[-1].update_id + 1) == ()
    assert fake.pending_updates == []
    started = time.monotonic()
    assert await app.bot.get_updates(timeout=dtm.timedelta(seconds=0.2)) == ()
    assert 0.15 <= time.monotonic() - started < 1.0


async def test_long_poll_wakes_on_push(fake: FakeTelegram, app: App, ann: FakeUser) -> None:
    poll = asyncio.create_task(app.bot.get_updates(timeout=10))
    await asyncio.sleep(0.05)
    started = time.monotonic()
    ann.push_text("wake up")
    updates = await asyncio.wait_for(poll, timeout=2)
    assert time.monotonic() - started < 0.5
    assert updates[0].message is not None and updates[0].message.text == "wake up"


async def test_push_from_another_thread_wakes_poll(
    fake: FakeTelegram, app: App, ann: FakeUser
) -> None:
    # A terminal demo reads input() in a worker thread and pushes from there.
    update = ann.update_dict_for_text("from a thread")
    poll = asyncio.create_task(app.bot.get_updates(timeout=10))
    await asyncio.sleep(0.05)
    await asyncio.to_thread(fake.push_update, update)
    updates = await asyncio.wait_for(poll, timeout=2)
    assert [u.update_id for u in updates] == [update["update_id"]]


async def test_webhook_blocks_get_updates(fake: FakeTelegram, app: App) -> None:
    await app.bot.set_webhook("https://example.com/hook")
    assert (await app.bot.get_webhook_info()).url == "https://example.com/hook"
    with pytest.raises(Conflict, match="webhook is active"):
        await app.bot.get_updates()
    await app.bot.delete_webhook()
    assert await app.bot.get_updates() == ()


async def test_run_polling_path(fake: FakeTelegram, ann: FakeUser) -> None:
    application = build_app(fake)
    await application.initialize()
    await application.start()
    assert application.updater is not None
    await application.updater.start_polling(poll_interval=0, timeout=dtm.timedelta(seconds=10))
    try:
        ann.push_text("/start")
        replies = await ann.wait_for_reply(timeout=2)
        assert replies[0].text == "Welcome, pick one & go:"
        ann.push_press("Red")
        await ann.wait_for_reply(timeout=2)
        assert ann.last_text == "Picked red"
        await asyncio.sleep(0.3)
        # Long polling must park in the fake, not spin.
        assert len(fake.calls_to("getUpdates")) < 10
    finally:
        started = time.monotonic()
        await application.updater.stop()
        await application.stop()
        await application.shutdown()
        assert time.monotonic() - started < 2
    assert fake.calls_to("deleteWebhook")  # PTB bootstraps polling with deleteWebhook
    assert fake.pending_updates == []  # the final getUpdates confirmed everything
