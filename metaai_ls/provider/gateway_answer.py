"""The gateway's answer events turned into exact text deltas: pure logic, no I/O.

Events are applied in ``seq`` order (early ones are held back). ``patch`` operations
append to or add sections; a ``full`` snapshot is trusted only where it extends the text
already streamed; the model's reasoning sections are left out. The last object (with a
``response_id`` and no ``seq``) is the authoritative answer: when the streamed text is
a prefix of it the rest is the last delta, otherwise it is yielded as a ``Revision``.

A delta appended to the last section, the common case, costs O(len(delta)): the whole
answer is joined only for snapshots, new sections and the final object. A snapshot that
repeats the previous one's bytes and adds to them (the usual snapshot of a one-section
answer) is read from its new bytes only (``feed_body``): parsing each snapshot whole
makes a long answer cost O(n²).

Texts are kept with surrogate pairs joined: a delta that ends inside a pair (a server
slicing by UTF-16 units) keeps its high half in the section until the pair comes, so no
result ever holds a lone surrogate. The answer stops at ``max_answer`` characters.
"""

from __future__ import annotations

import logging
import re
from typing import Any

from . import decode, event_bytes, frames
from .errors import AnswerTooLongError, error_from_text
from .event_bytes import DeltaShape
from .results import Result, Revision
from .transport import max_answer_chars

logger = logging.getLogger(__name__)

HOLD_LIMIT = 64  # events held back waiting for a missing seq before the gap is skipped
# How far past the last section an operation may point: real answers have a handful of
# sections; an index far beyond (a hostile `/sections/2000000/…`) is not allocated.
SECTION_GAP = 64
TEXT_KEY = re.compile(rb'"(?:text|snippet)"\s*:\s*"')
CONTEXT = 24  # bytes before a snapshot's text that find it again in the next snapshot
SHIFT = 16  # how far it may move (the digits of a ``seq`` before it)


class Section:
    __slots__ = ("held", "length", "parts", "reasoning")

    def __init__(self, text: str, reasoning: bool) -> None:
        text, self.held = decode.settle(text)  # held: a high half waiting for its pair
        self.parts = [text] if text else []
        self.length = len(text)
        self.reasoning = reasoning

    @property
    def text(self) -> str:
        if len(self.parts) > 1:
            self.parts[:] = ["".join(self.parts)]
        return self.parts[0] if self.parts else ""

    def append(self, text: str) -> str:
        """Append a delta; returns the text appended (with pairs joined, it may differ)."""
        if self.held or decode.has_surrogate(text):
            text, self.held = decode.settle(self.held + text)
        if text:
            self.parts.append(text)
            self.length += len(text)
        return text


class _Snapshot:
    """Where the text of the last snapshot read is in its bytes, and what the answer's
    section held then, to read the next snapshot from its new bytes only."""

    __slots__ = ("context", "length", "parts", "section", "skeleton", "start", "text")

    def __init__(self, body: bytes, start: int, end: int, skeleton: dict, section: Section):
        self.context = body[max(0, start - CONTEXT) : start]
        self.start = start
        self.text = body[start:end]  # the text's JSON bytes, escapes and all
        self.skeleton = skeleton  # the event with that text empty and no ``seq``
        self.section = section
        self.length = section.length
        self.parts = len(section.parts)

    def since(self) -> str | None:
        """What the section got after this snapshot; None if it cannot be told (its parts
        were joined meanwhile)."""
        parts = self.section.parts
        if len(parts) < self.parts:
            return None
        added = "".join(parts[self.parts :])
        return added if len(added) == self.section.length - self.length else None


class GatewayAnswer:
    def __init__(
        self,
        reasoning_typename: str = "Thinking",
        reasoning_path: str = "",
        max_answer: int | None = None,
    ) -> None:
        self.max_answer = max_answer or max_answer_chars()
        self.reasoning_typename = reasoning_typename
        self.reasoning_path = reasoning_path or "embedded_screens"
        self.sections: list[Section] = []
        self.done = False
        self.revised = False
        self.length = 0  # characters yielded so far
        self._emitted: list[str] = []
        self._next_seq = 0
        self._held: dict[int, dict[str, Any]] = {}
        self._in_sync = True  # every answer section's text has been yielded
        self._out: list[str] = []
        self._path_for = -1  # the section count `_path` was made for
        self._path = ""
        self._snap: _Snapshot | None = None
        self._shape: DeltaShape | None = None

    @property
    def text(self) -> str:
        """The text yielded so far."""
        if len(self._emitted) > 1:
            self._emitted[:] = ["".join(self._emitted)]
        return self._emitted[0] if self._emitted else ""

    def answer_text(self) -> str:
        return "".join(s.text for s in self.sections if not s.reasoning)

    def feed_body(self, body: bytes) -> list[Result]:
        """The new results of a data frame's body: the usual delta and a snapshot that
        extends the last one read from their bytes (``event_bytes``), anything else
        parsed whole."""
        shape = self._shape
        if (
            shape is not None
            and self._in_sync
            and not self._held
            and shape.path == self._tail_path()
            and not self.sections[-1].held
            and (delta := shape.value(body, str(self._next_seq).encode())) is not None
        ):
            return self._append_tail(delta)
        snap = self._snap
        if (
            snap is not None
            and len(body) > len(snap.text)
            and (results := self._snapshot_tail(snap, body)) is not None
        ):
            return results
        event = frames.event_of(body)
        if event is None:
            return []
        if self._tail_delta(event) is not None and (shape := DeltaShape.learn(body, event)):
            self._shape = shape  # the first usual delta, or one of a new shape
        results = self.feed(event)
        if event.get("type") == "full":
            self._snap = self._remember(body, event)
        return results

    def feed(self, event: dict[str, Any]) -> list[Result]:
        """The new results of one event (usually one delta, or none)."""
        if (delta := self._tail_delta(event)) is not None:
            return self._append_tail(delta)
        _raise_errors(event)
        if "response_id" in event and "seq" not in event and "type" not in event:
            return self.finish(event)
        seq = event.get("seq")
        if not isinstance(seq, int) or isinstance(seq, bool):
            self._apply(event)
        elif seq < self._next_seq:
            return []  # a repeat
        elif seq > self._next_seq:
            self._held[seq] = event
            if len(self._held) <= HOLD_LIMIT:
                return []
            logger.info("gateway events %d.. never came; skipping them", self._next_seq)
            self._next_seq = min(self._held)
        else:
            self._apply(event)
            self._next_seq += 1
        self._drain()
        return self._take()

    def _append_tail(self, delta: str) -> list[Result]:
        """The usual delta, appended to the last answer section (no surrogate half in it
        or the section: a plain append)."""
        self._next_seq += 1
        if not delta:
            return []
        section = self.sections[-1]
        section.parts.append(delta)
        section.length += len(delta)
        self._emit(delta)
        return [delta]

    def _tail_delta(self, event: dict[str, Any]) -> str | None:
        """The text of the usual event, the next in order appending to the last answer
        section while everything before is streamed; None for any other event. The
        cheapest tests come first: this runs for every event."""
        try:
            if (
                event["type"] != "patch"
                or event["seq"] != self._next_seq
                or not self._in_sync
                or self._held
            ):
                return None
            (operation,) = event["operations"]  # exactly one
            if operation["op"] != "delta" or operation["path"] != self._tail_path():
                return None
            value = operation["value"]
        except (KeyError, TypeError, ValueError):  # any other shape: the general path
            return None
        if type(value) is not str or "errors" in event or "error" in event:
            return None
        if self.sections[-1].held or (not value.isascii() and decode.has_surrogate(value)):
            return None  # half of a surrogate pair: the general path joins it
        return value

    def _tail_path(self) -> str | None:
        """The path of a delta to the last section, when that is an answer section."""
        sections = self.sections
        if not sections or sections[-1].reasoning:
            return None
        if self._path_for != len(sections):
            self._path_for = len(sections)
            self._path = f"/sections/{len(sections) - 1}/view_model/primitive/text"
        return self._path

    # -- snapshots read from their new bytes

    def _snap_section(self) -> Section | None:
        """The one answer section, when everything is streamed and nothing held back."""
        sections = self.sections
        if len(sections) != 1 or not self._in_sync or self._held or self.done:
            return None
        section = sections[0]
        return None if section.reasoning or section.held else section

    def _remember(self, body: bytes, event: dict[str, Any]) -> _Snapshot | None:
        """After a snapshot parsed whole that the one answer section now equals: where
        its text is in ``body``, checked by parsing the rest without it."""
        section = self._snap_section()
        texts = self._section_texts(event.get("response") or {})
        if section is None or len(texts) != 1 or not texts[0][0] or texts[0][0] != section.text:
            return None
        empty = _without_text(event)
        for match in TEXT_KEY.finditer(body):
            start = match.end()
            end = decode.closing_quote(body, start, start)
            if (skeleton := event_bytes.skeleton(body, start, end)) == empty and empty is not None:
                skeleton.pop("seq", None)
                return _Snapshot(body, start, end, skeleton, section)
        return None

    def _snapshot_tail(self, snap: _Snapshot, body: bytes) -> list[Result] | None:
        """The results of a snapshot that repeats the last one's text and adds to it,
        read from the added bytes only; None for any other body."""
        found = body.find(snap.context, max(0, snap.start - CONTEXT - SHIFT), snap.start + SHIFT)
        start = found + len(snap.context)
        if found < 0 or not body.startswith(snap.text, start):
            return None
        section = self._snap_section()
        if section is not snap.section or (since := snap.since()) is None:
            return None
        end = decode.closing_quote(body, start + len(snap.text), start)
        skeleton = event_bytes.skeleton(body, start, end)
        if skeleton is None:
            return None
        seq = skeleton.pop("seq", None)
        if seq != self._next_seq or type(seq) is not int or skeleton != snap.skeleton:
            return None
        try:  # orjson refuses half a surrogate pair: such a snapshot is parsed whole
            tail = decode.fast_loads(b'"' + body[start + len(snap.text) : end] + b'"')
        except ValueError:
            return None
        self._next_seq += 1
        if tail.startswith(since):  # else a snapshot behind the stream: not trusted
            if added := section.append(tail[len(since) :]):
                self._out.append(added)
            self._snap = _Snapshot(body, start, end, skeleton, section)
        self._drain()
        return self._take()

    def flush_held(self) -> list[Result]:
        """At the end of the turn (no final object): apply what was held back, in order;
        a half of a surrogate pair still waiting never got its pair."""
        self._apply_held()
        for section in self.sections:
            if section.held:
                section.held = ""
                section.append(decode.REPLACEMENT)
                self._in_sync = False
        return self._take()

    def _apply_held(self) -> None:
        for seq in sorted(self._held):
            self._apply(self._held.pop(seq))

    def finish(self, final: dict[str, Any]) -> list[Result]:
        self._apply_held()
        results = self._take()
        self.done = True
        texts = self._section_texts(final)
        text = decode.whole("".join(t for t, reasoning in texts if not reasoning))
        streamed = self.text
        if not text or text == streamed:
            return results  # a final object without text is no correction
        if text.startswith(streamed):
            rest = text[len(streamed) :]
            self._emit(rest)
            return [*results, rest]
        logger.warning("Meta AI's final answer differs from the text it streamed; it wins")
        self.revised = True
        self._emitted[:] = [text]
        self.length = len(text)
        self._check_length()
        return [Revision(text)]

    # -- applying events

    def _drain(self) -> None:
        while self._next_seq in self._held:
            self._apply(self._held.pop(self._next_seq))
            self._next_seq += 1

    def _apply(self, event: dict[str, Any]) -> None:
        kind = event.get("type")
        if kind == "full" and isinstance(event.get("response"), dict):
            self._snapshot(event["response"])
        elif kind == "patch" and isinstance(event.get("operations"), list):
            for operation in event["operations"]:
                if isinstance(operation, dict):
                    self._operation(operation)

    def _snapshot(self, response: dict[str, Any]) -> None:
        sections = [Section(text, reasoning) for text, reasoning in self._section_texts(response)]
        snapshot = "".join(s.text for s in sections if not s.reasoning)
        if not snapshot.startswith(self.text):
            # Not trusted while streaming: patches go on; the final object decides.
            logger.debug("a snapshot disagrees with the streamed text; ignored")
            return
        if self._extends_last_section(sections):
            last, new = self.sections[-1], sections[-1]
            last.held = ""  # the snapshot says what follows the streamed text
            if tail := new.text[last.length :]:
                last.append(tail)
                self._out.append(tail)
            last.held = new.held
            return
        self.sections = sections
        self._in_sync = False

    def _extends_last_section(self, snapshot: list[Section]) -> bool:
        """Whether a snapshot (that extends the streamed text) only adds to the last
        section, everything before being streamed: the usual snapshot, taken as a delta
        rather than rebuilding every section."""
        sections = self.sections
        if not (self._in_sync and snapshot and len(snapshot) == len(sections)):
            return False
        if snapshot[-1].reasoning or sections[-1].reasoning:
            return False
        return all(
            s.reasoning == n.reasoning and s.length == n.length
            for s, n in zip(sections[:-1], snapshot[:-1], strict=True)
        )

    def _operation(self, operation: dict[str, Any]) -> None:
        path = operation.get("path")
        if not isinstance(path, str) or self.reasoning_path in path:
            return
        parts = path.strip("/").split("/")
        number = parts[1] if len(parts) > 1 else ""
        # ASCII digits only ("²" is a digit to str.isdigit, not to int), and few of them.
        if parts[0] != "sections" or not (number.isascii() and number.isdigit()):
            return
        if len(number) > 9:
            return
        index, value, op = int(parts[1]), operation.get("value"), operation.get("op")
        if index > len(self.sections) + SECTION_GAP:
            logger.info(
                "a gateway operation on section %d of %d ignored", index, len(self.sections)
            )
            return
        if op == "delta" and isinstance(value, str) and parts[-1] in ("text", "snippet"):
            self._append(index, value)
        elif op == "add" and len(parts) == 2 and isinstance(value, dict):
            text, reasoning = self._section_of(value)
            self.sections.insert(min(index, len(self.sections)), Section(text, reasoning))
            self._in_sync = False
        elif op == "replace" and isinstance(value, str) and parts[-1] in ("text", "snippet"):
            while len(self.sections) <= index:
                self.sections.append(Section("", False))
            section = self.sections[index]
            self.sections[index] = Section(value, section.reasoning)
            self._in_sync = False

    def _append(self, index: int, value: str) -> None:
        while len(self.sections) <= index:
            self.sections.append(Section("", False))
            self._in_sync = False
        section = self.sections[index]
        value = section.append(value)
        if section.reasoning or not value:
            return
        if self._in_sync and all(s.reasoning for s in self.sections[index + 1 :]):
            self._out.append(value)
        else:
            self._in_sync = False

    def _take(self) -> list[Result]:
        if self._in_sync:
            out, self._out = self._out, []
            text = "".join(out)
        else:
            self._out.clear()
            answer, streamed = self.answer_text(), self.text
            if not answer.startswith(streamed):
                return []  # disagrees: wait for the final object
            text = answer[len(streamed) :]
            self._in_sync = True
        if not text:
            return []
        self._emit(text)
        return [text]

    def _emit(self, text: str) -> None:
        self._emitted.append(text)
        self.length += len(text)
        if self.length > self.max_answer:
            raise AnswerTooLongError(self.max_answer)

    def _check_length(self) -> None:
        if self.length > self.max_answer:
            raise AnswerTooLongError(self.max_answer)

    # -- reading sections

    def _section_texts(self, response: dict[str, Any]) -> list[tuple[str, bool]]:
        sections = response.get("sections")
        if not isinstance(sections, list):
            return []
        return [self._section_of(s) for s in sections if isinstance(s, dict)]

    def _section_of(self, section: dict[str, Any]) -> tuple[str, bool]:
        view = section.get("view_model")
        view = view if isinstance(view, dict) else {}
        primitive = view.get("primitive")
        primitive = primitive if isinstance(primitive, dict) else {}
        names = f"{view.get('__typename', '')} {primitive.get('__typename', '')}"
        text = primitive.get("text")
        if not isinstance(text, str):
            text = primitive.get("snippet")
        return (text if isinstance(text, str) else ""), self.reasoning_typename in names


def _without_text(event: dict[str, Any]) -> dict[str, Any] | None:
    """A copy of a one-section snapshot event with its text (or snippet) empty."""
    try:
        response = dict(event["response"])
        section = dict(response["sections"][0])
        view = section["view_model"] = dict(section["view_model"])
        primitive = view["primitive"] = dict(view["primitive"])
    except (KeyError, IndexError, TypeError, ValueError):
        return None
    primitive["text" if isinstance(primitive.get("text"), str) else "snippet"] = ""
    response["sections"] = [section, *response["sections"][1:]]
    return {**event, "response": response}


def _raise_errors(event: dict[str, Any]) -> None:
    errors = event.get("errors") or event.get("error")
    if not errors:
        return
    first = errors[0] if isinstance(errors, list) and errors else errors
    message = first.get("message") if isinstance(first, dict) else first
    raise error_from_text(str(message))
