"""How the fake writes text and JSON: pieces cut by characters or by UTF-16 units (as a
JavaScript server cuts them), JSON as JavaScript writes it, and JSON nested too deep."""

from __future__ import annotations

import json
import re
from typing import Any

DEEP = 100_000
LONE_HALF = re.compile("[\ud800-\udfff]")


def js_json(value: Any, compact: bool = False) -> bytes:
    """JSON as JavaScript's JSON.stringify writes it: UTF-8, with only the lone halves of
    surrogate pairs escaped (``\\ud83d``); ``compact``: without spaces, as it really does."""
    text = json.dumps(value, ensure_ascii=False, separators=(",", ":") if compact else None)
    return LONE_HALF.sub(lambda m: f"\\u{ord(m.group()):04x}", text).encode()


def deep_json(depth: int = DEEP) -> bytes:
    return b'{"a":' * depth + b"1" + b"}" * depth


def cumulative(text: str, size: int, utf16: bool = False) -> list[str]:
    """The snippets Meta AI would send: the answer so far, a few characters longer each time
    (``utf16``: a few UTF-16 units, so a snippet may end inside a surrogate pair)."""
    if utf16:
        units = _utf16(text)
        ends = range(2 * size, len(units), 2 * size)
        return [_from_utf16(units[:end]) for end in ends] + [text] if text else []
    return [text[:end] for end in range(size, len(text), size)] + [text] if text else []


def pieces(text: str, size: int, utf16: bool = False) -> list[str]:
    """The answer in deltas of ``size`` characters (``utf16``: of ``size`` UTF-16 units,
    as JavaScript's ``slice`` cuts them: a piece may hold half of a surrogate pair)."""
    if utf16:
        units = _utf16(text)
        return [_from_utf16(units[i : i + 2 * size]) for i in range(0, len(units), 2 * size)]
    return [text[i : i + size] for i in range(0, len(text), size)]


def _utf16(text: str) -> bytes:
    return text.encode("utf-16-le", "surrogatepass")


def _from_utf16(units: bytes) -> str:
    return units.decode("utf-16-le", "surrogatepass")
