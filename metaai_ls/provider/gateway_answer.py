"""The gateway's answer events turned into exact text deltas: pure logic, no I/O.

Events are applied in ``seq`` order (early ones are held back). ``patch`` operations
append to or add sections; a ``full`` snapshot is trusted only where it extends the text
already streamed; the model's reasoning sections are left out. The last object (with a
``response_id`` and no ``seq``) is the authoritative answer: when the streamed text is
a prefix of it the rest is the last delta, otherwise it is yielded as a ``Revision``.

A delta appended to the last section, the common case, costs O(len(delta)): the whole
answer is joined only for snapshots, new sections and the final object.
"""

from __future__ import annotations

import logging
from typing import Any

from .errors import error_from_text
from .results import Result, Revision

logger = logging.getLogger(__name__)

HOLD_LIMIT = 64  # events held back waiting for a missing seq before the gap is skipped
# How far past the last section an operation may point: real answers have a handful of
# sections; an index far beyond (a hostile `/sections/2000000/…`) is not allocated.
SECTION_GAP = 64


class Section:
    __slots__ = ("length", "parts", "reasoning")

    def __init__(self, text: str, reasoning: bool) -> None:
        self.parts = [text] if text else []
        self.length = len(text)
        self.reasoning = reasoning

    @property
    def text(self) -> str:
        if len(self.parts) > 1:
            self.parts[:] = ["".join(self.parts)]
        return self.parts[0] if self.parts else ""

    def append(self, text: str) -> None:
        self.parts.append(text)
        self.length += len(text)


class GatewayAnswer:
    def __init__(self, reasoning_typename: str = "Thinking", reasoning_path: str = "") -> None:
        self.reasoning_typename = reasoning_typename
        self.reasoning_path = reasoning_path or "embedded_screens"
        self.sections: list[Section] = []
        self.done = False
        self.revised = False
        self.length = 0  # characters yielded so far
        self.events = 0
        self._emitted: list[str] = []
        self._next_seq = 0
        self._held: dict[int, dict[str, Any]] = {}
        self._in_sync = True  # every answer section's text has been yielded
        self._out: list[str] = []
        self._path_for = -1  # the section count `_path` was made for
        self._path = ""

    @property
    def text(self) -> str:
        """The text yielded so far."""
        if len(self._emitted) > 1:
            self._emitted[:] = ["".join(self._emitted)]
        return self._emitted[0] if self._emitted else ""

    def answer_text(self) -> str:
        return "".join(s.text for s in self.sections if not s.reasoning)

    def feed(self, event: dict[str, Any]) -> list[Result]:
        """The new results of one event (usually one delta, or none)."""
        self.events += 1
        if (delta := self._next_tail_delta(event)) is not None:
            self._next_seq += 1
            if not delta:
                return []
            self.sections[-1].append(delta)
            self._emit(delta)
            return [delta]
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

    def _next_tail_delta(self, event: dict[str, Any]) -> str | None:
        """The text of the usual event, the next in order appending to the last answer
        section while everything before is streamed; None for any other event. The
        cheapest tests come first: this runs for every event."""
        if (
            event.get("seq") != self._next_seq
            or not self._in_sync
            or self._held
            or event.get("type") != "patch"
        ):
            return None
        operations = event.get("operations")
        if type(operations) is not list or len(operations) != 1:
            return None
        operation = operations[0]
        if type(operation) is not dict or operation.get("op") != "delta":
            return None
        if operation.get("path") != self._tail_path() or "errors" in event or "error" in event:
            return None
        value = operation.get("value")
        return value if type(value) is str else None

    def _tail_path(self) -> str | None:
        """The path of a delta to the last section, when that is an answer section."""
        sections = self.sections
        if not sections or sections[-1].reasoning:
            return None
        if self._path_for != len(sections):
            self._path_for = len(sections)
            self._path = f"/sections/{len(sections) - 1}/view_model/primitive/text"
        return self._path

    def flush_held(self) -> list[Result]:
        """At the end of the turn: apply what was held back, in order."""
        for seq in sorted(self._held):
            self._apply(self._held.pop(seq))
        return self._take()

    def finish(self, final: dict[str, Any]) -> list[Result]:
        results = self.flush_held()
        self.done = True
        text = "".join(t for t, reasoning in self._section_texts(final) if not reasoning)
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
        texts = self._section_texts(response)
        snapshot = "".join(text for text, reasoning in texts if not reasoning)
        streamed = self.text
        if not snapshot.startswith(streamed):
            # Not trusted while streaming: patches go on; the final object decides.
            logger.debug("a snapshot disagrees with the streamed text; ignored")
            return
        if self._extends_last_section(texts):
            last, text = self.sections[-1], texts[-1][0]
            if tail := text[last.length :]:
                last.append(tail)
                self._out.append(tail)
            return
        self.sections = [Section(text, reasoning) for text, reasoning in texts]
        self._in_sync = False

    def _extends_last_section(self, texts: list[tuple[str, bool]]) -> bool:
        """Whether a snapshot (that extends the streamed text) only adds to the last
        section, everything before being streamed: the usual snapshot, taken as a delta
        rather than rebuilding every section."""
        sections = self.sections
        if not (self._in_sync and texts and len(texts) == len(sections)):
            return False
        if texts[-1][1] or sections[-1].reasoning:
            return False
        return all(
            s.reasoning == r and s.length == len(t)
            for s, (t, r) in zip(sections[:-1], texts[:-1], strict=True)
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
        section.append(value)
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


def _raise_errors(event: dict[str, Any]) -> None:
    errors = event.get("errors") or event.get("error")
    if not errors:
        return
    first = errors[0] if isinstance(errors, list) and errors else errors
    message = first.get("message") if isinstance(first, dict) else first
    raise error_from_text(str(message))
