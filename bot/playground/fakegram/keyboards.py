"""Keyboards and button presses: reply markup checked as Telegram checks it, and the answers
to callback queries."""

from __future__ import annotations

from bot.playground.fakegram.html import utf16_len
from bot.playground.fakegram.wire import ApiError, JSONDict, as_bool, as_json, json_copy

__all__ = [
    "MAX_CALLBACK_ANSWER_LENGTH",
    "MAX_CALLBACK_DATA_BYTES",
    "MAX_INLINE_BUTTONS",
    "MAX_INLINE_BUTTONS_PER_ROW",
    "QUERY_INVALID",
    "answer_callback_query",
    "read_markup",
]

MAX_CALLBACK_DATA_BYTES = 64
MAX_INLINE_BUTTONS = 100
MAX_INLINE_BUTTONS_PER_ROW = 8
MAX_CALLBACK_ANSWER_LENGTH = 200

QUERY_INVALID = "query is too old and response timeout expired or query ID is invalid"

# An inline button must do one of these; a bare text button is refused.
_BUTTON_ACTIONS = (
    "url", "callback_data", "web_app", "login_url", "switch_inline_query",
    "switch_inline_query_current_chat", "switch_inline_query_chosen_chat",
    "copy_text", "callback_game", "pay",
)


def read_markup(params: JSONDict) -> JSONDict | None:
    """The ``reply_markup`` parameter, checked; a copy the caller may keep."""
    markup = as_json(params.get("reply_markup"), "reply_markup")
    if markup is None:
        return None
    if not isinstance(markup, dict):
        raise ApiError.bad_request("object expected as reply markup")
    if "inline_keyboard" in markup:
        _check_inline_keyboard(markup)
    elif "keyboard" in markup:
        for row in markup.get("keyboard") or []:
            for button in row:
                text = button if isinstance(button, str) else button.get("text", "")
                if not text:
                    raise ApiError.bad_request("BUTTON_TEXT_EMPTY")
    copied: JSONDict = json_copy(markup)
    return copied


def _check_inline_keyboard(markup: JSONDict) -> None:
    rows = markup.get("inline_keyboard")
    if not isinstance(rows, list) or any(not isinstance(r, list) for r in rows):
        raise ApiError.bad_request("field \"inline_keyboard\" must be an Array of Arrays")
    total = sum(len(row) for row in rows)
    if total > MAX_INLINE_BUTTONS:
        raise ApiError.bad_request("reply markup is too long")
    for row in rows:
        if len(row) > MAX_INLINE_BUTTONS_PER_ROW:
            raise ApiError.bad_request("BUTTONS_TOO_MUCH")
        for button in row:
            if not isinstance(button, dict):
                raise ApiError.bad_request(
                    "can't parse inline keyboard button: InlineKeyboardButton must be an Object"
                )
            _check_inline_button(button)


def _check_inline_button(button: JSONDict) -> None:
    if not str(button.get("text", "")):
        raise ApiError.bad_request("BUTTON_TEXT_EMPTY")
    if not any(button.get(k) not in (None, "") for k in _BUTTON_ACTIONS):
        raise ApiError.bad_request(
            "can't parse inline keyboard button: "
            "Text buttons are unallowed in the inline keyboard"
        )
    data = button.get("callback_data")
    if data is not None and len(str(data).encode("utf-8")) > MAX_CALLBACK_DATA_BYTES:
        raise ApiError.bad_request("BUTTON_DATA_INVALID")
    url = button.get("url")
    if url is not None and "://" not in str(url) and not str(url).startswith("tg:"):
        raise ApiError.bad_request("BUTTON_URL_INVALID")


def answer_callback_query(queries: dict[str, JSONDict], params: JSONDict) -> bool:
    """answerCallbackQuery: once per press, and only for a press the fake knows."""
    query_id = str(params.get("callback_query_id", ""))
    query = queries.get(query_id)
    if query is None or query.get("answered"):
        raise ApiError.bad_request(QUERY_INVALID)
    text = params.get("text")
    if text is not None and utf16_len(str(text)) > MAX_CALLBACK_ANSWER_LENGTH:
        raise ApiError.bad_request("MESSAGE_TOO_LONG")
    query["answered"] = True
    query["answer"] = {
        "text": text,
        "show_alert": as_bool(params.get("show_alert", False)),
        "url": params.get("url"),
        "cache_time": params.get("cache_time"),
    }
    return True
