"""Decoding what Meta sends: JSON of bounded depth, and text that holds no lone surrogate.

A server that slices strings by UTF-16 units (JavaScript's ``slice``) can split a
surrogate pair across two deltas; JSON then carries each half as a ``\\ud83d`` escape.
orjson refuses such text, Python's json keeps the halves as lone surrogates, and no UTF-8
output can hold one (the CLI's UnicodeEncodeError, an editor's "invalid unicode escape").
Here pairs are joined, a high half at the end of a delta waits for its pair, and a half
that never pairs becomes U+FFFD.
"""

from __future__ import annotations

import json
from typing import Any

from .errors import NestedTooDeepError

try:
    from orjson import loads as fast_loads  # refuses lone surrogates and deep nesting
except ImportError:  # pragma: no cover - orjson is a dependency; json keeps it working
    fast_loads = json.loads

REPLACEMENT = "\ufffd"
BACKSLASH = 0x5C


def loads(data: bytes | str) -> Any:
    """JSON, fast (orjson) where it can; json for lone surrogate escapes, which orjson
    refuses. ValueError for what is not JSON; NestedTooDeepError (a sentence) for
    nesting beyond orjson's 1024 levels (json would raise RecursionError)."""
    try:
        return fast_loads(data)
    except ValueError as error:
        if "depth" in str(error) or "recursion" in str(error):
            raise NestedTooDeepError() from None
    try:
        return json.loads(data)
    except RecursionError:
        raise NestedTooDeepError() from None


def raw_decode(text: str) -> Any:
    """The first JSON value of ``text`` (anything may follow it), bounded like ``loads``."""
    try:
        return json.JSONDecoder().raw_decode(text)[0]
    except RecursionError:
        raise NestedTooDeepError() from None


def has_surrogate(text: str) -> bool:
    if text.isascii():
        return False
    try:
        text.encode("utf-8")  # C speed; only a surrogate fails (2x faster than a search)
    except UnicodeEncodeError:
        return True
    return False


def whole(text: str) -> str:
    """``text`` with its surrogate pairs joined and every lone half replaced."""
    if not has_surrogate(text):
        return text
    return text.encode("utf-16-le", "surrogatepass").decode("utf-16-le", "replace")


def settle(text: str) -> tuple[str, str]:
    """What of a text that may go on can be used now (pairs joined, lone halves
    replaced), and a high half at its end that waits for the rest ("" if none)."""
    if not has_surrogate(text):
        return text, ""
    if "\ud800" <= text[-1] <= "\udbff":
        return whole(text[:-1]), text[-1]
    return whole(text), ""


class Joiner:
    """Deltas in, deltas out, none holding a lone surrogate; joined in order they equal
    the text with its pairs joined."""

    def __init__(self) -> None:
        self.held = ""

    def feed(self, delta: str) -> str:
        if not self.held and not has_surrogate(delta):
            return delta  # the usual delta: no copy
        text, self.held = settle(self.held + delta)
        return text

    def finish(self) -> str:
        """At the end: a half still waiting never got its pair."""
        held, self.held = self.held, ""
        return REPLACEMENT if held else ""


def closing_quote(line: bytes, position: int, value_start: int) -> int:
    """The index of the quote that ends the JSON string whose characters begin at
    ``value_start``, searching from ``position``; -1 if the line has none."""
    while (quote := line.find(b'"', position)) >= 0:
        backslashes = 0
        while quote - backslashes > value_start and line[quote - backslashes - 1] == BACKSLASH:
            backslashes += 1
        if backslashes % 2 == 0:
            return quote
        position = quote + 1
    return -1
