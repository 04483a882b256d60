"""Gateway events read from their bytes, where they repeat a shape already seen: the
usual delta event differs from the previous one only in its ``seq`` and its ``value``, so
once its bytes around those two are known, the next ones are checked against them and
only the value is decoded (a whole parse builds four objects per event). Any body that
differs anywhere else is parsed whole, as before: the shape only ever saves work.
"""

from __future__ import annotations

import re
from typing import Any

from . import decode

SEQ_KEY = re.compile(rb'"seq"\s*:\s*')
VALUE_KEY = re.compile(rb'"value"\s*:\s*"')


class DeltaShape:
    """The bytes of one delta event with its ``seq`` digits and its value's characters cut
    out: three pieces, in the order the body holds them."""

    __slots__ = ("lengths", "path", "pieces", "seq_first")

    def __init__(self, pieces: tuple[bytes, bytes, bytes], seq_first: bool, path: str) -> None:
        self.pieces = pieces
        self.lengths = tuple(len(piece) for piece in pieces)
        self.seq_first = seq_first
        self.path = path  # the operation's path, the same in every event of the shape

    @classmethod
    def learn(cls, body: bytes, event: dict[str, Any]) -> DeltaShape | None:
        """The shape of ``body``, a usual delta event (``event`` parsed from it), checked
        by parsing it with another seq and value; None where it cannot be cut so."""
        if body[:1] != b"{" or body[-1:] != b"}":  # bytes around it: learnt from another
            return None
        digits = str(event["seq"]).encode()
        seqs = [m.end() for m in SEQ_KEY.finditer(body) if body.startswith(digits, m.end())]
        values = [m.end() for m in VALUE_KEY.finditer(body)]
        if len(seqs) != 1 or len(values) != 1:
            return None
        s0, v0 = seqs[0], values[0]
        s1, v1 = s0 + len(digits), decode.closing_quote(body, v0, v0)
        if v1 < 0 or body[s1 : s1 + 1].isdigit() or (s0 < v1 and v0 < s1):
            return None
        seq_first = s0 < v0
        if seq_first:
            pieces = (body[:s0], body[s1:v0], body[v1:])
        else:
            pieces = (body[:v0], body[v1:s0], body[s1:])
        shape = cls(pieces, seq_first, event["operations"][0]["path"])
        return shape if shape._checked(event) else None

    def _checked(self, event: dict[str, Any]) -> bool:
        p0, p1, p2 = self.pieces
        sample = p0 + b"7" + p1 + b"x" + p2 if self.seq_first else p0 + b"x" + p1 + b"7" + p2
        operation = {**event["operations"][0], "value": "x"}
        try:
            return decode.fast_loads(sample) == {**event, "seq": 7, "operations": [operation]}
        except ValueError:
            return False

    def value(self, body: bytes, digits: bytes) -> str | None:
        """The value of ``body`` when it is this shape with the ``seq`` ``digits`` (a few
        non-JSON bytes after it allowed, as a whole parse allows them); else None."""
        p0, p1, p2 = self.pieces
        if not body.startswith(p0):
            return None
        end = body.rfind(b"}") + 1  # a whole parse stops there too
        if self.seq_first:
            at = self.lengths[0] + len(digits)
            start, stop = at + self.lengths[1], end - self.lengths[2]
            if not (body.startswith(digits, self.lengths[0]) and body.startswith(p1, at)):
                return None
            if stop < start or not body.startswith(p2, stop) or _quote(body, start) != stop:
                return None
        else:
            start = self.lengths[0]
            stop = _quote(body, start)
            at = stop + self.lengths[1]
            if stop < 0 or not body.startswith(p1, stop) or not body.startswith(digits, at):
                return None
            at += len(digits)
            if at + self.lengths[2] != end or not body.startswith(p2, at):
                return None
        try:  # orjson refuses half a surrogate pair: such a body is parsed whole
            value = decode.fast_loads(body[start - 1 : stop + 1])
        except ValueError:
            return None
        return value if type(value) is str else None


def _quote(body: bytes, start: int) -> int:
    """Where the JSON string whose characters begin at ``start`` ends (-1: nowhere)."""
    quote = body.find(b'"', start)
    if quote > start and body[quote - 1] == decode.BACKSLASH:  # escaped, or a backslash
        return decode.closing_quote(body, start, start)
    return quote


def skeleton(body: bytes, start: int, end: int) -> dict[str, Any] | None:
    """The JSON object of ``body`` with the string ``body[start:end]`` emptied."""
    first, last = body.find(b"{"), body.rfind(b"}")
    if end < 0 or not 0 <= first < start or last < end:
        return None
    try:
        value = decode.fast_loads(body[first:start] + body[end : last + 1])
    except ValueError:
        return None
    return value if isinstance(value, dict) else None
