"""Offsets in a Python string <-> LSP positions in the negotiated encoding.

LSP lines end at "\\n" (a "\\r" before it is part of the line's text here, which is
harmless: no position points between the two). Columns count UTF-8 bytes, UTF-16 code
units or code points, whichever the client and server agreed on.
"""

from __future__ import annotations

import bisect
import itertools

from lsprotocol import types


def _units(text: str, encoding: str) -> int:
    if encoding == types.PositionEncodingKind.Utf32 or text.isascii():
        return len(text)
    if encoding == types.PositionEncodingKind.Utf8:
        return len(text.encode("utf-8", "surrogatepass"))
    return len(text.encode("utf-16-le", "surrogatepass")) // 2


def _codepoints(line: str, units: int, encoding: str) -> int:
    """How many code points of ``line`` make up ``units`` code units (clamped)."""
    if encoding == types.PositionEncodingKind.Utf32 or line.isascii():
        return min(units, len(line))
    count = 0
    for index, char in enumerate(line):
        if count >= units:
            return index
        count += _units(char, encoding)
    return len(line)


class TextIndex:
    """Line starts of one text, for converting positions both ways."""

    def __init__(self, text: str, encoding: str = types.PositionEncodingKind.Utf16) -> None:
        self.text = text
        self.encoding = encoding
        lengths = (len(line) + 1 for line in text.split("\n"))
        self.line_starts = [0, *itertools.accumulate(lengths)][:-1]

    @property
    def line_count(self) -> int:
        return len(self.line_starts)

    def line_text(self, line: int) -> str:
        start = self.line_starts[line]
        end = self.line_starts[line + 1] - 1 if line + 1 < self.line_count else len(self.text)
        return self.text[start:end]

    def contains(self, position: types.Position) -> bool:
        """Whether ``position`` is on a line of the text.

        A character past the end of its line means the line's end, as the LSP
        specification says, so it does not count against a position.
        """
        return 0 <= position.line < self.line_count and position.character >= 0

    def offset(self, position: types.Position) -> int:
        """The string offset of ``position``, clamped into the text."""
        if position.line >= self.line_count:
            return len(self.text)
        line = max(position.line, 0)
        column = _codepoints(self.line_text(line), max(position.character, 0), self.encoding)
        return self.line_starts[line] + column

    def position(self, offset: int) -> types.Position:
        line = bisect.bisect_right(self.line_starts, offset) - 1
        start = self.line_starts[line]
        return types.Position(line, _units(self.text[start:offset], self.encoding))

    def range(self, start: int, end: int) -> types.Range:
        return types.Range(self.position(start), self.position(end))
