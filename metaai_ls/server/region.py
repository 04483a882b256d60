"""The stretch of a document an answer is written into, tracked while the user types.

The server keeps its own copy of the text (the "shadow") and replays every change the
client reports. A change that has the same effect as the edit the server sent last is
the server's own and grows the region; any other change is the user's: before the
region it shifts it, after it it changes nothing, inside it the region is given up
(``conflict``) so that nothing the user typed is ever overwritten.
"""

from __future__ import annotations

import collections
import dataclasses
import logging

logger = logging.getLogger(__name__)


@dataclasses.dataclass(frozen=True)
class Edit:
    """Replace ``text[start:end]`` with ``new_text``."""

    start: int
    end: int
    new_text: str

    def apply(self, text: str) -> str:
        return text[: self.start] + self.new_text + text[self.end :]

    @property
    def growth(self) -> int:
        return len(self.new_text) - (self.end - self.start)

    def same_effect(self, other: Edit, text: str) -> bool:
        """Whether both edits turn ``text`` into the same text."""
        if self.growth != other.growth:
            return False
        low, high = min(self.start, other.start), max(self.end, other.end)
        mine = text[low : self.start] + self.new_text + text[self.end : high]
        theirs = text[low : other.start] + other.new_text + text[other.end : high]
        return mine == theirs


def _common_prefix(a: str, b: str) -> int:
    """Length of the common prefix, by bisection on C-speed slice comparisons."""
    low, high = 0, min(len(a), len(b))
    if a[:high] == b[:high]:
        return high
    while low < high:
        middle = (low + high + 1) // 2
        if a[:middle] == b[:middle]:
            low = middle
        else:
            high = middle - 1
    return low


def smallest_edit(old: str, new: str, offset: int = 0) -> Edit | None:
    """The one replacement turning ``old`` into ``new`` (offsets shifted by ``offset``)."""
    if old == new:
        return None
    prefix = _common_prefix(old, new)
    rest = min(len(old), len(new)) - prefix
    suffix = _common_prefix(old[::-1][:rest], new[::-1][:rest])
    return Edit(offset + prefix, offset + len(old) - suffix, new[prefix : len(new) - suffix])


class Region:
    def __init__(self, text: str, start: int, end: int) -> None:
        self.shadow = text
        self.start = start
        self.end = end
        self.original = text[start:end]
        self.pending: Edit | None = None
        self.conflict = False
        # Edits the editor said it applied but has not reported back yet, in order, and
        # the text as the editor last reported it (some editors, eglot among them, hold
        # their didChange until the running request ends).
        self.unreported: collections.deque[Edit] = collections.deque()
        self._reported = text

    @property
    def reported_text(self) -> str:
        """The document as the editor has reported it so far."""
        return self._reported if self.unreported else self.shadow

    def assume_applied(self) -> None:
        """Take the pending edit as applied, on the editor's word, before it reports it."""
        assert self.pending is not None
        if not self.unreported:
            self._reported = self.shadow
        self.unreported.append(self.pending)
        self.shadow = self.pending.apply(self.shadow)
        self.end += self.pending.growth
        self.pending = None

    @property
    def current(self) -> str:
        return self.shadow[self.start : self.end]

    def edit_towards(self, desired: str) -> Edit | None:
        return smallest_edit(self.current, desired, self.start)

    def observe(self, change: Edit) -> bool:
        """Replay one reported change; True when it was the server's own edit."""
        if self.unreported:
            return self._observe_late(change)
        ours = self.pending is not None and self.pending.same_effect(change, self.shadow)
        if ours:
            self.end += change.growth
            self.pending = None
        elif change.end <= self.start and not (change.start == change.end == self.end):
            self.start += change.growth
            self.end += change.growth
        elif change.start >= self.end:
            pass
        else:
            self._give_up(change)
        self.shadow = change.apply(self.shadow)
        return ours

    def observe_full_text(self, text: str) -> bool:
        """A change reported as the whole new text: replay it as one replacement."""
        change = smallest_edit(self.reported_text, text)
        return False if change is None else self.observe(change)

    def _observe_late(self, change: Edit) -> bool:
        """A change reported while assumed edits are outstanding: it must be the oldest
        of them (the shadow already holds it); anything else stops the writing."""
        ours = self.unreported[0].same_effect(change, self._reported)
        if ours:
            self.unreported.popleft()
        else:
            logger.info("a change arrived before the editor reported the server's edits")
            self.conflict = True
        self._reported = change.apply(self._reported)
        return ours

    def _give_up(self, change: Edit) -> None:
        logger.info("the user edited the text being written; no more edits there")
        self.conflict = True
        self.start = min(self.start, change.start)
        self.end = max(self.start, self.end + change.growth)
