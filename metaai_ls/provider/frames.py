"""The gateway's binary frames: a type byte, a stream id (u16), a length (u24), all
little-endian, then the body. Data frames start their body with a sequence byte and
0x80, and their length counts those two bytes too (a frame whose length counts only the
JSON is dropped by the gateway without a word)."""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Iterator
from typing import Any

from . import decode, protowire

try:
    from orjson import dumps as _dumps
except ImportError:  # pragma: no cover - orjson is a dependency; json keeps it working

    def _dumps(value: Any) -> bytes:
        return json.dumps(value, separators=(",", ":")).encode()


ACK, DATA, END, OPEN = 12, 13, 14, 15
HEADER = 6
DATA_MARK = 0x80


@dataclasses.dataclass(frozen=True)
class Frame:
    type: int
    stream: int
    body: bytes  # for data frames: after the sequence byte and the 0x80 mark
    sequence: int | None = None


def _header(kind: int, length: int, stream: int = 0) -> bytes:
    if length >= 1 << 24:
        raise ValueError("frame too long")
    return bytes([kind]) + stream.to_bytes(2, "little") + length.to_bytes(3, "little")


def open_frame(payload: dict[str, Any], stream: int = 0) -> bytes:
    body = _dumps(payload)
    return _header(OPEN, len(body), stream) + body


def data_frame(payload: dict[str, Any], sequence: int, stream: int = 0) -> bytes:
    body = _dumps(payload)
    return _header(DATA, len(body) + 2, stream) + bytes([sequence & 0xFF, DATA_MARK]) + body


def frame(kind: int, body: bytes = b"", stream: int = 0) -> bytes:
    """Any other frame (the fake's acknowledgements and ends)."""
    return _header(kind, len(body), stream) + body


def read_frames(message: bytes) -> Iterator[Frame]:
    """The frames in one WebSocket message (usually one). A length that runs past the
    message's end takes the rest: the body's JSON decides what it holds."""
    position = 0
    while position + HEADER <= len(message):
        kind = message[position]
        stream = int.from_bytes(message[position + 1 : position + 3], "little")
        length = int.from_bytes(message[position + 3 : position + 6], "little")
        start = position + HEADER
        end = min(start + length, len(message))
        body = message[start:end]
        sequence = None
        if kind == DATA and len(body) >= 2 and body[1] == DATA_MARK:
            sequence, body = body[0], body[2:]
        yield Frame(kind, stream, body, sequence)
        position = end if end > start else len(message)


def lone_data_body(message: bytes) -> bytes | None:
    """The body of a message that is exactly one data frame (the usual case), else None."""
    if (
        len(message) > HEADER + 2
        and message[0] == DATA
        and message[HEADER + 1] == DATA_MARK
        and message[3] | message[4] << 8 | message[5] << 16 == len(message) - HEADER
    ):
        return message[HEADER + 2 :]
    return None


def event_of(body: bytes) -> dict[str, Any] | None:
    """The JSON event in a frame's body: from the first ``{``, the longest valid object
    (a few non-JSON bytes may follow it); else JSON found inside a protobuf envelope."""
    if body[:1] == b"{" and body[-1:] == b"}":  # the usual body: one parse, no copy
        try:
            value = decode.fast_loads(body)
        except ValueError:
            pass
        else:
            return value if type(value) is dict else None
    start = body.find(b"{")
    if start >= 0 and (event := _json_object(body, start)) is not None:
        return event
    for value in protowire.walk_length_delimited(body):
        if value[:1] == b"{" and (event := _json_object(value, 0)) is not None:
            return event
    return None


def _json_object(data: bytes, start: int) -> dict[str, Any] | None:
    # Up to the last "}": one parse whether or not a few non-JSON bytes follow the event
    # (and no copy when none do). Too deep a nesting is a sentence (NestedTooDeepError),
    # never a RecursionError.
    end = data.rfind(b"}") + 1
    if end <= start:
        return None
    text = data if start == 0 and end == len(data) else data[start:end]
    try:
        value = decode.fast_loads(text)
    except ValueError:
        try:
            value = decode.loads(text)
        except ValueError:
            try:
                value = decode.raw_decode(data[start:].decode("utf-8", "replace"))
            except ValueError:
                return None
    return value if isinstance(value, dict) else None
