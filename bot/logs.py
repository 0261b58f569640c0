"""Secrets never reach the logs: every log record is checked for the bot token (which
libraries put in URLs they log) before any handler sees it."""

from __future__ import annotations

import logging
from typing import Any

_SECRETS: set[str] = set()
_installed = False


def redact_in_logs(secret: str | None) -> None:
    """From now on, `secret` is written as `<redacted>` in every log message."""
    global _installed
    if not secret or len(secret) < 6:
        return
    _SECRETS.add(secret)
    if _installed:
        return
    previous = logging.getLogRecordFactory()

    def factory(*args: Any, **kwargs: Any) -> logging.LogRecord:
        record = previous(*args, **kwargs)
        try:
            message = record.getMessage()
        except Exception:  # noqa: BLE001 - a malformed record is the logging module's to report
            return record
        if any(secret in message for secret in _SECRETS):
            for secret in _SECRETS:
                message = message.replace(secret, "<redacted>")
            record.msg, record.args = message, None
        return record

    logging.setLogRecordFactory(factory)
    _installed = True
