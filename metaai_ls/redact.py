"""Secrets out of everything a person or a log sees, whoever writes it (pygls logs whole
messages, settings included; Meta's error texts may echo a request).

Two layers: patterns (passwords in URLs, bearer keys, gateway access tokens become
``***``) and a process-wide registry of the secret values themselves. Whoever obtains a
cookie value, access token, API key or password calls ``remember(value)``; ``redact(text)``
then blanks every registered value wherever it appears. The logging filter applies it to
every log line (tracebacks included); the server and the CLI apply it to what they show.
"""

from __future__ import annotations

import json
import logging
import re
import threading
import urllib.parse
from collections.abc import Iterable

PATTERNS = (
    (re.compile(r"(\b[a-zA-Z][\w+.-]*://[^:/\s\"'@]+:)[^@\s\"']+@"), r"\1***@"),
    (re.compile(r"(?i)(\bbearer\s+)[\w.~+/=|-]+"), r"\1***"),
    (re.compile(r"\becto1:[\w.~+/=-]+"), "ecto1:***"),
)
BLANK = "***"
# Shorter values, and short plain words, are not secrets worth the false hits (a cookie
# `lang=en`, a flag `1`, a challenge cookie `solved` would blank those words everywhere).
MIN_SECRET_LENGTH = 8
MIN_WORD_SECRET_LENGTH = 16
# Bounded: a token a few minutes old is dead; the oldest values go first.
MAX_SECRETS = 256


class _Registry:
    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._values: dict[str, None] = {}  # insertion-ordered: the oldest first
        self.longest_first: tuple[str, ...] = ()  # read without the lock (replaced whole)

    def remember(self, values: Iterable[str]) -> None:
        with self._lock:
            changed = False
            for value in values:
                if value in self._values:
                    continue
                self._values[value] = None
                changed = True
            while len(self._values) > MAX_SECRETS:
                del self._values[next(iter(self._values))]
            if changed:
                self.longest_first = tuple(sorted(self._values, key=len, reverse=True))

    def clear(self) -> None:
        with self._lock:
            self._values.clear()
            self.longest_first = ()


_registry = _Registry()


def remember(secret: str | None) -> None:
    """Blank ``secret`` (and its URL- and JSON-escaped forms) in everything redacted from
    now on. Cheap and idempotent: call it wherever a secret is obtained."""
    if not isinstance(secret, str) or not _worth_blanking(secret):
        return
    forms = {secret, urllib.parse.quote(secret, safe=""), json.dumps(secret)[1:-1]}
    _registry.remember(forms)


def _worth_blanking(value: str) -> bool:
    value = value.strip()
    if len(value) >= MIN_WORD_SECRET_LENGTH:
        return True
    return len(value) >= MIN_SECRET_LENGTH and not value.isalpha()


def remember_all(secrets: Iterable[str | None]) -> None:
    for secret in secrets:
        remember(secret)


def remember_url_password(url: str | None) -> None:
    """The password of a URL (a proxy's, a host's), if it has one."""
    if not url or "@" not in url:
        return
    try:
        password = urllib.parse.urlsplit(url).password
    except ValueError:
        return
    if password:
        remember(password)
        remember(urllib.parse.unquote(password))


def forget_all() -> None:
    """For tests: start with an empty registry."""
    _registry.clear()


def redact(text: str) -> str:
    for secret in _registry.longest_first:
        if secret in text:
            text = text.replace(secret, BLANK)
    for pattern, replacement in PATTERNS:
        text = pattern.sub(replacement, text)
    return text


class RedactingFilter(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        cleaned = redact(message)
        if cleaned != message:
            record.msg, record.args = cleaned, None
        if record.exc_info and not record.exc_text:
            # Formatted here so that the traceback's messages are redacted too.
            record.exc_text = redact(logging.Formatter().formatException(record.exc_info))
        if record.stack_info:
            record.stack_info = redact(record.stack_info)
        return True


def install(handler_owner: logging.Logger | None = None) -> None:
    """Redact on every handler of the root logger (call after basicConfig)."""
    for handler in (handler_owner or logging.getLogger()).handlers:
        if not any(isinstance(f, RedactingFilter) for f in handler.filters):
            handler.addFilter(RedactingFilter())
