"""The prompt message of a captured turn as a field map (``gateway.message`` rows): decoded
without a schema, every field that holds a value of the turn (the conversation id, the
req-id, the prompt, timestamps, per-turn UUIDs) made a placeholder, the rest kept as
captured."""

from __future__ import annotations

import dataclasses
import math
import re
import struct
from collections import Counter
from collections.abc import Mapping, Sequence
from typing import Any

from . import protowire
from .gateway import EXTRA_IDS

UUID = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$", re.I)
WINDOW_MS = 10 * 60 * 1000  # a timestamp is this near the frame's time
MAX_DEPTH = 32
# Values of the account or the installation: a placeholder where the built-in map has one
# (filled from the identifiers), learnt as identifiers where they have one.
IDENTITY = ("app_id", "actor_id", "account_id", "platform", "build_hash", "locale", "user_agent")
OURS = ("client_id", "time_zone")  # this installation's own, never the browser's
TURN = (
    "entry_point",
    "conversation_id",
    "mode_id",
    "mode_name",
    "sent_ms",
    "now_ms",
    "request_id",
    "message_id",
    "message_key",
    "prompt",
    "branch_path",
    *EXTRA_IDS,
)
SOCKET_NAMES = ("socket_id", "session_id")
SPARE_UUIDS = ("message_id", *EXTRA_IDS)


def decode_rows(
    data: bytes, strings: frozenset[bytes] = frozenset(), depth: int = 0
) -> list[list[Any]]:
    """The message as rows of captured values; ``protowire.build`` gives the bytes back.
    ``strings``: values known to be text (the prompt), never read as a message."""
    fields = protowire.parse(data)
    counts = Counter(number for number, _, _ in fields)
    rows: list[list[Any]] = []
    for number, wire, value in fields:
        key = str(number)
        if wire == protowire.VARINT:
            rows.append([key, "varint", value])
        elif wire in (protowire.I32, protowire.I64):
            rows.append([key, *_fixed(value)])
        elif value not in strings and (inner := _message(value, strings, depth)) is not None:
            if counts[number] > 1:  # repeated: sealed, never merged with its siblings
                rows.append([key, "message", inner])
            else:
                rows += [[f"{key}.{path}", kind, v] for path, kind, v in inner]
        else:
            rows.append([key, *_scalar(value)])
    return rows


def _fixed(raw: bytes) -> tuple[str, Any]:
    wide = len(raw) == 8
    (number,) = struct.unpack("<d" if wide else "<f", raw)
    if math.isfinite(number) and struct.pack("<d" if wide else "<f", number) == raw:
        return ("double" if wide else "float"), number
    return ("fixed64" if wide else "fixed32"), struct.unpack("<Q" if wide else "<I", raw)[0]


def _message(value: bytes, strings: frozenset[bytes], depth: int) -> list[list[Any]] | None:
    if not value or depth >= MAX_DEPTH:
        return None
    try:
        text = value.decode("utf-8")
        if text.isprintable():
            return None  # printable text is a string, though it may parse as a message
    except UnicodeDecodeError:
        pass
    try:
        return decode_rows(value, strings, depth + 1)
    except protowire.WireError:
        return None


def _scalar(value: bytes) -> tuple[str, Any]:
    try:
        text = value.decode("utf-8")
    except UnicodeDecodeError:
        return "bytes", value.hex()
    if text.replace("\n", "").replace("\t", "").replace("\r", "").isprintable():
        return "string", text
    return "bytes", value.hex()  # control characters: bytes, not text


@dataclasses.dataclass
class Turn:
    """What identifies one captured turn."""

    rows: list[list[Any]]
    conversation_id: str
    request_id: str
    prompt: str
    sent_ms: int  # when the data frame was sent


@dataclasses.dataclass
class Template:
    rows: list[list[Any]]
    learnt: dict[str, Any]  # identifier name -> captured value (app_id, entry_point_new, …)


def template(
    turn: Turn,
    builtin: Sequence[Sequence[Any]],
    app_id: str,
    known: Mapping[str, Any],
    next_turn: Turn | None = None,
) -> Template:
    """The turn's rows with placeholders. ``known``: built-in values recognised by value
    (entry points, mode names, the User-Agent); ``next_turn``: the follow-up, which tells
    the UUIDs kept for the socket's life from the per-turn ones."""
    names = {str(path): value[1:-1] for path, _, value in builtin if _placeholder(value)}
    later = {row[0]: row[2] for row in next_turn.rows} if next_turn else {}
    namer = _Namer(turn, names, app_id, known, later)
    return Template(namer.rows(turn.rows, ""), namer.learnt)


def _placeholder(value: Any) -> bool:
    return isinstance(value, str) and protowire.PLACEHOLDER.match(value) is not None


class _Namer:
    def __init__(self, turn: Turn, names, app_id: str, known, later) -> None:
        self.turn, self.names, self.app_id = turn, names, app_id
        self.known, self.later = known, later
        self.learnt: dict[str, Any] = {}
        labels = ("conversation_id", "request_id", "prompt")
        values = (turn.conversation_id, turn.request_id, turn.prompt)
        self.turn_strings = {v: n for v, n in zip(values, labels, strict=True) if v}
        self.uuids: dict[str, str] = {}  # captured UUID -> its placeholder name
        self.spare = list(SPARE_UUIDS)
        self.socket = list(SOCKET_NAMES)

    def rows(self, rows: list[list[Any]], prefix: str) -> list[list[Any]]:
        out = []
        for path, kind, value in rows:
            if kind == "message":
                out.append([path, kind, self.rows(value, f"{prefix}{path}.")])
                continue
            name = self.name(prefix + path, kind, value)
            out.append([path, kind, "{" + name + "}" if name else value])
        return out

    def name(self, path: str, kind: str, value: Any) -> str | None:
        turn, builtin = self.turn, self.names.get(path)
        if kind == "string" and value and (found := self.turn_strings.get(value)):
            return found
        if kind == "varint" and isinstance(value, int):
            if abs(value - turn.sent_ms) < WINDOW_MS:
                return builtin if builtin in ("sent_ms", "now_ms") else "now_ms"
            if value >> 40 and abs((value >> 22) - turn.sent_ms) < WINDOW_MS:
                return "message_key"
        if builtin in IDENTITY or builtin in OURS:
            if builtin in IDENTITY:
                self.learnt[builtin] = value
            return builtin
        if builtin in ("entry_point", "branch_path") and kind == "string":
            self.learnt[builtin + "_new"] = value
            if path in self.later:
                self.learnt[builtin + "_follow_up"] = self.later[path]
            return builtin
        if builtin in ("mode_id", "mode_name"):
            return builtin
        if kind != "string":
            return None
        return self.by_value(path, value, builtin)

    def by_value(self, path: str, value: str, builtin: str | None) -> str | None:
        if value == self.app_id:
            return "app_id"
        if value == self.known.get("user_agent"):
            return "user_agent"
        if value in self.known.get("mode_names", ()):
            return "mode_name"
        if value in self.known.get("entry_points", ()):
            self.learnt["entry_point_new"] = value
            if path in self.later:
                self.learnt["entry_point_follow_up"] = self.later[path]
            return "entry_point"
        if UUID.match(value):
            return self.uuid_name(path, value, builtin)
        return None

    def uuid_name(self, path: str, value: str, builtin: str | None) -> str | None:
        if value in self.uuids:
            return self.uuids[value]
        kept = self.later.get(path) == value  # the same in the follow-up: the socket's
        if builtin in (*SOCKET_NAMES, "message_id") and (
            not self.later or kept == (builtin != "message_id")
        ):
            chosen = builtin
        elif kept and self.socket:
            chosen = self.socket[0]
        elif not kept and self.spare:
            chosen = self.spare[0]
        else:
            return None  # more ids than names: kept as captured
        for pool in (self.socket, self.spare):
            if chosen in pool:
                pool.remove(chosen)
        self.uuids[value] = chosen
        return chosen


def turn_fields(rows: Sequence[Sequence[Any]]) -> list[str]:
    """The paths whose values change each turn (for a captured message patched)."""
    return [str(path) for path, _, value in rows if _placeholder(value) and value[1:-1] in TURN]


def placeholders(rows: Sequence[Sequence[Any]]) -> dict[str, str]:
    """Each top-level row's placeholder by path (for comparing two maps)."""
    return {str(p): v for p, _, v in rows if _placeholder(v)}
