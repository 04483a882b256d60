"""Reading Meta AI's streamed answer: pure logic, no I/O.

Each line is a JSON object whose ``snippet`` is the whole answer so far; this turns
that into deltas and notes the end marker, errors, images and the sources fetch id.
"""

from __future__ import annotations

import dataclasses
import logging
from typing import Any

from .errors import ResponseErrorsError, SomethingWentWrongError
from .results import ImageResponse

try:
    from orjson import loads as _loads
except ImportError:  # pragma: no cover - orjson is a dependency; json keeps it working
    from json import loads as _loads

logger = logging.getLogger(__name__)

DONE = "OVERALL_DONE"
WRITING_STATES = ("STREAMING", DONE)
ERROR_PAGE = b"<h1>Something Went Wrong</h1>"


@dataclasses.dataclass
class AnswerStream:
    """The state of one answer as its lines arrive."""

    text: str = ""
    done: bool = False
    fetch_id: str | None = None
    lines_skipped: int = 0

    def feed(self, line: bytes) -> list[str | ImageResponse]:
        """The new results in one line of the stream (usually one delta, or none)."""
        if ERROR_PAGE in line:
            raise SomethingWentWrongError()
        try:
            data = _loads(line)
        except ValueError:
            if line.strip():
                self.lines_skipped += 1
            return []
        if not isinstance(data, dict):
            self.lines_skipped += 1
            return []
        if errors := data.get("errors"):
            raise ResponseErrorsError(_error_messages(errors))
        message = _bot_response(data)
        if message is None:
            return []
        return self._results(message)

    def _results(self, message: dict[str, Any]) -> list[str | ImageResponse]:
        state = message.get("streaming_state")
        self.fetch_id = message.get("fetch_id") or self.fetch_id
        if state not in WRITING_STATES:
            return []
        results: list[str | ImageResponse] = []
        snippet = message.get("snippet")
        if isinstance(snippet, str) and (delta := self._delta(snippet)):
            results.append(delta)
        if state == DONE:
            self.done = True
            if image := _final_image(message):
                results.append(image)
        return results

    def _delta(self, snippet: str) -> str:
        known = len(self.text)
        if len(snippet) <= known:
            return ""
        if not snippet.startswith(self.text):
            # Meta rewrote earlier text; what was yielded stands, continue after it.
            logger.warning("Meta AI revised text it had already sent; continuing after it")
        delta = snippet[known:]
        self.text = snippet
        return delta


def _bot_response(data: dict[str, Any]) -> dict[str, Any] | None:
    node = (data.get("data") or {}).get("node") or {}
    message = node.get("bot_response_message") if isinstance(node, dict) else None
    return message if isinstance(message, dict) else None


def _error_messages(errors: Any) -> list[str]:
    if not isinstance(errors, list):
        return [str(errors)[:200]]
    messages = []
    for error in errors:
        text = error.get("message") if isinstance(error, dict) else error
        messages.append(str(text)[:200])
    return messages


def _final_image(message: dict[str, Any]) -> ImageResponse | None:
    try:
        media_sets = message["imagine_card"]["session"]["media_sets"]
        medias = media_sets[-1]["imagine_media"]
        urls = tuple(media["uri"] for media in medias)
        return ImageResponse(urls, medias[0].get("prompt") or "") if urls else None
    except (KeyError, IndexError, TypeError):
        return None
