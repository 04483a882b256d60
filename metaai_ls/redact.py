"""Secrets out of every log line, whoever writes it (pygls logs whole messages, settings
included): passwords in URLs, bearer tokens and gateway access tokens become ``***``."""

from __future__ import annotations

import logging
import re

PATTERNS = (
    (re.compile(r"(\b[a-zA-Z][\w+.-]*://[^:/\s\"'@]+:)[^@\s\"']+@"), r"\1***@"),
    (re.compile(r"(?i)(\bbearer\s+)[\w.~+/=-]+"), r"\1***"),
    (re.compile(r"\becto1:[\w.~+/=-]+"), "ecto1:***"),
)


def redact(text: str) -> str:
    for pattern, replacement in PATTERNS:
        text = pattern.sub(replacement, text)
    return text


class RedactingFilter(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        cleaned = redact(message)
        if cleaned != message:
            record.msg, record.args = cleaned, None
        return True


def install(handler_owner: logging.Logger | None = None) -> None:
    """Redact on every handler of the root logger (call after basicConfig)."""
    for handler in (handler_owner or logging.getLogger()).handlers:
        if not any(isinstance(f, RedactingFilter) for f in handler.filters):
            handler.addFilter(RedactingFilter())
