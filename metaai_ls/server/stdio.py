"""Standard input as pygls reads it, with the guards a server running all day needs: a
message larger than the limit is read and thrown away in pieces (pygls would hold it,
parsed, at about 16 times its size) and answered with an error; a Content-Length that does
not match its body is logged instead of silently eating the next messages; memory freed
after a large message goes back to the system."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import re
from typing import BinaryIO

logger = logging.getLogger(__name__)

DEFAULT_LIMIT_MB = 16
TOO_LARGE = "$/metaai/messageTooLarge"  # what a dropped request becomes: answered with an error
LARGE = 1 << 20  # after a message this large, give freed memory back (glibc's malloc_trim)
HEAD, PIECE = 4096, 1 << 20  # a dropped message: where its id is looked for; read in pieces
CONTENT_LENGTH = re.compile(rb"^Content-Length: (\d+)\r\n$")
HEADER = re.compile(rb"^[A-Za-z-]+: .*\r\n$|^\r\n$")
ID = re.compile(rb'"id"\s*:\s*("(?:[^"\\]|\\.){0,200}"|-?\d{1,20})')
METHOD = re.compile(rb'"method"\s*:\s*"([^"]{1,200})"')


def limit_from_environment() -> int:
    """METAAI_MAX_MESSAGE_MB (default 16), in bytes."""
    try:
        megabytes = float(os.environ.get("METAAI_MAX_MESSAGE_MB", DEFAULT_LIMIT_MB))
    except ValueError:
        megabytes = DEFAULT_LIMIT_MB
    return max(1, int(megabytes * (1 << 20)))


class _Guard:
    """The checks, whichever way the bytes are read."""

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self._after_body = False
        self._trim = False

    def header(self, line: bytes) -> bytes:
        if self._trim:
            self._trim = False
            _give_memory_back()
        if self._after_body and line and not HEADER.match(line):
            logger.warning(
                "the client sent bytes that are not a message header after a message: a "
                "Content-Length that did not match its body (skipping to the next header)"
            )
            # The rest of a body cut short runs into the next header: keep the header.
            at = line.find(b"Content-Length: ")
            if at > 0:
                line = line[at:]
        self._after_body = False
        return line

    def allowed(self, size: int) -> bool:
        self._after_body = True
        self._trim = size >= LARGE
        return size <= self.limit

    def dropped(self, size: int, head: bytes) -> bytes:
        """Log the dropped message; a request gets an error answer (see TOO_LARGE)."""
        method = METHOD.search(head)
        name = method.group(1).decode("utf-8", "replace") if method else "unknown"
        logger.warning(
            "dropped a %.1f MB message (%s): larger than METAAI_MAX_MESSAGE_MB (%d MB)",
            size / (1 << 20),
            name,
            self.limit >> 20,
        )
        found = ID.search(head)
        if found is None or method is None:
            return b'{"jsonrpc": "2.0", "method": "$/metaai/droppedMessage"}'
        return b'{"jsonrpc": "2.0", "id": %s, "method": "%s", "params": null}' % (
            found.group(1),
            TOO_LARGE.encode(),
        )


class GuardedStdin(_Guard):
    """The binary stream pygls's stdio reader calls `readline()` and `read(n)` on."""

    def __init__(self, raw: BinaryIO, limit: int) -> None:
        super().__init__(limit)
        self.raw = raw

    def readline(self) -> bytes:
        return self.header(self.raw.readline())

    def read(self, size: int) -> bytes:
        if self.allowed(size):
            return self.raw.read(size)
        head = self.raw.read(min(size, HEAD))
        left = size - len(head)
        while left > 0 and (piece := self.raw.read(min(left, PIECE))):
            left -= len(piece)
        return self.dropped(size, head)


class GuardedStreamReader(_Guard):
    """The same for `--tcp`, where pygls reads an asyncio stream."""

    def __init__(self, reader: asyncio.StreamReader, limit: int) -> None:
        super().__init__(limit)
        self.reader = reader

    async def readline(self) -> bytes:
        return self.header(await self.reader.readline())

    async def readexactly(self, size: int) -> bytes:
        if self.allowed(size):
            return await self.reader.readexactly(size)
        head = await self.reader.readexactly(min(size, HEAD))
        left = size - len(head)
        while left > 0:
            left -= len(await self.reader.readexactly(min(left, PIECE)))
        return self.dropped(size, head)


def _give_memory_back() -> None:
    import ctypes  # only after a large message

    with contextlib.suppress(OSError, AttributeError):  # not glibc
        ctypes.CDLL("libc.so.6").malloc_trim(0)
