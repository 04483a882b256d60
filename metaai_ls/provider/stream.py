"""Reading Meta AI's streamed answer: pure logic, no I/O.

Each line is a JSON object whose ``snippet`` is the whole answer so far; this turns
that into deltas and notes the end marker, errors, images and the sources fetch id.

Re-parsing the whole answer on every line makes a long answer cost O(n²). When a line
repeats the previous line's bytes up to where the previous snippet ended, only the new
tail of the snippet and the small rest of the line are decoded (both with orjson); any
other line is parsed whole. A snippet cut inside a surrogate pair (a server slicing by
UTF-16 units) is used up to the cut; the next snippet carries the whole character.
"""

from __future__ import annotations

import logging
import re
from typing import Any

from . import decode
from .errors import AnswerTooLongError, ResponseErrorsError, SomethingWentWrongError, meta_text
from .results import ImageResponse
from .transport import ERROR_PAGE_MARK, max_answer_chars

try:
    from orjson import loads as _loads
except ImportError:  # pragma: no cover - orjson is a dependency; json keeps it working
    from json import loads as _loads

logger = logging.getLogger(__name__)

DONE = "OVERALL_DONE"
WRITING_STATES = ("STREAMING", DONE)
ERROR_PAGE = ERROR_PAGE_MARK.encode()
SNIPPET_KEY = re.compile(rb'"snippet"\s*:\s*"')


class AnswerStream:
    """The state of one answer as its lines arrive."""

    def __init__(self, max_answer: int | None = None) -> None:
        self.max_answer = max_answer or max_answer_chars()
        self.done = False
        self.fetch_id: str | None = None
        self.lines_skipped = 0
        self.length = 0  # characters of answer so far
        self._parts: list[str] = []
        self._prefix = b""  # the last line up to its snippet's closing quote
        self._value_start = 0  # where that snippet's characters begin in the line

    @property
    def text(self) -> str:
        if len(self._parts) > 1:
            self._parts[:] = ["".join(self._parts)]
        return self._parts[0] if self._parts else ""

    def feed(self, line: bytes) -> list[str | ImageResponse]:
        """The new results in one line of the stream (usually one delta, or none)."""
        if ERROR_PAGE in line:
            raise SomethingWentWrongError()
        if self._prefix and line.startswith(self._prefix):
            results = self._feed_tail(line)
            if results is not None:
                return results
        return self._feed_whole(line)

    def _feed_whole(self, line: bytes) -> list[str | ImageResponse]:
        self._prefix = b""
        try:
            data = decode.loads(line)
        except ValueError:
            if line.strip():
                self.lines_skipped += 1
            return []
        if not isinstance(data, dict):
            self.lines_skipped += 1
            return []
        message = _message_of(data)
        if message is None:
            return []
        snippet = message.get("snippet")
        delta = ""
        if not isinstance(snippet, str):
            return self._results(message, delta)
        halves = decode.has_surrogate(snippet)
        if halves:  # the next line is parsed whole too: its tail may begin mid-pair
            final = message.get("streaming_state") == DONE
            snippet = decode.whole(snippet) if final else decode.settle(snippet)[0]
        if len(snippet) > self.length:
            if not snippet.startswith(self.text):
                # Meta rewrote earlier text; what was yielded stands, continue after it.
                logger.warning("Meta AI revised text it had already sent; continuing after it")
            delta = snippet[self.length :]
            if not halves:
                self._remember(line)
        return self._results(message, delta)

    def _feed_tail(self, line: bytes) -> list[str | ImageResponse] | None:
        """Decode only what this line adds to the previous one; None if it cannot."""
        start = len(self._prefix)
        end = decode.closing_quote(line, start, self._value_start)
        if end < 0:
            return None
        try:  # orjson refuses a half of a surrogate pair: such a line is parsed whole
            delta = _loads(b'"' + line[start:end] + b'"')
            data = _loads(line[: self._value_start] + line[end:])
        except ValueError:
            return None
        message = _message_of(data) if isinstance(data, dict) else None
        if message is None or message.get("snippet") != "":
            return None  # what was cut out was not this message's snippet
        self._prefix = line[:end]
        return self._results(message, delta)

    def _remember(self, line: bytes) -> None:
        """Where this line's snippet ends, for decoding only the tail of the next line."""
        match = SNIPPET_KEY.search(line)
        if match is None:
            return
        end = decode.closing_quote(line, match.end(), match.end())
        if end < 0:
            return
        try:
            skeleton = _loads(line[: match.end()] + line[end:])
        except ValueError:
            return
        message = _message_of(skeleton) if isinstance(skeleton, dict) else None
        if message is not None and message.get("snippet") == "":
            self._prefix = line[:end]
            self._value_start = match.end()

    def _results(self, message: dict[str, Any], delta: str) -> list[str | ImageResponse]:
        state = message.get("streaming_state")
        self.fetch_id = message.get("fetch_id") or self.fetch_id
        if state not in WRITING_STATES:
            return []
        results: list[str | ImageResponse] = []
        if delta:
            self._parts.append(delta)
            self.length += len(delta)
            if self.length > self.max_answer:
                raise AnswerTooLongError(self.max_answer)
            results.append(delta)
        if state == DONE:
            self.done = True
            if image := _final_image(message):
                results.append(image)
        return results


def _message_of(data: dict[str, Any]) -> dict[str, Any] | None:
    """The line's bot message; raises for a line that carries Meta's `errors` list."""
    if errors := data.get("errors"):
        raise ResponseErrorsError(_error_messages(errors))
    inner = data.get("data")
    node = inner.get("node") if isinstance(inner, dict) else None
    message = node.get("bot_response_message") if isinstance(node, dict) else None
    return message if isinstance(message, dict) else None


def _error_messages(errors: Any) -> list[str]:
    if not isinstance(errors, list):
        return [meta_text(errors, 200)]
    messages = []
    for error in errors:
        text = error.get("message") if isinstance(error, dict) else error
        messages.append(meta_text(text, 200))
    return messages


def _final_image(message: dict[str, Any]) -> ImageResponse | None:
    try:
        media_sets = message["imagine_card"]["session"]["media_sets"]
        medias = media_sets[-1]["imagine_media"]
        urls = tuple(media["uri"] for media in medias)
        return ImageResponse(urls, medias[0].get("prompt") or "") if urls else None
    except (KeyError, IndexError, TypeError):
        return None
