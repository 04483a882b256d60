"""Edit syncing for the stretch of a document an answer is written into: one small state
machine, free of LSP and asyncio so that it can be tested against any interleaving.

The server keeps its own copy of the document and replays every change the editor
reports. An edit the server sent is recognised by the text it produces, however the
editor re-expresses it (split into several changes, line endings normalised, one
whole-document change, other ranges with the same effect). Any other change is the
user's: before the region it shifts it, after it leaves it, inside it stops the writing
(``conflict``) so that nothing the user typed is ever overwritten. When an answer is not
kept (failure, cancel, conflict) the region goes back to the original text, followed by
whatever the user typed inside it.

Steps: ``sent`` → ``answered`` (applied, or refused) → ``reported`` (its didChange);
``timed_out`` when the didChange never comes (eglot holds it while a request runs: an
applied edit is then taken on trust, and its late report checked in order).
"""

from __future__ import annotations

import collections
import dataclasses
import enum
import logging
from collections.abc import Iterator, Sequence

from .text import first_line_break

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


# A reported change: a replacement, or the document's whole new text.
Change = Edit | str


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


def line_ending_of(text: str, at: int = 0) -> str:
    """The line ending used at ``at``: the first line break from there on, else the last
    one before it, else LF (a file may mix them: each region keeps its own)."""
    found = first_line_break(text, at)
    if found is None and at > 0:
        last = max(text.rfind("\n", 0, at), text.rfind("\r", 0, at))
        found = first_line_break(text, max(last - 1, 0)) if last >= 0 else None
    return found or "\n"


def with_line_ending(text: str, eol: str) -> str:
    unified = text.replace("\r\n", "\n").replace("\r", "\n")
    return unified if eol == "\n" else unified.replace("\n", eol)


def runs_of(written: str, now: str) -> list[tuple[str, bool]]:
    """``now`` as runs of (text, typed by the user?), against what was ``written``."""
    edit = smallest_edit(written, now)
    if edit is None:
        return [(now, False)]
    before, after = written[edit.start : edit.end], edit.new_text
    runs = [(now[: edit.start], False)]
    if not before:
        runs.append((after, True))
    else:
        import difflib  # only once a user types inside an answer

        matcher = difflib.SequenceMatcher(None, before, after, autojunk=False)
        for tag, _, _, j1, j2 in matcher.get_opcodes():
            if tag != "delete":
                runs.append((after[j1:j2], tag != "equal"))
    runs.append((now[edit.start + len(after) :], False))
    return [(run, typed) for run, typed in runs if run]


def replace_in_runs(
    runs: list[tuple[str, bool]], low: int, high: int, text: str
) -> list[tuple[str, bool]]:
    """Replace ``[low, high)`` of the runs' joined text with ``text`` typed by the user."""
    result: list[tuple[str, bool]] = []
    at, inserted = 0, False
    for run, typed in runs:
        run_start, at = at, at + len(run)
        if run_start < low:
            result.append((run[: min(low, at) - run_start], typed))
        if not inserted and at >= low:
            result.append((text, True))
            inserted = True
        if at > high:
            result.append((run[max(high, run_start) - run_start :], typed))
    if not inserted:
        result.append((text, True))
    return [(run, typed) for run, typed in result if run]


def same_text(a: str, b: str) -> bool:
    """Equal, or equal but for their line breaks (editors write them their own way)."""
    return a == b or with_line_ending(a, "\n") == with_line_ending(b, "\n")


def apply_changes(text: str, changes: Sequence[Change]) -> str:
    for change in changes:
        text = change if isinstance(change, str) else change.apply(text)
    return text


def as_edits(text: str, changes: Sequence[Change]) -> list[Edit]:
    """The changes as replacements (a whole new text as its smallest replacement)."""
    edits = []
    for change in changes:
        edit = smallest_edit(text, change) if isinstance(change, str) else change
        if edit is not None:
            edits.append(edit)
            text = edit.apply(text)
    return edits


class Place(enum.Enum):
    BEFORE = "before"
    INSIDE = "inside"
    AFTER = "after"


def place_of(edit: Edit, start: int, end: int) -> Place:
    """Where a change falls relative to the region ``[start, end)``.

    An insertion at the region's start counts as before it (at its end, as after it);
    an insertion at an empty region's point as after it.
    """
    insert = edit.start == edit.end
    if edit.end < start or (edit.end == start and not insert):
        return Place.BEFORE
    if edit.start > end or (edit.start == end and not insert):
        return Place.AFTER
    if insert and edit.start == start < end:
        return Place.BEFORE
    if insert and edit.start == end:
        return Place.AFTER
    return Place.INSIDE


SEARCH_BUDGET = 64  # ways to read one didChange as the server's edit plus the user's


class Step(enum.Enum):
    IDLE = "idle"  # no edit in flight
    SENT = "sent"  # an edit is on its way to the editor
    ANSWERED = "answered"  # the editor applied it; its didChange has not come yet


class EditSync:
    """The region an answer is written into, and the one edit in flight there."""

    def __init__(self, text: str, start: int, end: int) -> None:
        self.text = text  # the document as the editor has it, as far as the server knows
        self.start = start
        self.end = end
        self.original = text[start:end]
        self.eol = line_ending_of(text, start)
        self.step = Step.IDLE
        self.flight: Edit | None = None
        self.conflict = False  # the user edited inside the region: no more answer there
        self.lost = False  # the server's copy no longer matched the editor's
        # Once the user typed inside: the region as runs of (text, typed by the user?).
        self._runs: list[tuple[str, bool]] | None = None
        # Texts expected after each edit taken on trust, oldest first, and the text as
        # the editor last reported it (eglot reports its edits only when a request ends).
        self._assumed: collections.deque[str] = collections.deque()
        self._reported = text
        # The last change taken as the server's before the editor answered (see answered).
        self._provisional: tuple[str, int, int, list[Change]] | None = None

    # -- what the writer asks

    @property
    def current(self) -> str:
        return self.text[self.start : self.end]

    def overlaps(self, start: int, end: int) -> bool:
        """Whether the region meets ``[start, end]`` (touching counts)."""
        return self.start <= end and start <= self.end

    @property
    def reported_text(self) -> str:
        """The document as the editor has reported it so far."""
        return self._reported if self._assumed else self.text

    def edit_towards(self, desired: str) -> Edit | None:
        """The edit turning the region into ``desired`` (in the document's line endings)."""
        return smallest_edit(self.current, with_line_ending(desired, self.eol), self.start)

    def closing_text(self, answer: str | None) -> str:
        """What the region ends as: the whole answer (None: it is not kept), or the
        original text followed by whatever the user typed inside the region."""
        if answer is not None and not self.conflict:
            return answer
        if self._runs is None:
            return self.original
        return self.original + "".join(text for text, typed in self._runs if typed)

    # -- the steps

    def sent(self, edit: Edit) -> None:
        assert self.step is Step.IDLE, f"an edit is already {self.step.value}"
        self.flight, self.step = edit, Step.SENT

    def answered(self, applied: bool) -> None:
        """The editor's answer to ``workspace/applyEdit`` (its didChange may come first)."""
        if self.flight is None:
            if not applied and self._provisional is not None:
                self._take_back_provisional()
            self._provisional = None
            return
        if applied:
            self.step = Step.ANSWERED
        else:  # refused: the editor had a newer version
            self._land()

    def timed_out(self) -> None:
        """The didChange of the edit in flight never came."""
        if self.step is Step.ANSWERED and self.flight is not None:
            logger.info("an applied edit was not reported back; taking the editor's word")
            if not self._assumed:
                self._reported = self.text
            self.text = self.flight.apply(self.text)
            self._assumed.append(self.text)
            self.end += self.flight.growth
        elif self.step is Step.SENT:
            logger.warning("an edit was never answered nor reported; writing stops")
            self.conflict = True
        self._land()

    def reported(self, changes: Sequence[Change]) -> bool:
        """Replay one didChange (its changes in order); True when it was the server's edit."""
        if self._assumed:
            return self._reported_late(changes)
        new = apply_changes(self.text, changes)
        if self._provisional is not None:
            self._provisional[3].extend(changes)
        unanswered = self.step is Step.SENT
        before = (self.text, self.start, self.end, list(changes)) if unanswered else None
        ours = self.flight is not None and self._take_as_ours(changes, new)
        if ours and before is not None:
            # Not answered yet: if the editor then refuses the edit, this change (and any
            # after it) was the user's, typing the very text the server was sending.
            self._provisional = before
        if not ours:
            self._replay_user(as_edits(self.text, changes))
            if self.step is Step.ANSWERED:
                self._land()  # the editor said "applied" yet dropped it (Neovim does)
        self.text = new
        return ours

    def _take_back_provisional(self) -> None:
        """Replay, as the user's, every change since the one taken as the server's."""
        assert self._provisional is not None
        text, start, end, changes = self._provisional
        self.text, self.start, self.end = text, start, end
        self._replay_user(as_edits(text, changes))

    def trust(self) -> None:
        """Take the applied edit in flight as done without waiting for its didChange."""
        if self.step is Step.ANSWERED:
            self.timed_out()

    @property
    def awaiting_late_reports(self) -> bool:
        return bool(self._assumed)

    def resync(self, text: str) -> None:
        """The editor's copy differs from the server's: stop and follow the editor's."""
        logger.warning("lost track of the document; writing stops")
        self.text = self._reported = text
        self._assumed.clear()
        self.conflict = self.lost = True
        self.start = self.end = min(self.start, len(text))
        self._land()

    def closed(self) -> None:
        self.conflict = True
        self._land()

    # -- inside

    def _land(self) -> None:
        self.flight, self.step = None, Step.IDLE

    def _take_as_ours(self, changes: Sequence[Change], new: str) -> bool:
        """Whether ``new`` holds the edit in flight (and perhaps the user's changes)."""
        assert self.flight is not None
        expected = self.flight.apply(self.text)
        if same_text(new, expected):
            # The same text, however the editor expressed the change (ranges shifted
            # inside equal text, split, one whole-document change, line endings).
            self._grow_to(new)
            self._land()
            return True
        if self._ours_then_users(changes, expected):
            return True
        wanted = expected[self.start : self.end + self.flight.growth]
        variants = {wanted, with_line_ending(wanted, "\n"), with_line_ending(wanted, "\r\n")}
        edits = as_edits(self.text, changes)
        readings = list(self._bounds_after(edits, 0, self.start, self.end, False, [SEARCH_BUDGET]))
        for bounds in readings:
            if new[bounds[0] : bounds[1]] in variants:
                self.start, self.end = bounds
                self._learn_line_ending(new)
                self._land()
                return True
        if readings and self.step is Step.ANSWERED:
            # Applied, so this change holds it: with the user's typing inside.
            logger.info("the user edited the text being written; no more edits there")
            self.start, self.end = readings[0]
            self.conflict = True
            self._runs = runs_of(wanted, new[self.start : self.end])
            self._land()
            return True
        return False

    def _ours_then_users(self, changes: Sequence[Change], expected: str) -> bool:
        """The first changes are the server's edit, however expressed (Neovim reports it
        with other ranges inside equal text), the rest the user's typing after it."""
        assert self.flight is not None
        text = self.text
        for count, change in enumerate(changes[:-1], 1):
            text = change if isinstance(change, str) else change.apply(text)
            if same_text(text, expected):
                self._grow_to(text)
                self.text = text
                self._land()
                self._replay_user(as_edits(text, changes[count:]))
                return True
        return False

    def _grow_to(self, new: str) -> None:
        """The server's edit made ``self.text`` into ``new``: the region ends where the
        unchanged rest begins."""
        self.end = len(new) - (len(self.text) - self.end)
        self._learn_line_ending(new)

    def _learn_line_ending(self, new: str) -> None:
        """The editor wrote the server's line breaks its own way: use its way from now on
        (a document without line breaks does not tell it before)."""
        found = first_line_break(new[self.start : self.end])
        if found is not None:
            self.eol = found

    def _bounds_after(
        self, edits: list[Edit], at: int, start: int, end: int, touched: bool, budget: list[int]
    ) -> Iterator[tuple[int, int]]:
        """Where the region would be after ``edits[at:]`` if those touching it are the
        server's: an insertion at its edge may be either, so both are tried (the server's
        first), within a budget of tries."""
        if at == len(edits):
            budget[0] -= 1
            if touched:
                yield start, end
            return
        edit = edits[at]
        place = place_of(edit, start, end)
        edge = edit.start == edit.end and edit.start in (start, end)
        for option in (Place.INSIDE, place) if edge and place is not Place.INSIDE else (place,):
            if budget[0] <= 0:
                return
            if option is Place.BEFORE:
                yield from self._bounds_after(
                    edits, at + 1, start + edit.growth, end + edit.growth, touched, budget
                )
            elif option is Place.AFTER:
                yield from self._bounds_after(edits, at + 1, start, end, touched, budget)
            elif start <= edit.start and edit.end <= end:  # inside, and not reaching out
                yield from self._bounds_after(edits, at + 1, start, end + edit.growth, True, budget)

    def _replay_user(self, edits: list[Edit]) -> None:
        for edit in edits:
            place = place_of(edit, self.start, self.end)
            if place is Place.BEFORE:
                self.start += edit.growth
                self.end += edit.growth
                if self.flight is not None:  # it moves with the region
                    growth, flight = edit.growth, self.flight
                    self.flight = Edit(flight.start + growth, flight.end + growth, flight.new_text)
            elif place is Place.INSIDE:
                self._user_inside(edit)
            self.text = edit.apply(self.text)

    def _user_inside(self, edit: Edit) -> None:
        if not self.conflict:
            logger.info("the user edited the text being written; no more edits there")
            self.conflict = True
        if self._runs is None:
            self._runs = [(self.current, False)]
        low = max(edit.start, self.start) - self.start
        high = min(edit.end, self.end) - self.start
        self._runs = replace_in_runs(self._runs, low, high, edit.new_text)
        self.end = max(self.end, edit.end) + edit.growth
        self.start = min(self.start, edit.start)

    def _reported_late(self, changes: Sequence[Change]) -> bool:
        """A didChange while edits taken on trust are unreported: it must report the oldest
        of them, or several at once (eglot sends what it collected as one didChange)."""
        new = apply_changes(self._reported, changes)
        for count, expected in enumerate(self._assumed, 1):
            if same_text(new, expected):
                for _ in range(count):
                    self._assumed.popleft()
                self._reported = new
                if not self._assumed and new != self.text:  # line endings the editor's way
                    self._grow_to(new)
                    self.text = new
                return True
        self._reported = new
        # All of them at once, with a change of the user's outside the region?
        users = smallest_edit(self.text, new)
        place = None if users is None else place_of(users, self.start, self.end)
        if users is not None and place is not Place.INSIDE:
            self._assumed.clear()
            self._replay_user([users])
            self.text = new
            return True
        logger.info("a change arrived before the editor reported the server's edits")
        self.conflict = True
        return False
