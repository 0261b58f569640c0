"""Telegram ``parse_mode=HTML`` parser: visible text + Bot API entities, or tdlib's error text.

Ported from the algorithm in tdlib's ``parse_html`` so error descriptions match the real server.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

__all__ = [
    "ALLOWED_TAGS",
    "HtmlParseError",
    "ParsedText",
    "parse_html",
    "utf16_len",
]

ALLOWED_TAGS: frozenset[str] = frozenset(
    {
        "a", "b", "strong", "i", "em", "s", "strike", "del", "u", "ins",
        "tg-spoiler", "tg-emoji", "span", "pre", "code", "blockquote",
    }
)

_SIMPLE_ENTITY: dict[str, str] = {
    "b": "bold", "strong": "bold",
    "i": "italic", "em": "italic",
    "u": "underline", "ins": "underline",
    "s": "strikethrough", "strike": "strikethrough", "del": "strikethrough",
    "tg-spoiler": "spoiler",
}

_NAMED_ENTITIES: dict[str, str] = {"lt": "<", "gt": ">", "amp": "&", "quot": '"'}

# tdlib's is_space() also treats NUL (end of the C string) as a space; end-of-input is
# handled separately here via index checks.
_SPACES = frozenset(" \t\r\n\v\f")


class HtmlParseError(ValueError):
    """Raised with tdlib's exact wording (without the ``can't parse entities:`` prefix)."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


@dataclass
class ParsedText:
    """Visible text and Bot-API-shaped entity dicts (offsets/lengths in UTF-16 code units)."""

    text: str
    entities: list[dict[str, Any]] = field(default_factory=list)


@dataclass
class _Open:
    tag: str
    argument: str
    utf16_offset: int
    result_index: int  # index into the output chunk list, to recover the <a> text


def utf16_len(text: str) -> int:
    """Length as Telegram counts it: UTF-16 code units (astral chars count twice)."""
    return len(text.encode("utf-16-le")) // 2


def _is_token_char(char: str) -> bool:
    # HTML "name token": ASCII letters, digits, periods and hyphens.
    return (char.isascii() and char.isalnum()) or char in ".-"


def _byte_offset(source: str, index: int) -> int:
    return len(source[:index].encode("utf-8"))


def _decode_entity(source: str, pos: int) -> tuple[str, int] | None:
    """Decode ``&...`` at ``pos`` like tdlib does (the ``;`` is optional); None if not an entity."""
    n = len(source)
    end = pos + 1
    if end < n and source[end] == "#":
        end += 1
        code = 0
        if end < n and source[end] == "x":
            end += 1
            while end < n and source[end] in "0123456789abcdefABCDEF":
                code = code * 16 + int(source[end], 16)
                end += 1
        else:
            while end < n and source[end].isascii() and source[end].isdigit():
                code = code * 10 + int(source[end])
                end += 1
        if code == 0 or code >= 0x10FFFF or end - pos >= 10:
            return None
        char = chr(code)
    else:
        while end < n and source[end].isascii() and source[end].isalpha():
            end += 1
        name = source[pos + 1 : end]
        if name not in _NAMED_ENTITIES:
            return None
        char = _NAMED_ENTITIES[name]
    if end < n and source[end] == ";":
        end += 1
    return char, end


def _check_link(url: str) -> str:
    # tdlib silently drops links it can't normalise; bare hosts get an http:// prefix.
    url = url.strip()
    if not url:
        return ""
    if "://" in url or url.startswith(("tg:", "mailto:", "tel:")):
        return url
    return "http://" + url


def parse_html(source: str, *, strict: bool = True) -> ParsedText:
    """Parse Telegram HTML; raise HtmlParseError with the server's description on bad markup.

    ``strict`` additionally rejects a bare ``>`` and a ``&`` that does not start a valid
    entity: the Bot API docs require escaping them although tdlib keeps them literally.
    """
    n = len(source)
    out: list[str] = []
    utf16 = 0
    stack: list[_Open] = []
    entities: list[dict[str, Any]] = []
    i = 0

    def err(message: str) -> HtmlParseError:
        return HtmlParseError(message)

    while i < n:
        c = source[i]
        if c == "&":
            decoded = _decode_entity(source, i)
            if decoded is not None:
                char, i = decoded
                out.append(char)
                utf16 += utf16_len(char)
                continue
            if strict:
                raise err(f'Unescaped "&" at byte offset {_byte_offset(source, i)}, use &amp;')
        if c == ">" and strict:
            raise err(f'Unescaped ">" at byte offset {_byte_offset(source, i)}, use &gt;')
        if c != "<":
            out.append(c)
            utf16 += utf16_len(c)
            i += 1
            continue

        begin = i
        i += 1
        if i >= n or source[i] != "/":
            # Start tag.
            while i < n and source[i] not in _SPACES and source[i] != ">":
                i += 1
            if i >= n:
                raise err(f"Unclosed start tag at byte offset {_byte_offset(source, begin)}")
            tag = source[begin + 1 : i].lower()
            if tag not in ALLOWED_TAGS:
                raise err(
                    f'Unsupported start tag "{tag}" at byte offset {_byte_offset(source, begin)}'
                )
            argument = ""
            while True:
                while i < n and source[i] in _SPACES:
                    i += 1
                if i >= n:
                    raise err(f"Unclosed start tag at byte offset {_byte_offset(source, begin)}")
                if source[i] == ">":
                    break
                attr_begin = i
                while i < n and source[i] not in _SPACES and source[i] not in "=>":
                    i += 1
                attr_name = source[attr_begin:i].lower()
                if not attr_name:
                    raise err(
                        f'Empty attribute name in the tag "{tag}" at byte offset '
                        f"{_byte_offset(source, begin)}"
                    )
                while i < n and source[i] in _SPACES:
                    i += 1
                if i >= n or source[i] != "=":
                    if tag == "blockquote" and attr_name == "expandable":
                        argument = "expandable"
                        continue
                    raise err(
                        "Expected equal sign in declaration of an attribute of the tag "
                        f'"{tag}" at byte offset {_byte_offset(source, begin)}'
                    )
                i += 1
                while i < n and source[i] in _SPACES:
                    i += 1
                if i >= n:
                    raise err(
                        f'Unclosed start tag "{tag}" at byte offset {_byte_offset(source, begin)}'
                    )
                if source[i] not in "'\"":
                    token_begin = i
                    while i < n and _is_token_char(source[i]):
                        i += 1
                    value = source[token_begin:i].lower()
                    if i < n and source[i] not in _SPACES and source[i] != ">":
                        raise err(
                            "Unexpected end of name token at byte offset "
                            f"{_byte_offset(source, token_begin)}"
                        )
                else:
                    quote = source[i]
                    i += 1
                    chars: list[str] = []
                    while i < n and source[i] != quote:
                        if source[i] == "&":
                            decoded = _decode_entity(source, i)
                            if decoded is not None:
                                chars.append(decoded[0])
                                i = decoded[1]
                                continue
                        chars.append(source[i])
                        i += 1
                    if i < n:
                        i += 1
                    value = "".join(chars)
                if i >= n:
                    raise err(f"Unclosed start tag at byte offset {_byte_offset(source, begin)}")
                if tag == "a" and attr_name == "href":
                    argument = value
                elif tag == "code" and attr_name == "class" and value.startswith("language-"):
                    argument = value[len("language-") :]
                elif tag == "span" and attr_name == "class" and value.startswith("tg-"):
                    argument = value[len("tg-") :]
                elif tag == "tg-emoji" and attr_name == "emoji-id":
                    argument = value
            if tag == "span" and argument != "spoiler":
                raise err(
                    'Tag "span" must have class "tg-spoiler" at byte offset '
                    f"{_byte_offset(source, begin)}"
                )
            i += 1  # the '>'
            stack.append(_Open(tag, argument, utf16, len(out)))
            continue

        # End tag.
        if not stack:
            raise err(f"Unexpected end tag at byte offset {_byte_offset(source, begin)}")
        i += 1  # the '/'
        name_begin = i
        while i < n and source[i] not in _SPACES and source[i] != ">":
            i += 1
        end_name = source[name_begin:i].lower()
        while i < n and source[i] in _SPACES:
            i += 1
        if i >= n or source[i] != ">":
            raise err(f"Unclosed end tag at byte offset {_byte_offset(source, begin)}")
        i += 1
        top = stack[-1]
        if end_name and end_name != top.tag:
            raise err(
                f"Unmatched end tag at byte offset {_byte_offset(source, begin)}, "
                f'expected "</{top.tag}>", found "</{end_name}>"'
            )
        stack.pop()
        length = utf16 - top.utf16_offset
        if length <= 0:
            continue
        entity = _make_entity(top, length, "".join(out[top.result_index :]), entities)
        if entity is not None:
            entities.append(entity)

    if stack:
        raise err(f'Can\'t find end tag corresponding to start tag "{stack[-1].tag}"')

    _strip_code_languages(entities)
    entities.sort(key=lambda e: (e["offset"], -e["length"]))
    return ParsedText("".join(out), entities)


def _make_entity(
    top: _Open, length: int, inner_text: str, entities: list[dict[str, Any]]
) -> dict[str, Any] | None:
    base: dict[str, Any] = {"offset": top.utf16_offset, "length": length}
    tag = top.tag
    if tag in _SIMPLE_ENTITY:
        return {"type": _SIMPLE_ENTITY[tag], **base}
    if tag == "span":
        return {"type": "spoiler", **base}
    if tag == "tg-emoji":
        if not top.argument.isdigit() or int(top.argument) == 0:
            raise HtmlParseError("Invalid custom emoji identifier specified")
        return {"type": "custom_emoji", **base, "custom_emoji_id": top.argument}
    if tag == "a":
        url = _check_link(top.argument or inner_text)
        return {"type": "text_link", **base, "url": url} if url else None
    if tag == "blockquote":
        kind = "expandable_blockquote" if top.argument == "expandable" else "blockquote"
        return {"type": kind, **base}
    same_span = [
        e for e in entities if e["offset"] == top.utf16_offset and e["length"] == length
    ]
    if tag == "pre":
        # <pre><code class="language-x"> collapses into one pre entity with a language.
        for e in same_span:
            if e["type"] == "code" and e.get("language"):
                entities.remove(e)
                return {"type": "pre", **base, "language": e["language"]}
        return {"type": "pre", **base}
    if tag == "code":
        for e in same_span:
            if e["type"] == "pre" and top.argument:
                e["language"] = top.argument
                return None
        entity: dict[str, Any] = {"type": "code", **base}
        if top.argument:
            # Kept only until the enclosing <pre> closes; stripped below if it never does.
            entity["language"] = top.argument
        return entity
    return None  # pragma: no cover - ALLOWED_TAGS is exhaustive above


def _strip_code_languages(entities: list[dict[str, Any]]) -> None:
    for e in entities:
        if e["type"] == "code":
            e.pop("language", None)

