"""Secrets never reach the logs: every log record is checked for the bot token (which
libraries put in URLs they log) and for panel keys before any handler sees it.

A pasted key is in PTB's DEBUG lines (the getUpdates answer, "Processing update") before
any handler of ours could register it, so besides the secrets registered here, every
word shaped like a panel key is redacted too (`looks_like_secret`)."""

from __future__ import annotations

import logging
import re
from typing import Any

_SECRETS: set[str] = set()
_installed = False

REDACTED = "<redacted>"
# Panel keys are one word of letters and digits, often with - or _ (32 hex characters,
# base62 tokens, the sandbox's "sandbox-key-0123456789abcdef").
_WORD = re.compile(r"[A-Za-z0-9_-]{16,200}")
_RUN = re.compile(r"(?<![A-Za-z0-9_-])[A-Za-z0-9_-]{16,}(?![A-Za-z0-9_-])")
_PARTS = re.compile(r"[-_]")
# Around a pasted word: quotes and punctuation a user may type or copy along.
_AROUND = "\"'`«»“”‘’.,;:!?()[]{}<>"
MIN_RANDOM_PART = 16


def looks_like_secret(word: str) -> bool:
    """A panel key rather than a link, a number, a username or a word: one word of
    letters, digits, - and _, with a random-looking part of at least 16 characters
    (letters mixed with digits, or upper and lower case over 24 characters). Parts of
    ordinary input are letters only or digits only ("instagram_followers_2024")."""
    if not _WORD.fullmatch(word):
        return False
    for part in _PARTS.split(word):
        if len(part) < MIN_RANDOM_PART:
            continue
        digits = sum(c.isdigit() for c in part)
        letters = len(part) - digits
        if digits >= 2 and letters >= 2:
            return True
        if len(part) >= 24 and not part.islower() and not part.isupper() and letters == len(part):
            return True
    return False


def secrets_in(text: str) -> list[str]:
    """The words of a message that look like panel keys."""
    found = []
    for word in text.split():
        word = word.strip(_AROUND)
        if looks_like_secret(word):
            found.append(word)
    return found


def redact(message: str) -> str:
    """`message` without the registered secrets and key-shaped words."""
    for secret in _SECRETS:
        if secret in message:
            message = message.replace(secret, REDACTED)
    return _RUN.sub(lambda m: REDACTED if looks_like_secret(m.group()) else m.group(), message)


def redact_in_logs(secret: str | None = None) -> None:
    """From now on, `secret` is written as `<redacted>` in every log message (and so is
    every key-shaped word, once this was called at all)."""
    _install()
    if not secret or len(secret) < 6 or looks_like_secret(secret):
        return  # a key-shaped secret is redacted by its shape: the set stays small
    _SECRETS.add(secret)


def _install() -> None:
    global _installed
    if _installed:
        return
    previous = logging.getLogRecordFactory()

    def factory(*args: Any, **kwargs: Any) -> logging.LogRecord:
        record = previous(*args, **kwargs)
        try:
            message = record.getMessage()
        except Exception:  # noqa: BLE001 - a malformed record is the logging module's to report
            return record
        cleaned = redact(message)
        if cleaned != message:
            record.msg, record.args = cleaned, None
        return record

    logging.setLogRecordFactory(factory)
    _installed = True


def configure_logging(level: int = logging.INFO) -> None:
    """The processes' log format and levels (the bot, the watcher, the demo)."""
    logging.basicConfig(format="%(asctime)s %(levelname)s %(name)s: %(message)s", level=level)
    # httpx logs every request URL at INFO, and the Bot API URL carries the token.
    logging.getLogger("httpx").setLevel(logging.WARNING)
    logging.getLogger("httpcore").setLevel(logging.WARNING)
    # APScheduler logs each run of each job at INFO: a line a second from the outbox job.
    logging.getLogger("apscheduler").setLevel(logging.WARNING)
