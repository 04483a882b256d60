"""Offsets in a Python string <-> LSP positions in the negotiated encoding.

LSP lines end at "\\r\\n", "\\n" or "\\r", and nowhere else: not at the form feeds,
vertical tabs, U+0085, U+2028 ... that ``str.splitlines()`` also breaks at. Neovim and
Emacs keep a lone CR inside its line (shown as ^M) and count positions so: with them a
lone CR is a character here too (VS Code never has one: it normalises line ends).
Columns count UTF-8 bytes, UTF-16 code units or code points, whichever the client and
server agreed on. The one line splitter here serves the server's index and its copy of
each document.
"""

from __future__ import annotations

import bisect
import re
from collections.abc import Iterator

from lsprotocol import types

LINE_BREAK = re.compile(r"\r\n|\r|\n")  # LSP's
LF_BREAK = re.compile(r"\r\n|\n")  # Neovim's and Emacs's
_BREAKS = [LINE_BREAK]  # the one this process's client uses (one client per process)
# clientInfo names of editors that keep a lone CR in its line.
_LONE_CR_IN_LINE = ("neovim", "nvim", "vim", "emacs", "eglot", "lsp-mode")


def follow_client(name: str | None) -> None:
    """Break lines as the client does (its `clientInfo.name` tells which it is)."""
    keeps_cr = any(word in (name or "").lower() for word in _LONE_CR_IN_LINE)
    _BREAKS[0] = LF_BREAK if keeps_cr else LINE_BREAK


_HIGH_SURROGATE = re.compile("[\ud800-\udbff]")
_LONE_SURROGATE = re.compile("[\ud800-\udfff]")


def line_starts(text: str, start: int = 0, end: int | None = None) -> Iterator[int]:
    """The offsets where a line begins after a line break inside ``text[start:end]``."""
    for found in _BREAKS[0].finditer(text, start, len(text) if end is None else end):
        yield found.end()


def lsp_lines(text: str) -> list[str]:
    """The text's lines as LSP counts them, each with its line break."""
    starts = [0, *line_starts(text)]
    ends = [*starts[1:], len(text)]
    lines = [text[a:b] for a, b in zip(starts, ends, strict=True)]
    return lines if lines[-1] else lines[:-1]


def first_line_break(text: str, start: int = 0) -> str | None:
    found = _BREAKS[0].search(text, start)
    return found.group() if found else None


def scrub_surrogates(text: str) -> str:
    """A lone surrogate (half of a pair, which no editor or JSON reader takes) as U+FFFD."""
    return _LONE_SURROGATE.sub("\ufffd", text) if not text.isascii() else text


def _units(text: str, encoding: str) -> int:
    if encoding == types.PositionEncodingKind.Utf32 or text.isascii():
        return len(text)
    if encoding == types.PositionEncodingKind.Utf8:
        return len(text.encode("utf-8", "surrogatepass"))
    return len(text.encode("utf-16-le", "surrogatepass")) // 2


def _codepoints(line: str, units: int, encoding: str) -> int:
    """How many code points of ``line`` make up ``units`` code units (clamped); a column
    inside a character means its start. C-speed: a 1 MB line costs a few milliseconds."""
    head = line[:units]  # a code point is at least one unit
    if encoding == types.PositionEncodingKind.Utf32 or head.isascii():
        return len(head)
    if encoding == types.PositionEncodingKind.Utf8:
        encoded = head.encode("utf-8", "surrogatepass")
        cut = min(units, len(encoded))
        while 0 < cut < len(encoded) and encoded[cut] & 0xC0 == 0x80:
            cut -= 1  # not inside a character's bytes
        return len(encoded[:cut].decode("utf-8", "surrogatepass"))
    decoded = head.encode("utf-16-le", "surrogatepass")[: 2 * units].decode(
        "utf-16-le", "surrogatepass"
    )
    count = len(decoded)
    if count and _HIGH_SURROGATE.match(decoded[-1]) and decoded[-1] != line[count - 1]:
        count -= 1  # the column fell between the halves of a pair
    return count


class TextIndex:
    """Line starts of one text, for converting positions both ways."""

    def __init__(
        self,
        text: str,
        encoding: str = types.PositionEncodingKind.Utf16,
        starts: list[int] | None = None,
    ) -> None:
        self.text = text
        self.encoding = encoding
        self.line_starts = [0, *line_starts(text)] if starts is None else starts

    def replaced(self, start: int, end: int, new_text: str) -> TextIndex:
        """The index of the text with ``[start, end)`` replaced: only the lines the change
        touches are looked at again (a keystroke on a 1 MB line costs little)."""
        text = self.text[:start] + new_text + self.text[end:]
        new_end = start + len(new_text)
        growth = new_end - end
        starts = self.line_starts
        low, high = bisect.bisect_left(starts, start), bisect.bisect_right(starts, end)
        # Line starts before `start` or after `end` stay (a CR before `start` may now
        # join an LF at `start`: that start is looked at again with the new text).
        inside = (s for s in line_starts(text, max(start - 1, 0), new_end + 1) if s <= new_end)
        rest = (s + growth for s in starts[high:])
        return TextIndex(text, self.encoding, [*(starts[:low] or [0]), *inside, *rest])

    @property
    def line_count(self) -> int:
        return len(self.line_starts)

    def line_end(self, line: int) -> int:
        """Where the line's text ends (its line break begins)."""
        if line + 1 >= self.line_count:
            return len(self.text)
        end = self.line_starts[line + 1]
        return end - (2 if self.text.startswith("\r\n", end - 2) else 1)

    def line_text(self, line: int) -> str:
        """The line without its line break."""
        return self.text[self.line_starts[line] : self.line_end(line)]

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
        start, units = self.line_starts[line], max(position.character, 0)
        # Only the part of the line the column can reach (a code point is at least a unit).
        head = self.text[start : min(start + units + 1, self.line_end(line))]
        return start + _codepoints(head, units, self.encoding)

    def position(self, offset: int) -> types.Position:
        line = bisect.bisect_right(self.line_starts, offset) - 1
        start = self.line_starts[line]
        return types.Position(line, _units(self.text[start:offset], self.encoding))

    def range(self, start: int, end: int) -> types.Range:
        return types.Range(self.position(start), self.position(end))
