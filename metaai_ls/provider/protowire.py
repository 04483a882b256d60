"""Protocol Buffers on the wire without a schema: what the gateway's prompt message needs.

A message is described as data, a list of ``[field path, type, value]`` rows (see
``identifiers.json``): ``"1.1.5.5.1"`` is field 1 of field 5 of field 5 of field 1 of
field 1. A value ``"{name}"`` is filled in from the values of the turn. Measured against
bbpb (a schema-less protobuf package) in ``bench/protobuf_bench.py``: this encoder is
faster and needs no dependency.
"""

from __future__ import annotations

import re
import struct
from collections.abc import Iterator, Mapping, Sequence
from typing import Any

VARINT, I64, LEN, I32 = 0, 1, 2, 5
PLACEHOLDER = re.compile(r"^\{(\w+)\}$")

Row = Sequence[Any]  # [path, type, value]
Node = list[list[Any]]  # [[field number, type, value or child node], ...]


class WireError(ValueError):
    """Bytes that are not a protobuf message, or a row that cannot be encoded."""


def varint(value: int) -> bytes:
    if value < 0:
        value += 1 << 64
    out = bytearray()
    while True:
        byte = value & 0x7F
        value >>= 7
        if value:
            out.append(byte | 0x80)
        else:
            out.append(byte)
            return bytes(out)


def _key(number: int, wire: int) -> bytes:
    return varint(number << 3 | wire)


def fill(value: Any, values: Mapping[str, Any]) -> Any:
    """A row's value, with a ``{name}`` placeholder replaced by the turn's value."""
    if isinstance(value, str) and (match := PLACEHOLDER.match(value)):
        name = match.group(1)
        if name not in values:
            raise WireError(f"no value named {name!r} for the prompt message")
        return values[name]
    return value


def build(rows: Sequence[Row], values: Mapping[str, Any]) -> bytes:
    """Encode the rows, in the order their fields first appear."""
    return _encode(_tree(rows, values))


def _tree(rows: Sequence[Row], values: Mapping[str, Any]) -> Node:
    root: Node = []
    for path, kind, value in rows:
        numbers = [int(part) for part in str(path).split(".")]
        node = root
        for number in numbers[:-1]:
            node = _child(node, number)
        if kind == "message":
            node.append([numbers[-1], "sealed", _tree(value, values)])  # repeated: never reused
        else:
            node.append([numbers[-1], kind, fill(value, values)])
    return root


def _child(node: Node, number: int) -> Node:
    for entry in node:
        if entry[0] == number and entry[1] == "message":
            return entry[2]
    child: Node = []
    node.append([number, "message", child])
    return child


def _encode(node: Node) -> bytes:
    return b"".join(_field(number, kind, value) for number, kind, value in node)


def _field(number: int, kind: str, value: Any) -> bytes:
    if kind in ("message", "sealed"):
        return _length_delimited(number, _encode(value))
    if kind == "string":
        return _length_delimited(number, str(value).encode("utf-8"))
    if kind == "bytes":
        data = value if isinstance(value, bytes) else bytes.fromhex(str(value))
        return _length_delimited(number, data)
    if kind == "raw":  # a message kept as bytes (a patched capture)
        return _length_delimited(number, value)
    if kind == "varint":
        return _key(number, VARINT) + varint(int(value))
    if kind in ("fixed32_raw", "fixed64_raw"):  # kept as read from a capture
        return _key(number, I32 if kind == "fixed32_raw" else I64) + value
    if kind in ("float", "fixed32"):
        return _key(number, I32) + struct.pack("<f" if kind == "float" else "<I", value)
    if kind in ("double", "fixed64"):
        return _key(number, I64) + struct.pack("<d" if kind == "double" else "<Q", value)
    raise WireError(f"unknown field type {kind!r}")


def _length_delimited(number: int, data: bytes) -> bytes:
    return _key(number, LEN) + varint(len(data)) + data


# -- reading


def _read_varint(data: bytes, position: int) -> tuple[int, int]:
    result = shift = 0
    while True:
        if position >= len(data) or shift > 63:
            raise WireError("truncated varint")
        byte = data[position]
        position += 1
        result |= (byte & 0x7F) << shift
        if not byte & 0x80:
            return result, position
        shift += 7


def parse(data: bytes) -> list[tuple[int, int, Any]]:
    """The top-level fields: (number, wire type, int for varints or bytes otherwise)."""
    fields = []
    position = 0
    while position < len(data):
        key, position = _read_varint(data, position)
        number, wire = key >> 3, key & 7
        if number == 0:
            raise WireError("field number 0")
        if wire == VARINT:
            value, position = _read_varint(data, position)
        elif wire == LEN:
            size, position = _read_varint(data, position)
            if position + size > len(data):
                raise WireError("truncated field")
            value, position = data[position : position + size], position + size
        elif wire in (I32, I64):
            size = 4 if wire == I32 else 8
            if position + size > len(data):
                raise WireError("truncated field")
            value, position = data[position : position + size], position + size
        else:
            raise WireError(f"wire type {wire}")
        fields.append((number, wire, value))
    return fields


def find(data: bytes, path: str) -> Any:
    """The first value at ``path`` (``"2.1.2.1"``), or None."""
    numbers = [int(part) for part in path.split(".")]
    value: Any = data
    for depth, number in enumerate(numbers):
        try:
            fields = parse(value)
        except WireError:
            return None
        match = next((v for n, _, v in fields if n == number), None)
        if match is None or (depth < len(numbers) - 1 and not isinstance(match, bytes)):
            return None
        value = match
    return value


def walk_length_delimited(data: bytes, depth: int = 0) -> Iterator[bytes]:
    """Every length-delimited value, depth first (for JSON hidden in an envelope)."""
    if depth > 8:
        return
    try:
        fields = parse(data)
    except WireError:
        return
    for _, wire, value in fields:
        if wire == LEN:
            yield value
            yield from walk_length_delimited(value, depth + 1)


def patch(data: bytes, rows: Sequence[Row], values: Mapping[str, Any]) -> bytes:
    """A captured message with the rows' fields replaced (or added where missing)."""
    patches: dict[tuple[int, ...], tuple[str, Any]] = {}
    for path, kind, value in rows:
        patches[tuple(int(p) for p in str(path).split("."))] = (kind, fill(value, values))
    return _patch(data, patches)


def _patch(data: bytes, patches: dict[tuple[int, ...], tuple[str, Any]]) -> bytes:
    out: Node = [[n, _KINDS[w], v] for n, w, v in parse(data)]
    heads: dict[int, dict[tuple[int, ...], tuple[str, Any]]] = {}
    for path, leaf in patches.items():
        heads.setdefault(path[0], {})[path[1:]] = leaf
    for number, below in heads.items():
        positions = [i for i, entry in enumerate(out) if entry[0] == number]
        if () in below:  # a leaf: replaces every occurrence
            new = [number, *below[()]]
            for i in reversed(positions[1:]):
                del out[i]
        else:  # a nested message: the first occurrence is patched
            first = out[positions[0]] if positions else None
            inner = first[2] if first is not None and first[1] == "raw" else b""
            new = [number, "raw", _patch(inner, below)]
        if positions:
            out[positions[0]] = new
        else:
            out.append(new)
    return _encode(out)


_KINDS = {VARINT: "varint", LEN: "raw", I32: "fixed32_raw", I64: "fixed64_raw"}
