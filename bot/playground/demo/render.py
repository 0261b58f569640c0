"""Telegram's messages as terminal text: entities as ANSI styles, HTML as what it shows,
keyboards as numbered buttons."""

from __future__ import annotations

import html
import re

from bot.playground.demo.screen import ANSI_RESET
from bot.playground.fakegram.html import HtmlParseError, parse_html
from bot.playground.fakegram.wire import JSONDict

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

_TAG = re.compile(r"<[^>]*>")


def _utf16_index(text: str) -> list[int]:
    """Python index of every UTF-16 offset (entities count astral characters twice)."""
    index: list[int] = []
    for position, char in enumerate(text):
        index.append(position)
        if ord(char) > 0xFFFF:
            index.append(position)
    index.append(len(text))
    return index


def render_entities(text: str, entities: list[JSONDict], *, ansi: bool) -> str:
    """Visible text with Telegram entities shown as ANSI styles (or left plain).

    A text link whose URL is not already visible gets the URL appended, since a terminal
    cannot click a styled word.
    """
    index = _utf16_index(text)
    last = len(index) - 1

    def span(entity: JSONDict) -> tuple[int, int]:
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


def render_html(source: str, *, ansi: bool = False) -> str:
    """Telegram HTML (`parse_mode=HTML`) as terminal text: tags become styles or vanish,
    entities are unescaped."""
    try:
        parsed = parse_html(source, strict=False)
    except HtmlParseError:
        # Telegram would have refused it; still show something readable.
        return html.unescape(_TAG.sub("", source)).strip()
    return render_entities(parsed.text, parsed.entities, ansi=ansi)


def keyboard_lines(rows: list[list[JSONDict]]) -> list[str]:
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


def flat_buttons(rows: list[list[JSONDict]]) -> list[JSONDict]:
    return [button for row in rows for button in row]
