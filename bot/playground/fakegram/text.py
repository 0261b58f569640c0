"""A message's text as Telegram reads it: the parse mode, entities, trimming and the length
limit, with Telegram's refusals."""

from __future__ import annotations

from typing import NamedTuple

from bot.playground.fakegram.html import HtmlParseError, parse_html, utf16_len
from bot.playground.fakegram.wire import ApiError, JSONDict, as_json

__all__ = ["MAX_MESSAGE_LENGTH", "MessageText", "read_text"]

MAX_MESSAGE_LENGTH = 4096

_TRIM = " \t\r\n"


class MessageText(NamedTuple):
    """What the user sees (``text``, ``entities``) and what the bot sent (``raw_text``)."""

    text: str
    entities: list[JSONDict]
    raw_text: str
    parse_mode: str | None


def read_text(params: JSONDict, *, editing: bool, strict_html: bool) -> MessageText:
    """The ``text`` parameter of sendMessage / editMessageText, parsed as Telegram would."""
    raw = params.get("text")
    raw_text = "" if raw is None else str(raw)
    parse_mode = params.get("parse_mode")
    mode = str(parse_mode).lower() if parse_mode else ""
    if mode == "html":
        try:
            parsed = parse_html(raw_text, strict=strict_html)
        except HtmlParseError as exc:
            raise ApiError.bad_request(f"can't parse entities: {exc.message}") from exc
        text, entities = parsed.text, parsed.entities
    elif mode in ("", "markdown", "markdownv2"):
        # Markdown is not validated by the fake; the raw text is shown as-is.
        text = raw_text
        raw_entities = as_json(params.get("entities"), "entities") if not mode else None
        entities = list(raw_entities) if isinstance(raw_entities, list) else []
    else:
        raise ApiError.bad_request(f"unsupported parse_mode {parse_mode}")
    text, entities = _trim(text, entities)
    if not text:
        raise ApiError.bad_request("message text is empty")
    if utf16_len(text) > MAX_MESSAGE_LENGTH:
        raise ApiError.bad_request("MESSAGE_TOO_LONG" if editing else "message is too long")
    return MessageText(text, entities, raw_text, str(parse_mode) if parse_mode else None)


def _trim(text: str, entities: list[JSONDict]) -> tuple[str, list[JSONDict]]:
    """Strip surrounding whitespace like Telegram does, shifting and clipping entities."""
    stripped = text.strip(_TRIM)
    if stripped == text:
        return text, entities
    lead = utf16_len(text[: len(text) - len(text.lstrip(_TRIM))])
    total = utf16_len(stripped)
    fixed: list[JSONDict] = []
    for entity in entities:
        start = max(entity["offset"] - lead, 0)
        end = min(entity["offset"] + entity["length"] - lead, total)
        if end > start:
            fixed.append({**entity, "offset": start, "length": end - start})
    return stripped, fixed
